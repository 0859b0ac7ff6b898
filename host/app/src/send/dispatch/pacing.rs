//! Per-plugin send pacing: a token bucket for the operator's `sends_per_second`, and a pause
//! after a vendor's rate-limit answer, so that one 429 holds back every queued send to that
//! vendor rather than each finding out on its own.

use std::collections::HashMap;
use std::sync::Mutex;

/// The pacing of every plugin, by id.
#[derive(Debug, Default)]
pub struct Pacing {
    plugins: Mutex<HashMap<String, Pace>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pace {
    /// Tokens left, refilled at the plugin's rate up to one second's worth.
    tokens: f64,
    refilled_at: i64,
    paused_until: i64,
}

impl Pacing {
    /// Takes a send slot for `plugin` at `now`, or says when one will be free. `per_second`
    /// `None` means unpaced (a vendor pause still applies).
    pub fn take(&self, plugin: &str, per_second: Option<u32>, now: i64) -> Result<(), i64> {
        let mut plugins = match self.plugins.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let pace = plugins.entry(plugin.to_string()).or_insert(Pace {
            tokens: f64::from(per_second.unwrap_or(0)),
            refilled_at: now,
            paused_until: 0,
        });
        if pace.paused_until > now {
            return Err(pace.paused_until);
        }
        let Some(rate) = per_second.map(f64::from).filter(|r| *r > 0.0) else {
            return Ok(());
        };
        let elapsed = (now - pace.refilled_at).max(0) as f64 / 1000.0;
        pace.tokens = (pace.tokens + elapsed * rate).min(rate.max(1.0));
        pace.refilled_at = now;
        if pace.tokens >= 1.0 {
            pace.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = ((1.0 - pace.tokens) / rate * 1000.0).ceil() as i64;
            Err(now + wait_ms.max(1))
        }
    }

    /// Holds every send to `plugin` until `until` (the vendor said to slow down).
    pub fn pause(&self, plugin: &str, until: i64) {
        let mut plugins = match self.plugins.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let pace = plugins.entry(plugin.to_string()).or_default();
        pace.paused_until = pace.paused_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_plugin_gets_its_rate_and_no_more() {
        let pacing = Pacing::default();
        // Two a second: the first second's two go at once, the third waits half a second.
        assert_eq!(pacing.take("sms", Some(2), 0), Ok(()));
        assert_eq!(pacing.take("sms", Some(2), 0), Ok(()));
        assert_eq!(pacing.take("sms", Some(2), 0), Err(500));
        assert_eq!(pacing.take("sms", Some(2), 500), Ok(()));
        // Another plugin has its own bucket; an unpaced one is never held.
        assert_eq!(pacing.take("email", Some(1), 0), Ok(()));
        for _ in 0..100 {
            assert_eq!(pacing.take("portal", None, 0), Ok(()));
        }
    }

    #[test]
    fn a_vendor_pause_holds_every_send_to_it() {
        let pacing = Pacing::default();
        pacing.pause("email", 30_000);
        assert_eq!(pacing.take("email", None, 1_000), Err(30_000));
        assert_eq!(pacing.take("sms", None, 1_000), Ok(()));
        // A shorter pause does not shorten a longer one.
        pacing.pause("email", 5_000);
        assert_eq!(pacing.take("email", None, 29_999), Err(30_000));
        assert_eq!(pacing.take("email", None, 30_000), Ok(()));
    }
}
