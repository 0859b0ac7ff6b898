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
