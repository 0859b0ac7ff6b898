//! Committing an accepted webhook: the raw request and its interactions in one transaction, each
//! interaction resolved to its contact, repeats of events already in the log skipped, and the
//! new ones appended through [`crate::log::append`] (which runs every reaction to them).

use std::collections::{BTreeSet, HashSet};

use super::redact::{self, Person, Redacted};
use super::validate::ReportedInteraction;
use crate::identity::{Linking, Subject, resolve_batch};
use crate::log::{self, Entry};
use switchboard_store::interactions::{self, NewInteraction};
use switchboard_store::nonces::{self, Nonce};
use switchboard_store::raw_webhooks::{self, Processed, RawRequest, RawStatus};
use switchboard_store::{ServerKey, Store, StoreError};

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

/// What recording made of an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    Recorded(Recorded),
    /// It used a once-only value (a signed token) that an earlier request already used: a replay
    /// of a captured signature. Nothing was stored.
    Replayed {
        nonce: String,
    },
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
    pub interactions: &'a [ReportedInteraction],
    /// Values the plugin registered as usable once (see `wit/host.wit`, `nonces`).
    pub nonces: &'a [Nonce],
}

/// Commits an accepted webhook's interactions, with the raw request, in one transaction.
pub async fn record_accepted(
    store: &Store,
    source: Source<'_>,
    webhook: AcceptedWebhook<'_>,
    now: i64,
) -> Result<Committed, StoreError> {
    let mut tx = store.begin_write().await?;
    let recorded = record_group(tx.conn(), store.key(), source, &[webhook], now).await?;
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
///
/// A webhook that reuses a once-only value another request used is left out ([`Committed::Replayed`]).
pub async fn record_group(
    conn: &mut sqlx::AnyConnection,
    key: &ServerKey,
    source: Source<'_>,
    webhooks: &[AcceptedWebhook<'_>],
    now: i64,
) -> Result<Vec<Committed>, StoreError> {
    let gates = check_nonces(conn, source.plugin_id, webhooks, now).await?;
    let admitted: Vec<AcceptedWebhook<'_>> = webhooks
        .iter()
        .zip(&gates)
        .filter(|(_, gate)| !matches!(gate, Gate::Replay(_)))
        .map(|(webhook, _)| *webhook)
        .collect();
    let mut recorded = record_admitted(conn, key, source, &admitted, now)
        .await?
        .into_iter();
    let mut results = Vec::with_capacity(webhooks.len());
    for (webhook, gate) in webhooks.iter().zip(gates) {
        if let Gate::Replay(nonce) = gate {
            results.push(Committed::Replayed { nonce });
            continue;
        }
        let done = recorded.next().ok_or_else(|| {
            StoreError::Corrupt("recording a group returned too few results".into())
        })?;
        if gate == Gate::Fresh {
            claim_nonces(
                conn,
                source.plugin_id,
                webhook.nonces,
                done.raw_webhook_id,
                now,
            )
            .await?;
        }
        results.push(Committed::Recorded(done));
    }
    Ok(results)
}

/// How a webhook stands with its once-only values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gate {
    /// None of them was used before: record it and claim them.
    Fresh,
    /// The very request that used them, delivered again byte for byte (the vendor's retry after
    /// our answer was lost): record it (its events are repeats), claim nothing.
    Redelivery,
    /// Another request used this one: a captured signature on a different body. Refused.
    Replay(String),
}

/// For each webhook, how it stands with its once-only values against stored requests and those
/// earlier in this group.
async fn check_nonces(
    conn: &mut sqlx::AnyConnection,
    plugin_id: &str,
    webhooks: &[AcceptedWebhook<'_>],
    now: i64,
) -> Result<Vec<Gate>, StoreError> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut gates = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let own = match webhook.raw {
            RawRow::Stored(id) => Some(id),
            RawRow::New(_) => None,
        };
        let gate = match webhook
            .nonces
            .iter()
            .find(|n| seen.contains(n.value.as_str()))
        {
            Some(nonce) => Gate::Replay(nonce.value.clone()),
            None => {
                match nonces::used_elsewhere(conn, plugin_id, webhook.nonces, own, now).await? {
                    None => Gate::Fresh,
                    Some((nonce, holder)) => {
                        if is_redelivery(conn, webhook, holder).await? {
                            Gate::Redelivery
                        } else {
                            Gate::Replay(nonce)
                        }
                    }
                }
            }
        };
        if gate == Gate::Fresh {
            seen.extend(webhook.nonces.iter().map(|n| n.value.as_str()));
        }
        gates.push(gate);
    }
    Ok(gates)
}

