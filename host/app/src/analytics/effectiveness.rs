//! How well a group of messages did: the nested funnel sent ≥ delivered ≥ engaged ≥ responded,
//! each kind of engagement, failures by reason, bounces, opt-outs and time to action.
//!
//! A rate is taken only over the messages that could show it. Whether a message could depends on
//! its channel (an SMS is never "opened"; only email is clicked; only calls and visits are
//! answered) and, for the signals a vendor may or may not send, on its provider: delivery
//! receipts and open tracking count as available from a plugin on a channel only if that plugin
//! reported at least one in the period ([`Evidence`]). Where no message of a group could show a
//! signal, its rate is "no data", never 0 %.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::fate::MessageFate;
use super::rate::{Bucket, Rate, nearest_rank};
use switchboard_core::domain::Channel;

/// A signal about a message that not every channel or provider gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Receipt,
    Open,
    Click,
    Answer,
    Reply,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Receipt => "delivery receipts",
            Signal::Open => "opens",
            Signal::Click => "clicks",
            Signal::Answer => "answered calls or visits",
            Signal::Reply => "replies",
        }
    }

    /// Whether messages on `channel` can carry this signal at all.
    fn carried_by(self, channel: Channel) -> bool {
        use Channel::*;
        match self {
            Signal::Receipt => matches!(channel, Email | Sms | Chat | Portal | Phone),
            Signal::Open => matches!(channel, Email | Portal),
            Signal::Click => channel == Email,
            Signal::Answer => matches!(channel, Phone | InPerson),
            Signal::Reply => matches!(channel, Email | Sms | Chat | Portal),
        }
    }

    /// Whether it depends on the provider sending it (and so on evidence that it does).
    fn optional(self) -> bool {
        matches!(self, Signal::Receipt | Signal::Open)
    }
}

/// Which providers (plugin, channel) reported delivery receipts and opens in the period.
#[derive(Debug, Default)]
pub struct Evidence {
    receipts: HashSet<(Option<String>, Channel)>,
    opens: HashSet<(Option<String>, Channel)>,
}

impl Evidence {
    pub fn of<'a>(fates: impl IntoIterator<Item = &'a MessageFate>) -> Self {
        let mut evidence = Evidence::default();
        for fate in fates {
            let source = (fate.plugin.clone(), fate.channel);
            if fate.receipt {
                evidence.receipts.insert(source.clone());
            }
            if fate.opened {
                evidence.opens.insert(source);
            }
        }
        evidence
    }

    fn shows(&self, fate: &MessageFate, signal: Signal) -> bool {
        if !signal.carried_by(fate.channel) {
            return false;
        }
        let source = (fate.plugin.clone(), fate.channel);
        match signal {
            Signal::Receipt => self.receipts.contains(&source),
            Signal::Open => self.opens.contains(&source),
            _ => true,
        }
    }
}

/// How a group of messages did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Effectiveness {
    /// Messages sent: the top of the funnel.
    pub sent: u64,
    /// Reached the person: a delivery receipt, or an engagement that shows it arrived.
    pub delivered: Rate,
    /// Opened, clicked, answered or replied to.
    pub engaged: Rate,
    /// Clicked, replied to or answered (see the glossary's "response").
    pub responded: Rate,
    pub opened: Rate,
    pub clicked: Rate,
    pub answered: Rate,
    pub replied: Rate,
    /// Failed for good (bounced, dropped, failed, unanswered, busy).
    pub failed: Rate,
    /// Failures by the vendor's outcome, most frequent first.
    pub failures: Vec<Failure>,
    pub bounces: u64,
    /// Unsubscribes, spam reports and opt-outs (an SMS STOP) that followed these messages.
    pub opt_outs: u64,
    pub time_to_action: TimeToAction,
}

/// How many messages failed one way.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Failure {
    pub reason: String,
    pub count: u64,
}

/// How long engaged messages took to be engaged with.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimeToAction {
    /// Messages with a first engagement.
    pub count: u64,
    /// `<1h`, `1-4h`, `4-24h`, `1-3d`, `>3d`, each with its count (lower bound inclusive).
    pub buckets: Vec<Bucket>,
    pub p50_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

