//! Multi-touch attribution: which channels get the credit for conversions, by seven models.
//!
//! The engine works on [`Journey`]s — the ordered touches before a conversion (or before nothing:
//! the journeys that did not convert matter to the data-driven models) — with a weight, so that
//! one row can stand for many identical journeys (as the `mta` package's example data does).
//! Rule-based models are in [`heuristic`]; the data-driven ones are the Markov removal effect
//! ([`markov`], exact, order 1–3) and the Shapley value ([`shapley`], exact). Data-driven models
//! carry a 95 % interval from a Bayesian bootstrap of the journeys ([`bootstrap`]).

mod bootstrap;
pub mod heuristic;
pub mod markov;
pub mod shapley;
#[cfg(test)]
mod synthetic;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

/// What a touch is labelled with: a channel or a plugin. Shared: a hundred thousand journeys
/// hold millions of touches and a handful of labels.
pub type Label = Arc<str>;

/// One touch of a journey: its channel (any label: `email`, or `email-sendgrid`) and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub channel: Label,
    pub at: Option<i64>,
}

/// Touches in order, and how many journeys like it converted and did not.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub touches: Vec<Touch>,
    pub conversions: f64,
    /// Journeys with these touches that did not convert.
    pub nulls: f64,
    /// The value of the conversions.
    pub value: f64,
    pub converted_at: Option<i64>,
}

impl Journey {
    /// The journey with repeats of a channel in a row merged into one touch (the first).
    fn without_repeats(&self) -> Journey {
        let mut touches: Vec<Touch> = Vec::with_capacity(self.touches.len());
        for touch in &self.touches {
            if touches
                .last()
                .is_none_or(|t: &Touch| t.channel != touch.channel)
            {
                touches.push(touch.clone());
            }
        }
        Journey {
            touches,
            ..self.clone()
        }
    }
}

/// An attribution model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    FirstTouch,
    LastTouch,
    Linear,
    /// 40 % first, 40 % last, 20 % between.
    PositionBased,
    TimeDecay {
        half_life_ms: i64,
    },
    Markov {
        order: usize,
    },
    Shapley,
}

pub const DEFAULT_HALF_LIFE_MS: i64 = 7 * 86_400_000;

impl Model {
    /// `first_touch`, `last_touch`, `linear`, `position_based`, `time_decay`, `markov`,
    /// `shapley`; `half_life_ms` and `order` tune the two that take a parameter.
    pub fn parse(word: &str, half_life_ms: Option<i64>, order: Option<usize>) -> Option<Self> {
        Some(match word {
            "first_touch" => Model::FirstTouch,
            "last_touch" => Model::LastTouch,
            "linear" => Model::Linear,
            "position_based" => Model::PositionBased,
            "time_decay" => Model::TimeDecay {
                half_life_ms: half_life_ms.unwrap_or(DEFAULT_HALF_LIFE_MS),
            },
            "markov" => Model::Markov {
                order: order.unwrap_or(1),
            },
            "shapley" => Model::Shapley,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Model::FirstTouch => "first_touch",
            Model::LastTouch => "last_touch",
            Model::Linear => "linear",
            Model::PositionBased => "position_based",
            Model::TimeDecay { .. } => "time_decay",
            Model::Markov { .. } => "markov",
            Model::Shapley => "shapley",
        }
    }

    fn data_driven(self) -> bool {
        matches!(self, Model::Markov { .. } | Model::Shapley)
    }

    fn credits(self, journeys: &[Journey]) -> Credits {
        match self {
            Model::FirstTouch => heuristic::first_touch(journeys),
            Model::LastTouch => heuristic::last_touch(journeys),
            Model::Linear => heuristic::linear(journeys),
            Model::PositionBased => heuristic::position_based(journeys),
            Model::TimeDecay { half_life_ms } => heuristic::time_decay(journeys, half_life_ms),
            Model::Markov { order } => markov::markov(journeys, order),
            Model::Shapley => shapley::shapley(journeys),
        }
    }
}

/// What a channel is credited with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Credit {
    pub conversions: f64,
    pub value: f64,
}

/// Credit per channel.
pub type Credits = BTreeMap<String, Credit>;

