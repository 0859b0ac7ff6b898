//! Committing an accepted webhook: the raw request and its interactions in one transaction, each
//! interaction resolved to its contact, repeats of events already in the log skipped.

use std::collections::HashSet;

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

/// An accepted webhook to record: its raw request and what its plugin made of it.
#[derive(Debug, Clone, Copy)]
pub struct AcceptedWebhook<'a> {
    pub raw: RawRow<'a>,
    pub received_at: i64,
    pub interactions: &'a [CheckedInteraction],
}

/// Commits an accepted webhook's interactions, with the raw request, in one transaction.
pub async fn record_accepted(
    store: &Store,
    source: Source<'_>,
    webhook: AcceptedWebhook<'_>,
    now: i64,
) -> Result<Recorded, StoreError> {
    let mut tx = store.begin_write().await?;
    let recorded = record_group(tx.conn(), source, &[webhook], now).await?;
    tx.commit().await?;
    recorded
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("recording a webhook returned no result".into()))
}

/// Records accepted webhooks of one source inside the caller's transaction, with the same result
/// as recording them one after another in the order given: every step runs once for the whole
/// group (one statement per step, not one per webhook), and an event that two of them carry is
/// logged once, for the first. One difference, by design: time to action may count from a send
/// that a later webhook of the group reports, as it already does within one webhook.
pub async fn record_group(
    conn: &mut sqlx::AnyConnection,
    source: Source<'_>,
    webhooks: &[AcceptedWebhook<'_>],
    now: i64,
) -> Result<Vec<Recorded>, StoreError> {
    let mut raw_ids = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        raw_ids.push(match webhook.raw {
            RawRow::New(request) => {
                raw_webhooks::insert(conn, request, RawStatus::Processed, None, Some(now)).await?
            }
            RawRow::Stored(id) => {
                raw_webhooks::record_attempt(conn, id, RawStatus::Processed, None).await?;
                id
            }
        });
    }

    let event_ids: Vec<&str> = webhooks
        .iter()
        .flat_map(|w| w.interactions)
        .filter_map(|i| i.vendor_event_id.as_deref())
        .collect();
    let known = interactions::known_event_ids(conn, source.vendor, &event_ids).await?;
    // New interactions, with the index of the webhook each came in. An event that an earlier
    // webhook of the group carries counts as already logged, as it would be had that webhook
    // been committed first.
    let mut earlier: HashSet<&str> = HashSet::new();
    let mut fresh: Vec<(usize, &CheckedInteraction)> = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
        fresh.extend(
            webhook
                .interactions
                .iter()
                .filter(|i| {
                    i.vendor_event_id
                        .as_deref()
                        .is_none_or(|id| !known.contains(id) && !earlier.contains(id))
                })
                .map(|i| (index, i)),
        );
        earlier.extend(
            webhook
                .interactions
                .iter()
                .filter_map(|i| i.vendor_event_id.as_deref()),
        );
    }

    let subjects: Vec<Subject<'_>> = fresh
        .iter()
        .map(|(_, i)| Subject {
            channel: i.channel,
            outcome: i.outcome,
            occurred_at: i.occurred_at,
            vendor_message_id: i.vendor_message_id.as_deref(),
            hints: &i.hints,
        })
        .collect();
    let created_by = format!("plugin:{}", source.plugin_id);
    let resolutions = resolve_batch(conn, &subjects, &created_by, now).await?;

    let mut tallies = vec![Tally::default(); webhooks.len()];
    let mut bounced = Vec::new();
    let mut rows = Vec::with_capacity(fresh.len());
    for ((index, i), resolution) in fresh.iter().zip(resolutions) {
        let tally = &mut tallies[*index];
        tally.fresh += 1;
        if resolution.suppressed {
            tally.suppressed += 1;
            continue;
        }
        if i.outcome == Outcome::Bounced
            && let Some(contact_id) = resolution.contact_id
        {
            bounced.push(Bounce {
                interaction: i,
                contact_id,
                raw_webhook_id: raw_ids[*index],
            });
        }
        rows.push(NewInteraction {
            contact_id: resolution.contact_id,
            occurred_at: i.occurred_at,
            received_at: webhooks[*index].received_at,
            kind: i.kind.clone(),
            channel: i.channel,
            direction: i.direction,
            outcome: i.outcome,
            vendor_status: i.vendor_status.clone(),
            plugin_id: Some(source.plugin_id.to_string()),
            external_system: Some(source.vendor.to_string()),
            vendor_message_id: i.vendor_message_id.clone(),
            vendor_event_id: i.vendor_event_id.clone(),
            raw_webhook_id: Some(raw_ids[*index]),
            time_to_action_ms: resolution.time_to_action_ms,
            summary: i.summary.clone(),
            metadata: i.metadata.clone(),
            created_by: created_by.clone(),
        });
    }
    let inserted = interactions::insert_new(conn, &rows).await?;
    mark_unreachable(conn, &bounced, source.vendor).await?;

    let mut recorded = Vec::with_capacity(webhooks.len());
    for ((webhook, raw_webhook_id), tally) in webhooks.iter().zip(raw_ids).zip(tallies) {
        let added = inserted.from_webhook(raw_webhook_id);
        let duplicates = webhook.interactions.len() as u64 - added - tally.suppressed;
        raw_webhooks::mark_processed(conn, raw_webhook_id, added, duplicates, now).await?;
        if tally.suppressed > 0 && tally.suppressed == tally.fresh {
            // Nothing in it is about anyone but erased people: keeping the body would keep them.
            let why = "body removed: it named only erased people";
            raw_webhooks::redact(conn, raw_webhook_id, why).await?;
        }
        recorded.push(Recorded {
            raw_webhook_id,
            interactions: added,
            duplicates,
            suppressed: tally.suppressed,
        });
    }
    Ok(recorded)
}

/// How one webhook's new (not yet logged) interactions fared.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    fresh: u64,
    /// About erased people, so not recorded.
    suppressed: u64,
}

/// A hard bounce about a known contact, and the webhook that reported it.
struct Bounce<'a> {
    interaction: &'a CheckedInteraction,
    contact_id: i64,
    raw_webhook_id: i64,
}

/// A hard bounce (or a permanently undeliverable number) marks the identity it was sent to as
/// unreachable, with the bounce as evidence, until staff re-verify it.
async fn mark_unreachable(
    conn: &mut sqlx::AnyConnection,
    bounced: &[Bounce<'_>],
    vendor: &str,
) -> Result<(), StoreError> {
    for bounce in bounced {
        let (interaction, contact_id) = (bounce.interaction, bounce.contact_id);
        let kind = match interaction.channel {
            Channel::Email => IdentityKind::Email,
            Channel::Sms | Channel::Phone => IdentityKind::Phone,
            _ => continue,
        };
        let evidence = interactions::find_in_webhook(
            conn,
            bounce.raw_webhook_id,
            contact_id,
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
                contact_id,
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
