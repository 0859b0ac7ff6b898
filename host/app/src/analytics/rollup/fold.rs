//! Folding the log into the rollup, a batch of interactions at a time, in the log's order.
//!
//! An outbound event adds to its message's milestones (each the earliest time it was reached,
//! so the order events are folded in does not matter). Which inbound message answers which
//! message depends on a person's messages on a channel in order, so every thread (contact and
//! channel) a batch touches has its responses worked out again, by [`fate::responses`], from a
//! reply window before the earliest change on: nothing earlier can be affected. Every message
//! whose fate changed moves its counts: the old counts out of its day's group (and its provider's
//! day and hour), the new ones in.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use sqlx::AnyConnection;

use super::counts::Counts;
use crate::analytics::fate::{self, MessageFate};
use crate::prefs::tally::REPLY_WINDOW_MS;
use switchboard_core::domain::{Channel, Outcome};
use switchboard_store::StoreError;
use switchboard_store::analytics::{Inbound, SentMessage};
use switchboard_store::rollup::{
    self, CountsKey, CountsTable, DAY_MS, DailyKey, FoldedMessage, HOUR_MS, LogEvent, TotalKey,
};

type Key = (String, Channel);

/// What one fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    /// Interactions read from the log.
    pub events: usize,
    /// Messages whose fate changed.
    pub messages: usize,
}

/// Folds the interactions after the last folded one (at most `limit`), and refolds the contacts
/// marked for it, on `conn` (inside the caller's write transaction).
pub async fn fold_next(conn: &mut AnyConnection, limit: i64) -> Result<Folded, StoreError> {
    let through = rollup::folded_through(conn).await?;
    let events = rollup::events_after(conn, through, limit).await?;
    let through = events.last().map_or(through, |e| e.id);
    let mut batch = Batch::new(through);
    batch.events(conn, &events, true).await?;
    for contact in rollup::take_refolds(conn).await? {
        batch.refold_contact(conn, contact).await?;
    }
    let messages = rollup::take_message_refolds(conn).await?;
    batch.refold_messages(conn, messages).await?;
    batch.answer_threads(conn).await?;
    let messages = batch.save(conn).await?;
    rollup::set_folded_through(conn, through).await?;
    Ok(Folded {
        events: events.len(),
        messages,
    })
}

/// The changes of one fold, kept until they are saved.
struct Batch {
    /// Every interaction up to this id is read.
    through: i64,
    /// Messages as they were stored (`None`: not stored), for every message read.
    before: HashMap<Key, Option<FoldedMessage>>,
    /// The same messages as they are now (`None`: gone).
    after: HashMap<Key, Option<FoldedMessage>>,
    /// Inbound messages folded: when and on which channel.
    inbound: Vec<(i64, Channel)>,
    /// Threads to answer again, each from a time on.
    threads: HashMap<(i64, Channel), i64>,
}

impl Batch {
    fn new(through: i64) -> Self {
        Batch {
            through,
            before: HashMap::new(),
            after: HashMap::new(),
            inbound: Vec::new(),
            threads: HashMap::new(),
        }
    }

    /// Folds `events` in; `count_inbound` is false when refolding (the volume did not change).
    async fn events(
        &mut self,
        conn: &mut AnyConnection,
        events: &[LogEvent],
        count_inbound: bool,
    ) -> Result<(), StoreError> {
        let keyed: Vec<(Key, &LogEvent)> = events
            .iter()
            .filter(|e| e.channel != Channel::System)
            .filter_map(|e| self.inbound_or_key(e, count_inbound).map(|k| (k, e)))
            .collect();
        let keys: Vec<Key> = keyed.iter().map(|(k, _)| k.clone()).collect();
        self.load(conn, &keys).await?;
        for (key, event) in keyed {
            let current = self.after.get_mut(&key).and_then(Option::take);
            let before_sent = current
                .as_ref()
                .map(|m| (m.sent.contact_id, m.sent.sent_at));
            let message = absorb(current, &key, event);
            for (contact, at) in before_sent
                .into_iter()
                .chain([(message.sent.contact_id, message.sent.sent_at)])
            {
                if let Some(contact) = contact {
                    self.touch_thread(contact, key.1, at);
                }
            }
            self.after.insert(key, Some(message));
        }
        self.outbox_attributes(conn).await
    }

    /// Counts an inbound event (and marks its thread); the message key of an outbound one that
    /// is part of a message.
    fn inbound_or_key(&mut self, event: &LogEvent, count_inbound: bool) -> Option<Key> {
        if event.inbound == 1 {
            if let Some(contact) = event.contact_id {
                if count_inbound {
                    self.inbound.push((event.occurred_at, event.channel));
                }
                self.touch_thread(contact, event.channel, event.occurred_at);
            }
            return None;
        }
        message_key(event)
    }

