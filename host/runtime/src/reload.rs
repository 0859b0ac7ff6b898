//! Hot swap: re-reading `plugins.toml` and the `.wasm` files while the server runs.
//!
//! A reload loads what changed (a new file digest, or a changed entry) and keeps what did not,
//! without recompiling it. Each new plugin must load and answer a smoke call (`map-outcome`)
//! before it serves; one that fails leaves the version it would have replaced serving, and the
//! report says why. The new set replaces the old in one step, so requests already running finish
//! on the version they started with and no request sees a half-swapped set.
//!
//! Reloads come from `POST /api/plugins/reload` (`switchboard plugins reload`) and from a watcher
//! that notices `plugins.toml` or a plugin's file changing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::registry::{LivePlugins, Plugins};
use super::{Plugin, Runtime};
use crate::config::{self, PluginSpec};
use switchboard_core::hashing::sha256_hex;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// Plugins newly loaded (new, changed file or changed entry): now serving.
    pub loaded: Vec<String>,
    /// Plugins that did not change: still serving, not reloaded.
    pub unchanged: Vec<String>,
    /// Plugins no longer served (removed from plugins.toml or disabled).
    pub removed: Vec<String>,
    /// Plugins that failed to load or to answer the smoke call; the previous version, if any,
    /// still serves.
    pub failed: Vec<ReloadFailure>,
    /// Why nothing was reloaded (plugins.toml could not be read), if so.
    pub error: Option<String>,
}

/// One plugin that could not be swapped in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReloadFailure {
    pub plugin: String,
    pub error: String,
    /// The digest of the version still serving, if one is.
    pub still_serving: Option<String>,
}

/// Reloads one server's plugins from its manifest.
pub struct Reloader {
    runtime: Runtime,
    manifest_path: PathBuf,
    live: Arc<LivePlugins>,
    /// One reload at a time: a watcher tick and an API call do not race.
    busy: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(runtime: Runtime, manifest_path: PathBuf, live: Arc<LivePlugins>) -> Self {
        Reloader {
            runtime,
            manifest_path,
            live,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Re-reads plugins.toml and swaps in what changed.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.busy.lock().await;
        let manifest = match config::load(&self.manifest_path) {
            Ok(manifest) => manifest,
            Err(error) => {
                tracing::error!(%error, "plugins.toml not reloaded; the current plugins keep serving");
                return ReloadReport {
                    error: Some(error.to_string()),
                    ..ReloadReport::default()
                };
            }
        };
        let old = self.live.current();
        let mut next = Plugins::default();
        let mut report = ReloadReport::default();
        for spec in &manifest.plugins {
            let previous = old.get(&spec.id).cloned();
            if !spec.enabled {
                next.disabled.insert(spec.id.clone());
                if previous.is_some() {
                    report.removed.push(spec.id.clone());
                }
                continue;
            }
            if let Some(previous) = previous.as_ref().filter(|p| unchanged(p, spec)) {
                next.loaded.insert(spec.id.clone(), previous.clone());
                report.unchanged.push(spec.id.clone());
                continue;
            }
            match self.load_and_smoke(spec).await {
                Ok(plugin) => {
                    tracing::info!(plugin = %spec.id, sha256 = %plugin.sha256, "plugin swapped in");
                    next.loaded.insert(spec.id.clone(), Arc::new(plugin));
                    report.loaded.push(spec.id.clone());
                }
                Err(error) => {
                    tracing::error!(plugin = %spec.id, %error, "plugin not swapped in; the previous version keeps serving");
                    report.failed.push(ReloadFailure {
                        plugin: spec.id.clone(),
                        error,
                        still_serving: previous.as_ref().map(|p| p.sha256.clone()),
                    });
                    if let Some(previous) = previous {
                        next.loaded.insert(spec.id.clone(), previous);
                    }
                }
            }
        }
        for plugin in old.iter() {
            if !manifest.plugins.iter().any(|s| s.id == plugin.id()) {
                report.removed.push(plugin.id().to_string());
            }
        }
        self.live.replace(next);
        report
    }

    async fn load_and_smoke(&self, spec: &PluginSpec) -> Result<Plugin, String> {
        let plugin = self.runtime.load(spec).await.map_err(|e| e.to_string())?;
        plugin
            .map_outcome("delivered")
            .await
            .map_err(|e| format!("plugin `{}` failed its smoke call: {e}", spec.id))?;
        Ok(plugin)
    }

    /// Reloads whenever plugins.toml or a plugin file changes and then stays unchanged for one
    /// interval (so a file being copied in is not loaded half-written).
    pub fn watch(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut applied = self.fingerprint();
            let mut seen = applied.clone();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let now = self.fingerprint();
                if now != applied && now == seen {
                    tracing::info!("plugins.toml or a plugin file changed; reloading");
                    let report = self.reload().await;
                    tracing::info!(?report, "reload finished");
                    applied = now.clone();
                }
                seen = now;
            }
        })
    }

    /// What the watcher compares: size and modification time of plugins.toml and of every file
    /// it names.
    fn fingerprint(&self) -> Vec<(PathBuf, Option<(u64, SystemTime)>)> {
        let mut files = vec![self.manifest_path.clone()];
        if let Ok(manifest) = config::load(&self.manifest_path) {
            files.extend(manifest.plugins.into_iter().map(|s| s.wasm_path));
        }
        files
            .into_iter()
            .map(|path| {
                let stamp = std::fs::metadata(&path)
                    .ok()
                    .and_then(|m| Some((m.len(), m.modified().ok()?)));
                (path, stamp)
            })
            .collect()
    }
}

/// Whether a serving plugin is what `spec` describes: the same entry and the same file contents.
fn unchanged(plugin: &Plugin, spec: &PluginSpec) -> bool {
    plugin.spec == *spec && digest_of(&spec.wasm_path).as_deref() == Some(plugin.sha256.as_str())
}

fn digest_of(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(sha256_hex(&bytes))
}
