//! Metric families and their Prometheus text exposition (format 0.0.4): counters, gauges and
//! histograms, each with a fixed list of label names, written out with `# HELP` and `# TYPE`
//! lines and series in label order.
//!
//! Small on purpose: a family is a mutex over a sorted map from label values to numbers, which is
//! cheap next to anything worth counting here (a plugin call, a webhook, a send). A family keeps
//! at most [`MAX_SERIES`] series, so a label value that should have been bounded and was not
//! cannot grow memory without end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Series per family beyond which new label combinations are dropped (and a warning logged once).
pub const MAX_SERIES: usize = 1_000;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What every family has: a name, a line of help, label names, and its series.
struct Family<V> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, V>>,
    overflowed: AtomicBool,
}

impl<V: Default> Family<V> {
    const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Family {
            name,
            help,
            labels,
            series: Mutex::new(BTreeMap::new()),
            overflowed: AtomicBool::new(false),
        }
    }

    /// The series map; a panic elsewhere while it was held leaves numbers, not broken invariants.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Vec<String>, V>> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `update` on the series for `values`, creating it unless the family is full.
    fn with(&self, values: &[&str], update: impl FnOnce(&mut V)) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        let mut series = self.lock();
        let len = series.len();
        if let Some(value) = series.get_mut(&key) {
            update(value);
        } else if len < MAX_SERIES {
            update(series.entry(key).or_default());
        } else if !self.overflowed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                metric = self.name,
                limit = MAX_SERIES,
                "metric has too many series; new label values are dropped"
            );
        }
    }

    fn header(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
    }
}

/// A number that only goes up.
pub struct Counter {
    family: Family<u64>,
}

impl Counter {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Counter {
            family: Family::new(name, help, labels),
        }
    }

    pub fn inc(&self, values: &[&str]) {
        self.family.with(values, |n| *n += 1);
    }

    /// The count for `values` (0 if never counted).
    pub fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        self.family.lock().get(&key).copied().unwrap_or(0)
    }

    /// Writes the family. A family without labels shows 0 before its first count.
    pub fn render(&self, out: &mut String) {
        self.family.header(out, "counter");
        let series = self.family.lock();
        if series.is_empty() && self.family.labels.is_empty() {
            let _ = writeln!(out, "{} 0", self.family.name);
        }
        for (values, n) in series.iter() {
            sample(out, self.family.name, self.family.labels, values, None, *n);
        }
    }
}

/// A number that goes up and down, or is set whole at scrape time.
pub struct Gauge {
    family: Family<i64>,
}

impl Gauge {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Gauge {
            family: Family::new(name, help, labels),
        }
    }

    pub fn add(&self, values: &[&str], delta: i64) {
        self.family.with(values, |n| *n += delta);
    }

    pub fn set(&self, values: &[&str], value: i64) {
        self.family.with(values, |n| *n = value);
    }

    /// The value for `values` (0 if never set).
    pub fn get(&self, values: &[&str]) -> i64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        self.family.lock().get(&key).copied().unwrap_or(0)
    }

    /// Writes the family. A family without labels shows 0 before it is first set.
    pub fn render(&self, out: &mut String) {
        self.family.header(out, "gauge");
        let series = self.family.lock();
        if series.is_empty() && self.family.labels.is_empty() {
            let _ = writeln!(out, "{} 0", self.family.name);
        }
        for (values, n) in series.iter() {
            sample(out, self.family.name, self.family.labels, values, None, *n);
        }
    }
}

/// Observations counted into buckets by upper bound, with their sum and count.
pub struct Histogram {
    family: Family<Buckets>,
    /// Upper bounds, ascending; `+Inf` is implied.
    bounds: &'static [f64],
}

/// One series of a histogram: a count per bound (not cumulative; cumulated when written), the
/// count above the last bound, and the sum.
#[derive(Debug, Default)]
struct Buckets {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Histogram {
            family: Family::new(name, help, labels),
            bounds,
        }
    }

    pub fn observe(&self, values: &[&str], value: f64) {
        let slot = self.bounds.iter().position(|bound| value <= *bound);
        let bounds = self.bounds.len();
        self.family.with(values, |buckets| {
            if buckets.counts.len() != bounds {
                buckets.counts = vec![0; bounds];
            }
            if let Some(slot) = slot {
                buckets.counts[slot] += 1;
            }
            buckets.count += 1;
            buckets.sum += value;
        });
    }

    /// How many observations `values` has had.
    pub fn count(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_string()).collect();
        self.family.lock().get(&key).map_or(0, |b| b.count)
    }

    /// Writes the family: per series a cumulative `_bucket` per bound and `+Inf`, `_sum`, `_count`.
    pub fn render(&self, out: &mut String) {
        self.family.header(out, "histogram");
        let name = self.family.name;
        let labels = self.family.labels;
        let bucket = format!("{name}_bucket");
        for (values, buckets) in self.family.lock().iter() {
            let mut cumulative = 0;
            for (bound, n) in self.bounds.iter().zip(&buckets.counts) {
                cumulative += n;
                let le = number(*bound);
                sample(out, &bucket, labels, values, Some(&le), cumulative);
            }
            sample(out, &bucket, labels, values, Some("+Inf"), buckets.count);
            sample(
                out,
                &format!("{name}_sum"),
                labels,
                values,
                None,
                number(buckets.sum),
            );
            sample(
                out,
                &format!("{name}_count"),
                labels,
                values,
                None,
                buckets.count,
            );
        }
    }
}