    fn touch_thread(&mut self, contact: i64, channel: Channel, at: i64) {
        let from = self.threads.entry((contact, channel)).or_insert(at);
        *from = (*from).min(at);
    }

    /// Reads the stored state of messages not read yet.
    async fn load(&mut self, conn: &mut AnyConnection, keys: &[Key]) -> Result<(), StoreError> {
        let mut missing: Vec<Key> = keys
            .iter()
            .filter(|k| !self.after.contains_key(*k))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        for message in rollup::messages(conn, &missing).await? {
            self.remember(message);
        }
        for key in missing {
            self.before.entry(key.clone()).or_insert(None);
            self.after.entry(key).or_insert(None);
        }
        Ok(())
    }

    fn remember(&mut self, message: FoldedMessage) {
        let key = (message.key.clone(), message.sent.channel);
        self.before.insert(key.clone(), Some(message.clone()));
        self.after.insert(key, Some(message));
    }

    /// Kind, urgency and template from the outbox, for messages Switchboard sent that have none
    /// yet (its attempt may be recorded after the vendor's first event).
    async fn outbox_attributes(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let wanted: Vec<Key> = self
            .after
            .values()
            .flatten()
            .filter(|m| m.sent.kind.is_none())
            .filter_map(|m| Some((m.sent.vendor_message_id.clone()?, m.sent.channel)))
            .collect();
        for found in rollup::outbox_attributes(conn, &wanted).await? {
            let key = (found.vendor_message_id, found.channel);
            if let Some(Some(message)) = self.after.get_mut(&key) {
                message.sent.kind = found.kind;
                message.sent.urgency = found.urgency;
                message.sent.template = found.template;
            }
        }
        Ok(())
    }

    /// Folds again every message of a contact's, or with an event of theirs (after a merge).
    async fn refold_contact(
        &mut self,
        conn: &mut AnyConnection,
        contact: i64,
    ) -> Result<(), StoreError> {
        let mut keys: Vec<Key> = rollup::messages_of_contact(conn, contact)
            .await?
            .into_iter()
            .map(|m| (m.key, m.sent.channel))
            .collect();
        let events = rollup::events_of_contact(conn, contact, self.through).await?;
        keys.extend(
            events
                .iter()
                .filter(|e| e.inbound == 0 && e.channel != Channel::System)
                .filter_map(message_key),
        );
        self.refold_messages(conn, keys).await?;
        for channel in Channel::ALL {
            self.touch_thread(contact, *channel, i64::MIN / 2);
        }
        Ok(())
    }

    /// Folds messages again from all their events in the log (after some of them moved to
    /// another contact, or were erased).
    async fn refold_messages(
        &mut self,
        conn: &mut AnyConnection,
        mut keys: Vec<Key>,
    ) -> Result<(), StoreError> {
        keys.sort();
        keys.dedup();
        self.load(conn, &keys).await?;
        for key in &keys {
            if let Some(Some(message)) = self.after.insert(key.clone(), None)
                && let Some(contact) = message.sent.contact_id
            {
                self.touch_thread(contact, key.1, message.sent.sent_at);
            }
        }
        let events = rollup::events_of_messages(conn, &keys, self.through).await?;
        self.events(conn, &events, false).await
    }

    /// Works out again which inbound message answers which message, in every touched thread.
    async fn answer_threads(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let threads: Vec<((i64, Channel), i64)> = self.threads.drain().collect();
        let mut starts: BTreeMap<i64, i64> = BTreeMap::new();
        for ((contact, _), at) in &threads {
            let start = starts.entry(*contact).or_insert(*at);
            *start = (*start).min(*at);
        }
        // Contacts in order of where their threads start, so that a chunk reads little more
        // than its threads need.
        let mut contacts: Vec<(i64, i64)> = starts.into_iter().map(|(c, at)| (at, c)).collect();
        contacts.sort_unstable();
        let mut inbound: HashMap<(i64, Channel), Vec<Inbound>> = HashMap::new();
        for chunk in contacts.chunks(400) {
            let from = chunk[0].0.saturating_sub(REPLY_WINDOW_MS);
            let ids: Vec<i64> = chunk.iter().map(|(_, c)| *c).collect();
            let read = rollup::inbound_of_contacts_since(conn, &ids, from, self.through).await?;
            // Only a person who wrote to us can have a message answered: the others' threads
            // keep no response, so their stored messages need not be read (most people, most
            // of the time, and what made folding cost ingest its share).
            let mut writers: Vec<i64> = read.iter().map(|m| m.contact_id).collect();
            writers.sort_unstable();
            writers.dedup();
            for message in rollup::messages_of_contacts_since(conn, &writers, from).await? {
                let key = (message.key.clone(), message.sent.channel);
                if !self.after.contains_key(&key) {
                    self.remember(message);
                }
            }
            for message in read {
                let thread = (message.contact_id, message.channel);
                inbound.entry(thread).or_default().push(message);
            }
        }
        let mut members: HashMap<(i64, Channel), Vec<Key>> = HashMap::new();
        for (key, message) in &self.after {
            if let Some(contact) = message.as_ref().and_then(|m| m.sent.contact_id) {
                members
                    .entry((contact, key.1))
                    .or_default()
                    .push(key.clone());
            }
        }
        for (thread, at) in threads {
            let from = at.saturating_sub(REPLY_WINDOW_MS);
            let keys = members.remove(&thread).unwrap_or_default();
            let replies = inbound.remove(&thread).unwrap_or_default();
            let replies: Vec<Inbound> = replies
                .into_iter()
                .filter(|m| m.occurred_at >= from)
                .collect();
            self.answer(&keys, from, &replies);
        }
        Ok(())
    }

