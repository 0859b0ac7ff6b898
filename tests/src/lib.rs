//! The harness for Switchboard's end-to-end tests: it writes a `plugins.toml`, starts the real
//! `switchboard` binary on a free port with a fresh SQLite database, signs webhooks the way the
//! vendors document, and reads back what landed in the database.
//!
//! Paths come from the environment that `cargo xtask test` sets (`SWITCHBOARD_BIN`,
//! `PRISM_TWILIO_URL`, `PRISM_SENDGRID_URL`), with defaults for a plain `cargo test` after a
//! build.

pub mod api;
pub mod bench;
pub mod db;
pub mod load;
pub mod mailgun;
pub mod manifest;
pub mod outbox;
pub mod relay;
pub mod rss;
pub mod scenarios;
pub mod server;
pub mod sign;
pub mod small_disk;
pub mod standard_webhooks;
pub mod vendors;
pub mod voice;

use std::path::{Path, PathBuf};

/// The contract version in `wit/types.wit`'s `package` line (`1.2.0`): the one place it is
/// written; what plugins built from this tree report.
pub fn interface_version() -> String {
    let types =
        std::fs::read_to_string(repo_root().join("wit/types.wit")).expect("read wit/types.wit");
    types
        .lines()
        .find_map(|line| line.trim().strip_prefix("package switchboard:channel@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("a `package switchboard:channel@X.Y.Z;` line")
        .to_string()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    // `cargo test` names the package it runs (this one, or a crate of the host whose tests use
    // this library): the checkout is the nearest folder above it holding `wit/` and
    // `plugins.toml`. A binary built in another clone that shares the target directory must not
    // read that clone's files; run directly, it falls back to where it was built.
    let at_run_time = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    at_run_time
        .iter()
        .chain(std::iter::once(&built_in))
        .flat_map(|dir| dir.ancestors())
        .find(|dir| dir.join("wit").is_dir() && dir.join("plugins.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The built plugin `name` (`email_sendgrid`, `sms_twilio`, `portal`, `misbehave`).
pub fn plugin_wasm(name: &str) -> PathBuf {
    let dir = std::env::var_os("SWITCHBOARD_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("plugins/target/wasm32-wasip2/release"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first (cargo xtask test does)",
        path.display()
    );
    path
}

/// The `switchboard` binary under test.
pub fn switchboard_bin() -> PathBuf {
    let path = std::env::var_os("SWITCHBOARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/switchboard"));
    assert!(
        path.is_file(),
        "{} is missing: build the host first (cargo xtask test does)",
        path.display()
    );
    path
}

/// The URL of a vendor contract mock started by `cargo xtask test`.
pub fn vendor_mock(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the tests with `cargo xtask test`, which starts the vendor contract mocks")
    })
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The SHA-256 of a file, hex, as `plugins.toml` pins it.
pub fn sha256_hex(path: &Path) -> String {
    sha256_hex_of(&std::fs::read(path).expect("read plugin"))
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
