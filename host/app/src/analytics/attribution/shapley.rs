//! The Shapley value (Shapley 1953) of each channel, with the characteristic function of Zhao et
//! al. (2018) that the `mta` package uses: a coalition of channels is worth the conversions of the
//! journeys whose set of channels lies inside it.
//!
//! That game is a sum of unanimity games, one per observed channel set `S` weighted by its
//! conversions, and a unanimity game's Shapley value is an equal share to each member; so each
//! channel's value is exactly `Σ conversions(S) / |S|` over the sets `S` containing it. Exact,
//! and linear in the journeys rather than exponential in the channels (a test checks it against
//! the definition, every coalition enumerated).

use std::collections::BTreeSet;

use super::{Credits, Journey};

pub fn shapley(journeys: &[Journey]) -> Credits {
    let mut credits = Credits::new();
    for journey in journeys.iter().filter(|j| j.conversions > 0.0) {
        let set: BTreeSet<&str> = journey.touches.iter().map(|t| &*t.channel).collect();
        let share = 1.0 / set.len().max(1) as f64;
        for channel in set {
            let credit = credits.entry(channel.to_string()).or_default();
            credit.conversions += share * journey.conversions;
            credit.value += share * journey.value;
        }
    }
    credits
}

#[cfg(test)]
mod tests {
    use super::super::tests::journey;
    use super::*;

    /// The definition: the weighted average of a channel's marginal contribution over every
    /// coalition of the others.
    fn by_definition(journeys: &[Journey], channels: &[&str]) -> Vec<f64> {
        let worth = |coalition: u32| -> f64 {
            journeys
                .iter()
                .filter(|j| {
                    j.touches.iter().all(|t| {
                        let i = channels.iter().position(|c| *c == &*t.channel).unwrap();
                        coalition & (1 << i) != 0
                    })
                })
                .map(|j| j.conversions)
                .sum()
        };
        let n = channels.len();
        let factorial = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
        (0..n)
            .map(|i| {
                (0..1u32 << n)
                    .filter(|c| c & (1 << i) == 0)
                    .map(|c| {
                        let s = c.count_ones() as usize;
                        let weight = factorial(s) * factorial(n - s - 1) / factorial(n);
                        weight * (worth(c | (1 << i)) - worth(c))
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn the_closed_form_is_the_shapley_value_by_definition() {
        let journeys = [
            journey(&["email"], 3.0, 1.0),
            journey(&["email", "sms"], 2.0, 0.0),
            journey(&["sms", "phone", "email"], 5.0, 2.0),
            journey(&["phone"], 0.0, 4.0),
            journey(&["portal", "sms"], 1.0, 0.0),
        ];
        let channels = ["email", "phone", "portal", "sms"];
        let expected = by_definition(&journeys, &channels);
        let credits = shapley(&journeys);
        for (channel, value) in channels.iter().zip(expected) {
            let got = credits.get(*channel).map_or(0.0, |c| c.conversions);
            assert!(
                (got - value).abs() < 1e-9,
                "{channel}: {got} against {value}"
            );
        }
    }
}
