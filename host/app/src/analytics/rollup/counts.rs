//! What a group of messages adds up to: the counts the channel report is made of. One message's
//! counts come from its fate; a group's are the sum of its messages', so the rollup keeps them per
//! day and group and subtracts a message's old counts when its fate changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analytics::fate::MessageFate;

const HOUR_MS: i64 = 3_600_000;

/// The upper bounds of the time-to-action buckets (ms), the last open-ended.
pub const ACTION_BUCKETS: [(&str, i64); 5] = [
    ("<1h", HOUR_MS),
    ("1-4h", 4 * HOUR_MS),
    ("4-24h", 24 * HOUR_MS),
    ("1-3d", 72 * HOUR_MS),
    (">3d", i64::MAX),
];

/// Counts of messages (signed: a change of fate subtracts the old one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub sent: i64,
    /// The vendor sent a delivery receipt.
    pub receipt: i64,
    pub delivered: i64,
    pub engaged: i64,
    pub responded: i64,
    pub opened: i64,
    pub clicked: i64,
    pub answered: i64,
    pub replied: i64,
    pub failed: i64,
    pub bounced: i64,
    pub opted_out: i64,
    /// Failures by the vendor's outcome.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, i64>,
    /// Engaged messages per time-to-action bucket ([`ACTION_BUCKETS`]).
    pub to_action: [i64; 5],
    /// Engaged messages per time to action, in seconds to two significant figures (see
    /// [`action_seconds`]): the percentiles' histogram.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub action_times: BTreeMap<i64, i64>,
}

impl Counts {
    /// One message's counts.
    pub fn of(fate: &MessageFate) -> Self {
        let one = |yes: bool| i64::from(yes);
        let mut counts = Counts {
            sent: 1,
            receipt: one(fate.receipt),
            delivered: one(fate.delivered),
            engaged: one(fate.engaged()),
            responded: one(fate.responded),
            opened: one(fate.opened),
            clicked: one(fate.clicked),
            answered: one(fate.answered),
            replied: one(fate.replied),
            failed: one(fate.failure.is_some()),
            bounced: one(fate.bounced),
            opted_out: one(fate.opted_out),
            ..Counts::default()
        };
        if let Some(failure) = fate.failure {
            counts.failures.insert(failure.as_str().to_string(), 1);
        }
        if let Some(ms) = fate.time_to_action_ms() {
            let bucket = ACTION_BUCKETS.iter().position(|(_, upper)| ms < *upper);
            counts.to_action[bucket.unwrap_or(ACTION_BUCKETS.len() - 1)] = 1;
            counts.action_times.insert(action_seconds(ms), 1);
        }
        counts
    }

    /// Adds `other` times `sign` (1 to add, -1 to take away).
    pub fn add(&mut self, other: &Counts, sign: i64) {
        for (mine, theirs) in [
            (&mut self.sent, other.sent),
            (&mut self.receipt, other.receipt),
            (&mut self.delivered, other.delivered),
            (&mut self.engaged, other.engaged),
            (&mut self.responded, other.responded),
            (&mut self.opened, other.opened),
            (&mut self.clicked, other.clicked),
            (&mut self.answered, other.answered),
            (&mut self.replied, other.replied),
            (&mut self.failed, other.failed),
            (&mut self.bounced, other.bounced),
            (&mut self.opted_out, other.opted_out),
        ] {
            *mine += sign * theirs;
        }
        for (mine, theirs) in self.to_action.iter_mut().zip(other.to_action) {
            *mine += sign * theirs;
        }
        add_keyed(&mut self.failures, &other.failures, sign);
        add_keyed(&mut self.action_times, &other.action_times, sign);
    }

    /// True when it counts nothing (every message taken away again).
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    /// The `percent` percentile of the time to action (nearest rank), in ms, to two significant
    /// figures of seconds.
    pub fn action_percentile(&self, percent: i64) -> Option<i64> {
        let total: i64 = self.action_times.values().sum();
        if total <= 0 {
            return None;
        }
        let rank = (percent * total + 99) / 100;
        let mut seen = 0;
        for (seconds, count) in &self.action_times {
            seen += count;
            if seen >= rank.max(1) {
                return Some(seconds * 1000);
            }
        }
        None
    }
}

fn add_keyed<K: Ord + Clone>(mine: &mut BTreeMap<K, i64>, theirs: &BTreeMap<K, i64>, sign: i64) {
    for (key, count) in theirs {
        let entry = mine.entry(key.clone()).or_default();
        *entry += sign * count;
        if *entry == 0 {
            mine.remove(key);
        }
    }
}

/// A time to action in whole seconds rounded to two significant figures (59 s, 1,800 s,
/// 290,000 s): within 5 % of the exact time, and few enough distinct values that a day's
/// histogram stays small.
pub fn action_seconds(ms: i64) -> i64 {
    let seconds = (ms.max(0) + 500) / 1000;
    let mut scale = 1;
    while seconds >= 100 * scale {
        scale *= 10;
    }
    (seconds + scale / 2) / scale * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::{Channel, Outcome};

    #[test]
    fn times_keep_two_significant_figures_of_seconds() {
        assert_eq!(action_seconds(0), 0);
        assert_eq!(action_seconds(59_400), 59);
        assert_eq!(action_seconds(1_800_000), 1_800);
        assert_eq!(action_seconds(1_849_000), 1_800);
        assert_eq!(action_seconds(1_850_000), 1_900);
        assert_eq!(action_seconds(80 * HOUR_MS), 290_000);
    }

    #[test]
    fn taking_a_message_away_leaves_nothing() {
        let mut fate = MessageFate::sent(1, Channel::Email, 0).opened_after(HOUR_MS / 2);
        fate.failure = Some(Outcome::Bounced);
        let one = Counts::of(&fate);
        let mut sum = Counts::default();
        sum.add(&one, 1);
        sum.add(&one, 1);
        assert_eq!((sum.sent, sum.engaged, sum.to_action[0]), (2, 2, 2));
        assert_eq!(sum.failures["bounced"], 2);
        sum.add(&one, -1);
        sum.add(&one, -1);
        assert!(sum.is_empty(), "{sum:?}");
    }

    #[test]
    fn percentiles_by_nearest_rank_over_the_histogram() {
        let mut sum = Counts::default();
        for minutes in [30, 30, 60, 120, 600] {
            let fate = MessageFate::sent(1, Channel::Email, 0).opened_after(minutes * 60_000);
            sum.add(&Counts::of(&fate), 1);
        }
        assert_eq!(sum.action_percentile(50), Some(3_600_000));
        assert_eq!(sum.action_percentile(90), Some(36_000_000));
        assert_eq!(Counts::default().action_percentile(50), None);
    }
}
