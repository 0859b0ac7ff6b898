//! Who is falling silent everywhere.
//!
//! A person is **disengaging** at a moment when, over the history before it ([`HISTORY_MS`]):
//! 1. every channel they can be reached on (a working identity, no opt-out: the channels
//!    selection could use) has carried at least [`SILENT_AFTER`] messages to them, and none of
//!    the last [`SILENT_AFTER`] on any of those channels was engaged with;
//! 2. they used to engage: some earlier message, on any channel, was;
//! 3. they have not written to us since the first of those unanswered messages.
//!
//! A channel never tried is not evidence of silence, so someone reachable by a channel we have
//! not used is not listed: try it first.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::fate::MessageFate;
use switchboard_core::domain::Channel;
use switchboard_store::analytics::Inbound;

/// Unanswered messages in a row that make a channel silent.
pub const SILENT_AFTER: usize = 3;
/// How far back a person's history is read.
pub const HISTORY_MS: i64 = 180 * 86_400_000;

/// A disengaging person, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Disengaging {
    pub contact_id: i64,
    /// In words: which channels fell silent, and that they engaged before.
    pub reason: String,
    /// Their latest engagement with a message, on any channel.
    pub last_engaged_at: i64,
    /// The last time they wrote to us in the history, if they did (before the silence).
    pub last_wrote_at: Option<i64>,
    /// The channels they can be reached on, each silent.
    pub channels: Vec<ChannelRecord>,
}

/// One channel's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelRecord {
    pub channel: Channel,
    /// Messages on it in the history, and how many were engaged with.
    pub messages: u64,
    pub engaged: u64,
    /// When the first of its last unanswered run was sent; absent if it is not silent.
    pub silent_since: Option<i64>,
    pub last_engaged_at: Option<i64>,
}

/// People with a silent channel who engaged before, before reachability is checked: each with
/// the record of every channel they were messaged on.
pub fn candidates(fates: &[MessageFate], inbound: &[Inbound]) -> Vec<Disengaging> {
    let mut by_contact: HashMap<i64, BTreeMap<Channel, Vec<&MessageFate>>> = HashMap::new();
    for fate in fates {
        if let Some(contact) = fate.contact_id {
            let channels = by_contact.entry(contact).or_default();
            channels.entry(fate.channel).or_default().push(fate);
        }
    }
    let mut last_wrote: HashMap<i64, i64> = HashMap::new();
    for message in inbound {
        let latest = last_wrote.entry(message.contact_id).or_insert(i64::MIN);
        *latest = (*latest).max(message.occurred_at);
    }
    let mut found: Vec<Disengaging> = by_contact
        .into_iter()
        .filter_map(|(contact_id, channels)| {
            let channels: Vec<ChannelRecord> = channels.into_iter().map(record).collect();
            let last_engaged_at = channels.iter().filter_map(|c| c.last_engaged_at).max()?;
            channels
                .iter()
                .any(|c| c.silent_since.is_some())
                .then(|| Disengaging {
                    contact_id,
                    reason: String::new(),
                    last_engaged_at,
                    last_wrote_at: last_wrote.get(&contact_id).copied(),
                    channels,
                })
        })
        .collect();
    found.sort_by_key(|d| (d.last_engaged_at, d.contact_id));
    found
}

fn record((channel, mut messages): (Channel, Vec<&MessageFate>)) -> ChannelRecord {
    messages.sort_by_key(|f| f.sent_at);
    let run = messages.len().checked_sub(SILENT_AFTER);
    let silent_since = run
        .map(|run| &messages[run..])
        .filter(|latest| latest.iter().all(|f| !f.engaged()))
        .map(|latest| latest[0].sent_at);
    ChannelRecord {
        channel,
        messages: messages.len() as u64,
        engaged: messages.iter().filter(|f| f.engaged()).count() as u64,
        silent_since,
        last_engaged_at: messages.iter().filter_map(|f| f.engaged_at).max(),
    }
}