/// How to attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    pub model: Model,
    /// Merge repeats of a channel in a row into one touch first (as `mta` does by default).
    pub merge_repeats: bool,
    /// Bootstrap resamples for the interval of a data-driven model (0: none).
    pub resamples: usize,
    pub seed: u64,
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attribution {
    pub model: String,
    /// Journeys read, converting or not.
    pub journeys: f64,
    pub conversions: f64,
    pub value: f64,
    /// Per channel, most credited first.
    pub channels: Vec<ChannelCredit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelCredit {
    pub channel: String,
    /// Conversions credited to it.
    pub conversions: f64,
    /// Value credited to it.
    pub value: f64,
    /// Its share of all conversions.
    pub share: f64,
    /// The 95 % bootstrap interval of the share (data-driven models only).
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// Attributes the conversions of `journeys` by `options.model`.
pub fn attribute(journeys: &[Journey], options: &Options) -> Attribution {
    let mut journeys: Vec<Journey> = if options.merge_repeats {
        journeys.iter().map(Journey::without_repeats).collect()
    } else {
        journeys.to_vec()
    };
    if options.model.data_driven() {
        journeys = by_path(journeys);
    }
    let credits = options.model.credits(&journeys);
    let intervals = if options.model.data_driven() && options.resamples > 0 {
        bootstrap::intervals(&journeys, options)
    } else {
        BTreeMap::new()
    };
    let conversions: f64 = journeys.iter().map(|j| j.conversions).sum();
    let mut channels: Vec<ChannelCredit> = credits
        .into_iter()
        .map(|(channel, credit)| {
            let interval = intervals.get(&channel).copied();
            ChannelCredit {
                share: if conversions > 0.0 {
                    credit.conversions / conversions
                } else {
                    0.0
                },
                low: interval.map(|(low, _)| low),
                high: interval.map(|(_, high)| high),
                conversions: credit.conversions,
                value: credit.value,
                channel,
            }
        })
        .collect();
    channels.sort_by(|a, b| b.conversions.total_cmp(&a.conversions));
    Attribution {
        model: options.model.name().into(),
        journeys: journeys.iter().map(|j| j.conversions + j.nulls).sum(),
        conversions,
        value: journeys.iter().map(|j| j.value).sum(),
        channels,
    }
}

/// Journeys through the same channels in the same order as one row, their conversions,
/// non-conversions and value added up: all a data-driven model (and its bootstrap, which draws a
/// row of `n` journeys as one Gamma(n) weight) reads of a journey is its path, and a few thousand
/// distinct paths stand for a hundred thousand journeys.
fn by_path(journeys: Vec<Journey>) -> Vec<Journey> {
    let mut rows: BTreeMap<Vec<Label>, Journey> = BTreeMap::new();
    for journey in journeys {
        let path: Vec<Label> = journey.touches.iter().map(|t| t.channel.clone()).collect();
        let row = rows.entry(path).or_insert_with(|| Journey {
            touches: journey
                .touches
                .iter()
                .map(|t| Touch {
                    channel: t.channel.clone(),
                    at: None,
                })
                .collect(),
            conversions: 0.0,
            nulls: 0.0,
            value: 0.0,
            converted_at: None,
        });
        row.conversions += journey.conversions;
        row.nulls += journey.nulls;
        row.value += journey.value;
    }
    rows.into_values().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A journey through `channels`, no times.
    pub fn journey(channels: &[&str], conversions: f64, nulls: f64) -> Journey {
        Journey {
            touches: channels
                .iter()
                .map(|c| Touch {
                    channel: Label::from(*c),
                    at: None,
                })
                .collect(),
            conversions,
            nulls,
            value: conversions * 10.0,
            converted_at: None,
        }
    }

    /// Each channel's share of the credited conversions, rounded to 1e-9.
    pub fn shares(credits: &Credits) -> Vec<(&str, f64)> {
        let total: f64 = credits.values().map(|c| c.conversions).sum();
        credits
            .iter()
            .map(|(k, c)| (k.as_str(), (c.conversions / total * 1e9).round() / 1e9))
            .collect()
    }

    #[test]
    fn repeats_in_a_row_merge_before_attribution() {
        let journeys = [journey(&["email", "email", "sms", "email"], 1.0, 0.0)];
        let options = Options {
            model: Model::Linear,
            merge_repeats: true,
            resamples: 0,
            seed: 1,
        };
        let merged = attribute(&journeys, &options);
        let email = merged
            .channels
            .iter()
            .find(|c| c.channel == "email")
            .unwrap();
        assert!((email.share - 2.0 / 3.0).abs() < 1e-12);
        let kept = attribute(
            &journeys,
            &Options {
                merge_repeats: false,
                ..options
            },
        );
        assert!((kept.channels[0].share - 0.75).abs() < 1e-12);
        assert_eq!(kept.channels[0].value, 7.5);
    }

    #[test]
    fn identical_paths_credit_the_same_as_one_row_of_them() {
        let paths: [&[&str]; 4] = [&["email"], &["sms", "email"], &["phone", "sms"], &["sms"]];
        let mut one_by_one = Vec::new();
        for i in 0..60 {
            let converted = i % 3 == 0;
            let mut person = journey(paths[i % 4], f64::from(u8::from(converted)), 0.0);
            person.nulls = f64::from(u8::from(!converted));
            person.touches[0].at = Some(i as i64);
            one_by_one.push(person);
        }
        let rows = by_path(one_by_one.clone());
        assert_eq!(rows.len(), 4);
        let weight = |js: &[Journey]| js.iter().map(|j| j.conversions + j.nulls).sum::<f64>();
        assert_eq!(weight(&rows), 60.0);
        for model in [Model::Markov { order: 2 }, Model::Shapley] {
            let (each, grouped) = (model.credits(&one_by_one), model.credits(&rows));
            assert_eq!(shares(&each), shares(&grouped), "{model:?}");
            for (channel, credit) in &each {
                assert!(
                    (credit.value - grouped[channel].value).abs() < 1e-9,
                    "{model:?}"
                );
            }
        }
    }

    #[test]
    fn data_driven_models_carry_an_interval_around_their_share() {
        let journeys = [
            journey(&["email"], 30.0, 10.0),
            journey(&["sms", "email"], 20.0, 20.0),
            journey(&["sms"], 5.0, 40.0),
        ];
        let options = Options {
            model: Model::Markov { order: 1 },
            merge_repeats: true,
            resamples: 200,
            seed: 7,
        };
        let result = attribute(&journeys, &options);
        for channel in &result.channels {
            let (low, high) = (channel.low.unwrap(), channel.high.unwrap());
            assert!(low <= channel.share && channel.share <= high, "{channel:?}");
            assert!(high - low < 0.5, "{channel:?}");
        }
        // The same seed, the same interval.
        assert_eq!(attribute(&journeys, &options), result);
        let linear = attribute(
            &journeys,
            &Options {
                model: Model::Linear,
                ..options
            },
        );
        assert!(linear.channels.iter().all(|c| c.low.is_none()));
    }
}