const HOUR_MS: i64 = 3_600_000;
const BUCKETS: [(&str, i64); 5] = [
    ("<1h", HOUR_MS),
    ("1-4h", 4 * HOUR_MS),
    ("4-24h", 24 * HOUR_MS),
    ("1-3d", 72 * HOUR_MS),
    (">3d", i64::MAX),
];

impl Effectiveness {
    /// How `fates` did, with signals judged by `evidence`.
    pub fn of<'a>(fates: impl IntoIterator<Item = &'a MessageFate>, evidence: &Evidence) -> Self {
        let fates: Vec<&MessageFate> = fates.into_iter().collect();
        let rate = |reached: &dyn Fn(&MessageFate) -> bool, signals: &[Signal]| {
            stage(&fates, evidence, reached, signals)
        };
        let engagement = [Signal::Open, Signal::Click, Signal::Answer, Signal::Reply];
        let responses = [Signal::Click, Signal::Answer, Signal::Reply];
        let failed = fates.iter().filter(|f| f.failure.is_some()).count() as u64;
        Effectiveness {
            sent: fates.len() as u64,
            delivered: rate(&|f| f.delivered, &[Signal::Receipt]),
            engaged: rate(&|f| f.engaged(), &engagement),
            responded: rate(&|f| f.responded, &responses),
            opened: rate(&|f| f.opened, &[Signal::Open]),
            clicked: rate(&|f| f.clicked, &[Signal::Click]),
            answered: rate(&|f| f.answered, &[Signal::Answer]),
            replied: rate(&|f| f.replied, &[Signal::Reply]),
            failed: Rate::of(failed, fates.len() as u64),
            failures: failures(&fates),
            bounces: fates.iter().filter(|f| f.bounced).count() as u64,
            opt_outs: fates.iter().filter(|f| f.opted_out).count() as u64,
            time_to_action: time_to_action(&fates),
        }
    }
}

/// The rate of `reached` among the messages that could show one of `signals`.
fn stage(
    fates: &[&MessageFate],
    evidence: &Evidence,
    reached: &dyn Fn(&MessageFate) -> bool,
    signals: &[Signal],
) -> Rate {
    let observable: Vec<&&MessageFate> = fates
        .iter()
        .filter(|f| signals.iter().any(|s| evidence.shows(f, *s)))
        .collect();
    let count = observable.iter().filter(|f| reached(f)).count() as u64;
    if observable.is_empty() {
        return Rate::no_data(0, why_no_data(fates, signals));
    }
    Rate::of(count, observable.len() as u64)
}

fn why_no_data(fates: &[&MessageFate], signals: &[Signal]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.name()).collect();
    let names = names.join(" or ");
    if fates.is_empty() {
        return "no messages".into();
    }
    let carried = fates
        .iter()
        .any(|f| signals.iter().any(|s| s.carried_by(f.channel)));
    if carried && signals.iter().any(|s| s.optional()) {
        format!("the provider reported no {names} in this period")
    } else {
        let channels: BTreeSet<&str> = fates.iter().map(|f| f.channel.as_str()).collect();
        let channels: Vec<&str> = channels.into_iter().collect();
        format!("{} carries no {names}", channels.join(", "))
    }
}

fn failures(fates: &[&MessageFate]) -> Vec<Failure> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for failure in fates.iter().filter_map(|f| f.failure) {
        *counts.entry(failure.as_str()).or_default() += 1;
    }
    let mut failures: Vec<Failure> = counts
        .into_iter()
        .map(|(reason, count)| Failure {
            reason: reason.into(),
            count,
        })
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    failures
}

