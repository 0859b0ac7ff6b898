//! Erasure: a person's contact, identities, interactions, intents and their events in stored
//! webhooks go; their identifiers go on the suppression list, so a vendor's late webhook about
//! them is attributed to no one and does not bring them back.
//!
//! Reading what to remove happens before the writer is taken (a person with years of history must
//! not stall ingestion while their webhooks are read); the write transaction then catches up with
//! anything that arrived meanwhile and applies the plan.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::{events_from, keys_of, person};
use crate::auth::Caller;
use crate::ingest::redact::{self, Redacted};
use crate::service_error::ServiceError;
use crate::staff::contacts::view;
use switchboard_core::domain::IdentityKey;
use switchboard_store::raw_webhooks::{self, RawWebhook};
use switchboard_store::{Store, StoreError, audit, contacts, intents, interactions, suppressions};

/// What an erasure removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erasure {
    pub contact_id: i64,
    pub interactions: u64,
    pub identities: u64,
    pub intents: u64,
    /// Stored webhooks deleted: every event in them was the person's.
    pub webhooks: u64,
    /// Stored webhooks shared with other people, from which the person's events were cut.
    pub webhooks_redacted: u64,
    /// Identifiers now on the suppression list.
    pub suppressed_identifiers: u64,
}

/// What to do to one stored webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Delete,
    Replace(Vec<u8>),
}

/// Unprocessed webhooks are read this many at a time.
const SCAN_BATCH: i64 = 500;

/// Plans the erasure from a reader, then applies it under the writer, audited.
pub(super) async fn erase(
    store: &Store,
    contact_id: i64,
    caller: &Caller,
    now: i64,
) -> Result<Erasure, ServiceError> {
    let mut plan = BTreeMap::new();
    let (keys, scanned_to) = {
        let mut reader = store.reader().await?;
        let keys = keys_of(&view(&mut reader, contact_id).await?);
        plan_linked(&mut reader, contact_id, &keys, &mut plan).await?;
        let scanned_to = plan_unprocessed(&mut reader, &keys, 0, &mut plan).await?;
        (keys, scanned_to)
    };

    let mut tx = store.begin_write().await?;
    // Identities linked since the plan was made count too.
    let keys = merge_keys(keys, keys_of(&view(tx.conn(), contact_id).await?));
    plan_linked(tx.conn(), contact_id, &keys, &mut plan).await?;
    plan_unprocessed(tx.conn(), &keys, scanned_to, &mut plan).await?;
    let (webhooks, webhooks_redacted) = apply(tx.conn(), &plan, now).await?;
    let interaction_count = interactions::count_of_contact(tx.conn(), contact_id).await?;
    let intent_count = intents::of_contact(tx.conn(), contact_id, false)
        .await?
        .len() as u64;
    suppressions::add(tx.conn(), store.key(), &keys, now).await?;
    // Interactions, identities, intents and webhook links go with the contact (foreign keys
    // cascade).
    contacts::delete(tx.conn(), contact_id).await?;
    let erasure = Erasure {
        contact_id,
        interactions: interaction_count,
        identities: keys.len() as u64,
        intents: intent_count,
        webhooks,
        webhooks_redacted,
        suppressed_identifiers: keys.len() as u64,
    };
    let detail = serde_json::to_value(&erasure).unwrap_or_default();
    audit::record(
        tx.conn(),
        now,
        &caller.actor(),
        "contact.erase",
        Some(contact_id),
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(erasure)
}

fn merge_keys(mut keys: Vec<IdentityKey>, more: Vec<IdentityKey>) -> Vec<IdentityKey> {
    for key in more {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Plans the webhooks recorded about the contact that the plan does not cover yet: deleted when
/// they are about no one else, else cut to the others' events.
async fn plan_linked(
    conn: &mut AnyConnection,
    contact_id: i64,
    keys: &[IdentityKey],
    plan: &mut BTreeMap<i64, Action>,
) -> Result<(), StoreError> {
    for id in raw_webhooks::ids_about_contact(conn, contact_id).await? {
        if plan.contains_key(&id) {
            continue;
        }
        let others = raw_webhooks::contacts_of(conn, id)
            .await?
            .into_iter()
            .any(|c| c != contact_id);
        if !others {
            plan.insert(id, Action::Delete);
            continue;
        }
        let Some(stored) = raw_webhooks::get_on(conn, id).await? else {
            continue;
        };
        let events = events_from(conn, contact_id, id).await?;
        if let Some(action) = cut(&stored, &person(keys, &events)) {
            plan.insert(id, action);
        }
    }
    Ok(())
}

/// Plans the unprocessed webhooks after `after_id` that name the person; returns the last id
/// read.
async fn plan_unprocessed(
    conn: &mut AnyConnection,
    keys: &[IdentityKey],
    mut after_id: i64,
    plan: &mut BTreeMap<i64, Action>,
) -> Result<i64, StoreError> {
    let person = person(keys, &[]);
    loop {
        let batch = raw_webhooks::unprocessed_after(conn, after_id, SCAN_BATCH).await?;
        let Some(last) = batch.last() else {
            return Ok(after_id);
        };
        after_id = last.id;
        for stored in &batch {
            if let Some(action) = cut(stored, &person) {
                plan.entry(stored.id).or_insert(action);
            }
        }
    }
}

/// What erasing `person` does to one stored webhook, if anything.
fn cut(stored: &RawWebhook, person: &redact::Person<'_>) -> Option<Action> {
    match redact::without(&stored.request.body, person) {
        Redacted::Unchanged => None,
        Redacted::Changed(rest) if rest.is_empty() => Some(Action::Delete),
        Redacted::Changed(rest) => Some(Action::Replace(rest)),
    }
}

/// Applies the plan; returns (deleted, redacted).
async fn apply(
    conn: &mut AnyConnection,
    plan: &BTreeMap<i64, Action>,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let deletions: Vec<i64> = plan
        .iter()
        .filter(|(_, a)| **a == Action::Delete)
        .map(|(id, _)| *id)
        .collect();
    let deleted = raw_webhooks::delete(conn, &deletions).await?;
    let mut redacted = 0;
    for (id, action) in plan {
        if let Action::Replace(body) = action {
            raw_webhooks::replace_body(conn, *id, body, now).await?;
            redacted += 1;
        }
    }
    Ok((deleted, redacted))
}
