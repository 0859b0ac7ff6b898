//! The loaded plugins, by id, and the live set a reload swaps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use super::{LoadError, Plugin, Runtime};
use crate::config::LoadedManifest;
use switchboard_core::domain::Channel;

/// Every enabled plugin of a manifest, loaded; and the ids of the disabled ones.
#[derive(Debug, Default)]
pub struct Plugins {
    pub(super) loaded: BTreeMap<String, Arc<Plugin>>,
    pub(super) disabled: BTreeSet<String>,
}

impl Plugins {
    /// Loads every enabled plugin; the first that fails stops start-up with its error.
    pub async fn load(runtime: &Runtime, manifest: &LoadedManifest) -> Result<Self, LoadError> {
        let mut plugins = Plugins::default();
        for spec in &manifest.plugins {
            if !spec.enabled {
                plugins.disabled.insert(spec.id.clone());
                continue;
            }
            let plugin = runtime.load(spec).await?;
            tracing::info!(
                plugin = %spec.id,
                name = %plugin.description.name,
                version = %plugin.description.version,
                sha256 = %plugin.sha256,
                "plugin loaded"
            );
            plugins.loaded.insert(spec.id.clone(), Arc::new(plugin));
        }
        Ok(plugins)
    }

    /// The enabled plugin with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Plugin>> {
        self.loaded.get(id)
    }

    /// Whether a plugin with this id is configured but disabled.
    pub fn is_disabled(&self, id: &str) -> bool {
        self.disabled.contains(id)
    }

    /// The loaded plugins, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.loaded.values()
    }

    /// The first plugin (in id order) assigned to `channel`.
    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<Plugin>> {
        self.iter().find(|p| p.spec.channels.contains(&channel))
    }
}

/// The plugins being served. A reload replaces the whole set at once; a request takes the set
/// that is current when it starts and finishes its call on that plugin, old or new.
#[derive(Debug)]
pub struct LivePlugins {
    current: RwLock<Arc<Plugins>>,
}

impl LivePlugins {
    pub fn new(plugins: Plugins) -> Self {
        LivePlugins {
            current: RwLock::new(Arc::new(plugins)),
        }
    }

    /// The set being served now.
    pub fn current(&self) -> Arc<Plugins> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc: the value is whole.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serves `plugins` from now on.
    pub(super) fn replace(&self, plugins: Plugins) {
        let next = Arc::new(plugins);
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
