//! What the server counts, for Prometheus (`GET /metrics`): one function per thing counted,
//! called where it happens, and [`render`] to write everything out.
//!
//! Label values are bounded: plugin ids come from loaded plugins (an id from a URL that names no
//! plugin is counted under `plugin=""`), statuses, calls and kinds are fixed words, routes are
//! route templates. The registry also caps every family's series (see [`registry::MAX_SERIES`]).
//!
//! Gauges that the database knows (the outbox's depth) or the committer knows (its queue) are
//! read when scraped, not kept: the caller reads them (`api/metrics.rs`) and hands them to
//! [`render`] as [`Scraped`], so that this module reads no database.

pub mod registry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use registry::{Counter, Gauge, Histogram};

/// Bounds for plugin calls: a webhook takes milliseconds, a send waits on the vendor's API.
const CALL_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Bounds for channel selection: a few reads and arithmetic.
const SELECTION_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

static WEBHOOKS: Counter = Counter::new(
    "switchboard_webhooks_total",
    "Webhooks received, by plugin and what became of them (plugin is empty for unknown_plugin).",
    &["plugin", "status"],
);
static STORED_UNVERIFIED: Counter = Counter::new(
    "switchboard_webhooks_stored_unverified_total",
    "Webhooks stored without a verified signature, by plugin.",
    &["plugin"],
);
static CALL_SECONDS: Histogram = Histogram::new(
    "switchboard_plugin_call_seconds",
    "Time of calls into plugins (waiting for an instance slot included), by plugin and call.",
    &["plugin", "call"],
    CALL_BOUNDS,
);
static CALL_FAILURES: Counter = Counter::new(
    "switchboard_plugin_call_failures_total",
    "Calls into plugins that did not return, by plugin, call and kind of failure.",
    &["plugin", "call", "kind"],
);
static SEND_ATTEMPTS: Counter = Counter::new(
    "switchboard_send_attempts_total",
    "Tries to send through a plugin, by plugin and result (sent, or the failure's kind).",
    &["plugin", "result"],
);
static SELECTION_SECONDS: Histogram = Histogram::new(
    "switchboard_selection_seconds",
    "Time to select the channels for a message.",
    &[],
    SELECTION_BOUNDS,
);
static HTTP_REQUESTS: Counter = Counter::new(
    "switchboard_http_requests_total",
    "HTTP requests answered, by route template and status.",
    &["route", "status"],
);
static OVERLOADED: Counter = Counter::new(
    "switchboard_http_overloaded_total",
    "Requests refused with 503 because their surface had every slot taken.",
    &["surface"],
);
static INFLIGHT: Gauge = Gauge::new(
    "switchboard_http_inflight",
    "Requests being handled, by surface.",
    &["surface"],
);
static BODY_TIMEOUTS: Counter = Counter::new(
    "switchboard_http_body_timeouts_total",
    "Requests answered 408 because their body did not arrive in time.",
    &[],
);
static HEADER_TIMEOUTS: Counter = Counter::new(
    "switchboard_http_header_timeouts_total",
    "Connections closed because request headers came too late (idle kept-alive ones included).",
    &[],
);
static CONNECTIONS: Gauge = Gauge::new(
    "switchboard_connections_open",
    "HTTP connections open.",
    &[],
);

/// What became of a webhook, as the `status` label says it.
pub mod webhook_status {
    pub const ACCEPTED: &str = "accepted";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const MALFORMED: &str = "malformed";
    pub const FAILED: &str = "failed";
    pub const TOO_LARGE: &str = "too_large";
    pub const UNREADABLE_BODY: &str = "unreadable_body";
    pub const UNKNOWN_PLUGIN: &str = "unknown_plugin";
    /// The server failed (the store refused), not the plugin.
    pub const ERROR: &str = "error";
}

/// Counts a webhook for a loaded plugin; `status` is one of [`webhook_status`].
pub fn webhook(plugin: &str, status: &'static str) {
    WEBHOOKS.inc(&[plugin, status]);
}

/// Counts a webhook whose URL names no loaded plugin (the id is not a label value: anyone can
/// make up URLs).
pub fn webhook_unknown_plugin() {
    WEBHOOKS.inc(&["", webhook_status::UNKNOWN_PLUGIN]);
}

