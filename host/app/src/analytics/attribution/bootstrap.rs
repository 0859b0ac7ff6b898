//! A 95 % interval for a data-driven model's shares: the Bayesian bootstrap (Rubin 1981). Each
//! resample reweights every journey by an Exp(1) draw; a row standing for `n` identical journeys
//! gets the sum of `n` such draws, a Gamma(n) — drawn separately for its conversions and its
//! non-conversions. The interval is the 2.5th and 97.5th percentile of each channel's share.

use std::collections::BTreeMap;

use super::{Journey, Options};
use crate::prefs::sample::Rng;

pub fn intervals(journeys: &[Journey], options: &Options) -> BTreeMap<String, (f64, f64)> {
    let mut rng = Rng::seeded(options.seed);
    let mut draws: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..options.resamples {
        let resample: Vec<Journey> = journeys
            .iter()
            .map(|j| {
                let conversions = draw(&mut rng, j.conversions);
                Journey {
                    value: if j.conversions > 0.0 {
                        j.value * conversions / j.conversions
                    } else {
                        0.0
                    },
                    conversions,
                    nulls: draw(&mut rng, j.nulls),
                    ..j.clone()
                }
            })
            .collect();
        let credits = options.model.credits(&resample);
        let total: f64 = credits.values().map(|c| c.conversions).sum();
        for (channel, credit) in credits {
            let share = if total > 0.0 {
                credit.conversions / total
            } else {
                0.0
            };
            draws.entry(channel).or_default().push(share);
        }
    }
    draws
        .into_iter()
        .map(|(channel, mut shares)| {
            // A channel missing from some resamples had no share in them.
            shares.resize(options.resamples, 0.0);
            shares.sort_by(f64::total_cmp);
            (
                channel,
                (percentile(&shares, 0.025), percentile(&shares, 0.975)),
            )
        })
        .collect()
}

/// A Gamma(`count`) weight: the sum of `count` Exp(1) draws.
fn draw(rng: &mut Rng, count: f64) -> f64 {
    if count <= 0.0 { 0.0 } else { rng.gamma(count) }
}

/// Linear interpolation between the order statistics of sorted `values`.
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let position = q * (values.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    let fraction = position - below as f64;
    values[below] + (values[above] - values[below]) * fraction
}
