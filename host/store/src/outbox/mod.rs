//! The outbox: messages, the attempts that carry them, and their history (`messages`,
//! `message_attempts`, `message_history`). One file per job:
//!
//! - `rows.rs`: the rows as written — a message, an attempt, a history line, a status — and the
//!   lookups by idempotency key and by message;
//! - `queue.rs`: the queue and its leases — claim what is due, renew, release, recover attempts
//!   whose lease ran out;
//! - `results.rs`: recording what became of a claimed attempt (sent, failed, retry, unknown), only
//!   under the dispatcher's lease;
//! - `settlement.rs`: the statements settling a message uses — the attempts carrying vendor
//!   messages, cancelling the rest, where a message is in its plan;
//! - `views.rs`: a message read back whole, with its attempts and history.
//!
//! What a later event in the interaction log (a bounce, a delivery, an answered call) does to an
//! attempt, and when a message falls back, is decided above the store (`send::settle`); here are
//! the statements it uses. Everything is re-exported here: callers write `outbox::claim_due`.

mod queue;
mod results;
mod rows;
mod settlement;
mod views;

pub use queue::{
    Claimed, claim_due, next_due, recover_expired, release, renew, unfinished_attempts,
};
pub use results::{record_failed, record_sent, record_unknown, schedule_retry};
pub use rows::{
    NewMessage, Stored, add_attempt, add_event, by_idempotency_key, contact_of, insert_message,
    set_attempt_status, set_message_status,
};
pub use settlement::{AttemptRef, Progress, attempts_carrying, cancel_others, progress};
pub use views::{AttemptView, EventView, MessageView, of_contact, view};

use crate::StoreError;
use switchboard_core::domain::{AttemptStatus, Channel, MessageStatus};

// Stored words read back: a word the code does not know means the row is corrupt.

fn parse_channel(text: &str) -> Result<Channel, StoreError> {
    Channel::parse(text).ok_or_else(|| StoreError::Corrupt(format!("channel {text:?}")))
}

fn parse_message_status(text: &str) -> Result<MessageStatus, StoreError> {
    MessageStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("MessageStatus {text:?}")))
}

fn parse_attempt_status(text: &str) -> Result<AttemptStatus, StoreError> {
    AttemptStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("AttemptStatus {text:?}")))
}
