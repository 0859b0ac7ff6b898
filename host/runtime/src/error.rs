//! How loading or calling a plugin can fail. Every variant names the plugin.

use std::path::PathBuf;

/// A plugin that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin `{plugin}`: path: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: sha256: plugins.toml pins {expected} but {path} has {actual}")]
    DigestMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("plugin `{plugin}`: {path} is not a loadable component: {detail}")]
    Compile {
        plugin: String,
        path: PathBuf,
        detail: String,
    },
    #[error("plugin `{plugin}` does not fit the switchboard:channel contract: {detail}")]
    Link { plugin: String, detail: String },
    #[error("plugin `{plugin}`: describe failed: {source}")]
    Describe {
        plugin: String,
        source: Box<CallError>,
    },
    #[error(
        "plugin `{plugin}` was built against switchboard:channel@{found}; this host supports {supported}"
    )]
    IncompatibleInterface {
        plugin: String,
        found: String,
        supported: String,
    },
    #[error(
        "plugin `{plugin}`: channels: {channel} is assigned in plugins.toml but the plugin serves only {served}"
    )]
    ChannelNotServed {
        plugin: String,
        channel: String,
        served: String,
    },
}

/// A call into a plugin that did not return: the plugin's own failure, contained to that call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("plugin `{plugin}` exceeded its time budget of {budget_ms} ms")]
    Timeout { plugin: String, budget_ms: u64 },
    /// Every instance slot stayed taken for the whole time budget: the call never started.
    #[error(
        "plugin `{plugin}` did not start: no instance slot came free within its time budget of {budget_ms} ms (the server is at its --instance-slots limit)"
    )]
    Busy { plugin: String, budget_ms: u64 },
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mib} MiB (it asked for {asked_mib} MiB){}", guest_said(.stderr))]
    MemoryLimit {
        plugin: String,
        limit_mib: usize,
        asked_mib: usize,
        stderr: String,
    },
    #[error("plugin `{plugin}` trapped: {trap}{}", guest_said(.stderr))]
    Trap {
        plugin: String,
        trap: String,
        stderr: String,
    },
    /// The plugin handed the host more data in one transfer (its answer, or the arguments of one
    /// host call) than the call's transfer budget allows; the host refused it before copying it.
    #[error(
        "plugin `{plugin}` handed the host more than its transfer budget of {budget_bytes} bytes at once (in its answer or in the arguments of one host call)"
    )]
    OutputTooLarge { plugin: String, budget_bytes: usize },
    #[error("plugin `{plugin}` failed: {detail}")]
    Failed { plugin: String, detail: String },
}

impl CallError {
    /// The [`code`](Self::code) of [`CallError::Busy`].
    pub const BUSY: &'static str = "plugin_busy";

    /// A short machine-readable name for the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "plugin_timeout",
            CallError::Busy { .. } => Self::BUSY,
            CallError::MemoryLimit { .. } => "plugin_memory_limit",
            CallError::Trap { .. } => "plugin_trap",
            CallError::OutputTooLarge { .. } => "plugin_output_too_large",
            CallError::Failed { .. } => "plugin_failed",
        }
    }
}

fn guest_said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; the plugin wrote: {stderr}")
    }
}
