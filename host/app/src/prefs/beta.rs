//! Empirical Bayes for rates: a Beta prior per channel fitted to the whole population, so that a
//! contact with 1 open of 1 email is pulled towards what people generally do and 40 of 100 is
//! mostly left alone.
//!
//! The fit is the method of moments for the beta-binomial with unequal trials. For contacts with
//! `n_i ≥ 1` trials and raw rates `p_i = k_i / n_i`, with mean `μ` and variance `s²` of the `p_i`:
//!
//! ```text
//! E[s²] = μ(1−μ) · (ρ + (1−ρ) · mean(1/n_i)),    ρ = 1 / (α + β + 1)
//! ⇒ ρ = (s² / (μ(1−μ)) − mean(1/n_i)) / (1 − mean(1/n_i))
//! α + β = 1/ρ − 1,   α = μ(α + β),   β = (1 − μ)(α + β)
//! ```
//!
//! The strength `α + β` is clamped to `[MIN_STRENGTH, MAX_STRENGTH]`: a population with no
//! spread beyond binomial noise would otherwise get an infinitely strong prior that no amount of
//! a person's own data could move. Too few contacts, or a mean of exactly 0 or 1, gives the
//! uninformative Beta(1, 1) instead.

use serde::Serialize;

/// The weakest and strongest priors the fit may return, in pseudo-observations.
pub const MIN_STRENGTH: f64 = 2.0;
pub const MAX_STRENGTH: f64 = 50.0;
/// Fewer contacts with data than this and the population says too little to fit.
pub const MIN_CONTACTS: usize = 10;

/// A Beta(α, β) prior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BetaPrior {
    pub alpha: f64,
    pub beta: f64,
}

impl BetaPrior {
    /// Beta(1, 1): every rate equally likely.
    pub const UNIFORM: BetaPrior = BetaPrior {
        alpha: 1.0,
        beta: 1.0,
    };

    /// The prior's mean, `α / (α + β)`.
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// The posterior mean after `k` successes in `n` trials: `(α + k) / (α + β + n)`.
    pub fn posterior_mean(&self, k: u64, n: u64) -> f64 {
        (self.alpha + k as f64) / (self.alpha + self.beta + n as f64)
    }

    /// The posterior's parameters, for sampling.
    pub fn posterior(&self, k: u64, n: u64) -> BetaPrior {
        BetaPrior {
            alpha: self.alpha + k as f64,
            beta: self.beta + n.saturating_sub(k) as f64,
        }
    }
}

/// How a prior was arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriorFit {
    pub prior: BetaPrior,
    /// Contacts with at least one trial.
    pub contacts: usize,
    /// `moments`, or `uniform` when the population was too small or showed no spread to fit.
    pub method: FitMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FitMethod {
    Moments,
    Uniform,
}

