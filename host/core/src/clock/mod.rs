//! Time as Switchboard stores it: milliseconds since the Unix epoch, UTC; and [`local_time`], the
//! same instants on a person's own clock.

pub mod local_time;

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