/// One line: `name{label="value",...,le="bound"} value`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &[&str],
    values: &[String],
    le: Option<&str>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    let pairs = labels
        .iter()
        .copied()
        .zip(values.iter().map(String::as_str));
    let pairs: Vec<(&str, &str)> = pairs.chain(le.map(|le| ("le", le))).collect();
    if !pairs.is_empty() {
        out.push('{');
        for (i, (label, value)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A float as the format writes it: `+Inf`, `-Inf`, `NaN`, or Rust's shortest round-trip form.
pub fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Help text with `\` and newlines escaped.
fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_writes_help_type_and_one_line_per_series_in_label_order() {
        let counter = Counter::new(
            "t_webhooks_total",
            "Webhooks, by plugin and status.",
            &["plugin", "status"],
        );
        counter.inc(&["sms", "accepted"]);
        counter.inc(&["email", "failed"]);
        counter.inc(&["email", "accepted"]);
        counter.inc(&["email", "accepted"]);
        let mut out = String::new();
        counter.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_webhooks_total Webhooks, by plugin and status.\n\
             # TYPE t_webhooks_total counter\n\
             t_webhooks_total{plugin=\"email\",status=\"accepted\"} 2\n\
             t_webhooks_total{plugin=\"email\",status=\"failed\"} 1\n\
             t_webhooks_total{plugin=\"sms\",status=\"accepted\"} 1\n"
        );
        assert_eq!(counter.get(&["email", "accepted"]), 2);
        assert_eq!(counter.get(&["portal", "accepted"]), 0);
    }

    #[test]
    fn a_counter_without_labels_shows_zero_before_its_first_count() {
        let counter = Counter::new("t_timeouts_total", "Timeouts.", &[]);
        let mut out = String::new();
        counter.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_timeouts_total Timeouts.\n\
             # TYPE t_timeouts_total counter\n\
             t_timeouts_total 0\n"
        );
    }

    #[test]
    fn a_histogram_writes_cumulative_buckets_then_sum_and_count() {
        let histogram = Histogram::new(
            "t_call_seconds",
            "Call time.",
            &["plugin", "call"],
            &[0.01, 0.1, 1.0],
        );
        histogram.observe(&["email", "send"], 0.005);
        histogram.observe(&["email", "send"], 0.25);
        histogram.observe(&["email", "send"], 0.5);
        histogram.observe(&["email", "send"], 4.0);
        let mut out = String::new();
        histogram.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_call_seconds Call time.\n\
             # TYPE t_call_seconds histogram\n\
             t_call_seconds_bucket{plugin=\"email\",call=\"send\",le=\"0.01\"} 1\n\
             t_call_seconds_bucket{plugin=\"email\",call=\"send\",le=\"0.1\"} 1\n\
             t_call_seconds_bucket{plugin=\"email\",call=\"send\",le=\"1\"} 3\n\
             t_call_seconds_bucket{plugin=\"email\",call=\"send\",le=\"+Inf\"} 4\n\
             t_call_seconds_sum{plugin=\"email\",call=\"send\"} 4.755\n\
             t_call_seconds_count{plugin=\"email\",call=\"send\"} 4\n"
        );
        assert_eq!(histogram.count(&["email", "send"]), 4);
    }

    #[test]
    fn a_value_on_a_bound_counts_in_that_bucket() {
        let histogram = Histogram::new("t_h", "H.", &[], &[1.0, 2.0]);
        histogram.observe(&[], 1.0);
        let mut out = String::new();
        histogram.render(&mut out);
        assert!(out.contains("t_h_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("t_h_bucket{le=\"2\"} 1\n"), "{out}");
        assert!(out.contains("t_h_sum 1\nt_h_count 1\n"), "{out}");
    }

    #[test]
    fn a_gauge_goes_up_and_down_and_can_be_set() {
        let gauge = Gauge::new("t_depth", "Depth.", &["status"]);
        gauge.add(&["queued"], 3);
        gauge.add(&["queued"], -1);
        gauge.set(&["in_flight"], 7);
        let mut out = String::new();
        gauge.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_depth Depth.\n# TYPE t_depth gauge\n\
             t_depth{status=\"in_flight\"} 7\n\
             t_depth{status=\"queued\"} 2\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let counter = Counter::new("t_c", "Back\\slash and\nnewline.", &["v"]);
        counter.inc(&["a\"b\\c\nd"]);
        let mut out = String::new();
        counter.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_c Back\\\\slash and\\nnewline.\n# TYPE t_c counter\n\
             t_c{v=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn a_family_stops_growing_at_its_series_limit() {
        let counter = Counter::new("t_many", "Many.", &["v"]);
        for n in 0..MAX_SERIES + 5 {
            counter.inc(&[&n.to_string()]);
        }
        counter.inc(&["0"]);
        assert_eq!(counter.family.lock().len(), MAX_SERIES);
        assert_eq!(counter.get(&["0"]), 2);
        assert_eq!(counter.get(&[&MAX_SERIES.to_string()]), 0);
    }

    #[test]
    fn numbers_are_written_as_the_format_expects() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(10.0), "10");
    }
}
