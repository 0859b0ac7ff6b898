//! The Markov removal effect (Anderl et al. 2016): journeys as walks through a chain whose states
//! are the last `order` channels touched, from a start state to conversion or to nothing. A
//! channel's removal effect is the share of the chain's conversion probability lost when every
//! step into it leads to nothing instead; its credit is the conversions shared in proportion to
//! the removal effects.
//!
//! The conversion probability is computed from the absorbing chain itself: the probability of
//! converting from each state satisfies `p(s) = P(s→conv) + Σ P(s→t) p(t)`, solved by
//! Gauss–Seidel sweeps until no state moves by more than [`TOLERANCE`] (every walk ends, so the
//! iteration converges). No simulation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Credits, Journey};

/// Convergence of the absorbing probabilities.
const TOLERANCE: f64 = 1e-13;
const MAX_SWEEPS: usize = 100_000;

/// A state: the last `order` channels touched (fewer at the start of a walk), as indexes.
type State = Vec<usize>;

/// The chain, its states numbered (the start is 0): from each state, the counts of steps to each
/// next state, to conversion, and in all.
#[derive(Debug, Default)]
struct Chain {
    steps: Vec<Vec<(usize, f64)>>,
    converts: Vec<f64>,
    totals: Vec<f64>,
    /// The channel a walk touched to enter each state (none for the start).
    entered_by: Vec<Option<usize>>,
}

impl Chain {
    fn of(journeys: &[(Vec<usize>, f64, f64)], order: usize) -> Self {
        let mut chain = Chain::default();
        let mut numbers: HashMap<State, usize> = HashMap::new();
        let mut steps: Vec<HashMap<usize, f64>> = Vec::new();
        let mut number =
            |state: &State, chain: &mut Chain, steps: &mut Vec<HashMap<usize, f64>>| {
                if let Some(n) = numbers.get(state) {
                    return *n;
                }
                let n = chain.converts.len();
                numbers.insert(state.clone(), n);
                chain.converts.push(0.0);
                chain.totals.push(0.0);
                chain.entered_by.push(state.last().copied());
                steps.push(HashMap::new());
                n
            };
        let start = number(&Vec::new(), &mut chain, &mut steps);
        for (path, conversions, nulls) in journeys {
            let walks = conversions + nulls;
            let mut state: State = Vec::new();
            let mut at = start;
            for &channel in path {
                state.push(channel);
                if state.len() > order {
                    state.remove(0);
                }
                let next = number(&state, &mut chain, &mut steps);
                *steps[at].entry(next).or_default() += walks;
                chain.totals[at] += walks;
                at = next;
            }
            chain.converts[at] += conversions;
            chain.totals[at] += walks;
        }
        chain.steps = steps.into_iter().map(|s| s.into_iter().collect()).collect();
        chain
    }

    /// The probability that a walk from the start converts, with steps into a state entered by
    /// `removed` leading to nothing.
    fn conversion_probability(&self, removed: Option<usize>) -> f64 {
        let mut p = vec![0.0; self.converts.len()];
        // Later states are mostly deeper in the walks: sweeping them first carries the
        // probabilities back to the start in fewer sweeps.
        for _ in 0..MAX_SWEEPS {
            let mut moved: f64 = 0.0;
            for state in (0..p.len()).rev() {
                let total = self.totals[state];
                if total <= 0.0 {
                    continue;
                }
                let mut value = self.converts[state];
                for &(next, count) in &self.steps[state] {
                    if removed.is_none() || self.entered_by[next] != removed {
                        value += count * p[next];
                    }
                }
                let value = value / total;
                moved = moved.max((value - p[state]).abs());
                p[state] = value;
            }
            if moved < TOLERANCE {
                break;
            }
        }
        p[0]
    }
}

