//! `plugins.toml`: the operator's list of channel plugins, parsed and checked before anything is
//! loaded. Unknown keys, missing files, malformed digests and out-of-range limits are errors that
//! name the plugin and the key, so that a typo never silently changes behaviour.
//!
//! ```toml
//! # Refuse plugins without a pinned digest (the default).
//! require_sha256 = true
//!
//! [plugins.email-sendgrid]
//! path = "plugins/email_sendgrid.wasm"   # relative to this file
//! sha256 = "9f2c…"                        # hex digest of the file
//! channels = ["email"]
//! allowed_hosts = ["api.sendgrid.com"]
//!
//! [plugins.email-sendgrid.config]        # read by the plugin through `config.get`
//! from_email = "hello@example.org"
//!
//! [plugins.email-sendgrid.secrets]       # secret name → environment variable
//! api_key = "SENDGRID_API_KEY"
//!
//! [plugins.email-sendgrid.limits]
//! memory_mib = 64
//! ```

mod manifest;

pub use manifest::{Limits, Manifest, PluginEntry};
pub mod validate;
pub use validate::{LoadedManifest, PluginSpec, load};

use std::path::PathBuf;

/// Why `plugins.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: plugin `{plugin}`: {key}: {message}")]
    Invalid {
        path: PathBuf,
        plugin: String,
        key: String,
        message: String,
    },
}