impl Disengaging {
    /// Keeps the person only if every channel they can be reached on (`reachable`) is silent and
    /// they have not written since the silence began; words the reason.
    pub fn confirmed(mut self, reachable: &[Channel]) -> Option<Self> {
        self.channels.retain(|c| reachable.contains(&c.channel));
        let silent = |c: &Channel| {
            self.channels
                .iter()
                .any(|r| r.channel == *c && r.silent_since.is_some())
        };
        if reachable.is_empty() || !reachable.iter().all(silent) {
            return None;
        }
        let since = self.channels.iter().filter_map(|c| c.silent_since).min()?;
        if self.last_wrote_at.is_some_and(|at| at >= since) {
            return None;
        }
        let names: Vec<&str> = self.channels.iter().map(|c| c.channel.as_str()).collect();
        self.reason = format!(
            "no engagement with the last {SILENT_AFTER} messages on {} (every channel they can \
             be reached on), after engaging before",
            names.join(", ")
        );
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::Outcome;

    const H: i64 = 3_600_000;

    fn sent(contact: i64, channel: Channel, at: i64, engaged: bool) -> MessageFate {
        let fate = MessageFate::sent(contact, channel, at);
        if engaged { fate.opened_after(H) } else { fate }
    }

    /// Ana engaged with her first email and SMS, then ignored three of each.
    fn ana() -> Vec<MessageFate> {
        let mut fates = vec![
            sent(1, Channel::Email, 0, true),
            sent(1, Channel::Sms, 0, true),
        ];
        for i in 1..=3 {
            fates.push(sent(1, Channel::Email, i * 10 * H, false));
            fates.push(sent(1, Channel::Sms, i * 10 * H, false));
        }
        fates
    }

    #[test]
    fn silent_on_every_reachable_channel_after_engaging_is_disengaging() {
        let found = candidates(&ana(), &[]);
        assert_eq!(found.len(), 1);
        let ana = found[0]
            .clone()
            .confirmed(&[Channel::Email, Channel::Sms])
            .unwrap();
        assert_eq!(ana.last_engaged_at, H);
        assert_eq!(ana.channels[0].silent_since, Some(10 * H));
        assert_eq!((ana.channels[0].messages, ana.channels[0].engaged), (4, 1));
        assert!(ana.reason.contains("email, sms"), "{}", ana.reason);
        // Reachable by phone too, never called: not every channel fell silent.
        assert_eq!(
            found[0]
                .clone()
                .confirmed(&[Channel::Email, Channel::Phone]),
            None
        );
    }

    fn confirmed(fates: &[MessageFate], inbound: &[Inbound]) -> Vec<Disengaging> {
        let reachable = [Channel::Email, Channel::Sms];
        candidates(fates, inbound)
            .into_iter()
            .filter_map(|d| d.confirmed(&reachable))
            .collect()
    }

    #[test]
    fn an_engagement_in_the_run_a_reply_or_never_engaging_clears_them() {
        let mut engaged_lately = ana();
        engaged_lately.push(sent(1, Channel::Sms, 40 * H, true));
        assert!(confirmed(&engaged_lately, &[]).is_empty());

        let wrote = Inbound {
            contact_id: 1,
            channel: Channel::Phone,
            outcome: Outcome::Replied,
            occurred_at: 25 * H,
        };
        assert!(confirmed(&ana(), &[wrote]).is_empty());

        let never: Vec<MessageFate> = (0..4)
            .map(|i| sent(2, Channel::Email, i * H, false))
            .collect();
        assert!(candidates(&never, &[]).is_empty());

        // Two unanswered SMS are not yet a silent channel.
        let too_few: Vec<MessageFate> = ana().into_iter().take(6).collect();
        assert!(confirmed(&too_few, &[]).is_empty());
    }

    #[test]
    fn a_channel_they_cannot_be_reached_on_does_not_count() {
        // Silent on email; SMS has too few messages, but the number is gone.
        let fates: Vec<MessageFate> = ana()
            .into_iter()
            .filter(|f| f.channel == Channel::Email)
            .chain([sent(1, Channel::Sms, 0, false)])
            .collect();
        let found = candidates(&fates, &[]);
        let ana = found[0].clone().confirmed(&[Channel::Email]).unwrap();
        assert_eq!(ana.channels.len(), 1);
        assert!(
            found[0]
                .clone()
                .confirmed(&[Channel::Email, Channel::Sms])
                .is_none()
        );
    }
}
