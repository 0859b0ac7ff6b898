//! `switchboard-runtime`: the plugin runtime — one wasmtime engine, plugins compiled once (and cached on disk by digest),
//! linked once into an `InstancePre`, and called in fresh sandboxed instances.
//!
//! A plugin gets no filesystem, environment, arguments or sockets; its only ways out are the host
//! interfaces of `wit/host.wit`, each checked here: HTTP to allow-listed hosts, its own config,
//! secrets used on its behalf, signature checks, nonces, the clock and a bounded log. What it
//! hands back to the host (answers, host-call arguments) is bounded in bytes before it is copied.

pub mod bindings;
mod cache;
pub mod config;
pub mod egress;
mod engine;
mod error;
mod facts;
mod host;
mod plugin;
mod registry;
pub mod reload;
pub mod secrets;
mod state;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use wasmtime::component::Linker;

pub use error::{CallError, LoadError};
pub use facts::{MAX_NONCE_BYTES, MAX_NONCES_PER_CALL, Nonce};
pub use host::verify_ecdsa_p256;
pub use plugin::{Description, Plugin, WebhookCall};
pub use registry::{LivePlugins, Plugins};
pub use reload::{ReloadReport, Reloader};

use bindings::ChannelPluginPre;
use cache::ArtifactCache;
use config::{PluginSpec, validate::MAX_MEMORY_MIB};
use egress::{Egress, EgressPolicy};
use plugin::Shared;
use secrets::Secrets;
use state::{PluginContext, PluginState, transfer_budget};
use switchboard_core::hashing::sha256_hex;

/// The contract version this host implements, read at compile time from the `package` line of
/// the WIT the bindings are generated from (`wit/types.wit`), so it is written in one place.
/// Plugins built against the same major version and an equal or older minor version load (older
/// plugins simply do not import what later minors added).
pub const INTERFACE_VERSION: &str = package_version(include_str!("../../../wit/types.wit"));

/// The `X.Y.Z` of a WIT file's `package namespace:name@X.Y.Z;` line (its first `@` up to `;`).
const fn package_version(wit: &'static str) -> &'static str {
    let bytes = wit.as_bytes();
    let mut at = 0;
    while at < bytes.len() && bytes[at] != b'@' {
        at += 1;
    }
    let mut end = at;
    while end < bytes.len() && bytes[end] != b';' {
        end += 1;
    }
    assert!(
        end < bytes.len(),
        "the WIT file has no `package …@X.Y.Z;` line"
    );
    let (_, tail) = bytes.split_at(at + 1);
    let (version, _) = tail.split_at(end - at - 1);
    match core::str::from_utf8(version) {
        Ok(version) => version,
        Err(_) => panic!("the WIT package version is not UTF-8"),
    }
}

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
    /// How many plugin instances may be alive at once, across all plugins.
    pub instance_slots: u32,
}

/// The engine and everything plugins share.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
    linker: Arc<Linker<PluginState>>,
    cache: ArtifactCache,
}

