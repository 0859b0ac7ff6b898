//! A contact's learned preferences, read from their windowed counters and the population's
//! priors: rates raw and smoothed, activity per channel, portal habit, best time to reach them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::beta::BetaPrior;
use super::rates::{Priors, Rate};
use super::tally::TTA_BOUNDS_MS;
use switchboard_core::domain::Channel;
use switchboard_store::engagement::Metric;
use switchboard_store::engagement::WindowCounts;

/// A rate for one contact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct RateEstimate {
    pub successes: u64,
    pub trials: u64,
    /// `successes / trials`; absent with no trials.
    pub raw: Option<f64>,
    /// The posterior mean under the population's prior.
    pub smoothed: f64,
    pub prior: BetaPrior,
}

impl RateEstimate {
    pub fn of(rate: Rate, counts: &WindowCounts, priors: &Priors) -> Self {
        let (successes, trials) = rate.observed_in(counts);
        let prior = priors.prior(rate);
        RateEstimate {
            successes,
            trials,
            raw: (trials > 0).then(|| successes as f64 / trials as f64),
            smoothed: prior.posterior_mean(successes, trials),
            prior,
        }
    }
}

/// What happened on one channel within the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ChannelActivity {
    pub sent: i64,
    pub delivered: i64,
    pub opened: i64,
    pub responded: i64,
    pub answered: i64,
    pub failed: i64,
    /// Messages and calls they started.
    pub inbound: i64,
    /// Days with portal activity.
    pub active_days: i64,
    pub last_engaged_at: Option<i64>,
    /// The bucket holding the median time from a message leaving us to their first action.
    pub median_time_to_action: Option<TimeToAction>,
    pub mean_time_to_action_ms: Option<i64>,
}

/// A time-to-action bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimeToAction {
    /// The bucket's upper bound; absent for "more than 7 days".
    pub at_most_ms: Option<i64>,
    pub label: String,
}

switchboard_core::word_enum!(
    /// How often they use the portal.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub PortalFrequency {
        Daily => "daily",
        Weekly => "weekly",
        Monthly => "monthly",
        Rare => "rare",
        Never => "never",
    }
);

impl PortalFrequency {
    /// From active days in a window: four or more days a week is daily, about weekly or monthly
    /// by the same measure, any activity at all is rare.
    pub fn of(active_days: i64, window_days: u32) -> Self {
        let window = f64::from(window_days.max(1));
        let per_week = active_days as f64 * 7.0 / window;
        let per_month = active_days as f64 * 30.0 / window;
        match () {
            _ if per_week >= 4.0 => PortalFrequency::Daily,
            _ if per_week >= 0.75 => PortalFrequency::Weekly,
            _ if per_month >= 0.75 => PortalFrequency::Monthly,
            _ if active_days > 0 => PortalFrequency::Rare,
            _ => PortalFrequency::Never,
        }
    }

    /// How likely a portal message is to be seen soon, for ranking the portal beside rates.
    pub fn score(self) -> f64 {
        match self {
            PortalFrequency::Daily => 0.9,
            PortalFrequency::Weekly => 0.5,
            PortalFrequency::Monthly => 0.2,
            PortalFrequency::Rare => 0.05,
            PortalFrequency::Never => 0.0,
        }
    }
}

/// Portal habit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct PortalUsage {
    pub frequency: PortalFrequency,
    pub active_days: i64,
}

/// A part of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartOfDay {
    Morning,
    Afternoon,
    Evening,
    Night,
}

impl PartOfDay {
    /// Morning 05–12, afternoon 12–17, evening 17–21, night otherwise.
    pub fn of(hour: u8) -> Self {
        match hour {
            5..=11 => PartOfDay::Morning,
            12..=16 => PartOfDay::Afternoon,
            17..=20 => PartOfDay::Evening,
            _ => PartOfDay::Night,
        }
    }
}

/// When they engage most, in their local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct BestTime {
    /// The local hour (0–23) with the most engagements; the earliest on a tie.
    pub hour: u8,
    /// The part of the day with the most engagements.
    pub part_of_day: PartOfDay,
    /// Engagements the answer rests on.
    pub engagements: i64,
}