/// Counts a webhook refused before its plugin saw it, by the API error code that refused it.
pub fn webhook_unread(plugin: &str, error_code: &str) {
    let status = match error_code {
        "body_too_large" => webhook_status::TOO_LARGE,
        _ => webhook_status::UNREADABLE_BODY,
    };
    webhook(plugin, status);
}

/// Counts a webhook stored although its signature was not verified.
pub fn webhook_stored_unverified(plugin: &str) {
    STORED_UNVERIFIED.inc(&[plugin]);
}

/// Records a call into a plugin: its time, and its failure's kind (`CallError::code`) if it did
/// not return.
pub fn plugin_call(plugin: &str, call: &'static str, took: Duration, failure: Option<&str>) {
    CALL_SECONDS.observe(&[plugin, call], took.as_secs_f64());
    if let Some(kind) = failure {
        CALL_FAILURES.inc(&[plugin, call, kind]);
    }
}

/// Counts a try to send through a plugin: `result` is `sent` or the failure's kind.
pub fn send_attempt(plugin: &str, result: &str) {
    SEND_ATTEMPTS.inc(&[plugin, result]);
}

/// Times a channel selection until dropped.
pub fn selection_timer() -> Timer {
    Timer {
        started: Instant::now(),
        histogram: &SELECTION_SECONDS,
    }
}

/// Observes the time since it was made into its histogram when dropped (so an early return is
/// timed too).
pub struct Timer {
    started: Instant,
    histogram: &'static Histogram,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.histogram
            .observe(&[], self.started.elapsed().as_secs_f64());
    }
}

/// Counts a request answered on `route` (a route template, or `unmatched`).
pub fn http_request(route: &str, status: u16) {
    HTTP_REQUESTS.inc(&[route, &status.to_string()]);
}

/// The request surfaces with a limit of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/webhooks/...`
    Webhooks,
    /// `/api/...`
    Api,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        self.labels()[0]
    }

    fn labels(self) -> &'static [&'static str] {
        match self {
            Surface::Webhooks => &["webhooks"],
            Surface::Api => &["api"],
        }
    }
}

/// Counts a request refused because `surface` was full.
pub fn overloaded(surface: Surface) {
    OVERLOADED.inc(surface.labels());
}

/// A request being handled on `surface`, until dropped.
pub fn inflight(surface: Surface) -> Held {
    Held::new(&INFLIGHT, surface.labels())
}

/// An open connection, until dropped.
pub fn connection_opened() -> Held {
    Held::new(&CONNECTIONS, &[])
}

/// One unit of a gauge, given back when dropped.
pub struct Held {
    gauge: &'static Gauge,
    labels: &'static [&'static str],
}

