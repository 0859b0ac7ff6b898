//! `clock.now`: wall-clock milliseconds since the Unix epoch.

use crate::bindings::switchboard::channel::clock::Host;
use crate::state::PluginState;

impl Host for PluginState {
    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(switchboard_core::clock::now_ms())
    }
}
