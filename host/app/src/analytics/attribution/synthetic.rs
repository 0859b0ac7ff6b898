//! The data-driven models on journeys drawn from processes whose true channel effects are
//! known, so that what they recover, and with what error, is measured rather than assumed.
//!
//! - **Markov**: journeys are walks of a known chain (start → channels → conversion or nothing).
//!   The true removal effects come from that chain, solved by Gaussian elimination here (not by
//!   the engine's solver); the engine estimates them from 20,000 sampled walks.
//! - **Shapley**: each journey's set of channels is drawn, then it converts with a probability
//!   of that set. The true values of the game "conversions of journeys whose channels lie inside
//!   the coalition" are the expected conversions of each set shared by its members; the engine
//!   sees only the sampled outcomes.
//!
//! Neither model measures a channel's incremental lift when journeys mix channels whose reach
//! differs a lot: a frequent channel is in most converting journeys, and both models credit it
//! for that. That is the models' definition, not an error of the engine; README "Analytics" says
//! so.

use super::{Journey, Touch, markov, shapley};
use crate::prefs::sample::Rng;

const NAMES: [&str; 4] = ["email", "sms", "portal", "phone"];

/// The true chain: from the start (row 0) and from each channel (rows 1–4), the probability of
/// stepping to each channel; what is left goes to conversion (`CONVERT`) or to nothing.
const STEP: [[f64; 4]; 5] = [
    [0.40, 0.30, 0.20, 0.10],
    [0.20, 0.25, 0.10, 0.05],
    [0.15, 0.10, 0.20, 0.10],
    [0.20, 0.10, 0.10, 0.10],
    [0.10, 0.10, 0.05, 0.05],
];
const CONVERT: [f64; 5] = [0.0, 0.05, 0.15, 0.10, 0.30];

fn walk(rng: &mut Rng) -> (Vec<usize>, bool) {
    let (mut state, mut path) = (0, Vec::new());
    loop {
        let mut u = rng.uniform();
        let next = STEP[state].iter().position(|p| {
            u -= p;
            u < 0.0
        });
        match next {
            Some(channel) => {
                path.push(channel);
                state = channel + 1;
            }
            None => return (path, u < CONVERT[state]),
        }
    }
}

/// The probability of converting from the start with `removed`'s state leading to nothing,
/// by Gaussian elimination on `p = r + Q p`.
fn true_conversion(removed: Option<usize>) -> f64 {
    let n = 5;
    let mut a = vec![vec![0.0; n + 1]; n];
    for (s, row) in a.iter_mut().enumerate() {
        row[s] = 1.0;
        for c in 0..4 {
            if Some(c) != removed {
                row[c + 1] -= STEP[s][c];
            }
        }
        row[n] = CONVERT[s];
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / pivot_row[col];
                for (cell, pivot_cell) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *cell -= factor * pivot_cell;
                }
            }
        }
    }
    a[0][n] / a[0][0]
}

fn journeys_of(walks: Vec<(Vec<usize>, bool)>) -> Vec<Journey> {
    walks
        .into_iter()
        .filter(|(path, _)| !path.is_empty())
        .map(|(path, converted)| Journey {
            touches: path
                .iter()
                .map(|&c| Touch {
                    channel: super::Label::from(NAMES[c]),
                    at: None,
                })
                .collect(),
            conversions: if converted { 1.0 } else { 0.0 },
            nulls: if converted { 0.0 } else { 1.0 },
            value: 0.0,
            converted_at: None,
        })
        .collect()
}

fn shares(credits: &super::Credits) -> [f64; 4] {
    let total: f64 = credits.values().map(|c| c.conversions).sum();
    NAMES.map(|name| credits.get(name).map_or(0.0, |c| c.conversions / total))
}

fn worst(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn markov_recovers_the_removal_effects_of_the_chain_that_made_the_journeys() {
    let base = true_conversion(None);
    let effects: Vec<f64> = (0..4)
        .map(|c| (base - true_conversion(Some(c))) / base)
        .collect();
    let total: f64 = effects.iter().sum();
    let truth: [f64; 4] = [0, 1, 2, 3].map(|c| effects[c] / total);

    let mut rng = Rng::seeded(5);
    let walks = (0..20_000).map(|_| walk(&mut rng)).collect();
    let estimated = shares(&markov::markov(&journeys_of(walks), 1));
    let error = worst(&estimated, &truth);
    // The figure README quotes: `cargo test -p switchboard-app synthetic -- --nocapture`.
    println!("largest error in a share: {error:.4}");
    assert!(
        error < 0.02,
        "truth {truth:?}, estimated {estimated:?}: off by {error}"
    );
}

#[test]
fn shapley_recovers_the_value_of_the_game_that_made_the_conversions() {
    // Channel sets as bits over NAMES, their share of journeys and their conversion rate.
    let sets: [(u8, f64, f64); 6] = [
        (0b0001, 0.30, 0.05),
        (0b0010, 0.20, 0.12),
        (0b0011, 0.20, 0.20),
        (0b0101, 0.10, 0.18),
        (0b1000, 0.10, 0.30),
        (0b1110, 0.10, 0.40),
    ];
    let members = |set: u8| (0..4).filter(move |c| set & (1 << c) != 0);
    let mut expected = [0.0; 4];
    for (set, reach, rate) in sets {
        let size = members(set).count() as f64;
        for c in members(set) {
            expected[c] += reach * rate / size;
        }
    }
    let total: f64 = expected.iter().sum();
    let truth = expected.map(|e| e / total);

    let mut rng = Rng::seeded(9);
    let walks = (0..20_000)
        .map(|_| {
            let mut u = rng.uniform();
            let (set, _, rate) = sets
                .iter()
                .find(|(_, reach, _)| {
                    u -= reach;
                    u < 0.0
                })
                .copied()
                .unwrap_or(sets[sets.len() - 1]);
            (members(set).collect::<Vec<_>>(), rng.uniform() < rate)
        })
        .collect();
    let estimated = shares(&shapley::shapley(&journeys_of(walks)));
    let error = worst(&estimated, &truth);
    // The figure README quotes: `cargo test -p switchboard-app synthetic -- --nocapture`.
    println!("largest error in a share: {error:.4}");
    assert!(
        error < 0.02,
        "truth {truth:?}, estimated {estimated:?}: off by {error}"
    );
}