/// Whether a new request is byte for byte the stored request `holder`.
async fn is_redelivery(
    conn: &mut sqlx::AnyConnection,
    webhook: &AcceptedWebhook<'_>,
    holder: Option<i64>,
) -> Result<bool, StoreError> {
    let (RawRow::New(request), Some(holder)) = (webhook.raw, holder) else {
        return Ok(false);
    };
    Ok(raw_webhooks::get_on(conn, holder)
        .await?
        .is_some_and(|stored| {
            stored.redacted_at.is_none()
                && stored.request.body == request.body
                && stored.request.query == request.query
        }))
}

/// Registers a recorded webhook's once-only values. Another process may have taken one since
/// they were checked: then the transaction must not commit (recorded alone, the webhook then
/// finds the value used and is refused).
async fn claim_nonces(
    conn: &mut sqlx::AnyConnection,
    plugin_id: &str,
    values: &[Nonce],
    raw_webhook_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    match nonces::claim(conn, plugin_id, values, raw_webhook_id, now).await? {
        None => Ok(()),
        Some(nonce) => Err(StoreError::Conflict(format!(
            "once-only value {nonce:?} was used by a concurrent request"
        ))),
    }
}

/// Records webhooks that passed the once-only check (see [`record_group`]).
async fn record_admitted(
    conn: &mut sqlx::AnyConnection,
    key: &ServerKey,
    source: Source<'_>,
    webhooks: &[AcceptedWebhook<'_>],
    now: i64,
) -> Result<Vec<Recorded>, StoreError> {
    let mut raw_ids = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        raw_ids.push(match webhook.raw {
            RawRow::New(request) => {
                raw_webhooks::insert(conn, request, RawStatus::Processed, None, Some(now), true)
                    .await?
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
    // Who each webhook is about, repeats included, so that export and erasure find every copy
    // of a person's events (a vendor's retry stores the same event again).
    let mut about: BTreeSet<(i64, i64)> = BTreeSet::new();
    for (webhook, raw_id) in webhooks.iter().zip(&raw_ids) {
        about.extend(
            webhook
                .interactions
                .iter()
                .filter_map(|i| known.get(i.vendor_event_id.as_deref()?).copied().flatten())
                .map(|contact| (*raw_id, contact)),
        );
    }
    // New interactions, with the index of the webhook each came in. An event that an earlier
    // webhook of the group carries counts as already logged, as it would be had that webhook
    // been committed first.
    let mut earlier: HashSet<&str> = HashSet::new();
    let mut fresh: Vec<(usize, &ReportedInteraction)> = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
        fresh.extend(
            webhook
                .interactions
                .iter()
                .filter(|i| {
                    i.vendor_event_id
                        .as_deref()
                        .is_none_or(|id| !known.contains_key(id) && !earlier.contains(id))
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
    let resolutions =
        resolve_batch(conn, key, &subjects, Linking::Vendor, &created_by, now).await?;

    let mut tallies = vec![Tally::default(); webhooks.len()];
    let mut entries = Vec::with_capacity(fresh.len());
    for ((index, i), resolution) in fresh.iter().zip(resolutions) {
        let tally = &mut tallies[*index];
        tally.fresh += 1;
        if resolution.suppressed {
            tally.suppressed += 1;
            tally.erased.push(i);
            continue;
        }
        if let Some(contact_id) = resolution.contact_id {
            about.insert((raw_ids[*index], contact_id));
        }
        let row = NewInteraction {
            contact_id: resolution.contact_id,
            occurred_at: i.occurred_at,
            received_at: webhooks[*index].received_at,
            kind: i.kind.clone(),
            channel: i.channel,
            direction: i.direction,
            outcome: i.outcome,
            vendor_status: i.vendor_status.clone(),
            plugin_id: Some(source.plugin_id.to_string()),
            vendor: Some(source.vendor.to_string()),
            vendor_message_id: i.vendor_message_id.clone(),
            vendor_event_id: i.vendor_event_id.clone(),
            raw_webhook_id: Some(raw_ids[*index]),
            time_to_action_ms: resolution.time_to_action_ms,
            summary: i.summary.clone(),
            metadata: i.metadata.clone(),
            created_by: created_by.clone(),
        };
        entries.push(Entry {
            row,
            identities: &i.hints.identities,
        });
    }
    let inserted = log::append(conn, entries).await?;
    raw_webhooks::link_contacts(conn, &about.into_iter().collect::<Vec<_>>()).await?;

    let processed: Vec<Processed> = webhooks
        .iter()
        .zip(&raw_ids)
        .zip(&tallies)
        .map(|((webhook, id), tally)| {
            let added = inserted.from_webhook(*id);
            Processed {
                id: *id,
                interactions: added,
                duplicates: webhook.interactions.len() as u64 - added - tally.suppressed,
            }
        })
        .collect();
    raw_webhooks::mark_processed(conn, &processed, now).await?;
    // After the mark: cutting a body records why in the webhook's error.
    let mut recorded = Vec::with_capacity(webhooks.len());
    for ((webhook, done), tally) in webhooks.iter().zip(processed).zip(tallies) {
        if !tally.erased.is_empty() {
            let everything = tally.suppressed == webhook.interactions.len() as u64;
            forget_erased(conn, webhook, done.id, &tally.erased, everything, now).await?;
        }
        recorded.push(Recorded {
            raw_webhook_id: done.id,
            interactions: done.interactions,
            duplicates: done.duplicates,
            suppressed: tally.suppressed,
        });
    }
    Ok(recorded)
}

/// How one webhook's new (not yet logged) interactions fared.
#[derive(Debug, Clone, Default)]
struct Tally<'a> {
    fresh: u64,
    /// About erased people, so not recorded.
    suppressed: u64,
    /// Those interactions.
    erased: Vec<&'a ReportedInteraction>,
}

/// Cuts erased people's events out of a webhook's stored body (the others' events stay, as
/// evidence of what was recorded from it); the whole body goes if it was all theirs.
async fn forget_erased(
    conn: &mut sqlx::AnyConnection,
    webhook: &AcceptedWebhook<'_>,
    raw_webhook_id: i64,
    erased: &[&ReportedInteraction],
    everything: bool,
    now: i64,
) -> Result<(), StoreError> {
    let why = "body removed: it named only erased people";
    if everything {
        return raw_webhooks::redact(conn, raw_webhook_id, why).await;
    }
    let body = match webhook.raw {
        RawRow::New(request) => request.body.clone(),
        RawRow::Stored(id) => match raw_webhooks::get_on(conn, id).await? {
            Some(stored) => stored.request.body,
            None => return Ok(()),
        },
    };
    let person = Person {
        events: erased.iter().map(|i| i.metadata.as_str()).collect(),
        identities: erased.iter().flat_map(|i| &i.hints.identities).collect(),
    };
    match redact::without(&body, &person) {
        Redacted::Unchanged => Ok(()),
        Redacted::Changed(rest) if rest.is_empty() => {
            raw_webhooks::redact(conn, raw_webhook_id, why).await
        }
        Redacted::Changed(rest) => {
            raw_webhooks::replace_body(conn, raw_webhook_id, &rest, now).await
        }
    }
}

/// How an unprocessed webhook may be kept.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// Whether the host saw its signature verified.
    pub verified: bool,
    /// For an unverified request: the most its plugin's unverified, unprocessed requests may
    /// take, in bytes, this one included.
    pub unverified_budget: u64,
    /// Once-only values the plugin registered for it.
    pub nonces: &'a [Nonce],
}

/// What became of a webhook that was not processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Stored (or, for a replay, updated) as this raw webhook.
    Stored(i64),
    /// Unverified, and its plugin's budget for unverified requests is spent: not stored.
    OverBudget,
    /// It reused an earlier request's once-only value: not stored.
    Replayed { nonce: String },
}

/// Stores a webhook that was not processed (rejected or failed), for the record and for replay:
/// a verified one always, an unverified one within its plugin's budget.
pub async fn record_unprocessed(
    store: &Store,
    raw: RawRow<'_>,
    status: RawStatus,
    error: &str,
    keep: Keep<'_>,
) -> Result<Kept, StoreError> {
    let mut tx = store.begin_write().await?;
    let kept = match raw {
        RawRow::New(request) => {
            let plugin = request.plugin_id.as_str();
            let now = request.received_at;
            if let Some((nonce, _)) =
                nonces::used_elsewhere(tx.conn(), plugin, keep.nonces, None, now).await?
            {
                return Ok(Kept::Replayed { nonce });
            }
            if !keep.verified && !within_budget(tx.conn(), request, keep.unverified_budget).await? {
                return Ok(Kept::OverBudget);
            }
            let id =
                raw_webhooks::insert(tx.conn(), request, status, Some(error), None, keep.verified)
                    .await?;
            claim_nonces(tx.conn(), plugin, keep.nonces, id, now).await?;
            Kept::Stored(id)
        }
        RawRow::Stored(id) => {
            raw_webhooks::record_attempt(tx.conn(), id, status, Some(error)).await?;
            Kept::Stored(id)
        }
    };
    tx.commit().await?;
    Ok(kept)
}

/// Whether storing `request` keeps its plugin's unverified requests within `budget` bytes.
async fn within_budget(
    conn: &mut sqlx::AnyConnection,
    request: &RawRequest,
    budget: u64,
) -> Result<bool, StoreError> {
    let (_, used) = raw_webhooks::unverified_usage(conn, &request.plugin_id).await?;
    let size = request.body.len()
        + request.query.len()
        + request
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 6)
            .sum::<usize>();
    Ok(used + size as u64 <= budget)
}
