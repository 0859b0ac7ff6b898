//! Turning the log into engagement counters, one event at a time.
//!
//! [`Tally`] is a small state machine over a contact's events in log order, kept in an
//! [`EngagementState`]: which milestones of each message were already counted (so a second open
//! or a repeated "delivered" adds nothing) and which outbound message is still waiting for a
//! reply. Counting new interactions loads the state they touch, applies them and writes back the
//! changes; `switchboard prefs rebuild` starts from nothing and applies the whole log (see
//! [`super::counting`]). Both run this code in the same order (log id), so they agree exactly.
//! State is per contact, so recounting one contact (after a merge or a time zone change) is a
//! rebuild restricted to them.

use jiff::tz::TimeZone;

use switchboard_core::clock::local_time::local_hour;
use switchboard_core::domain::{Channel, Direction, LoggedInteraction, Outcome};
use switchboard_store::engagement::{CounterKey, EngagementState, Metric};

/// An inbound message this long after an unanswered outbound one counts as its response.
pub const REPLY_WINDOW_MS: i64 = 7 * DAY_MS;
pub const DAY_MS: i64 = 86_400_000;

/// Upper bounds of the time-to-action buckets, in ms; beyond the last is one more bucket.
pub const TTA_BOUNDS_MS: [i64; 9] = [
    60_000,         // 1 min
    5 * 60_000,     // 5 min
    15 * 60_000,    // 15 min
    3_600_000,      // 1 h
    4 * 3_600_000,  // 4 h
    12 * 3_600_000, // 12 h
    DAY_MS,         // 1 day
    3 * DAY_MS,     // 3 days
    7 * DAY_MS,     // 7 days
];

/// The milestones of one message, as bits.
mod milestone {
    pub const SENT: u8 = 1;
    pub const DELIVERED: u8 = 2;
    pub const OPENED: u8 = 4;
    pub const RESPONDED: u8 = 8;
    pub const ANSWERED: u8 = 16;
    pub const FAILED: u8 = 32;
    /// The person did something with it.
    pub const ENGAGED: u8 = OPENED | RESPONDED | ANSWERED;
}

/// Counts events into the state they start from: [`Tally::default`] to count from nothing, or
/// [`Tally::from`] a loaded state to count on from it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The counters to add (or, from nothing, their values) and the state after the events.
    pub state: EngagementState,
}

impl From<EngagementState> for Tally {
    fn from(state: EngagementState) -> Self {
        Tally { state }
    }
}

impl Tally {
    /// Counts one event. `tz` is the contact's zone, for the local hour of engagements.
    pub fn apply(&mut self, event: &LoggedInteraction, tz: &TimeZone) {
        if !counts_toward_engagement(event) {
            return;
        }
        match event.direction {
            Direction::Outbound => self.outbound(event, tz),
            Direction::Inbound => self.inbound(event, tz),
        }
    }

    fn outbound(&mut self, event: &LoggedInteraction, tz: &TimeZone) {
        let reached = milestones_of(event.channel, event.outcome);
        let before = match &event.vendor_message_id {
            Some(id) => {
                let key = (event.contact_id, event.channel, id.clone());
                let seen = self.state.messages.entry(key).or_insert(0);
                let before = *seen;
                *seen |= reached;
                before
            }
            // No message id (a call logged by staff): every event is its own message.
            None => 0,
        };
        let new = reached & !before;
        if new & milestone::SENT != 0 {
            self.state
                .awaiting
                .insert((event.contact_id, event.channel), Some(event.occurred_at));
        }
        for (bit, metric) in [
            (milestone::SENT, Metric::Sent),
            (milestone::DELIVERED, Metric::Delivered),
            (milestone::OPENED, Metric::Opened),
            (milestone::RESPONDED, Metric::Responded),
            (milestone::ANSWERED, Metric::Answered),
            (milestone::FAILED, Metric::Failed),
        ] {
            if new & bit != 0 {
                self.add(event, metric, 0, 0);
            }
        }
        if before & milestone::ENGAGED == 0 && new & milestone::ENGAGED != 0 {
            // The message's first engagement: when, and how long after it left us.
            self.engaged(event, tz, event.time_to_action_ms);
        }
        if new & (milestone::RESPONDED | milestone::ANSWERED) != 0 {
            // Answered in the message itself: no reply is owed any more.
            self.state
                .awaiting
                .insert((event.contact_id, event.channel), None);
        }
    }

    fn inbound(&mut self, event: &LoggedInteraction, tz: &TimeZone) {
        if event.channel == Channel::Portal {
            self.add(event, Metric::Active, 0, 0);
            self.engaged(event, tz, None);
            return;
        }
        let key = (event.contact_id, event.channel);
        match self.state.awaiting.get(&key).copied().flatten() {
            Some(since)
                if event.occurred_at >= since && event.occurred_at - since <= REPLY_WINDOW_MS =>
            {
                self.state.awaiting.insert(key, None);
                self.add(event, Metric::Responded, 0, 0);
                self.engaged(event, tz, Some(event.occurred_at - since));
            }
            _ => {
                self.add(event, Metric::Inbound, 0, 0);
                self.engaged(event, tz, None);
            }
        }
    }

