//! Draws from Beta posteriors for Thompson sampling, from a seedable generator so a test (or an
//! operator reproducing a decision) gets the same draw for the same seed.
//!
//! xoshiro256** seeded through SplitMix64; Gamma by Marsaglia and Tsang (2000), with the
//! `U^(1/a)` boost for shapes below 1; Beta(a, b) as `X / (X + Y)` for `X ~ Gamma(a)`,
//! `Y ~ Gamma(b)`.

/// A small, fast, seedable generator (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            state: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1), `shape > 0`.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = self.uniform().powf(1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(alpha, beta), both `> 0`.
    pub fn beta(&mut self, alpha: f64, beta: f64) -> f64 {
        let x = self.gamma(alpha);
        let y = self.gamma(beta);
        x / (x + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let mut a = Rng::seeded(42);
        let mut b = Rng::seeded(42);
        let mut c = Rng::seeded(43);
        let draws: Vec<f64> = (0..5).map(|_| a.beta(2.0, 3.0)).collect();
        assert_eq!(draws, (0..5).map(|_| b.beta(2.0, 3.0)).collect::<Vec<_>>());
        assert_ne!(draws, (0..5).map(|_| c.beta(2.0, 3.0)).collect::<Vec<_>>());
    }

    #[test]
    fn beta_draws_have_the_right_mean_and_variance() {
        // Beta(2, 6): mean 0.25, variance αβ/((α+β)²(α+β+1)) = 12/576 = 0.0208333…
        let mut rng = Rng::seeded(7);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.beta(2.0, 6.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let variance = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.25).abs() < 0.002, "mean {mean}");
        assert!(
            (variance - 12.0 / 576.0).abs() < 0.0005,
            "variance {variance}"
        );
        assert!(draws.iter().all(|x| *x > 0.0 && *x < 1.0));
    }

    #[test]
    fn small_shapes_work() {
        // Beta(0.5, 0.5): mean 0.5.
        let mut rng = Rng::seeded(11);
        let n = 100_000;
        let mean = (0..n).map(|_| rng.beta(0.5, 0.5)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }
}
