//! The channel effectiveness report: per channel and per provider (plugin), how the period's
//! messages did, with an optional breakdown by message kind, urgency, template or period.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::effectiveness::{Effectiveness, Evidence};
use super::fate::MessageFate;
use crate::service_error::ServiceError;
use switchboard_core::clock::local_time::local;
use switchboard_core::domain::{Channel, Urgency};
use switchboard_store::analytics::Inbound;

pub const DAY_MS: i64 = 86_400_000;
/// The longest period one report covers.
pub const MAX_PERIOD_MS: i64 = 400 * DAY_MS;
/// The period when none is given: the last 30 days.
pub const DEFAULT_PERIOD_MS: i64 = 30 * DAY_MS;
/// The latest time a report takes: 9999-12-31T23:59:59.999Z.
const LATEST_MS: i64 = 253_402_300_799_999;

/// Which messages, and how to break them down.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChannelsQuery {
    /// Messages sent from this time on, ms since the epoch (default: 30 days before `until`).
    pub since: Option<i64>,
    /// Messages sent before this time, ms since the epoch (default: now). At most 400 days
    /// after `since`.
    pub until: Option<i64>,
    /// Only messages of this kind (as given to `POST /api/messages`).
    pub kind: Option<String>,
    /// Only messages of this urgency: `low`, `normal`, `high`.
    pub urgency: Option<String>,
    /// Only messages carried by this plugin (`email-sendgrid`).
    pub plugin: Option<String>,
    /// A breakdown: `kind`, `urgency`, `template`, or a time series by `day`, `week` or
    /// `month` (UTC; a week starts on Monday).
    pub by: Option<String>,
}

/// What a report breaks its messages down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Kind,
    Urgency,
    Template,
    Day,
    Week,
    Month,
}

impl By {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "kind" => By::Kind,
            "urgency" => By::Urgency,
            "template" => By::Template,
            "day" => By::Day,
            "week" => By::Week,
            "month" => By::Month,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            By::Kind => "kind",
            By::Urgency => "urgency",
            By::Template => "template",
            By::Day => "day",
            By::Week => "week",
            By::Month => "month",
        }
    }

    /// The group a message falls in. Messages Switchboard did not send itself have no kind,
    /// urgency or template: their group is `none`.
    fn key(self, fate: &MessageFate) -> String {
        let word = |value: &Option<String>| value.clone().unwrap_or_else(|| NONE.to_string());
        match self {
            By::Kind => word(&fate.kind),
            By::Urgency => word(&fate.urgency),
            By::Template => word(&fate.template),
            By::Day | By::Week | By::Month => self.period_of(fate.sent_at),
        }
    }

    /// The UTC day (`2026-12-03`), week (its Monday, `2026-11-30`) or month (`2026-12`) of `at`.
    fn period_of(self, at: i64) -> String {
        let date = local(at, &TimeZone::UTC).date();
        match self {
            By::Week => {
                let back = i64::from(date.weekday().to_monday_zero_offset());
                let monday = date
                    .checked_sub(jiff::Span::new().days(back))
                    .unwrap_or(date);
                monday.to_string()
            }
            By::Month => format!("{:04}-{:02}", date.year(), date.month()),
            _ => date.to_string(),
        }
    }
}

const NONE: &str = "none";

/// The report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelReport {
    /// The period, by when messages were sent: `[since, until)`, ms since the epoch.
    pub since: i64,
    pub until: i64,
    /// Outbound messages in the period (after the filters).
    pub messages: u64,
    /// Inbound messages in the period, from known contacts (filters do not apply).
    pub inbound: u64,
    /// Per channel, most messages first.
    pub channels: Vec<ChannelRow>,
    /// Present when `by` was given.
    pub breakdown: Option<Breakdown>,
}

/// One channel: its share of the volume and how its messages did, overall and per provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelRow {
    pub channel: Channel,
    /// Its share of the outbound messages of the report (or of the group).
    pub share: f64,
    /// Inbound messages on this channel in the period.
    pub inbound: u64,
    pub effectiveness: Effectiveness,
    /// Per plugin that carried its messages, most messages first.
    pub providers: Vec<ProviderRow>,
}

/// One provider of a channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderRow {
    /// The plugin; absent for messages staff logged themselves (a call from their own phone).
    pub plugin: Option<String>,
    /// Its share of the channel's messages.
    pub share: f64,
    pub effectiveness: Effectiveness,
}

/// The messages broken down by one property.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Breakdown {
    /// `kind`, `urgency`, `template`, `day`, `week` or `month`.
    pub by: String,
    /// In order of key (so a time series runs oldest first).
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    /// The kind, urgency, template or period (`none` for messages without one).
    pub key: String,
    pub messages: u64,
    pub channels: Vec<ChannelRow>,
}

/// A checked query: the period and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub since: i64,
    pub until: i64,
}

