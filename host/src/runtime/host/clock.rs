//! `clock.now`: wall-clock milliseconds since the Unix epoch.

use crate::runtime::bindings::switchboard::channel::clock::Host;
use crate::runtime::state::PluginState;

impl Host for PluginState {
    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(crate::clock::now_ms())
    }
}
