//! The host side of the interfaces a plugin imports (`wit/host.wit`), implemented on the call's
//! [`PluginState`](super::state::PluginState).

mod clock;
mod config;
mod crypto;
mod http;
mod log;
mod nonces;
mod secrets;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::switchboard::channel as wit;
use super::state::PluginState;

pub use crypto::verify_ecdsa_p256;

impl wit::types::Host for PluginState {}

/// Defines every interface of the `channel-plugin` world in `linker`: the generated bindings for
/// all but `log`, which [`log`] defines by hand so as to read only what it keeps.
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::http::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::config::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::secrets::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::crypto::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::clock::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    wit::nonces::add_to_linker::<_, HasSelf<_>>(linker, state)?;
    log::add_to_linker(linker)
}

/// Where the generated bindings find the host: the store's data itself.
fn state(state: &mut PluginState) -> &mut PluginState {
    state
}
