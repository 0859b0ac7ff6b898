//! `config.get`: the plugin's table from `plugins.toml`.

use crate::bindings::switchboard::channel::config::Host;
use crate::state::PluginState;

impl Host for PluginState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.plugin.config.get(&key).cloned())
    }
}