impl ChannelsQuery {
    /// The period asked for, checked.
    pub fn period(&self, now: i64) -> Result<Period, ServiceError> {
        for (field, at) in [("since", self.since), ("until", self.until)] {
            if at.is_some_and(|at| !(0..=LATEST_MS).contains(&at)) {
                return Err(ServiceError::invalid(
                    field,
                    "milliseconds since the epoch, up to the year 9999",
                ));
            }
        }
        let until = self.until.unwrap_or(now);
        let since = self.since.unwrap_or(until - DEFAULT_PERIOD_MS);
        if since >= until {
            return Err(ServiceError::invalid("since", "must be before until"));
        }
        if until - since > MAX_PERIOD_MS {
            return Err(ServiceError::invalid(
                "until",
                "a report covers at most 400 days; ask for a shorter period",
            ));
        }
        Ok(Period { since, until })
    }

    /// The breakdown asked for, checked.
    pub fn by(&self) -> Result<Option<By>, ServiceError> {
        self.by
            .as_deref()
            .map(|word| {
                By::parse(word).ok_or_else(|| {
                    ServiceError::invalid(
                        "by",
                        "is one of kind, urgency, template, day, week, month",
                    )
                })
            })
            .transpose()
    }

    fn check_urgency(&self) -> Result<(), ServiceError> {
        match self.urgency.as_deref() {
            Some(word) if Urgency::parse(word).is_none() => Err(ServiceError::invalid(
                "urgency",
                "is one of low, normal, high",
            )),
            _ => Ok(()),
        }
    }

    fn admits(&self, fate: &MessageFate) -> bool {
        let matches = |wanted: &Option<String>, value: &Option<String>| {
            wanted.is_none() || wanted.as_deref() == value.as_deref()
        };
        matches(&self.kind, &fate.kind)
            && matches(&self.urgency, &fate.urgency)
            && matches(&self.plugin, &fate.plugin)
    }
}

/// The report over `fates` (the messages sent in `period` and after it, with their responses)
/// and the inbound messages read with them.
pub fn report(
    query: &ChannelsQuery,
    period: &Period,
    fates: &[MessageFate],
    inbound: &[Inbound],
) -> Result<ChannelReport, ServiceError> {
    let by = query.by()?;
    let chosen = chosen(query, period, fates)?;
    // What providers can show is judged on everything they carried in the period, whatever the
    // filters.
    let evidence = Evidence::of(
        fates
            .iter()
            .filter(|f| f.sent_at >= period.since && f.sent_at < period.until),
    );
    let mut inbound_by_channel: BTreeMap<Channel, u64> = BTreeMap::new();
    for message in inbound
        .iter()
        .filter(|m| m.occurred_at >= period.since && m.occurred_at < period.until)
    {
        *inbound_by_channel.entry(message.channel).or_default() += 1;
    }
    let breakdown = by.map(|by| Breakdown {
        by: by.as_str().into(),
        groups: group_by(&chosen, |f| by.key(f))
            .into_iter()
            .map(|(key, members)| Group {
                key,
                messages: members.len() as u64,
                channels: channel_rows(&members, &evidence, &BTreeMap::new()),
            })
            .collect(),
    });
    Ok(ChannelReport {
        since: period.since,
        until: period.until,
        messages: chosen.len() as u64,
        inbound: inbound_by_channel.values().sum(),
        channels: channel_rows(&chosen, &evidence, &inbound_by_channel),
        breakdown,
    })
}

/// The messages of `fates` sent in `period` that the query's filters admit.
pub fn chosen<'a>(
    query: &ChannelsQuery,
    period: &Period,
    fates: &'a [MessageFate],
) -> Result<Vec<&'a MessageFate>, ServiceError> {
    query.check_urgency()?;
    Ok(fates
        .iter()
        .filter(|f| f.sent_at >= period.since && f.sent_at < period.until)
        .filter(|f| query.admits(f))
        .collect())
}

fn channel_rows(
    fates: &[&MessageFate],
    evidence: &Evidence,
    inbound: &BTreeMap<Channel, u64>,
) -> Vec<ChannelRow> {
    let mut rows: Vec<ChannelRow> = group_by(fates, |f| f.channel)
        .into_iter()
        .map(|(channel, members)| {
            let mut providers: Vec<ProviderRow> = group_by(&members, |f| f.plugin.clone())
                .into_iter()
                .map(|(plugin, carried)| ProviderRow {
                    plugin,
                    share: share(carried.len(), members.len()),
                    effectiveness: Effectiveness::of(carried.iter().copied(), evidence),
                })
                .collect();
            providers.sort_by_key(|p| Reverse(p.effectiveness.sent));
            ChannelRow {
                channel,
                share: share(members.len(), fates.len()),
                inbound: inbound.get(&channel).copied().unwrap_or(0),
                effectiveness: Effectiveness::of(members.iter().copied(), evidence),
                providers,
            }
        })
        .collect();
    rows.sort_by_key(|r| Reverse(r.effectiveness.sent));
    rows
}

