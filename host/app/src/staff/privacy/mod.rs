//! A person's data, all of it: export, and erasure that stays erased.
//!
//! Both work on the person's own events. A vendor batches events about many people into one
//! webhook, so a stored webhook is cut to the person's events ([`crate::ingest::redact`]): export
//! hands over only theirs, and erasure removes only theirs, leaving the others' evidence in place.
//! Stored webhooks are found through the contacts each was recorded about (vendor retries
//! included), and unprocessed ones by an exact match of the person's identifiers.
//!
//! Both read outside the single writer: export streams from one read snapshot, erasure reads and
//! plans first and holds the writer only to apply the plan. Both are audited; the audit trail
//! says what went, never who it was.
//!
//! [`Privacy`] is the service; `export.rs` and `erase.rs` do the work.

mod erase;
mod export;

pub use erase::Erasure;
pub use export::{Chunks, Export, ExportedWebhook};

use crate::auth::Caller;
use crate::ingest::redact::Person;
use crate::service_error::ServiceError;
use switchboard_core::domain::IdentityKey;
use switchboard_store::{Store, interactions};

use super::contacts::ContactView;

/// Export and erasure, over the store.
#[derive(Clone)]
pub struct Privacy {
    store: Store,
}

impl Privacy {
    pub fn new(store: Store) -> Self {
        Privacy { store }
    }

    /// Audits the export of `contact_id` and starts streaming it; 404 before anything is sent if
    /// there is no such contact.
    pub async fn export(
        &self,
        contact_id: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<Chunks, ServiceError> {
        export::export(&self.store, contact_id, caller, now).await
    }

    /// Erases a person; their identifiers go on the suppression list.
    pub async fn erase(
        &self,
        contact_id: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<Erasure, ServiceError> {
        erase::erase(&self.store, contact_id, caller, now).await
    }
}

/// The identity keys of a contact.
fn keys_of(contact: &ContactView) -> Vec<IdentityKey> {
    contact
        .identities
        .iter()
        .map(|i| IdentityKey {
            kind: i.kind,
            value: i.value.clone(),
        })
        .collect()
}

/// How to recognise the person's events in a stored webhook: their identifiers, and the
/// verbatim texts of the interactions recorded for them from it.
fn person<'a>(keys: &'a [IdentityKey], events: &'a [String]) -> Person<'a> {
    Person {
        events: events.iter().map(String::as_str).collect(),
        identities: keys.iter().collect(),
    }
}

/// The metadata texts of a contact's interactions from one stored webhook.
async fn events_from(
    conn: &mut sqlx::AnyConnection,
    contact_id: i64,
    raw_webhook_id: i64,
) -> Result<Vec<String>, switchboard_store::StoreError> {
    interactions::metadata_from_webhook(conn, contact_id, raw_webhook_id).await
}
