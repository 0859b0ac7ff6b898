//! The outbox's rules, apart from storage: what a vendor's later event means for an attempt,
//! which channel a message falls back to, and when a failed try is tried again.

use switchboard_core::domain::{AttemptStatus, Channel, Outcome};

/// What an event about an attempt's message says about the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It reached the person, or they engaged with it: no other channel is tried.
    Reached,
    /// It did not reach them (bounce, undelivered, unanswered call): fall back.
    Missed,
}

/// The verdict of an outcome, if it settles anything. A deferral, an unsubscribe or a spam report
/// settles nothing: the message was delivered or is still on its way.
pub fn verdict(outcome: Outcome) -> Option<Verdict> {
    match outcome {
        Outcome::Delivered
        | Outcome::Opened
        | Outcome::Clicked
        | Outcome::Replied
        | Outcome::Answered
        | Outcome::Voicemail
        | Outcome::Viewed => Some(Verdict::Reached),
        Outcome::Bounced
        | Outcome::Dropped
        | Outcome::Failed
        | Outcome::NoAnswer
        | Outcome::Busy => Some(Verdict::Missed),
        _ => None,
    }
}

/// What a verdict makes of an attempt in `status`, if it changes it: a reach delivers a sent
/// attempt (or one that failed: the vendor's later word wins), a miss fails a sent one. An
/// attempt not yet sent, or already settled, stays as it is.
pub fn settled(status: AttemptStatus, found: Verdict) -> Option<AttemptStatus> {
    match (status, found) {
        (AttemptStatus::Sent | AttemptStatus::Failed, Verdict::Reached) => {
            Some(AttemptStatus::Delivered)
        }
        (AttemptStatus::Sent, Verdict::Missed) => Some(AttemptStatus::Failed),
        _ => None,
    }
}

/// The next channel of `plan` not yet tried.
pub fn next_channel(plan: &[Channel], tried: &[Channel]) -> Option<Channel> {
    plan.iter().copied().find(|c| !tried.contains(c))
}

/// How often and how patiently a failed try is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per attempt, the first included; then the attempt has failed.
    pub max_tries: u32,
    /// The wait before the second try; it doubles with each further one.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            base_delay_ms: 2_000,
            max_delay_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// When to try again after `tries` tries, or `None` when they are used up. Exponential
    /// backoff with jitter (between half and all of the doubled delay, so that messages that
    /// failed together do not retry together), and never before the vendor's `Retry-After`.
    /// `jitter` is a uniform draw in [0, 1).
    pub fn next_try(
        &self,
        tries: u32,
        now: i64,
        retry_after_ms: Option<u64>,
        jitter: f64,
    ) -> Option<i64> {
        if tries >= self.max_tries {
            return None;
        }
        let doubled = self
            .base_delay_ms
            .saturating_mul(1u64 << tries.saturating_sub(1).min(30))
            .min(self.max_delay_ms);
        let jittered = doubled / 2 + ((doubled / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64;
        let wait = jittered.max(retry_after_ms.unwrap_or(0));
        Some(now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_and_engagement_settle_a_message_and_bounces_move_it_on() {
        assert_eq!(verdict(Outcome::Delivered), Some(Verdict::Reached));
        assert_eq!(verdict(Outcome::Answered), Some(Verdict::Reached));
        assert_eq!(verdict(Outcome::Bounced), Some(Verdict::Missed));
        assert_eq!(verdict(Outcome::NoAnswer), Some(Verdict::Missed));
        assert_eq!(verdict(Outcome::Deferred), None);
        assert_eq!(verdict(Outcome::Sent), None);
        assert_eq!(verdict(Outcome::Unsubscribed), None);
    }

    #[test]
    fn a_reach_delivers_a_sent_or_failed_attempt_and_a_miss_fails_only_a_sent_one() {
        use AttemptStatus::*;
        assert_eq!(settled(Sent, Verdict::Reached), Some(Delivered));
        assert_eq!(settled(Failed, Verdict::Reached), Some(Delivered));
        assert_eq!(settled(Sent, Verdict::Missed), Some(Failed));
        assert_eq!(settled(Failed, Verdict::Missed), None);
        assert_eq!(settled(Delivered, Verdict::Missed), None);
        assert_eq!(settled(Queued, Verdict::Reached), None);
        assert_eq!(settled(InFlight, Verdict::Reached), None);
        assert_eq!(settled(Cancelled, Verdict::Reached), None);
    }

    #[test]
    fn each_channel_is_tried_once_in_plan_order() {
        let plan = [Channel::Email, Channel::Sms, Channel::Portal];
        assert_eq!(next_channel(&plan, &[]), Some(Channel::Email));
        assert_eq!(next_channel(&plan, &[Channel::Email]), Some(Channel::Sms));
        assert_eq!(next_channel(&plan, &plan), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_limit() {
        let policy = RetryPolicy {
            max_tries: 4,
            base_delay_ms: 1_000,
            max_delay_ms: 3_000,
        };
        // After the first try: between 500 and 1,000 ms.
        assert_eq!(policy.next_try(1, 0, None, 0.0), Some(500));
        assert_eq!(policy.next_try(1, 0, None, 0.999), Some(999));
        // After the second: 2,000 doubled, so 1,000–2,000.
        assert_eq!(policy.next_try(2, 0, None, 0.0), Some(1_000));
        // After the third: capped at 3,000.
        assert_eq!(policy.next_try(3, 10, None, 1.0), Some(3_010));
        assert_eq!(policy.next_try(4, 0, None, 0.5), None);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_try(1, 0, Some(30_000), 0.0), Some(30_000));
        // A short Retry-After does not make the backoff shorter.
        assert_eq!(policy.next_try(1, 0, Some(10), 0.0), Some(1_000));
    }
}