fn group_by<'a, K: Ord>(
    fates: &[&'a MessageFate],
    key: impl Fn(&MessageFate) -> K,
) -> BTreeMap<K, Vec<&'a MessageFate>> {
    let mut groups: BTreeMap<K, Vec<&MessageFate>> = BTreeMap::new();
    for fate in fates {
        groups.entry(key(fate)).or_default().push(fate);
    }
    groups
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn fate(channel: Channel, plugin: &str, kind: &str, at: i64) -> MessageFate {
        MessageFate {
            plugin: Some(plugin.into()),
            kind: Some(kind.into()),
            urgency: Some("normal".into()),
            receipt: true,
            delivered: true,
            ..MessageFate::sent(1, channel, at)
        }
    }

    fn query(by: Option<&str>) -> ChannelsQuery {
        ChannelsQuery {
            by: by.map(String::from),
            ..ChannelsQuery::default()
        }
    }

    #[test]
    fn channels_and_providers_with_their_shares_of_the_volume() {
        let fates = vec![
            fate(Channel::Email, "email-sendgrid", "reminder", H),
            fate(Channel::Email, "email-sendgrid", "reminder", H),
            fate(Channel::Email, "email-mailgun", "receipt", H),
            fate(Channel::Sms, "sms-twilio", "reminder", H),
            // Outside the period.
            fate(Channel::Sms, "sms-twilio", "reminder", 30 * H),
        ];
        let period = Period {
            since: 0,
            until: 24 * H,
        };
        let report = report(&query(None), &period, &fates, &[]).unwrap();
        assert_eq!(report.messages, 4);
        let email = &report.channels[0];
        assert_eq!((email.channel, email.share), (Channel::Email, 0.75));
        let providers: Vec<_> = email
            .providers
            .iter()
            .map(|p| (p.plugin.as_deref().unwrap(), p.effectiveness.sent))
            .collect();
        assert_eq!(providers, [("email-sendgrid", 2), ("email-mailgun", 1)]);
        assert_eq!(report.channels[1].share, 0.25);
        assert!(report.breakdown.is_none());
    }

    #[test]
    fn filters_and_breakdowns() {
        let fates = vec![
            fate(Channel::Email, "email-sendgrid", "reminder", H),
            fate(Channel::Email, "email-sendgrid", "receipt", 25 * H),
            fate(Channel::Sms, "sms-twilio", "reminder", 49 * H),
        ];
        let period = Period {
            since: 0,
            until: 72 * H,
        };
        let by_kind = report(&query(Some("kind")), &period, &fates, &[]).unwrap();
        let groups: Vec<_> = by_kind
            .breakdown
            .unwrap()
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.messages))
            .collect();
        assert_eq!(groups, [("receipt".into(), 1), ("reminder".into(), 2)]);

        let daily = report(&query(Some("day")), &period, &fates, &[]).unwrap();
        let keys: Vec<_> = daily
            .breakdown
            .unwrap()
            .groups
            .into_iter()
            .map(|g| g.key)
            .collect();
        assert_eq!(keys, ["1970-01-01", "1970-01-02", "1970-01-03"]);

        let only_sms = ChannelsQuery {
            plugin: Some("sms-twilio".into()),
            ..ChannelsQuery::default()
        };
        let report = report(&only_sms, &period, &fates, &[]).unwrap();
        assert_eq!(report.messages, 1);
        assert_eq!(report.channels[0].channel, Channel::Sms);
    }

    #[test]
    fn weeks_start_on_monday_and_months_are_calendar_months() {
        // 2026-12-03 is a Thursday.
        let thursday = 1_764_720_000_000 + 365 * DAY_MS;
        assert_eq!(By::Day.period_of(thursday), "2026-12-03");
        assert_eq!(By::Week.period_of(thursday), "2026-11-30");
        assert_eq!(By::Month.period_of(thursday), "2026-12");
    }

    #[test]
    fn bad_periods_and_breakdowns_are_refused_with_the_field() {
        let backwards = ChannelsQuery {
            since: Some(10),
            until: Some(5),
            ..ChannelsQuery::default()
        };
        assert!(
            matches!(backwards.period(0), Err(ServiceError::Invalid { field, .. }) if field == "since")
        );
        let too_long = ChannelsQuery {
            since: Some(0),
            until: Some(MAX_PERIOD_MS + 1),
            ..ChannelsQuery::default()
        };
        assert!(too_long.period(0).is_err());
        for (since, until) in [
            (Some(i64::MIN), None),
            (None, Some(i64::MIN)),
            (Some(-1), None),
        ] {
            let extreme = ChannelsQuery {
                since,
                until,
                ..ChannelsQuery::default()
            };
            assert!(extreme.period(0).is_err(), "{since:?} {until:?}");
        }
        assert!(
            matches!(query(Some("hour")).by(), Err(ServiceError::Invalid { field, .. }) if field == "by")
        );
        let urgency = ChannelsQuery {
            urgency: Some("panic".into()),
            ..ChannelsQuery::default()
        };
        let period = Period { since: 0, until: 1 };
        assert!(report(&urgency, &period, &[], &[]).is_err());
    }
}
