//! What the benchmark binaries share: whole-number `--flag value` options and a one-thread
//! client runtime.

use std::collections::HashMap;
use std::future::Future;

/// Reads `--name value` pairs of whole numbers from the command line; every name must be one of
/// `known` (without the dashes). Missing ones are absent from the map.
pub fn numeric_flags(known: &[&str]) -> Result<HashMap<String, u64>, String> {
    let mut flags = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|name| known.contains(name))
            .ok_or_else(|| format!("unknown flag {flag} (known: --{})", known.join(", --")))?;
        let value: u64 = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a whole number"))?;
        flags.insert(name.to_string(), value);
    }
    Ok(flags)
}

/// Runs the client on one thread: the server under test gets the rest of the machine.
pub fn on_one_thread(work: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(work)
}

/// The environment variable that makes a benchmark's server log at a filter of its own (for
/// example `info,sqlx::query=debug`: every statement with its time) and keeps that log.
pub const SERVER_LOG: &str = "BENCH_SERVER_LOG";

/// The installation with the server logging at `BENCH_SERVER_LOG`'s filter, if it is set.
pub fn with_server_log(setup: crate::server::Setup) -> crate::server::Setup {
    match std::env::var(SERVER_LOG) {
        Ok(filter) => setup.env("RUST_LOG", &filter),
        Err(_) => setup,
    }
}

/// Keeps the server's log as `target/<name>-server.log` when `BENCH_SERVER_LOG` is set (read
/// it with `bench/statement_profile.py`).
pub fn keep_server_log(server: &crate::server::Server, name: &str) -> Result<(), String> {
    if std::env::var_os(SERVER_LOG).is_none() {
        return Ok(());
    }
    let kept = crate::repo_root().join(format!("target/{name}-server.log"));
    std::fs::write(&kept, server.log()).map_err(|e| format!("{}: {e}", kept.display()))?;
    println!("server log kept as {}", kept.display());
    Ok(())
}

/// What a process had used by some moment: CPU time (user + system, all threads, from
/// `/proc/<pid>/stat`) and bytes written and read through system calls (`/proc/<pid>/io`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu: std::time::Duration,
    pub written: u64,
    pub read: u64,
}

impl Usage {
    /// Process `pid`'s usage so far.
    pub fn of(pid: u32) -> Result<Usage, String> {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .map_err(|e| format!("cannot read /proc/{pid}/io: {e}"))?;
        let counter = |name: &str| {
            io.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
                .ok_or(format!("/proc/{pid}/io has no {name}"))
        };
        Ok(Usage {
            cpu: process_cpu(pid)?,
            written: counter("wchar:")?,
            read: counter("rchar:")?,
        })
    }

    /// What was used between `earlier` and this.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            written: self.written.saturating_sub(earlier.written),
            read: self.read.saturating_sub(earlier.read),
        }
    }
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().collect())
}

/// A process's user + system CPU time, all threads.
fn process_cpu(pid: u32) -> Result<std::time::Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    let fields = stat_fields(&stat).ok_or("malformed /proc stat")?;
    // utime and stime are the 14th and 15th fields of the line, 12th and 13th after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err("malformed /proc stat".into());
    };
    Ok(std::time::Duration::from_secs_f64(
        (user + system) as f64 / clock_ticks_per_second()?,
    ))
}

fn clock_ticks_per_second() -> Result<f64, String> {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(|e| format!("cannot run getconf: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| "getconf CLK_TCK gave no number".to_string())
}