/// Fewer engagements than this and there is no best time to speak of.
pub const MIN_ENGAGEMENTS_FOR_BEST_TIME: i64 = 3;

/// Every rate for a contact.
pub fn rates(counts: &WindowCounts, priors: &Priors) -> BTreeMap<Rate, RateEstimate> {
    Rate::ALL
        .into_iter()
        .map(|rate| (rate, RateEstimate::of(rate, counts, priors)))
        .collect()
}

/// A channel's activity.
pub fn activity(channel: Channel, counts: &WindowCounts) -> ChannelActivity {
    let count = |metric| counts.get(&(channel, metric, 0)).map_or(0, |v| v.count);
    let engaged = [
        Metric::Opened,
        Metric::Responded,
        Metric::Answered,
        Metric::Inbound,
        Metric::Active,
    ]
    .into_iter()
    .filter_map(|m| counts.get(&(channel, m, 0)))
    .map(|v| v.last_at)
    .max();
    let tta: Vec<(i64, i64, i64)> = (0..=TTA_BOUNDS_MS.len() as i64)
        .filter_map(|slot| {
            counts
                .get(&(channel, Metric::Tta, slot))
                .map(|v| (slot, v.count, v.sum_ms))
        })
        .collect();
    let tta_count: i64 = tta.iter().map(|(_, n, _)| n).sum();
    let tta_sum: i64 = tta.iter().map(|(_, _, s)| s).sum();
    ChannelActivity {
        sent: count(Metric::Sent),
        delivered: count(Metric::Delivered),
        opened: count(Metric::Opened),
        responded: count(Metric::Responded),
        answered: count(Metric::Answered),
        failed: count(Metric::Failed),
        inbound: count(Metric::Inbound),
        active_days: counts
            .get(&(channel, Metric::Active, 0))
            .map_or(0, |v| v.days),
        last_engaged_at: engaged,
        median_time_to_action: median_bucket(&tta, tta_count),
        mean_time_to_action_ms: (tta_count > 0).then(|| tta_sum / tta_count),
    }
}

/// The bucket where the cumulative count passes half (the upper median on an even count).
fn median_bucket(buckets: &[(i64, i64, i64)], total: i64) -> Option<TimeToAction> {
    if total == 0 {
        return None;
    }
    let mut seen = 0;
    for (slot, count, _) in buckets {
        seen += count;
        if seen * 2 > total {
            let bound = TTA_BOUNDS_MS.get(*slot as usize).copied();
            return Some(TimeToAction {
                at_most_ms: bound,
                label: bound.map_or("more than 7 days".to_string(), |b| {
                    format!("within {}", duration_words(b))
                }),
            });
        }
    }
    None
}

/// `5 min`, `4 h`, `3 days`.
pub fn duration_words(ms: i64) -> String {
    match ms {
        _ if ms < 3_600_000 => format!("{} min", ms / 60_000),
        _ if ms < 86_400_000 => format!("{} h", ms / 3_600_000),
        _ if ms == 86_400_000 => "1 day".to_string(),
        _ => format!("{} days", ms / 86_400_000),
    }
}

