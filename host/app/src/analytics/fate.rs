//! What became of each outbound message: its milestones from its own events, and the inbound
//! message that answered it, if one did.
//!
//! The funnel is nested by construction: an engagement shows the message arrived, so a message
//! that was opened, answered or replied to counts as delivered whether or not its vendor sent a
//! receipt. A response is what the engagement counters call one (`prefs::tally`): a click, a
//! reply or an answered call in the message itself, or the person's first inbound message on the
//! same channel within the reply window, before the next message on that channel. An inbound
//! opt-out (an SMS STOP) in that position is the message's opt-out, not its response.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use switchboard_core::domain::{Channel, Outcome};
use switchboard_store::analytics::{Inbound, SentMessage};

use crate::prefs::tally::REPLY_WINDOW_MS;

/// One message and what it reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessageFate {
    pub channel: Channel,
    pub plugin: Option<String>,
    pub contact_id: Option<i64>,
    /// With the contact, opens its events in their timeline.
    pub vendor_message_id: Option<String>,
    pub kind: Option<String>,
    pub urgency: Option<String>,
    pub template: Option<String>,
    pub sent_at: i64,
    /// The vendor reported its delivery (a receipt), as opposed to delivery shown by engagement.
    pub receipt: bool,
    pub delivered: bool,
    pub opened: bool,
    pub clicked: bool,
    pub answered: bool,
    pub replied: bool,
    pub responded: bool,
    /// Its first engagement of any kind.
    pub engaged_at: Option<i64>,
    pub failure: Option<Outcome>,
    pub bounced: bool,
    pub opted_out: bool,
}

impl MessageFate {
    pub fn engaged(&self) -> bool {
        self.engaged_at.is_some()
    }

    /// Time from sending to the first engagement.
    pub fn time_to_action_ms(&self) -> Option<i64> {
        self.engaged_at.map(|at| (at - self.sent_at).max(0))
    }

    pub(crate) fn of(sent: SentMessage) -> Self {
        let inline_response = [sent.clicked_at, sent.replied_at, sent.answered_at]
            .into_iter()
            .flatten()
            .min();
        let engaged_at = [sent.opened_at, inline_response]
            .into_iter()
            .flatten()
            .min();
        MessageFate {
            channel: sent.channel,
            plugin: sent.plugin_id,
            contact_id: sent.contact_id,
            vendor_message_id: sent.vendor_message_id,
            kind: sent.kind,
            urgency: sent.urgency,
            template: sent.template,
            sent_at: sent.sent_at,
            receipt: sent.delivered_at.is_some(),
            delivered: sent.delivered_at.is_some() || engaged_at.is_some(),
            opened: sent.opened_at.is_some(),
            clicked: sent.clicked_at.is_some(),
            answered: sent.answered_at.is_some(),
            replied: sent.replied_at.is_some(),
            responded: inline_response.is_some(),
            engaged_at,
            failure: sent.failure,
            bounced: sent.bounced_at.is_some(),
            opted_out: sent.opted_out_at.is_some(),
        }
    }

    /// The earliest time the message counts as answered in itself (a click, a reply, a call
    /// answered), after which no inbound message is its response.
    fn answered_by(&self, at: i64) -> bool {
        self.responded && self.engaged_at.is_some_and(|e| e <= at)
    }

    /// Credits the inbound message with `outcome` at `at` to this message: its reply, or its
    /// opt-out (a STOP).
    pub(crate) fn record_response(&mut self, outcome: Outcome, at: i64) {
        if is_opt_out(outcome) {
            self.opted_out = true;
            return;
        }
        self.responded = true;
        self.replied = true;
        self.delivered = true;
        self.engaged_at = Some(self.engaged_at.map_or(at, |e| e.min(at)));
    }
}

#[cfg(test)]
impl MessageFate {
    /// For tests: a message to `contact` on `channel` at `at` that nothing has happened to yet.
    pub(crate) fn sent(contact: i64, channel: Channel, at: i64) -> Self {
        MessageFate {
            channel,
            plugin: None,
            contact_id: Some(contact),
            vendor_message_id: None,
            kind: None,
            urgency: None,
            template: None,
            sent_at: at,
            receipt: false,
            delivered: false,
            opened: false,
            clicked: false,
            answered: false,
            replied: false,
            responded: false,
            engaged_at: None,
            failure: None,
            bounced: false,
            opted_out: false,
        }
    }

    /// For tests: the same, opened (so delivered and engaged) `after_ms` later.
    pub(crate) fn opened_after(mut self, after_ms: i64) -> Self {
        self.opened = true;
        self.delivered = true;
        self.engaged_at = Some(self.sent_at + after_ms);
        self
    }
}

fn is_opt_out(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::OptedOut | Outcome::Unsubscribed | Outcome::SpamReported
    )
}

/// Inbound outcomes that say nothing about a message (a START, a resubscribe).
fn is_silent(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::OptedIn | Outcome::Resubscribed | Outcome::Unknown
    )
}