/// Fits a prior to `(k, n)` pairs, one per contact; pairs with `n = 0` are ignored and `k` is
/// capped at `n`.
pub fn fit(samples: &[(u64, u64)]) -> PriorFit {
    let rates: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| ((*k).min(*n) as f64 / *n as f64, 1.0 / *n as f64))
        .collect();
    let contacts = rates.len();
    let uniform = PriorFit {
        prior: BetaPrior::UNIFORM,
        contacts,
        method: FitMethod::Uniform,
    };
    if contacts < MIN_CONTACTS {
        return uniform;
    }
    let count = contacts as f64;
    let mean = rates.iter().map(|(p, _)| p).sum::<f64>() / count;
    if mean <= 0.0 || mean >= 1.0 {
        return uniform;
    }
    let variance = rates.iter().map(|(p, _)| (p - mean).powi(2)).sum::<f64>() / (count - 1.0);
    let mean_inverse_n = rates.iter().map(|(_, inv)| inv).sum::<f64>() / count;
    let binomial = mean * (1.0 - mean);
    let strength = if mean_inverse_n >= 1.0 {
        // Everyone has exactly one trial: spread between people cannot be told from chance.
        MIN_STRENGTH
    } else {
        let rho = (variance / binomial - mean_inverse_n) / (1.0 - mean_inverse_n);
        if rho <= 0.0 {
            MAX_STRENGTH
        } else {
            (1.0 / rho - 1.0).clamp(MIN_STRENGTH, MAX_STRENGTH)
        }
    };
    PriorFit {
        prior: BetaPrior {
            alpha: mean * strength,
            beta: (1.0 - mean) * strength,
        },
        contacts,
        method: FitMethod::Moments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn one_of_one_does_not_beat_forty_of_a_hundred() {
        let prior = BetaPrior {
            alpha: 3.0,
            beta: 7.0,
        };
        // (3 + 1) / (10 + 1) = 0.3636…; (3 + 40) / (10 + 100) = 0.3909…
        assert!(close(prior.posterior_mean(1, 1), 4.0 / 11.0));
        assert!(close(prior.posterior_mean(40, 100), 43.0 / 110.0));
        assert!(prior.posterior_mean(1, 1) < prior.posterior_mean(40, 100));
        // Raw, 1/1 = 1.0 would have won.
    }

    #[test]
    fn moments_fit_matches_a_hand_computed_case() {
        // Ten contacts with 10 trials each: five at 0.2, five at 0.4.
        // μ = 0.3; s² = 10 × 0.01 / 9 = 0.0111…; mean(1/n) = 0.1; μ(1−μ) = 0.21
        // ρ = (0.0111…/0.21 − 0.1) / 0.9 = (0.052910… − 0.1)/0.9 < 0 → binomial noise explains
        // all of it: the strongest prior.
        let samples: Vec<(u64, u64)> = (0..10).map(|i| (if i < 5 { 2 } else { 4 }, 10)).collect();
        let fit = fit(&samples);
        assert_eq!(fit.method, FitMethod::Moments);
        assert!(close(fit.prior.alpha + fit.prior.beta, MAX_STRENGTH));
        assert!(close(fit.prior.mean(), 0.3));

        // Ten contacts with 20 trials: five at 0.1, five at 0.7.
        // μ = 0.4; s² = 10 × 0.09 / 9 = 0.1; μ(1−μ) = 0.24; mean(1/n) = 0.05
        // ρ = (0.1/0.24 − 0.05) / 0.95 = (0.416666… − 0.05)/0.95 = 0.385964…
        // α + β = 1/ρ − 1 = 1.590909…, clamped up to MIN_STRENGTH = 2 → α = 0.8, β = 1.2
        let samples: Vec<(u64, u64)> = (0..10).map(|i| (if i < 5 { 2 } else { 14 }, 20)).collect();
        let fit = super::fit(&samples);
        assert!(close(fit.prior.alpha, 0.8));
        assert!(close(fit.prior.beta, 1.2));

        // Twenty contacts, 10 trials, rates 0.2 and 0.5 alternating.
        // μ = 0.35; s² = 20 × 0.0225 / 19 = 0.0236842…; μ(1−μ) = 0.2275; mean(1/n) = 0.1
        // ρ = (0.0236842…/0.2275 − 0.1)/0.9 = (0.104106… − 0.1)/0.9 = 0.0045625…
        // α + β = 1/ρ − 1 ≈ 218 → clamped to 50
        let samples: Vec<(u64, u64)> = (0..20)
            .map(|i| (if i % 2 == 0 { 2 } else { 5 }, 10))
            .collect();
        let fit = super::fit(&samples);
        assert!(close(fit.prior.alpha + fit.prior.beta, MAX_STRENGTH));
        assert!(close(fit.prior.mean(), 0.35));
    }

    #[test]
    fn a_moderate_spread_gives_a_strength_in_between() {
        // Ten contacts with 50 trials: rates 0.1, 0.3, 0.5, 0.7, 0.9 twice each.
        // μ = 0.5; s² = 2 × (0.16 + 0.04 + 0 + 0.04 + 0.16) / 9 = 0.0888…; μ(1−μ) = 0.25;
        // mean(1/n) = 0.02; ρ = (0.355555… − 0.02)/0.98 = 0.342403…; α + β = 1/ρ − 1 = 1.9205…
        // → clamped to 2. With 500 trials the noise term is 0.002: ρ = 0.354266…, still < 2.
        // A tighter population: rates 0.4, 0.45, 0.5, 0.55, 0.6 twice, 100 trials each.
        // s² = 2 × (0.01 + 0.0025 + 0 + 0.0025 + 0.01)/9 = 0.0055…; /0.25 = 0.0222…;
        // ρ = (0.0222… − 0.01)/0.99 = 0.0123456…; α + β = 1/ρ − 1 = 80.0 → clamped to 50.
        // With 1000 trials: ρ = (0.0222… − 0.001)/0.999 = 0.021244…; α + β = 46.07…
        let rates = [40u64, 45, 50, 55, 60];
        let samples: Vec<(u64, u64)> = rates
            .iter()
            .chain(rates.iter())
            .map(|r| (r * 10, 1000))
            .collect();
        let fit = fit(&samples);
        let expected_rho = (0.05 / 9.0 / 0.25 - 0.001) / 0.999;
        assert!(close(
            fit.prior.alpha + fit.prior.beta,
            1.0 / expected_rho - 1.0
        ));
        assert!((fit.prior.alpha + fit.prior.beta - 46.07).abs() < 0.01);
    }

    #[test]
    fn too_little_data_gives_the_uniform_prior() {
        assert_eq!(fit(&[(1, 1), (0, 2)]).method, FitMethod::Uniform);
        let none_ever: Vec<(u64, u64)> = (0..20).map(|_| (0, 5)).collect();
        assert_eq!(fit(&none_ever).prior, BetaPrior::UNIFORM);
        let zero_trials: Vec<(u64, u64)> = (0..20).map(|_| (0, 0)).collect();
        assert_eq!(fit(&zero_trials).contacts, 0);
    }
}