    /// Credits `inbound` to the messages of one thread (`keys`) sent from `from` on.
    fn answer(&mut self, keys: &[Key], from: i64, inbound: &[Inbound]) {
        let mut thread: Vec<FoldedMessage> = keys
            .iter()
            .filter_map(|k| self.after.get(k).cloned().flatten())
            .filter(|m| m.sent.sent_at >= from)
            .collect();
        thread.sort_by(|a, b| {
            (a.sent.sent_at, &a.sent.vendor_message_id, &a.key).cmp(&(
                b.sent.sent_at,
                &b.sent.vendor_message_id,
                &b.key,
            ))
        });
        let fates: Vec<MessageFate> = thread
            .iter()
            .map(|m| MessageFate::of(m.sent.clone()))
            .collect();
        let mut responses: Vec<Option<&Inbound>> = vec![None; thread.len()];
        for (index, message) in fate::responses(&fates, inbound) {
            responses[index] = Some(message);
        }
        for (mut message, response) in thread.into_iter().zip(responses) {
            message.response_at = response.map(|r| r.occurred_at);
            message.response_outcome = response.map(|r| r.outcome);
            let key = (message.key.clone(), message.sent.channel);
            self.after.insert(key, Some(message));
        }
    }

    /// Writes the changed messages and moves their counts; returns how many changed.
    async fn save(self, conn: &mut AnyConnection) -> Result<usize, StoreError> {
        let mut deltas = Deltas::default();
        let mut saved = Vec::new();
        let mut deleted = Vec::new();
        for (key, after) in &self.after {
            let before = self.before.get(key).cloned().flatten();
            if before.as_ref() == after.as_ref() {
                continue;
            }
            if let Some(message) = &before {
                deltas.add(message, -1);
            }
            match after {
                Some(message) => {
                    deltas.add(message, 1);
                    saved.push(message.clone());
                }
                None => deleted.push(key.clone()),
            }
        }
        rollup::delete_messages(conn, &deleted).await?;
        rollup::save_messages(conn, &saved).await?;
        apply(conn, rollup::DAILY, deltas.groups).await?;
        apply(conn, rollup::DAILY_TOTALS, deltas.days).await?;
        apply(conn, rollup::HOURLY_TOTALS, deltas.hours).await?;
        for table in [rollup::INBOUND_DAILY, rollup::INBOUND_HOURLY] {
            let mut volume: BTreeMap<(i64, Channel), i64> = BTreeMap::new();
            for (at, channel) in &self.inbound {
                *volume.entry((table.unit_of(*at), *channel)).or_default() += 1;
            }
            let volume: Vec<((i64, Channel), i64)> = volume.into_iter().collect();
            table.add(conn, &volume).await?;
        }
        Ok(saved.len() + deleted.len())
    }
}

/// How the counts move: per day and group, and per provider by day and by hour.
#[derive(Default)]
struct Deltas {
    groups: HashMap<DailyKey, Counts>,
    days: HashMap<TotalKey, Counts>,
    hours: HashMap<TotalKey, Counts>,
}

impl Deltas {
    /// Adds (`sign` 1) or takes away (-1) a message's counts.
    fn add(&mut self, message: &FoldedMessage, sign: i64) {
        let (key, counts) = contribution(message);
        let provider = |start| TotalKey {
            start,
            channel: key.channel,
            plugin: key.plugin.clone(),
        };
        let hour = message.sent.sent_at.div_euclid(HOUR_MS);
        self.hours
            .entry(provider(hour))
            .or_default()
            .add(&counts, sign);
        self.days
            .entry(provider(key.day))
            .or_default()
            .add(&counts, sign);
        self.groups.entry(key).or_default().add(&counts, sign);
    }
}

