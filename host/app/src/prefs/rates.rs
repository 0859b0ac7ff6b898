//! The rates the engine learns, how each is counted, and the population's prior for each.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::beta::{self, BetaPrior, PriorFit};
use switchboard_core::domain::Channel;
use switchboard_store::engagement::Metric;
use switchboard_store::engagement::WindowCounts;

/// A rate: successes of one metric over trials of another, on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rate {
    EmailOpen,
    EmailResponse,
    SmsResponse,
    PhoneAnswer,
}

impl Rate {
    pub const ALL: [Rate; 4] = [
        Rate::EmailOpen,
        Rate::EmailResponse,
        Rate::SmsResponse,
        Rate::PhoneAnswer,
    ];

    pub fn channel(self) -> Channel {
        match self {
            Rate::EmailOpen | Rate::EmailResponse => Channel::Email,
            Rate::SmsResponse => Channel::Sms,
            Rate::PhoneAnswer => Channel::Phone,
        }
    }

    /// What counts as a success.
    pub fn success(self) -> Metric {
        match self {
            Rate::EmailOpen => Metric::Opened,
            Rate::EmailResponse | Rate::SmsResponse => Metric::Responded,
            Rate::PhoneAnswer => Metric::Answered,
        }
    }

    /// Email rates are per delivered message (a vendor that reports no deliveries falls back to
    /// sends); SMS and phone per message sent or call placed.
    pub fn trial(self) -> Metric {
        match self {
            Rate::EmailOpen | Rate::EmailResponse => Metric::Delivered,
            Rate::SmsResponse | Rate::PhoneAnswer => Metric::Sent,
        }
    }

    /// The rate selection ranks a channel by, if it has one.
    pub fn ranking(channel: Channel) -> Option<Rate> {
        match channel {
            Channel::Email => Some(Rate::EmailOpen),
            Channel::Sms => Some(Rate::SmsResponse),
            Channel::Phone => Some(Rate::PhoneAnswer),
            _ => None,
        }
    }

    /// `(successes, trials)` from counts per metric; successes never exceed trials.
    pub fn observed(self, count: impl Fn(Metric) -> i64) -> (u64, u64) {
        let success = count(self.success()).max(0) as u64;
        let mut trials = count(self.trial()).max(0) as u64;
        if trials == 0 && self.trial() == Metric::Delivered {
            trials = count(Metric::Sent).max(0) as u64;
        }
        let trials = trials.max(success);
        (success, trials)
    }

    /// `(successes, trials)` from a contact's windowed counters.
    pub fn observed_in(self, counts: &WindowCounts) -> (u64, u64) {
        self.observed(|metric| {
            counts
                .get(&(self.channel(), metric, 0))
                .map_or(0, |v| v.count)
        })
    }
}

/// The population's priors, one per rate, and when they were fitted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Priors {
    pub fitted_at: i64,
    pub window_days: u32,
    pub rates: BTreeMap<Rate, PriorFit>,
}

impl Priors {
    /// Before any fit: uniform priors.
    pub fn uniform(window_days: u32) -> Self {
        Priors {
            fitted_at: 0,
            window_days,
            rates: BTreeMap::new(),
        }
    }

    pub fn prior(&self, rate: Rate) -> BetaPrior {
        self.rates
            .get(&rate)
            .map_or(BetaPrior::UNIFORM, |fit| fit.prior)
    }

    /// Fits every rate's prior to a population of per-contact counts.
    pub fn fit(
        population: &HashMap<i64, HashMap<(Channel, Metric), i64>>,
        window_days: u32,
        now: i64,
    ) -> Self {
        let rates = Rate::ALL
            .into_iter()
            .map(|rate| {
                let samples: Vec<(u64, u64)> = population
                    .values()
                    .map(|counts| {
                        rate.observed(|metric| {
                            counts.get(&(rate.channel(), metric)).copied().unwrap_or(0)
                        })
                    })
                    .collect();
                (rate, beta::fit(&samples))
            })
            .collect();
        Priors {
            fitted_at: now,
            window_days,
            rates,
        }
    }
}
