//! The figures every report shares: a rate as the reports give it (the count, the sample it is
//! out of, and a 95 % Wilson score interval — or no rate at all where the data cannot show one),
//! a bucket of a distribution, and percentiles.

use serde::Serialize;
use utoipa::ToSchema;

/// z for a two-sided 95 % interval.
const Z: f64 = 1.959_963_984_540_054;

/// How often something happened among the messages that could show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rate {
    /// How many times it happened.
    pub count: u64,
    /// Out of how many: the messages whose channel and provider can show it. Zero with
    /// `no_data` set.
    pub of: u64,
    /// `count / of`; absent when there is no data.
    pub rate: Option<f64>,
    /// The 95 % Wilson score interval of the rate.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Why there is no rate: the channel carries no such signal, or its provider reported none
    /// in the period. A missing signal is never reported as 0 %.
    pub no_data: Option<String>,
}

impl Rate {
    /// `count` out of `of`; no data if `of` is zero.
    pub fn of(count: u64, of: u64) -> Self {
        if of == 0 {
            return Rate::no_data(count, "no message in this group could show it");
        }
        let (low, high) = wilson(count, of);
        Rate {
            count,
            of,
            rate: Some(count as f64 / of as f64),
            low: Some(low),
            high: Some(high),
            no_data: None,
        }
    }

    pub fn no_data(count: u64, why: impl Into<String>) -> Self {
        Rate {
            count,
            of: 0,
            rate: None,
            low: None,
            high: None,
            no_data: Some(why.into()),
        }
    }
}

/// The Wilson score interval of `successes` out of `n > 0` (Wilson 1927): unlike the normal
/// approximation it stays inside [0, 1] and is honest for small samples and rates near 0 or 1.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One bucket of a distribution: its label (`<1h`, `5+`) and how many fell in it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Bucket {
    pub label: String,
    pub count: u64,
}

/// The `percent`th percentile of `sorted` by the nearest-rank method: a value that occurred.
pub fn nearest_rank<T: Copy>(sorted: &[T], percent: usize) -> Option<T> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), Statistics in Medicine 17, table I: 81/263 → 0.2553–0.3662,
        // 15/148 → 0.0624–0.1605, 0/20 → 0–0.1611.
        let (low, high) = wilson(81, 263);
        assert!(close(low, 0.2553) && close(high, 0.3662), "{low} {high}");
        let (low, high) = wilson(15, 148);
        assert!(close(low, 0.0624) && close(high, 0.1605), "{low} {high}");
        let (low, high) = wilson(0, 20);
        assert!(close(low, 0.0) && close(high, 0.1611), "{low} {high}");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&values, 50), Some(5));
        assert_eq!(nearest_rank(&values, 90), Some(9));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank::<i64>(&[], 50), None);
    }

    #[test]
    fn no_sample_is_no_data_not_zero() {
        let rate = Rate::of(0, 0);
        assert_eq!(rate.rate, None);
        assert!(rate.no_data.is_some());
        assert_eq!(Rate::of(3, 4).rate, Some(0.75));
    }
}
