//! Committing an accepted webhook: the raw request and its interactions in one transaction, each
//! interaction resolved to its contact, repeats of events already in the log skipped.

use super::validate::CheckedInteraction;
use crate::domain::{Channel, Outcome};
use crate::identity::{IdentityKind, Subject, resolve_batch};
use crate::store::contacts;
use crate::store::interactions::{self, NewInteraction};
use crate::store::raw_webhooks::{self, RawRequest, RawStatus};
use crate::store::{Store, StoreError};

/// Which plugin an accepted webhook came through.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub plugin_id: &'a str,
    /// The plugin's vendor, recorded as each interaction's external system.
    pub vendor: &'a str,
}

/// What a commit wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub raw_webhook_id: i64,
    /// Interactions added to the log.
    pub interactions: u64,
    /// Interactions the log already held (vendor retries, replays).
    pub duplicates: u64,
    /// Interactions about erased people, not recorded.
    pub suppressed: u64,
}

/// Where the raw request stands: new (insert it) or stored earlier (a replay).
#[derive(Debug, Clone, Copy)]
pub enum RawRow<'a> {
    New(&'a RawRequest),
    Stored(i64),
}

/// Commits an accepted webhook's interactions, with the raw request, in one transaction.
pub async fn record_accepted(
    store: &Store,
    source: Source<'_>,
    raw: RawRow<'_>,
    received_at: i64,
    interactions: &[CheckedInteraction],
    now: i64,
) -> Result<Recorded, StoreError> {
    let mut tx = store.begin_write().await?;
    let raw_webhook_id = match raw {
        RawRow::New(request) => {
            raw_webhooks::insert(tx.conn(), request, RawStatus::Processed, None, Some(now)).await?
        }
        RawRow::Stored(id) => {
            raw_webhooks::record_attempt(tx.conn(), id, RawStatus::Processed, None).await?;
            id
        }
    };

    let event_ids: Vec<&str> = interactions
        .iter()
        .filter_map(|i| i.vendor_event_id.as_deref())
        .collect();
    let known = interactions::known_event_ids(tx.conn(), source.vendor, &event_ids).await?;
    let fresh: Vec<&CheckedInteraction> = interactions
        .iter()
        .filter(|i| {
            i.vendor_event_id
                .as_deref()
                .is_none_or(|id| !known.contains(id))
        })
        .collect();

    let subjects: Vec<Subject<'_>> = fresh
        .iter()
        .map(|i| Subject {
            channel: i.channel,
            outcome: i.outcome,
            occurred_at: i.occurred_at,
            vendor_message_id: i.vendor_message_id.as_deref(),
            hints: &i.hints,
        })
        .collect();
    let created_by = format!("plugin:{}", source.plugin_id);
    let resolutions = resolve_batch(tx.conn(), &subjects, &created_by, now).await?;

    let suppressed = resolutions.iter().filter(|r| r.suppressed).count() as u64;
    let bounced: Vec<(&CheckedInteraction, i64)> = fresh
        .iter()
        .zip(&resolutions)
        .filter(|(i, _)| i.outcome == Outcome::Bounced)
        .filter_map(|(i, r)| Some((*i, r.contact_id?)))
        .collect();
    let rows: Vec<NewInteraction> = fresh
        .iter()
        .zip(resolutions)
        .filter(|(_, resolution)| !resolution.suppressed)
        .map(|(i, resolution)| NewInteraction {
            contact_id: resolution.contact_id,
            occurred_at: i.occurred_at,
            received_at,
            kind: i.kind.clone(),
            channel: i.channel,
            direction: i.direction,
            outcome: i.outcome,
            vendor_status: i.vendor_status.clone(),
            plugin_id: Some(source.plugin_id.to_string()),
            external_system: Some(source.vendor.to_string()),
            vendor_message_id: i.vendor_message_id.clone(),
            vendor_event_id: i.vendor_event_id.clone(),
            raw_webhook_id: Some(raw_webhook_id),
            time_to_action_ms: resolution.time_to_action_ms,
            summary: i.summary.clone(),
            metadata: i.metadata.clone(),
            created_by: created_by.clone(),
        })
        .collect();
    let inserted = interactions::insert_new(tx.conn(), &rows).await?;
    mark_unreachable(tx.conn(), &bounced, raw_webhook_id, source.vendor).await?;
    let duplicates = interactions.len() as u64 - inserted - suppressed;
    raw_webhooks::mark_processed(tx.conn(), raw_webhook_id, inserted, duplicates, now).await?;
    if suppressed > 0 && suppressed == fresh.len() as u64 {
        // Nothing in it is about anyone but erased people: keeping the body would keep them.
        let why = "body removed: it named only erased people";
        raw_webhooks::redact(tx.conn(), raw_webhook_id, why).await?;
    }
    tx.commit().await?;
    Ok(Recorded {
        raw_webhook_id,
        interactions: inserted,
        duplicates,
        suppressed,
    })
}

/// A hard bounce (or a permanently undeliverable number) marks the identity it was sent to as
/// unreachable, with the bounce as evidence, until staff re-verify it.
async fn mark_unreachable(
    conn: &mut sqlx::AnyConnection,
    bounced: &[(&CheckedInteraction, i64)],
    raw_webhook_id: i64,
    vendor: &str,
) -> Result<(), StoreError> {
    for (interaction, contact_id) in bounced {
        let kind = match interaction.channel {
            Channel::Email => IdentityKind::Email,
            Channel::Sms | Channel::Phone => IdentityKind::Phone,
            _ => continue,
        };
        let evidence = interactions::find_in_webhook(
            conn,
            raw_webhook_id,
            *contact_id,
            interaction.vendor_event_id.as_deref(),
            interaction.vendor_message_id.as_deref(),
        )
        .await?;
        let reason = match &interaction.vendor_status {
            Some(status) => format!("{} ({vendor}: {status})", interaction.kind),
            None => format!("{} ({vendor})", interaction.kind),
        };
        for key in interaction
            .hints
            .identities
            .iter()
            .filter(|k| k.kind == kind)
        {
            contacts::mark_unreachable(
                conn,
                *contact_id,
                key,
                &reason,
                evidence,
                interaction.occurred_at,
            )
            .await?;
        }
    }
    Ok(())
}

/// Stores a webhook that was not processed (rejected or failed), for the record and for replay.
pub async fn record_unprocessed(
    store: &Store,
    raw: RawRow<'_>,
    status: RawStatus,
    error: &str,
) -> Result<i64, StoreError> {
    let mut tx = store.begin_write().await?;
    let id = match raw {
        RawRow::New(request) => {
            raw_webhooks::insert(tx.conn(), request, status, Some(error), None).await?
        }
        RawRow::Stored(id) => {
            raw_webhooks::record_attempt(tx.conn(), id, status, Some(error)).await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}