    /// An engagement: its local hour, and its time to action if known.
    fn engaged(&mut self, event: &LoggedInteraction, tz: &TimeZone, tta: Option<i64>) {
        let hour = i64::from(local_hour(event.occurred_at, tz));
        self.add(event, Metric::Hour, hour, 0);
        if let Some(tta) = tta.filter(|t| *t >= 0) {
            self.add(event, Metric::Tta, tta_bucket(tta), tta);
        }
    }

    fn add(&mut self, event: &LoggedInteraction, metric: Metric, slot: i64, sum_ms: i64) {
        let key = CounterKey {
            contact_id: event.contact_id,
            channel: event.channel,
            day: event.occurred_at.div_euclid(DAY_MS),
            metric,
            slot,
        };
        let value = self.state.counters.entry(key).or_default();
        value.count += 1;
        value.sum_ms += sum_ms;
        value.last_at = value.last_at.max(event.occurred_at);
    }
}

/// Consent changes and Switchboard's own records say nothing about engagement.
fn counts_toward_engagement(event: &LoggedInteraction) -> bool {
    !matches!(event.channel, Channel::System)
        && !matches!(
            event.outcome,
            Outcome::Unsubscribed
                | Outcome::Resubscribed
                | Outcome::SpamReported
                | Outcome::OptedOut
                | Outcome::OptedIn
                | Outcome::Unknown
        )
}

/// What an outbound event says its message reached.
fn milestones_of(channel: Channel, outcome: Outcome) -> u8 {
    use milestone::*;
    match outcome {
        Outcome::Delivered => SENT | DELIVERED,
        Outcome::Opened | Outcome::Viewed => SENT | DELIVERED | OPENED,
        Outcome::Clicked | Outcome::Replied => SENT | DELIVERED | OPENED | RESPONDED,
        Outcome::Answered | Outcome::Completed | Outcome::Attended if channel != Channel::Email => {
            SENT | DELIVERED | ANSWERED | RESPONDED
        }
        Outcome::Bounced | Outcome::Dropped | Outcome::Failed => SENT | FAILED,
        _ => SENT,
    }
}

/// The time-to-action bucket of `ms`.
pub fn tta_bucket(ms: i64) -> i64 {
    TTA_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(TTA_BOUNDS_MS.len()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        id: i64,
        channel: Channel,
        direction: Direction,
        outcome: Outcome,
        at: i64,
    ) -> LoggedInteraction {
        LoggedInteraction {
            id,
            contact_id: 1,
            channel,
            direction,
            outcome,
            occurred_at: at,
            vendor_message_id: Some(format!("m{id}")),
            time_to_action_ms: None,
        }
    }

    fn count(tally: &Tally, metric: Metric) -> i64 {
        tally
            .state
            .counters
            .iter()
            .filter(|(k, _)| k.metric == metric)
            .map(|(_, v)| v.count)
            .sum()
    }

    #[test]
    fn a_reply_after_the_window_is_contact_initiated_not_a_response() {
        let utc = TimeZone::UTC;
        let mut tally = Tally::default();
        tally.apply(
            &event(1, Channel::Sms, Direction::Outbound, Outcome::Sent, 0),
            &utc,
        );
        tally.apply(
            &event(
                2,
                Channel::Sms,
                Direction::Inbound,
                Outcome::Replied,
                REPLY_WINDOW_MS + 1,
            ),
            &utc,
        );
        assert_eq!(count(&tally, Metric::Responded), 0);
        assert_eq!(count(&tally, Metric::Inbound), 1);
    }

    #[test]
    fn consent_changes_and_unknown_outcomes_are_not_engagement() {
        let utc = TimeZone::UTC;
        let mut tally = Tally::default();
        tally.apply(
            &event(1, Channel::Sms, Direction::Inbound, Outcome::OptedOut, 0),
            &utc,
        );
        tally.apply(
            &event(
                2,
                Channel::Email,
                Direction::Inbound,
                Outcome::Unsubscribed,
                0,
            ),
            &utc,
        );
        tally.apply(
            &event(3, Channel::Email, Direction::Outbound, Outcome::Unknown, 0),
            &utc,
        );
        assert!(tally.state.counters.is_empty());
    }

    #[test]
    fn time_to_action_buckets_have_inclusive_upper_bounds() {
        assert_eq!(tta_bucket(0), 0);
        assert_eq!(tta_bucket(60_000), 0);
        assert_eq!(tta_bucket(60_001), 1);
        assert_eq!(tta_bucket(3_600_000), 3);
        assert_eq!(tta_bucket(30 * DAY_MS), TTA_BOUNDS_MS.len() as i64);
    }
}
