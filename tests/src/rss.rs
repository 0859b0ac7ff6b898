//! The memory of a running test server, as Linux reports it in `/proc/<pid>/status`: resident
//! now (`VmRSS`) and at its peak since it started (`VmHWM`, the high-water mark), so that a test
//! can bound what a hostile plugin made the host allocate even for an instant.

use std::path::Path;

use crate::server::Setup;

/// Resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub resident_kib: u64,
    pub peak_kib: u64,
}

impl Memory {
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

/// The process id of the `switchboard serve` running for `setup` (found by its command line,
/// which names the installation's own `plugins.toml`).
pub fn server_pid(setup: &Setup) -> u32 {
    let manifest = setup.manifest_path().display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "serve") && args.contains(&manifest) {
            found.push(pid);
        }
    }
    assert_eq!(
        found.len(),
        1,
        "expected one server for {manifest}, found {found:?}"
    );
    found[0]
}

/// The memory of process `pid` now.
pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{name} is not in /proc/{pid}/status"))
    };
    Memory {
        resident_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}
