//! `log.emit`: plugin logs into the host's structured log, tagged with the plugin id, bounded per
//! call.

use crate::runtime::bindings::switchboard::channel::log::{Host, Level};
use crate::runtime::state::PluginState;

/// Longest message kept; the rest is cut.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Most fields kept per entry.
const MAX_FIELDS: usize = 20;

impl Host for PluginState {
    fn emit(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.log_entries_left == 0 {
            return Ok(());
        }
        self.log_entries_left -= 1;
        let plugin = self.plugin.id.as_str();
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        let fields: Vec<String> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let fields = fields.join(" ");
        match level {
            Level::Trace => tracing::trace!(plugin, %fields, "{message}"),
            Level::Debug => tracing::debug!(plugin, %fields, "{message}"),
            Level::Info => tracing::info!(plugin, %fields, "{message}"),
            Level::Warn => tracing::warn!(plugin, %fields, "{message}"),
            Level::Error => tracing::error!(plugin, %fields, "{message}"),
        }
        Ok(())
    }
}
