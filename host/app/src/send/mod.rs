//! Sending. [`accept`] takes a message for a contact (`POST /api/messages`), has selection order
//! its channels and stores it in the outbox with its first attempt (`enqueue`, group-committed);
//! [`dispatch`] claims due
//! attempts and hands each to its carrier — a plugin's `send`, the staff call queue or the portal
//! inbox — records the result, retries with backoff and falls back to the next channel by
//! [`policy`]; [`settle`] applies the vendor's later reports (and failures) to the outbox.
//! [`content`] is what a message says per channel; `plugin_try` is one call of a plugin's `send`
//! and its log row, shared by the dispatcher and [`direct`], the one-off path of
//! `switchboard send`.

pub mod accept;
pub mod content;
pub mod direct;
pub mod dispatch;
mod enqueue;
mod plugin_try;
pub mod policy;
pub mod settle;

pub use direct::{DirectMessage, SendError, SendReport, send_direct};
pub use plugin_try::Failure;

use switchboard_core::clock::now_ms;

/// A random id: `prefix` and 16 hex digits.
pub(crate) fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    // The system RNG failing is not recoverable in any useful way; fall back to the clock.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        bytes = now_ms().to_be_bytes();
    }
    format!("{prefix}{}", switchboard_core::hashing::hex(&bytes))
}