fn time_to_action(fates: &[&MessageFate]) -> TimeToAction {
    let mut times: Vec<i64> = fates.iter().filter_map(|f| f.time_to_action_ms()).collect();
    times.sort_unstable();
    let buckets = BUCKETS
        .iter()
        .enumerate()
        .map(|(i, (label, upper))| {
            let lower = if i == 0 { 0 } else { BUCKETS[i - 1].1 };
            Bucket {
                label: (*label).into(),
                count: times
                    .iter()
                    .filter(|t| **t >= lower && **t < *upper)
                    .count() as u64,
            }
        })
        .collect();
    TimeToAction {
        count: times.len() as u64,
        buckets,
        p50_ms: nearest_rank(&times, 50),
        p90_ms: nearest_rank(&times, 90),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::Outcome;

    fn fate(channel: Channel, plugin: &str) -> MessageFate {
        MessageFate {
            plugin: Some(plugin.into()),
            ..MessageFate::sent(1, channel, 0)
        }
    }

    fn opened(fate: MessageFate, after_ms: i64) -> MessageFate {
        fate.opened_after(after_ms)
    }

    #[test]
    fn sms_has_no_open_rate_and_a_provider_without_receipts_no_delivery_rate() {
        let sms = fate(Channel::Sms, "sms-twilio");
        let mut delivered_sms = fate(Channel::Sms, "sms-twilio");
        delivered_sms.receipt = true;
        delivered_sms.delivered = true;
        let fates = vec![
            sms,
            delivered_sms,
            opened(fate(Channel::Email, "quiet-mail"), 10),
        ];
        let evidence = Evidence::of(&fates);

        let sms = Effectiveness::of(&fates[..2], &evidence);
        assert_eq!(sms.opened.rate, None);
        assert_eq!(sms.opened.no_data.as_deref(), Some("sms carries no opens"));
        assert_eq!((sms.delivered.count, sms.delivered.of), (1, 2));
        assert_eq!(sms.clicked.rate, None);

        let email = Effectiveness::of(&fates[2..], &evidence);
        assert_eq!(email.delivered.rate, None, "no receipts from quiet-mail");
        assert!(
            email
                .delivered
                .no_data
                .as_deref()
                .unwrap()
                .contains("reported no")
        );
        assert_eq!(email.opened.rate, Some(1.0));
        assert_eq!(email.engaged.rate, Some(1.0));
    }

    #[test]
    fn a_channel_level_rate_counts_only_the_providers_that_show_it() {
        let mut receipted = fate(Channel::Email, "email-sendgrid");
        receipted.receipt = true;
        receipted.delivered = true;
        let fates = vec![
            receipted,
            fate(Channel::Email, "email-sendgrid"),
            opened(fate(Channel::Email, "quiet-mail"), 10),
        ];
        let email = Effectiveness::of(&fates, &Evidence::of(&fates));
        assert_eq!((email.delivered.count, email.delivered.of), (1, 2));
        assert_eq!(email.sent, 3);
        // Opens only quiet-mail tracks: its one message.
        assert_eq!((email.opened.count, email.opened.of), (1, 1));
    }

    #[test]
    fn failures_bounces_and_time_to_action() {
        let mut bounced = fate(Channel::Email, "e");
        bounced.failure = Some(Outcome::Bounced);
        bounced.bounced = true;
        let mut dropped = fate(Channel::Email, "e");
        dropped.failure = Some(Outcome::Dropped);
        let mut bounced_too = bounced.clone();
        bounced_too.opted_out = true;
        let fates = vec![
            bounced,
            dropped,
            bounced_too,
            opened(fate(Channel::Email, "e"), 30 * 60_000),
            opened(fate(Channel::Email, "e"), 2 * HOUR_MS),
            opened(fate(Channel::Email, "e"), 80 * HOUR_MS),
        ];
        let report = Effectiveness::of(&fates, &Evidence::of(&fates));
        assert_eq!((report.failed.count, report.failed.of), (3, 6));
        let failures: Vec<_> = report
            .failures
            .iter()
            .map(|f| (f.reason.as_str(), f.count))
            .collect();
        assert_eq!(failures, [("bounced", 2), ("dropped", 1)]);
        assert_eq!((report.bounces, report.opt_outs), (2, 1));
        let tta = &report.time_to_action;
        let counts: Vec<_> = tta.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 1, 0, 0, 1]);
        assert_eq!(tta.p50_ms, Some(2 * HOUR_MS));
        assert_eq!(tta.p90_ms, Some(80 * HOUR_MS));
    }
}