impl Runtime {
    pub fn new(settings: RuntimeSettings) -> anyhow::Result<Self> {
        let engine = engine::build(
            settings.instance_slots,
            usize::try_from(MAX_MEMORY_MIB)? << 20,
        )?;
        engine::start_epoch_ticker(&engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        host::add_to_linker(&mut linker)?;
        let cache = ArtifactCache::new(settings.cache_dir, &engine);
        let shared = Shared {
            engine,
            egress: Egress::new()?,
            slots: Semaphore::new(settings.instance_slots as usize),
        };
        Ok(Runtime {
            shared: Arc::new(shared),
            linker: Arc::new(linker),
            cache,
        })
    }

    /// Loads one plugin: reads the file, checks its digest, compiles it (or takes it from the
    /// cache), links it, asks it to describe itself and checks what it says.
    pub async fn load(&self, spec: &PluginSpec) -> Result<Plugin, LoadError> {
        let id = spec.id.clone();
        let wasm = tokio::fs::read(&spec.wasm_path)
            .await
            .map_err(|source| LoadError::Read {
                plugin: id.clone(),
                path: spec.wasm_path.clone(),
                source,
            })?;
        let sha256 = sha256_hex(&wasm);
        if let Some(expected) = &spec.sha256
            && *expected != sha256
        {
            return Err(LoadError::DigestMismatch {
                plugin: id,
                path: spec.wasm_path.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let pre = self.link(spec, &sha256, wasm).await?;
        let context = Arc::new(PluginContext {
            id: id.clone(),
            config: spec.config.clone(),
            secrets: Secrets::read(&spec.secrets, |var| std::env::var(var).ok()),
            egress: EgressPolicy {
                allowed_hosts: spec.allowed_hosts.clone(),
                allow_private_network: spec.allow_private_network,
            },
            memory_limit_bytes: usize::try_from(spec.limits.memory_mib).unwrap_or(usize::MAX) << 20,
            transfer_budget_bytes: transfer_budget(spec.limits.max_body_bytes),
        });
        let plugin = Plugin::new(spec.clone(), sha256, pre, context, self.shared.clone())
            .await
            .map_err(|e| LoadError::Describe {
                plugin: id.clone(),
                source: Box::new(e),
            })?;
        check_description(spec, &plugin.description)?;
        for secret in plugin.unset_secrets() {
            let variable = &spec.secrets[secret];
            tracing::warn!(plugin = %id, secret, variable, "secret is not set; calls that need it will fail");
        }
        Ok(plugin)
    }

    async fn link(
        &self,
        spec: &PluginSpec,
        sha256: &str,
        wasm: Vec<u8>,
    ) -> Result<ChannelPluginPre<PluginState>, LoadError> {
        let (engine, cache, digest) = (
            self.shared.engine.clone(),
            self.cache.clone(),
            sha256.to_string(),
        );
        let compiled =
            tokio::task::spawn_blocking(move || cache.component(&engine, &digest, &wasm))
                .await
                .map_err(|e| anyhow::anyhow!("compilation task failed: {e}"))
                .and_then(|result| result.map_err(anyhow::Error::from));
        let component = compiled.map_err(|e| LoadError::Compile {
            plugin: spec.id.clone(),
            path: spec.wasm_path.clone(),
            detail: format!("{e:#}"),
        })?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            plugin: spec.id.clone(),
            detail: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(link_error)?;
        ChannelPluginPre::new(pre).map_err(link_error)
    }
}

/// What a component imports and exports, by name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInterface {
    pub sha256: String,
    pub bytes: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Runtime {
    /// Compiles a component (through the cache) and lists its imports and exports, without
    /// linking or running it.
    pub async fn interface_of(&self, path: &std::path::Path) -> anyhow::Result<ComponentInterface> {
        let wasm = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        let sha256 = sha256_hex(&wasm);
        let bytes = wasm.len();
        let (engine, cache, digest) = (
            self.shared.engine.clone(),
            self.cache.clone(),
            sha256.clone(),
        );
        let component =
            tokio::task::spawn_blocking(move || cache.component(&engine, &digest, &wasm))
                .await
                .map_err(|e| anyhow::anyhow!("compilation task failed: {e}"))?
                .map_err(anyhow::Error::from)
                .with_context(|| format!("{} is not a WebAssembly component", path.display()))?;
        let ty = component.component_type();
        let engine = &self.shared.engine;
        Ok(ComponentInterface {
            sha256,
            bytes,
            imports: ty
                .imports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
            exports: ty
                .exports(engine)
                .map(|(name, _)| name.to_string())
                .collect(),
        })
    }
}

/// Refuses a plugin built for another major version of the contract (or a newer minor one), or
/// one that does not serve the channels the operator assigned to it.
fn check_description(spec: &PluginSpec, description: &Description) -> Result<(), LoadError> {
    if !is_supported_interface(&description.interface_version) {
        return Err(LoadError::IncompatibleInterface {
            plugin: spec.id.clone(),
            found: description.interface_version.clone(),
            supported: format!("{INTERFACE_VERSION} and older 1.x"),
        });
    }
    for channel in &spec.channels {
        if !description.channels.contains(channel) {
            let served: Vec<&str> = description.channels.iter().map(|c| c.as_str()).collect();
            return Err(LoadError::ChannelNotServed {
                plugin: spec.id.clone(),
                channel: channel.to_string(),
                served: served.join(", "),
            });
        }
    }
    Ok(())
}

/// Whether a plugin's interface version is one this host implements: same major, minor no newer.
pub fn is_supported_interface(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.trim().split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(version), parse(INTERFACE_VERSION)) {
        (Some((major, minor)), Some((host_major, host_minor))) => {
            major == host_major && minor <= host_minor
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_version_is_read_from_the_wit_package_line() {
        assert_eq!(package_version("package a:b@1.22.3;\n/// x@y;"), "1.22.3");
        let wit = include_str!("../../../wit/types.wit");
        assert!(wit.starts_with(&format!("package switchboard:channel@{INTERFACE_VERSION};")));
    }

    #[test]
    fn interface_versions_are_compatible_within_a_major() {
        assert!(is_supported_interface("1.0.0"));
        assert!(is_supported_interface("1.1.0"));
        assert!(is_supported_interface("1.1.3"));
        assert!(is_supported_interface("1.2.0"));
        assert!(!is_supported_interface("2.0.0"));
        assert!(!is_supported_interface("0.9.0"));
        assert!(
            !is_supported_interface("1.3.0"),
            "a newer minor may use imports we lack"
        );
        assert!(!is_supported_interface("one"));
    }
}
