//! Cross-channel behaviour: how many messages a person gets before they respond, how often they
//! answer on another channel than the one we used, how many channels each person uses, and who
//! is falling silent everywhere.
//!
//! Definitions (also in the README's "Analytics"):
//! - **touches before response**: for each response in the period, the messages the person was
//!   sent on any channel since their previous response in the period (or its start), that one
//!   included;
//! - **prompted inbound**: an inbound message from a person who was sent something in the reply
//!   window before it; a **channel switch** when none of those messages was on the inbound
//!   message's own channel (email sent, the person calls). Its route runs from the channel of the
//!   latest of them;
//! - **channels used**: the channels on which a person engaged with a message or wrote in.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::fate::MessageFate;
use super::rate::{Bucket, Rate, nearest_rank};
use crate::prefs::tally::REPLY_WINDOW_MS;
use switchboard_core::domain::{Channel, Outcome};
use switchboard_store::analytics::Inbound;

/// What the period's journeys show.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Journeys {
    pub touches_before_response: Touches,
    pub channel_switches: Switches,
    /// People by how many channels they used (engaged on or wrote in), among those who used one.
    pub channels_used: Vec<Bucket>,
}

/// Messages sent before each response.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Touches {
    pub responses: u64,
    /// `1`, `2`, `3`, `4`, `5+` touches, each with its count of responses.
    pub distribution: Vec<Bucket>,
    pub mean: Option<f64>,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
}

/// Inbound messages that answered a message on another channel.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Switches {
    /// Inbound messages with a message sent to the person in the reply window before them.
    pub prompted: u64,
    /// Inbound messages from people we had not written to in the reply window.
    pub unprompted: u64,
    /// Prompted inbound messages on a channel none of the prompts used, out of all prompted.
    pub switched: Rate,
    /// Switches by route, most frequent first.
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Route {
    pub from: Channel,
    pub to: Channel,
    pub count: u64,
}

/// The journeys of `fates` (the messages sent from a reply window before the period on) and
/// `inbound`, counting the responses, inbound messages and channel use of `[since, until)`.
pub fn journeys(fates: &[MessageFate], inbound: &[Inbound], since: i64, until: i64) -> Journeys {
    let in_period = |at: i64| at >= since && at < until;
    let mut by_contact: HashMap<i64, Vec<&MessageFate>> = HashMap::new();
    for fate in fates {
        if let Some(contact) = fate.contact_id {
            by_contact.entry(contact).or_default().push(fate);
        }
    }
    for messages in by_contact.values_mut() {
        messages.sort_by_key(|f| f.sent_at);
    }
    let replies: Vec<&Inbound> = inbound
        .iter()
        .filter(|m| in_period(m.occurred_at) && writes_in(m.outcome))
        .collect();
    Journeys {
        touches_before_response: touches(&by_contact, &in_period),
        channel_switches: switches(&by_contact, &replies),
        channels_used: channels_used(&by_contact, &replies, &in_period),
    }
}

/// Inbound messages that are the person writing to us (not a STOP or a START).
pub(crate) fn writes_in(outcome: Outcome) -> bool {
    !matches!(
        outcome,
        Outcome::OptedOut
            | Outcome::OptedIn
            | Outcome::Unsubscribed
            | Outcome::Resubscribed
            | Outcome::SpamReported
            | Outcome::Unknown
    )
}

fn touches(
    by_contact: &HashMap<i64, Vec<&MessageFate>>,
    in_period: &dyn Fn(i64) -> bool,
) -> Touches {
    let mut counts: Vec<u64> = Vec::new();
    for messages in by_contact.values() {
        let mut since_last = 0u64;
        for fate in messages.iter().filter(|f| in_period(f.sent_at)) {
            since_last += 1;
            if fate.responded {
                counts.push(since_last);
                since_last = 0;
            }
        }
    }
    counts.sort_unstable();
    let labels = ["1", "2", "3", "4", "5+"];
    let distribution = labels
        .iter()
        .enumerate()
        .map(|(i, label)| Bucket {
            label: (*label).into(),
            count: counts
                .iter()
                .filter(|c| (**c as usize).min(labels.len()) == i + 1)
                .count() as u64,
        })
        .collect();
    let mean =
        (!counts.is_empty()).then(|| counts.iter().sum::<u64>() as f64 / counts.len() as f64);
    Touches {
        responses: counts.len() as u64,
        distribution,
        mean,
        p50: nearest_rank(&counts, 50),
        p90: nearest_rank(&counts, 90),
    }
}