/// Their best time, from engagement hours on every channel.
pub fn best_time(counts: &WindowCounts) -> Option<BestTime> {
    let mut hours = [0i64; 24];
    for ((_, metric, slot), value) in counts {
        if *metric == Metric::Hour
            && let Some(hour) = hours.get_mut(*slot as usize)
        {
            *hour += value.count;
        }
    }
    let engagements: i64 = hours.iter().sum();
    if engagements < MIN_ENGAGEMENTS_FOR_BEST_TIME {
        return None;
    }
    let hour = (0..24u8)
        .max_by_key(|h| (hours[*h as usize], std::cmp::Reverse(*h)))
        .unwrap_or(0);
    let parts = [
        PartOfDay::Morning,
        PartOfDay::Afternoon,
        PartOfDay::Evening,
        PartOfDay::Night,
    ];
    let part_of_day = parts
        .into_iter()
        .max_by_key(|part| {
            (0..24u8)
                .filter(|h| PartOfDay::of(*h) == *part)
                .map(|h| hours[h as usize])
                .sum::<i64>()
        })
        .unwrap_or(PartOfDay::of(hour));
    Some(BestTime {
        hour,
        part_of_day,
        engagements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::engagement::WindowValue;

    fn counts(entries: &[(Channel, Metric, i64, i64)]) -> WindowCounts {
        entries
            .iter()
            .map(|(c, m, slot, n)| {
                (
                    (*c, *m, *slot),
                    WindowValue {
                        count: *n,
                        sum_ms: 0,
                        last_at: 0,
                        days: 1,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn smoothed_rates_use_the_prior_and_raw_rates_do_not() {
        let mut priors = Priors::uniform(90);
        priors.rates.insert(
            Rate::EmailOpen,
            super::super::beta::PriorFit {
                prior: BetaPrior {
                    alpha: 3.0,
                    beta: 7.0,
                },
                contacts: 100,
                method: super::super::beta::FitMethod::Moments,
            },
        );
        let c = counts(&[
            (Channel::Email, Metric::Delivered, 0, 40),
            (Channel::Email, Metric::Opened, 0, 12),
        ]);
        let estimate = RateEstimate::of(Rate::EmailOpen, &c, &priors);
        assert_eq!((estimate.successes, estimate.trials), (12, 40));
        assert_eq!(estimate.raw, Some(0.3));
        // (3 + 12) / (10 + 40) = 0.3
        assert!((estimate.smoothed - 0.3).abs() < 1e-12);
        // No data: the prior's mean, no raw rate.
        let none = RateEstimate::of(Rate::EmailOpen, &WindowCounts::new(), &priors);
        assert_eq!(none.raw, None);
        assert!((none.smoothed - 0.3).abs() < 1e-12);
        // SMS has a uniform prior here: 1 reply to 1 message is (1 + 1) / (2 + 1).
        let sms = counts(&[
            (Channel::Sms, Metric::Sent, 0, 1),
            (Channel::Sms, Metric::Responded, 0, 1),
        ]);
        let estimate = RateEstimate::of(Rate::SmsResponse, &sms, &priors);
        assert!((estimate.smoothed - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn email_rates_fall_back_to_sends_when_no_deliveries_are_reported() {
        let c = counts(&[
            (Channel::Email, Metric::Sent, 0, 10),
            (Channel::Email, Metric::Opened, 0, 4),
        ]);
        assert_eq!(Rate::EmailOpen.observed_in(&c), (4, 10));
    }

    #[test]
    fn portal_frequency_follows_active_days() {
        assert_eq!(PortalFrequency::of(60, 90), PortalFrequency::Daily);
        assert_eq!(PortalFrequency::of(13, 90), PortalFrequency::Weekly);
        assert_eq!(PortalFrequency::of(3, 90), PortalFrequency::Monthly);
        assert_eq!(PortalFrequency::of(1, 90), PortalFrequency::Rare);
        assert_eq!(PortalFrequency::of(0, 90), PortalFrequency::Never);
    }

    #[test]
    fn best_time_is_the_busiest_hour_and_part_of_day() {
        let c = counts(&[
            (Channel::Email, Metric::Hour, 9, 2),
            (Channel::Sms, Metric::Hour, 18, 3),
            (Channel::Sms, Metric::Hour, 19, 2),
        ]);
        let best = best_time(&c).unwrap();
        assert_eq!(best.hour, 18);
        assert_eq!(best.part_of_day, PartOfDay::Evening);
        assert_eq!(best.engagements, 7);
        let thin = counts(&[(Channel::Email, Metric::Hour, 9, 2)]);
        assert_eq!(best_time(&thin), None);
    }

    #[test]
    fn the_median_bucket_is_where_half_the_actions_are() {
        // 3 within 5 min (slot 1), 1 within 1 h (slot 3), 2 within a day (slot 6): median slot 3.
        let c = counts(&[
            (Channel::Email, Metric::Tta, 1, 3),
            (Channel::Email, Metric::Tta, 3, 1),
            (Channel::Email, Metric::Tta, 6, 2),
        ]);
        let activity = activity(Channel::Email, &c);
        assert_eq!(
            activity.median_time_to_action,
            Some(TimeToAction {
                at_most_ms: Some(3_600_000),
                label: "within 1 h".into()
            })
        );
    }
}