impl Held {
    fn new(gauge: &'static Gauge, labels: &'static [&'static str]) -> Self {
        gauge.add(labels, 1);
        Held { gauge, labels }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.add(self.labels, -1);
    }
}

/// Counts a request answered 408 because its body was late.
pub fn body_timeout() {
    BODY_TIMEOUTS.inc(&[]);
}

/// Counts a connection closed because a request's headers were late (or it idled that long).
pub fn header_timeout() {
    HEADER_TIMEOUTS.inc(&[]);
}

/// What is read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Scraped {
    /// Outbox attempts waiting or being made, by status; `None` if the database did not answer.
    pub outbox: Option<Vec<(&'static str, i64)>>,
    /// Accepted webhooks waiting for the committer.
    pub committer_queued: usize,
    pub committer_alive: bool,
}

/// Whether the outbox gauge could not be read the last time (logged once per failure streak).
static OUTBOX_UNREAD: AtomicBool = AtomicBool::new(false);

/// Everything, in the text exposition format.
pub fn render(scraped: &Scraped) -> String {
    let mut out = String::with_capacity(8 * 1024);
    WEBHOOKS.render(&mut out);
    STORED_UNVERIFIED.render(&mut out);
    CALL_SECONDS.render(&mut out);
    CALL_FAILURES.render(&mut out);
    SEND_ATTEMPTS.render(&mut out);
    SELECTION_SECONDS.render(&mut out);
    HTTP_REQUESTS.render(&mut out);
    OVERLOADED.render(&mut out);
    INFLIGHT.render(&mut out);
    BODY_TIMEOUTS.render(&mut out);
    HEADER_TIMEOUTS.render(&mut out);
    CONNECTIONS.render(&mut out);
    render_scraped(scraped, &mut out);
    out
}

fn render_scraped(scraped: &Scraped, out: &mut String) {
    if let Some(outbox) = &scraped.outbox {
        OUTBOX_UNREAD.store(false, Ordering::Relaxed);
        let gauge = Gauge::new(
            "switchboard_outbox_attempts",
            "Outbox attempts not yet finished, by status.",
            &["status"],
        );
        for (status, count) in outbox {
            gauge.set(&[status], *count);
        }
        gauge.render(out);
    } else if !OUTBOX_UNREAD.swap(true, Ordering::Relaxed) {
        tracing::warn!("the outbox depth could not be read for /metrics; left out");
    }
    let queued = Gauge::new(
        "switchboard_committer_queue_depth",
        "Accepted webhooks waiting for the committer.",
        &[],
    );
    queued.set(
        &[],
        i64::try_from(scraped.committer_queued).unwrap_or(i64::MAX),
    );
    queued.render(out);
    let alive = Gauge::new(
        "switchboard_committer_up",
        "Whether the webhook committer is running (1) or has stopped (0).",
        &[],
    );
    alive.set(&[], i64::from(scraped.committer_alive));
    alive.render(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_plugin_is_counted_without_its_id() {
        let before = WEBHOOKS.get(&["", webhook_status::UNKNOWN_PLUGIN]);
        webhook_unknown_plugin();
        assert_eq!(
            WEBHOOKS.get(&["", webhook_status::UNKNOWN_PLUGIN]),
            before + 1
        );
    }

    #[test]
    fn a_refused_body_is_counted_as_too_large_or_unreadable() {
        let plugin = "t-unread";
        webhook_unread(plugin, "body_too_large");
        webhook_unread(plugin, "unreadable_body");
        assert_eq!(WEBHOOKS.get(&[plugin, webhook_status::TOO_LARGE]), 1);
        assert_eq!(WEBHOOKS.get(&[plugin, webhook_status::UNREADABLE_BODY]), 1);
    }

    #[test]
    fn a_failed_plugin_call_is_timed_and_counted_by_kind() {
        let plugin = "t-call";
        plugin_call(plugin, "send", Duration::from_millis(3), None);
        plugin_call(
            plugin,
            "send",
            Duration::from_millis(7),
            Some("plugin_timeout"),
        );
        assert_eq!(CALL_SECONDS.count(&[plugin, "send"]), 2);
        assert_eq!(CALL_FAILURES.get(&[plugin, "send", "plugin_timeout"]), 1);
    }

    #[test]
    fn a_held_gauge_comes_back_down_when_dropped() {
        static HELD: Gauge = Gauge::new("t_held", "Held.", &["surface"]);
        let first = Held::new(&HELD, &["webhooks"]);
        let second = Held::new(&HELD, &["webhooks"]);
        assert_eq!(HELD.get(&["webhooks"]), 2);
        drop(first);
        assert_eq!(HELD.get(&["webhooks"]), 1);
        drop(second);
        assert_eq!(HELD.get(&["webhooks"]), 0);
    }

    #[test]
    fn scrape_time_gauges_are_written_after_the_kept_families() {
        let scraped = Scraped {
            outbox: Some(vec![("queued", 4), ("in_flight", 1)]),
            committer_queued: 2,
            committer_alive: true,
        };
        let mut out = String::new();
        render_scraped(&scraped, &mut out);
        assert_eq!(
            out,
            "# HELP switchboard_outbox_attempts Outbox attempts not yet finished, by status.\n\
             # TYPE switchboard_outbox_attempts gauge\n\
             switchboard_outbox_attempts{status=\"in_flight\"} 1\n\
             switchboard_outbox_attempts{status=\"queued\"} 4\n\
             # HELP switchboard_committer_queue_depth \
             Accepted webhooks waiting for the committer.\n\
             # TYPE switchboard_committer_queue_depth gauge\n\
             switchboard_committer_queue_depth 2\n\
             # HELP switchboard_committer_up \
             Whether the webhook committer is running (1) or has stopped (0).\n\
             # TYPE switchboard_committer_up gauge\n\
             switchboard_committer_up 1\n"
        );
    }
}
