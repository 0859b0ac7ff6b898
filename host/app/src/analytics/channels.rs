//! The channel effectiveness report: per channel and per provider (plugin), how the period's
//! messages did, with an optional breakdown by message kind, urgency, template or period.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::effectiveness::{Effectiveness, Evidence};
use super::fate::MessageFate;
use super::rollup::counts::Counts;
use super::rollup::{Cell, Detail, PeriodCounts};
use crate::service_error::ServiceError;
use switchboard_core::clock::local_time::local;
use switchboard_core::domain::{Channel, Urgency};
use switchboard_store::rollup::DailyKey;

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

    /// The group a cell's messages fall in. Messages Switchboard did not send itself have no
    /// kind, urgency or template: their group is `none`.
    fn key(self, key: &DailyKey) -> String {
        let word = |value: &str| {
            if value.is_empty() {
                NONE.to_string()
            } else {
                value.to_string()
            }
        };
        match self {
            By::Kind => word(&key.kind),
            By::Urgency => word(&key.urgency),
            By::Template => word(&key.template),
            By::Day | By::Week | By::Month => self.period_of(key.day * DAY_MS),
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

    /// How finely the report needs its period's messages grouped: by provider alone unless a
    /// kind or urgency is filtered on or one of them (or a template) breaks the report down.
    pub fn detail(&self) -> Result<Detail, ServiceError> {
        let by_group = matches!(self.by()?, Some(By::Kind | By::Urgency | By::Template));
        Ok(
            if by_group || self.kind.is_some() || self.urgency.is_some() {
                Detail::Groups
            } else {
                Detail::Providers
            },
        )
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

    /// Whether the filters admit a cell's messages (`''` in a cell is none, which no filter
    /// names).
    fn admits_cell(&self, key: &DailyKey) -> bool {
        let matches = |wanted: &Option<String>, value: &str| {
            wanted
                .as_deref()
                .is_none_or(|w| !value.is_empty() && w == value)
        };
        matches(&self.kind, &key.kind)
            && matches(&self.urgency, &key.urgency)
            && matches(&self.plugin, &key.plugin)
    }
}

/// The report over what the period's messages add up to.
pub fn report(
    query: &ChannelsQuery,
    period: &Period,
    counted: &PeriodCounts,
) -> Result<ChannelReport, ServiceError> {
    let by = query.by()?;
    query.check_urgency()?;
    // What providers can show is judged on everything they carried in the period, whatever the
    // filters.
    let all: Vec<&Cell> = counted.cells.iter().collect();
    let evidence = Evidence::of(&by_provider(&all));
    let chosen: Vec<&Cell> = all
        .into_iter()
        .filter(|c| query.admits_cell(&c.key))
        .collect();
    let breakdown = by.map(|by| Breakdown {
        by: by.as_str().into(),
        groups: group_by(&chosen, |c| by.key(&c.key))
            .into_iter()
            .map(|(key, members)| {
                let merged = by_provider(&members);
                let merged: Vec<&Cell> = merged.iter().collect();
                Group {
                    key,
                    messages: sent(&merged),
                    channels: channel_rows(&merged, &evidence, &BTreeMap::new()),
                }
            })
            .collect(),
    });
    let merged = by_provider(&chosen);
    let merged: Vec<&Cell> = merged.iter().collect();
    Ok(ChannelReport {
        since: period.since,
        until: period.until,
        messages: sent(&merged),
        inbound: counted.inbound.values().sum(),
        channels: channel_rows(&merged, &evidence, &counted.inbound),
        breakdown,
    })
}

/// The cells added up per channel and plugin: all a group's figures need, in a handful of cells
/// rather than one per day and kind.
fn by_provider(cells: &[&Cell]) -> Vec<Cell> {
    let mut merged: BTreeMap<(Channel, String), Counts> = BTreeMap::new();
    for cell in cells {
        merged
            .entry((cell.key.channel, cell.key.plugin.clone()))
            .or_default()
            .add(&cell.counts, 1);
    }
    merged
        .into_iter()
        .map(|((channel, plugin), counts)| Cell {
            key: DailyKey::of_provider(0, channel, plugin),
            counts,
        })
        .collect()
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

fn sent(cells: &[&Cell]) -> u64 {
    cells.iter().map(|c| c.counts.sent).sum::<i64>().max(0) as u64
}

fn channel_rows(
    cells: &[&Cell],
    evidence: &Evidence,
    inbound: &BTreeMap<Channel, u64>,
) -> Vec<ChannelRow> {
    let total = sent(cells);
    let mut rows: Vec<ChannelRow> = group_by(cells, |c| c.key.channel)
        .into_iter()
        .map(|(channel, members)| {
            let in_channel = sent(&members);
            let mut providers: Vec<ProviderRow> = group_by(&members, |c| c.key.plugin.clone())
                .into_iter()
                .map(|(plugin, carried)| ProviderRow {
                    plugin: Some(plugin).filter(|p| !p.is_empty()),
                    share: share(sent(&carried), in_channel),
                    effectiveness: Effectiveness::of(&carried, evidence),
                })
                .collect();
            providers.sort_by_key(|p| Reverse(p.effectiveness.sent));
            ChannelRow {
                channel,
                share: share(in_channel, total),
                inbound: inbound.get(&channel).copied().unwrap_or(0),
                effectiveness: Effectiveness::of(&members, evidence),
                providers,
            }
        })
        .collect();
    rows.sort_by_key(|r| Reverse(r.effectiveness.sent));
    rows
}

fn group_by<'a, K: Ord>(
    cells: &[&'a Cell],
    key: impl Fn(&Cell) -> K,
) -> BTreeMap<K, Vec<&'a Cell>> {
    let mut groups: BTreeMap<K, Vec<&Cell>> = BTreeMap::new();
    for cell in cells {
        groups.entry(key(cell)).or_default().push(cell);
    }
    groups
}

fn share(part: u64, whole: u64) -> f64 {
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

    /// What the rollup would add up for `fates` over `period`.
    fn counted(fates: &[MessageFate], period: &Period) -> PeriodCounts {
        let mut cells: BTreeMap<DailyKey, Counts> = BTreeMap::new();
        let word = |v: &Option<String>| v.clone().unwrap_or_default();
        for fate in fates
            .iter()
            .filter(|f| f.sent_at >= period.since && f.sent_at < period.until)
        {
            let key = DailyKey {
                day: fate.sent_at.div_euclid(DAY_MS),
                channel: fate.channel,
                plugin: word(&fate.plugin),
                kind: word(&fate.kind),
                urgency: word(&fate.urgency),
                template: word(&fate.template),
            };
            cells.entry(key).or_default().add(&Counts::of(fate), 1);
        }
        PeriodCounts {
            cells: cells
                .into_iter()
                .map(|(key, counts)| Cell { key, counts })
                .collect(),
            inbound: BTreeMap::new(),
        }
    }

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
        let report = report(&query(None), &period, &counted(&fates, &period)).unwrap();
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
        let by_kind = report(&query(Some("kind")), &period, &counted(&fates, &period)).unwrap();
        let groups: Vec<_> = by_kind
            .breakdown
            .unwrap()
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.messages))
            .collect();
        assert_eq!(groups, [("receipt".into(), 1), ("reminder".into(), 2)]);

        let daily = report(&query(Some("day")), &period, &counted(&fates, &period)).unwrap();
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
        let report = report(&only_sms, &period, &counted(&fates, &period)).unwrap();
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
        assert!(report(&urgency, &period, &PeriodCounts::default()).is_err());
    }
}