/// The fates of `sent`, each inbound message of `inbound` (oldest first) credited to the message
/// it answers. Pass the messages sent up to a reply window after the period too: they bound the
/// responses to the period's last messages.
pub fn fates(sent: Vec<SentMessage>, inbound: &[Inbound]) -> Vec<MessageFate> {
    let mut fates: Vec<MessageFate> = sent.into_iter().map(MessageFate::of).collect();
    fates.sort_by(|a, b| (a.sent_at, &a.vendor_message_id).cmp(&(b.sent_at, &b.vendor_message_id)));
    for (index, message) in responses(&fates, inbound) {
        fates[index].record_response(message.outcome, message.occurred_at);
    }
    fates
}

/// Which inbound message of `inbound` (oldest first) answers which of `fates` (in the order they
/// left, none credited an inbound message yet): pairs of an index into `fates` and the message.
/// An inbound message answers the latest message on its channel sent to its contact at or before
/// it, within the reply window, unless that message was answered in itself by then; at most one
/// answers a message, the first.
pub fn responses<'a>(fates: &[MessageFate], inbound: &'a [Inbound]) -> Vec<(usize, &'a Inbound)> {
    // Each contact's messages per channel, in the order they left.
    let mut threads: HashMap<(i64, Channel), Vec<usize>> = HashMap::new();
    for (index, fate) in fates.iter().enumerate() {
        if let Some(contact) = fate.contact_id {
            threads
                .entry((contact, fate.channel))
                .or_default()
                .push(index);
        }
    }
    let mut answered: HashSet<usize> = HashSet::new();
    let mut credited = Vec::new();
    for message in inbound.iter().filter(|m| !is_silent(m.outcome)) {
        let Some(thread) = threads.get(&(message.contact_id, message.channel)) else {
            continue;
        };
        let latest = thread.partition_point(|&i| fates[i].sent_at <= message.occurred_at);
        let Some(&index) = latest.checked_sub(1).and_then(|l| thread.get(l)) else {
            continue;
        };
        let fate = &fates[index];
        let within = message.occurred_at - fate.sent_at <= REPLY_WINDOW_MS;
        if within && !fate.answered_by(message.occurred_at) && answered.insert(index) {
            credited.push((index, message));
        }
    }
    credited
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn sent(channel: Channel, id: &str, at: i64) -> SentMessage {
        SentMessage {
            channel,
            vendor_message_id: Some(id.into()),
            contact_id: Some(1),
            plugin_id: Some("p".into()),
            sent_at: at,
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
        }
    }

    fn inbound(channel: Channel, outcome: Outcome, at: i64) -> Inbound {
        Inbound {
            contact_id: 1,
            channel,
            outcome,
            occurred_at: at,
        }
    }

    fn by_id<'a>(fates: &'a [MessageFate], id: &str) -> &'a MessageFate {
        fates
            .iter()
            .find(|f| f.vendor_message_id.as_deref() == Some(id))
            .unwrap()
    }

    #[test]
    fn an_open_makes_a_message_delivered_without_a_receipt() {
        let mut email = sent(Channel::Email, "e", 0);
        email.opened_at = Some(2 * H);
        let fates = fates(vec![email], &[]);
        let fate = &fates[0];
        assert!(fate.delivered && !fate.receipt && fate.opened && !fate.responded);
        assert_eq!(fate.time_to_action_ms(), Some(2 * H));
    }

    #[test]
    fn an_inbound_message_answers_the_latest_message_on_its_channel_within_the_window() {
        let messages = vec![
            sent(Channel::Sms, "first", 0),
            sent(Channel::Sms, "second", H),
            sent(Channel::Sms, "old", 100 * H),
        ];
        let replies = [
            inbound(Channel::Sms, Outcome::Replied, 2 * H),
            // A second reply answers nothing more.
            inbound(Channel::Sms, Outcome::Replied, 3 * H),
            // Another channel's inbound answers no SMS.
            inbound(Channel::Email, Outcome::Replied, 101 * H),
            // Past the reply window.
            inbound(
                Channel::Sms,
                Outcome::Replied,
                100 * H + REPLY_WINDOW_MS + 1,
            ),
        ];
        let fates = fates(messages, &replies);
        assert!(!by_id(&fates, "first").responded);
        let second = by_id(&fates, "second");
        assert!(second.responded && second.replied && second.delivered);
        assert_eq!(second.time_to_action_ms(), Some(H));
        assert!(!by_id(&fates, "old").responded);
    }

    #[test]
    fn a_stop_is_the_message_s_opt_out_not_its_response() {
        let fates = fates(
            vec![sent(Channel::Sms, "m", 0)],
            &[inbound(Channel::Sms, Outcome::OptedOut, H)],
        );
        assert!(fates[0].opted_out && !fates[0].responded && !fates[0].engaged());
    }

    #[test]
    fn a_message_answered_in_itself_takes_no_later_inbound_as_its_response() {
        let mut email = sent(Channel::Email, "m", 0);
        email.clicked_at = Some(H);
        let fates = fates(
            vec![email],
            &[inbound(Channel::Email, Outcome::Replied, 2 * H)],
        );
        assert!(fates[0].responded && fates[0].clicked && !fates[0].replied);
        assert_eq!(fates[0].time_to_action_ms(), Some(H));
    }
}