/// Adds the deltas to the stored counts of their groups in `table`.
async fn apply<K: CountsKey + Clone + Eq + Hash + Ord>(
    conn: &mut AnyConnection,
    table: CountsTable,
    deltas: HashMap<K, Counts>,
) -> Result<(), StoreError> {
    let deltas: Vec<(K, Counts)> = deltas.into_iter().filter(|(_, d)| !d.is_empty()).collect();
    let keys: Vec<K> = deltas.iter().map(|(key, _)| key.clone()).collect();
    let mut stored: HashMap<K, Counts> = HashMap::new();
    for row in table.of_keys::<K, Counts>(conn, &keys).await? {
        stored.insert(row.key, row.counts);
    }
    let mut rows = Vec::new();
    for (key, delta) in deltas {
        let mut counts = stored.remove(&key).unwrap_or_default();
        counts.add(&delta, 1);
        let text = if counts.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&counts).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        };
        rows.push((key, text));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    table.put(conn, &rows).await
}

/// A message's fate, with the inbound message credited to it.
pub fn fate_of(message: &FoldedMessage) -> MessageFate {
    let mut fate = MessageFate::of(message.sent.clone());
    if let (Some(at), Some(outcome)) = (message.response_at, message.response_outcome) {
        fate.record_response(outcome, at);
    }
    fate
}

/// The group a message counts in, and what it counts.
pub fn contribution(message: &FoldedMessage) -> (DailyKey, Counts) {
    let word = |value: &Option<String>| value.clone().unwrap_or_default();
    let sent = &message.sent;
    let key = DailyKey {
        day: sent.sent_at.div_euclid(DAY_MS),
        channel: sent.channel,
        plugin: word(&sent.plugin_id),
        kind: word(&sent.kind),
        urgency: word(&sent.urgency),
        template: word(&sent.template),
    };
    (key, Counts::of(&fate_of(message)))
}

/// `current` (or a new message) with `event` folded in: each milestone the earliest time it was
/// reached, the contact and plugin the least seen, the failure the greatest by name (as the
/// store's `sent_messages` reads them from the log).
fn absorb(current: Option<FoldedMessage>, key: &Key, event: &LogEvent) -> FoldedMessage {
    let mut message = current.unwrap_or_else(|| FoldedMessage {
        sent: SentMessage {
            channel: event.channel,
            vendor_message_id: event.vendor_message_id.clone(),
            contact_id: None,
            plugin_id: None,
            sent_at: event.occurred_at,
            delivered_at: None,
            opened_at: None,
            clicked_at: None,
            replied_at: None,
            answered_at: None,
            failure: None,
            bounced_at: None,
            opted_out_at: None,
            kind: None,
            urgency: None,
            template: None,
        },
        key: key.0.clone(),
        response_at: None,
        response_outcome: None,
    });
    let sent = &mut message.sent;
    let at = event.occurred_at;
    sent.sent_at = sent.sent_at.min(at);
    sent.contact_id = least(sent.contact_id, event.contact_id);
    sent.plugin_id = least(sent.plugin_id.take(), event.plugin_id.clone());
    use Outcome::*;
    let milestone = match event.outcome {
        Delivered => Some(&mut sent.delivered_at),
        Opened | Viewed => Some(&mut sent.opened_at),
        Clicked => Some(&mut sent.clicked_at),
        Replied => Some(&mut sent.replied_at),
        Answered | Completed | Attended => Some(&mut sent.answered_at),
        Bounced => Some(&mut sent.bounced_at),
        Unsubscribed | SpamReported | OptedOut => Some(&mut sent.opted_out_at),
        _ => None,
    };
    if let Some(milestone) = milestone {
        *milestone = least(*milestone, Some(at));
    }
    if is_failure(event.outcome) {
        let name = |o: Option<Outcome>| o.map(|o| o.as_str());
        if name(sent.failure) < name(Some(event.outcome)) {
            sent.failure = Some(event.outcome);
        }
    }
    message
}

/// The message an outbound event is part of: its vendor message id, or itself for a message of
/// its own without one (a logged call); none for a change of consent without an id.
fn message_key(event: &LogEvent) -> Option<Key> {
    match &event.vendor_message_id {
        Some(id) => Some((id.clone(), event.channel)),
        None if is_message(event.outcome) => Some((format!("#{}", event.id), event.channel)),
        None => None,
    }
}

/// The least of two optional values, `None` only if both are.
fn least<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_failure(outcome: Outcome) -> bool {
    use Outcome::*;
    matches!(outcome, Bounced | Dropped | Failed | NoAnswer | Busy)
}

/// Whether an outbound event without a vendor message id is a message of its own (a logged
/// call), rather than a change of consent or nothing.
fn is_message(outcome: Outcome) -> bool {
    use Outcome::*;
    !matches!(
        outcome,
        Unsubscribed | Resubscribed | SpamReported | OptedOut | OptedIn | Unknown
    )
}