fn switches(by_contact: &HashMap<i64, Vec<&MessageFate>>, replies: &[&Inbound]) -> Switches {
    let (mut prompted, mut unprompted, mut switched) = (0u64, 0u64, 0u64);
    let mut routes: BTreeMap<(Channel, Channel), u64> = BTreeMap::new();
    for reply in replies {
        let messages = by_contact
            .get(&reply.contact_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let end = messages.partition_point(|f| f.sent_at <= reply.occurred_at);
        let start = messages.partition_point(|f| f.sent_at < reply.occurred_at - REPLY_WINDOW_MS);
        let prompts = &messages[start..end.max(start)];
        let Some(latest) = prompts.last() else {
            unprompted += 1;
            continue;
        };
        prompted += 1;
        if prompts.iter().all(|f| f.channel != reply.channel) {
            switched += 1;
            *routes.entry((latest.channel, reply.channel)).or_default() += 1;
        }
    }
    let mut routes: Vec<Route> = routes
        .into_iter()
        .map(|((from, to), count)| Route { from, to, count })
        .collect();
    routes.sort_by_key(|r| Reverse(r.count));
    Switches {
        prompted,
        unprompted,
        switched: Rate::of(switched, prompted),
        routes,
    }
}

fn channels_used(
    by_contact: &HashMap<i64, Vec<&MessageFate>>,
    replies: &[&Inbound],
    in_period: &dyn Fn(i64) -> bool,
) -> Vec<Bucket> {
    let mut used: HashMap<i64, BTreeSet<Channel>> = HashMap::new();
    for (contact, messages) in by_contact {
        for fate in messages
            .iter()
            .filter(|f| f.engaged_at.is_some_and(in_period))
        {
            used.entry(*contact).or_default().insert(fate.channel);
        }
    }
    for reply in replies {
        used.entry(reply.contact_id)
            .or_default()
            .insert(reply.channel);
    }
    let labels = ["1", "2", "3+"];
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| Bucket {
            label: (*label).into(),
            count: used
                .values()
                .filter(|channels| channels.len().min(labels.len()) == i + 1)
                .count() as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn sent(contact: i64, channel: Channel, at: i64, responded: bool) -> MessageFate {
        let fate = MessageFate::sent(contact, channel, at);
        if !responded {
            return fate;
        }
        MessageFate {
            clicked: true,
            responded: true,
            ..fate.opened_after(H)
        }
    }

    fn wrote(contact: i64, channel: Channel, at: i64) -> Inbound {
        Inbound {
            contact_id: contact,
            channel,
            outcome: Outcome::Replied,
            occurred_at: at,
        }
    }

    #[test]
    fn touches_count_every_channel_since_the_last_response() {
        let fates = vec![
            sent(1, Channel::Email, H, false),
            sent(1, Channel::Sms, 2 * H, false),
            sent(1, Channel::Email, 3 * H, true),
            sent(1, Channel::Email, 4 * H, true),
            sent(2, Channel::Email, H, true),
            // Never answered: no response to count.
            sent(3, Channel::Email, H, false),
        ];
        let journeys = journeys(&fates, &[], 0, 100 * H);
        let touches = &journeys.touches_before_response;
        assert_eq!(touches.responses, 3);
        let counts: Vec<u64> = touches.distribution.iter().map(|c| c.count).collect();
        assert_eq!(counts, [2, 0, 1, 0, 0]);
        assert_eq!(touches.p50, Some(1));
        assert_eq!(touches.p90, Some(3));
        assert!((touches.mean.unwrap() - 5.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_call_after_an_email_is_a_channel_switch() {
        let fates = vec![
            sent(1, Channel::Email, H, false),
            sent(2, Channel::Sms, H, false),
        ];
        let inbound = [
            // Ana calls after our email: a switch from email to phone.
            wrote(1, Channel::Phone, 2 * H),
            // Ben answers the SMS by SMS: prompted, no switch.
            wrote(2, Channel::Sms, 2 * H),
            // Cleo writes in unprompted.
            wrote(3, Channel::Sms, 2 * H),
            // Ana again, past the reply window: unprompted.
            wrote(1, Channel::Email, H + REPLY_WINDOW_MS + 1),
        ];
        let journeys = journeys(&fates, &inbound, 0, 30 * 24 * H);
        let switches = &journeys.channel_switches;
        assert_eq!((switches.prompted, switches.unprompted), (2, 2));
        assert_eq!((switches.switched.count, switches.switched.of), (1, 2));
        assert_eq!(
            switches.routes,
            [Route {
                from: Channel::Email,
                to: Channel::Phone,
                count: 1
            }]
        );
        let used: Vec<u64> = journeys.channels_used.iter().map(|c| c.count).collect();
        // Ana used phone and email, Ben and Cleo SMS.
        assert_eq!(used, [2, 1, 0]);
    }
}