/// Each channel's removal effect in a chain of `order` (1 to 3).
pub fn removal_effects(journeys: &[Journey], order: usize) -> BTreeMap<String, f64> {
    let names: BTreeSet<&str> = journeys
        .iter()
        .flat_map(|j| j.touches.iter().map(|t| &*t.channel))
        .collect();
    let names: Vec<&str> = names.into_iter().collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let paths: Vec<(Vec<usize>, f64, f64)> = journeys
        .iter()
        .filter(|j| !j.touches.is_empty())
        .map(|j| {
            let path = j.touches.iter().map(|t| index[&*t.channel]).collect();
            (path, j.conversions, j.nulls)
        })
        .collect();
    let chain = Chain::of(&paths, order.clamp(1, 3));
    let base = chain.conversion_probability(None);
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let effect = if base > 0.0 {
                (base - chain.conversion_probability(Some(i))) / base
            } else {
                0.0
            };
            (name.to_string(), effect)
        })
        .collect()
}

/// The conversions (and value) of the journeys shared in proportion to the removal effects.
pub fn markov(journeys: &[Journey], order: usize) -> Credits {
    let effects = removal_effects(journeys, order);
    let total: f64 = effects.values().sum();
    let conversions: f64 = journeys.iter().map(|j| j.conversions).sum();
    let value: f64 = journeys.iter().map(|j| j.value).sum();
    effects
        .into_iter()
        .map(|(channel, effect)| {
            let share = if total > 0.0 { effect / total } else { 0.0 };
            let credit = super::Credit {
                conversions: share * conversions,
                value: share * value,
            };
            (channel, credit)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::journey;
    use super::*;

    #[test]
    fn a_channel_every_conversion_needs_has_the_whole_effect() {
        // Every conversion passes through email; sms alone never converts.
        let journeys = [
            journey(&["email"], 1.0, 1.0),
            journey(&["sms", "email"], 1.0, 1.0),
            journey(&["sms"], 0.0, 2.0),
        ];
        let effects = removal_effects(&journeys, 1);
        assert!((effects["email"] - 1.0).abs() < 1e-12, "{effects:?}");
        // Removing sms loses the conversions of walks through sms.
        assert!(effects["sms"] > 0.0 && effects["sms"] < 1.0, "{effects:?}");
    }

    #[test]
    fn the_probability_is_the_chain_s_exact_absorption_probability() {
        // start→a (1.0); a→conv 0.5, a→b 0.5; b→conv 0.25, b→nothing 0.75.
        // P(conv) = 0.5 + 0.5 × 0.25 = 0.625; without b: 0.5, so b's effect is 0.2.
        let journeys = [journey(&["a"], 4.0, 0.0), journey(&["a", "b"], 1.0, 3.0)];
        let effects = removal_effects(&journeys, 1);
        assert!((effects["b"] - 0.2).abs() < 1e-12, "{effects:?}");
        assert!((effects["a"] - 1.0).abs() < 1e-12, "{effects:?}");
    }

    #[test]
    fn a_loop_in_the_chain_converges_to_the_closed_form() {
        // a→a, a→conv and a→nothing a third each: P = (1/3) / (1 − 1/3) = 1/2.
        let journeys = [journey(&["a", "a"], 1.0, 0.0), journey(&["a"], 0.0, 1.0)];
        let chain = {
            let paths = vec![(vec![0, 0], 1.0, 0.0), (vec![0], 0.0, 1.0)];
            Chain::of(&paths, 1)
        };
        assert!((chain.conversion_probability(None) - 0.5).abs() < 1e-12);
        assert!((removal_effects(&journeys, 1)["a"] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn higher_orders_tell_paths_apart_that_order_one_merges() {
        // Order 1 sees b→conv half the time whatever came before; order 2 sees that only a→b
        // converts, so without a nothing does.
        let journeys = [
            journey(&["a", "b"], 1.0, 0.0),
            journey(&["c", "b"], 0.0, 1.0),
        ];
        let first = removal_effects(&journeys, 1);
        let second = removal_effects(&journeys, 2);
        assert!((second["a"] - 1.0).abs() < 1e-12, "{second:?}");
        assert!(second["c"].abs() < 1e-12, "{second:?}");
        assert!(
            first["c"] > 0.0,
            "order one credits c for b's conversions: {first:?}"
        );
    }
}
