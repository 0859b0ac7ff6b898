//! A 95 % interval for a data-driven model's shares: the Bayesian bootstrap (Rubin 1981). Each
//! resample reweights every journey by an Exp(1) draw; a row standing for `n` identical journeys
//! gets the sum of `n` such draws, a Gamma(n) — drawn separately for its conversions and its
//! non-conversions. The interval is the 2.5th and 97.5th percentile of each channel's share.

use std::collections::BTreeMap;

use super::{Journey, Options};
use crate::prefs::sample::Rng;

/// Resamples are drawn in this many streams, each on a thread of its own and seeded from the
/// request's seed and its index, so that an interval is the same on any machine.
const STREAMS: usize = 4;

pub fn intervals(journeys: &[Journey], options: &Options) -> BTreeMap<String, (f64, f64)> {
    let parts: Vec<BTreeMap<String, Vec<f64>>> = std::thread::scope(|scope| {
        let running: Vec<_> = stream_sizes(options.resamples)
            .into_iter()
            .enumerate()
            .map(|(index, count)| {
                let seed = options.seed.wrapping_add(index as u64);
                scope.spawn(move || shares(journeys, options, seed, count))
            })
            .collect();
        running
            .into_iter()
            .map(|stream| {
                stream
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    });
    let mut draws: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for part in parts {
        for (channel, shares) in part {
            draws.entry(channel).or_default().extend(shares);
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

/// How many of `resamples` each stream draws.
fn stream_sizes(resamples: usize) -> [usize; STREAMS] {
    std::array::from_fn(|index| resamples / STREAMS + usize::from(index < resamples % STREAMS))
}

/// Each channel's share in `count` resamples drawn from `seed`.
fn shares(
    journeys: &[Journey],
    options: &Options,
    seed: u64,
    count: usize,
) -> BTreeMap<String, Vec<f64>> {
    let mut rng = Rng::seeded(seed);
    let mut draws: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // The paths are copied once; each resample only reweights them.
    let mut resample = journeys.to_vec();
    for _ in 0..count {
        for (weighted, j) in resample.iter_mut().zip(journeys) {
            let conversions = draw(&mut rng, j.conversions);
            weighted.value = if j.conversions > 0.0 {
                j.value * conversions / j.conversions
            } else {
                0.0
            };
            weighted.conversions = conversions;
            weighted.nulls = draw(&mut rng, j.nulls);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streams_draw_every_resample_once() {
        for resamples in [0, 1, 3, 4, 5, 199, 200] {
            let sizes = stream_sizes(resamples);
            assert_eq!(sizes.iter().sum::<usize>(), resamples, "{sizes:?}");
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
