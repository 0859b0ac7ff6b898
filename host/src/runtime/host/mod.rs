//! The host side of the interfaces a plugin imports (`wit/host.wit`), implemented on the call's
//! [`PluginState`](super::state::PluginState).

mod clock;
mod config;
mod crypto;
mod http;
mod log;
mod secrets;

pub use crypto::verify_ecdsa_p256;

impl super::bindings::switchboard::channel::types::Host for super::state::PluginState {}
