//! The shape of `plugins.toml`, as serde types that refuse unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use switchboard_core::domain::Channel;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Whether every enabled plugin must pin its `sha256`. Defaults to `true`; a development
    /// checkout that builds its plugins from source sets it to `false`.
    #[serde(default = "yes")]
    pub require_sha256: bool,
    /// The plugins, by id. The id is the URL segment of the plugin's webhook route
    /// (`/webhooks/{id}`) and how the rest of Switchboard names the plugin.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginEntry>,
}

/// One plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The component file (`.wasm`), relative to `plugins.toml`.
    pub path: PathBuf,
    /// The file's SHA-256 digest in hex; the plugin is refused if the file does not match.
    pub sha256: Option<String>,
    /// The channels this plugin serves in this installation; each must be one the plugin says it
    /// can serve.
    pub channels: Vec<Channel>,
    /// Whether to load the plugin. A disabled plugin's webhooks answer 404.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Host names (optionally `host:port`) the plugin may call through `http.fetch`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Lets the plugin reach private, loopback and link-local addresses, and use plain `http://`.
    /// Off by default; for tests and on-premises systems only.
    #[serde(default)]
    pub allow_private_network: bool,
    /// Values the plugin reads with `config.get`: strings, numbers and booleans.
    #[serde(default)]
    pub config: toml::Table,
    /// Secret name → the environment variable holding its value.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Request headers to store with each webhook for replay, besides those always kept
    /// (`content-type` and names containing `signature` or `timestamp`, or starting with
    /// `webhook-`): e.g. a vendor header the plugin reads that none of those cover. Everything
    /// else (`authorization`, `cookie`, proxies' `x-forwarded-*`) is never stored.
    #[serde(default)]
    pub keep_headers: Vec<String>,
    /// Resource limits for each call into the plugin.
    #[serde(default)]
    pub limits: Limits,
}

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory cap, in MiB.
    pub memory_mib: u32,
    /// Time budget for one `handle-webhook` call, in milliseconds, including time spent in host
    /// calls.
    pub webhook_timeout_ms: u64,
    /// Time budget for one `send` call, in milliseconds (it waits on the vendor's API).
    pub send_timeout_ms: u64,
    /// The largest webhook body accepted for this plugin, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// The most messages the outbox sends through this plugin per second (the vendor's own rate
    /// limit, or the account's); unpaced when absent.
    pub sends_per_second: Option<u32>,
    /// The most bytes of webhooks this plugin could not verify because of our configuration
    /// (its signing secret unset, say) that are kept for replay at a time; beyond it they are
    /// answered 503 and not stored (the vendor retries).
    pub unverified_kept_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 64,
            webhook_timeout_ms: 1_000,
            send_timeout_ms: 15_000,
            max_body_bytes: 1024 * 1024,
            sends_per_second: None,
            unverified_kept_bytes: 16 * 1024 * 1024,
        }
    }
}

fn yes() -> bool {
    true
}
