//! How well a group of messages did: the nested funnel sent ≥ delivered ≥ engaged ≥ responded,
//! each kind of engagement, failures by reason, bounces, opt-outs and time to action.
//!
//! A rate is taken only over the messages that could show it. Whether a message could depends on
//! its channel (an SMS is never "opened"; only email is clicked; only calls and visits are
//! answered) and, for the signals a vendor may or may not send, on its provider: delivery
//! receipts and open tracking count as available from a plugin on a channel only if that plugin
//! reported at least one in the period ([`Evidence`]). Where no message of a group could show a
//! signal, its rate is "no data", never 0 %.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::rate::{Bucket, Rate};
use super::rollup::Cell;
use super::rollup::counts::{ACTION_BUCKETS, Counts};
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
    receipts: HashSet<(String, Channel)>,
    opens: HashSet<(String, Channel)>,
}

impl Evidence {
    pub fn of<'a>(cells: impl IntoIterator<Item = &'a Cell>) -> Self {
        let mut evidence = Evidence::default();
        for cell in cells {
            let source = (cell.key.plugin.clone(), cell.key.channel);
            if cell.counts.receipt > 0 {
                evidence.receipts.insert(source.clone());
            }
            if cell.counts.opened > 0 {
                evidence.opens.insert(source);
            }
        }
        evidence
    }

    fn shows(&self, cell: &Cell, signal: Signal) -> bool {
        let channel = cell.key.channel;
        if !signal.carried_by(channel) {
            return false;
        }
        let source = (cell.key.plugin.clone(), channel);
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
    /// Median time to action (nearest rank), in whole seconds to two significant figures (so
    /// within 5 %: 1,800,000 ms, 290,000,000 ms).
    pub p50_ms: Option<i64>,
    /// 90th percentile, to the same precision.
    pub p90_ms: Option<i64>,
}

impl Effectiveness {
    /// How the messages counted in `cells` did.
    pub fn of(cells: &[&Cell], evidence: &Evidence) -> Self {
        let mut total = Counts::default();
        for cell in cells {
            total.add(&cell.counts, 1);
        }
        let rate = |reached: fn(&Counts) -> i64, signals: &[Signal]| {
            stage(cells, evidence, reached, signals)
        };
        let engagement = [Signal::Open, Signal::Click, Signal::Answer, Signal::Reply];
        let responses = [Signal::Click, Signal::Answer, Signal::Reply];
        Effectiveness {
            sent: count(total.sent),
            delivered: rate(|c| c.delivered, &[Signal::Receipt]),
            engaged: rate(|c| c.engaged, &engagement),
            responded: rate(|c| c.responded, &responses),
            opened: rate(|c| c.opened, &[Signal::Open]),
            clicked: rate(|c| c.clicked, &[Signal::Click]),
            answered: rate(|c| c.answered, &[Signal::Answer]),
            replied: rate(|c| c.replied, &[Signal::Reply]),
            failed: Rate::of(count(total.failed), count(total.sent)),
            failures: failures(&total),
            bounces: count(total.bounced),
            opt_outs: count(total.opted_out),
            time_to_action: time_to_action(&total),
        }
    }
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

fn stage(
    cells: &[&Cell],
    evidence: &Evidence,
    reached: fn(&Counts) -> i64,
    signals: &[Signal],
) -> Rate {
    let observable = cells
        .iter()
        .filter(|c| signals.iter().any(|s| evidence.shows(c, *s)));
    let (mut count_reached, mut of) = (0, 0);
    for cell in observable {
        count_reached += reached(&cell.counts);
        of += cell.counts.sent;
    }
    if of <= 0 {
        return Rate::no_data(0, why_no_data(cells, signals));
    }
    Rate::of(count(count_reached), count(of))
}

fn why_no_data(cells: &[&Cell], signals: &[Signal]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.name()).collect();
    let names = names.join(" or ");
    let sending: Vec<&&Cell> = cells.iter().filter(|c| c.counts.sent > 0).collect();
    if sending.is_empty() {
        return "no messages".into();
    }
    let carried = sending
        .iter()
        .any(|c| signals.iter().any(|s| s.carried_by(c.key.channel)));
    if carried && signals.iter().any(|s| s.optional()) {
        format!("the provider reported no {names} in this period")
    } else {
        let channels: BTreeSet<&str> = sending.iter().map(|c| c.key.channel.as_str()).collect();
        let channels: Vec<&str> = channels.into_iter().collect();
        format!("{} carries no {names}", channels.join(", "))
    }
}

fn failures(total: &Counts) -> Vec<Failure> {
    let mut failures: Vec<Failure> = total
        .failures
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(reason, n)| Failure {
            reason: reason.clone(),
            count: count(*n),
        })
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    failures
}

fn time_to_action(total: &Counts) -> TimeToAction {
    let buckets = ACTION_BUCKETS
        .iter()
        .zip(total.to_action)
        .map(|((label, _), n)| Bucket {
            label: (*label).into(),
            count: count(n),
        })
        .collect();
    TimeToAction {
        count: count(total.to_action.iter().sum()),
        buckets,
        p50_ms: total.action_percentile(50),
        p90_ms: total.action_percentile(90),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::fate::MessageFate;
    use switchboard_core::domain::Outcome;
    use switchboard_store::rollup::DailyKey;

    const HOUR_MS: i64 = 3_600_000;

    /// One cell per message, as the rollup would count it.
    fn cells(fates: &[MessageFate]) -> Vec<Cell> {
        fates
            .iter()
            .map(|f| Cell {
                key: DailyKey {
                    day: 0,
                    channel: f.channel,
                    plugin: f.plugin.clone().unwrap_or_default(),
                    kind: String::new(),
                    urgency: String::new(),
                    template: String::new(),
                },
                counts: Counts::of(f),
            })
            .collect()
    }

    fn of(cells: &[Cell], evidence: &Evidence) -> Effectiveness {
        let cells: Vec<&Cell> = cells.iter().collect();
        Effectiveness::of(&cells, evidence)
    }

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
        let cells = cells(&fates);
        let evidence = Evidence::of(&cells);

        let sms = of(&cells[..2], &evidence);
        assert_eq!(sms.opened.rate, None);
        assert_eq!(sms.opened.no_data.as_deref(), Some("sms carries no opens"));
        assert_eq!((sms.delivered.count, sms.delivered.of), (1, 2));
        assert_eq!(sms.clicked.rate, None);

        let email = of(&cells[2..], &evidence);
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
        let cells = cells(&fates);
        let email = of(&cells, &Evidence::of(&cells));
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
        let cells = cells(&fates);
        let report = of(&cells, &Evidence::of(&cells));
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
        // 80 hours is 288,000 s: 290,000 s to two significant figures.
        assert_eq!(tta.p90_ms, Some(290_000_000));
    }
}
