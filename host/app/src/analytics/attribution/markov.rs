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

use std::collections::{BTreeMap, HashMap};

use super::{Credits, Journey};

/// Convergence of the absorbing probabilities.
const TOLERANCE: f64 = 1e-13;
const MAX_SWEEPS: usize = 100_000;

/// A state: the last `order` channels touched (fewer at the start of a walk), as indexes.
type State = Vec<usize>;

/// The chain's transition counts, by state.
#[derive(Debug, Default)]
struct Chain {
    /// From each state: counts to each next state, to conversion and to nothing.
    next: HashMap<State, HashMap<State, f64>>,
    converts: HashMap<State, f64>,
    ends: HashMap<State, f64>,
}

impl Chain {
    fn of(journeys: &[(Vec<usize>, f64, f64)], order: usize) -> Self {
        let mut chain = Chain::default();
        for (path, conversions, nulls) in journeys {
            let walks = conversions + nulls;
            let mut state: State = Vec::new();
            for &channel in path {
                let mut next = state.clone();
                next.push(channel);
                if next.len() > order {
                    next.remove(0);
                }
                *chain
                    .next
                    .entry(state)
                    .or_default()
                    .entry(next.clone())
                    .or_default() += walks;
                state = next;
            }
            *chain.converts.entry(state.clone()).or_default() += conversions;
            *chain.ends.entry(state).or_default() += nulls;
        }
        chain
    }

    /// The probability that a walk from the start converts, with steps into `removed` leading
    /// to nothing.
    fn conversion_probability(&self, removed: Option<usize>) -> f64 {
        let states: Vec<&State> = self.next.keys().chain(self.converts.keys()).collect();
        let mut p: HashMap<&State, f64> = states.iter().map(|s| (*s, 0.0)).collect();
        let totals: HashMap<&State, f64> = states.iter().map(|s| (*s, self.total_out(s))).collect();
        for _ in 0..MAX_SWEEPS {
            let mut moved: f64 = 0.0;
            for state in &states {
                let total = totals[state];
                if total <= 0.0 {
                    continue;
                }
                let mut value = self.converts.get(*state).copied().unwrap_or(0.0);
                for (next, count) in self.next.get(*state).into_iter().flatten() {
                    if removed.is_some_and(|r| next.last() == Some(&r)) {
                        continue;
                    }
                    value += count * p.get(next).copied().unwrap_or(0.0);
                }
                let value = value / total;
                let slot = p.entry(state).or_default();
                moved = moved.max((value - *slot).abs());
                *slot = value;
            }
            if moved < TOLERANCE {
                break;
            }
        }
        p.get(&Vec::new()).copied().unwrap_or(0.0)
    }

    fn total_out(&self, state: &State) -> f64 {
        let steps: f64 = self.next.get(state).map_or(0.0, |n| n.values().sum());
        steps
            + self.converts.get(state).copied().unwrap_or(0.0)
            + self.ends.get(state).copied().unwrap_or(0.0)
    }
}

/// Each channel's removal effect in a chain of `order` (1 to 3).
pub fn removal_effects(journeys: &[Journey], order: usize) -> BTreeMap<String, f64> {
    let mut names: Vec<String> = journeys
        .iter()
        .flat_map(|j| j.touches.iter().map(|t| t.channel.clone()))
        .collect();
    names.sort();
    names.dedup();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let paths: Vec<(Vec<usize>, f64, f64)> = journeys
        .iter()
        .filter(|j| !j.touches.is_empty())
        .map(|j| {
            let path = j
                .touches
                .iter()
                .map(|t| index[t.channel.as_str()])
                .collect();
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
            (name.clone(), effect)
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
