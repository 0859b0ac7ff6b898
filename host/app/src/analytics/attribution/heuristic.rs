//! The rule-based models: each converting journey's conversions (and value) are split among its
//! touches by a fixed rule. Journeys that did not convert get nothing.

use std::collections::BTreeMap;

use super::{Credit, Credits, Journey, Label};

/// All of it to the first touch.
pub fn first_touch(journeys: &[Journey]) -> Credits {
    split(journeys, |j| one_hot(j.touches.len(), 0))
}

/// All of it to the last touch.
pub fn last_touch(journeys: &[Journey]) -> Credits {
    split(journeys, |j| one_hot(j.touches.len(), j.touches.len() - 1))
}

/// An equal share to every touch (a channel touched twice gets two shares).
pub fn linear(journeys: &[Journey]) -> Credits {
    split(journeys, |j| {
        vec![1.0 / j.touches.len() as f64; j.touches.len()]
    })
}

/// 40 % to the first touch, 40 % to the last, 20 % shared by the ones between; a journey of
/// two touches splits 50/50, of one gives it all.
pub fn position_based(journeys: &[Journey]) -> Credits {
    split(journeys, |j| match j.touches.len() {
        1 => vec![1.0],
        2 => vec![0.5, 0.5],
        n => {
            let mut weights = vec![0.2 / (n - 2) as f64; n];
            weights[0] = 0.4;
            weights[n - 1] = 0.4;
            weights
        }
    })
}

/// Each touch weighted by `2^(-age / half_life)`, its age taken at the conversion (or the last
/// touch, if the journey has no conversion time); the weights of a journey sum to one. A journey
/// without times splits equally.
pub fn time_decay(journeys: &[Journey], half_life_ms: i64) -> Credits {
    let half_life = half_life_ms.max(1) as f64;
    split(journeys, |j| {
        let latest_touch = j.touches.iter().filter_map(|t| t.at).max();
        let Some(end) = j.converted_at.or(latest_touch) else {
            return vec![1.0 / j.touches.len() as f64; j.touches.len()];
        };
        let raw: Vec<f64> = j
            .touches
            .iter()
            .map(|t| {
                let age = (end - t.at.unwrap_or(end)).max(0) as f64;
                (-age / half_life * std::f64::consts::LN_2).exp()
            })
            .collect();
        let total: f64 = raw.iter().sum();
        raw.into_iter().map(|w| w / total).collect()
    })
}

fn one_hot(len: usize, at: usize) -> Vec<f64> {
    let mut weights = vec![0.0; len];
    weights[at] = 1.0;
    weights
}

/// Splits each converting journey by the weights `rule` gives its touches (summing to one).
fn split(journeys: &[Journey], rule: impl Fn(&Journey) -> Vec<f64>) -> Credits {
    // By the shared label, named once at the end.
    let mut credits: BTreeMap<Label, Credit> = BTreeMap::new();
    for journey in journeys
        .iter()
        .filter(|j| j.conversions > 0.0 && !j.touches.is_empty())
    {
        let weights = rule(journey);
        for (touch, weight) in journey.touches.iter().zip(weights) {
            let credit = credits.entry(touch.channel.clone()).or_default();
            credit.conversions += weight * journey.conversions;
            credit.value += weight * journey.value;
        }
    }
    credits
        .into_iter()
        .map(|(label, credit)| (label.to_string(), credit))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{journey, shares};
    use super::*;

    #[test]
    fn each_rule_splits_a_journey_as_documented() {
        let journeys = [journey(&["email", "sms", "phone", "email"], 1.0, 0.0)];
        assert_eq!(
            shares(&first_touch(&journeys)),
            [("email", 1.0), ("phone", 0.0), ("sms", 0.0)]
        );
        assert_eq!(
            shares(&last_touch(&journeys)),
            [("email", 1.0), ("phone", 0.0), ("sms", 0.0)]
        );
        assert_eq!(
            shares(&linear(&journeys)),
            [("email", 0.5), ("phone", 0.25), ("sms", 0.25)]
        );
        assert_eq!(
            shares(&position_based(&journeys)),
            [("email", 0.8), ("phone", 0.1), ("sms", 0.1)]
        );
        let two = [journey(&["email", "sms"], 2.0, 0.0)];
        assert_eq!(
            shares(&position_based(&two)),
            [("email", 0.5), ("sms", 0.5)]
        );
    }

    #[test]
    fn time_decay_halves_a_touch_s_weight_every_half_life() {
        let day = 86_400_000;
        let mut journey = journey(&["email", "sms"], 1.0, 0.0);
        journey.touches[0].at = Some(0);
        journey.touches[1].at = Some(7 * day);
        journey.converted_at = Some(7 * day);
        let credits = time_decay(&[journey], 7 * day);
        // Weights 1/2 and 1, so a third and two thirds.
        assert!((credits["email"].conversions - 1.0 / 3.0).abs() < 1e-12);
        assert!((credits["sms"].conversions - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn journeys_that_did_not_convert_get_nothing() {
        let journeys = [journey(&["email"], 0.0, 5.0)];
        assert!(linear(&journeys).is_empty());
    }
}
