//! The words of a message in the outbox: how pressing it is, and where it and each attempt that
//! carries it stand.

use super::Channel;

vocabulary!(
    /// How pressing a message is.
    Urgency {
        Low => "low",
        Normal => "normal",
        High => "high",
    }
);

vocabulary!(
    /// Where a message stands.
    MessageStatus {
        /// An attempt is queued or being made.
        Pending => "pending",
        /// A carrier took it; no word yet of delivery.
        Sent => "sent",
        /// It reached the person or they engaged: final.
        Delivered => "delivered",
        /// No channel is left to try: final.
        Failed => "failed",
        /// A carrier was called, but whether the vendor took it could not be recorded, twice over:
        /// not tried again (it might reach them twice) and not fallen back from. Final.
        Unknown => "unknown",
    }
);

vocabulary!(
    /// Where an attempt stands.
    AttemptStatus {
        Queued => "queued",
        InFlight => "in_flight",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        /// Not made: an earlier attempt reached the person.
        Cancelled => "cancelled",
        /// Carried, but the vendor's answer could not be recorded: stopped, see [`MessageStatus::Unknown`].
        Unknown => "unknown",
    }
);

vocabulary!(
    /// A line of a message's history: what happened to it or to one of its attempts.
    HistoryEvent {
        /// Accepted, with its plan.
        Accepted => "accepted",
        /// Put back untried: its channel waits (quiet hours, a pacing rule).
        Deferred => "deferred",
        /// Put back untried: its plugin had no free instance.
        PluginBusy => "plugin_busy",
        /// The carrier took it.
        Sent => "sent",
        /// A later event showed it arrived (or was answered, or read).
        Delivered => "delivered",
        /// A later event showed it did not arrive (a bounce, an unanswered call).
        Missed => "missed",
        /// Moved on to the next channel of its plan.
        Fallback => "fallback",
        /// A try failed in a way a retry may mend; tried again later.
        RetryScheduled => "retry_scheduled",
        /// A try ended without knowing whether the vendor took it.
        OutcomeUnknown => "outcome_unknown",
        /// A result came back after its lease ran out, and was not applied.
        LateResult => "late_result",
        /// An attempt failed for good.
        Failed => "failed",
        /// Not needed any more: another attempt of the message delivered it.
        Cancelled => "cancelled",
        /// No channel is left to try.
        GaveUp => "gave_up",
    }
);

/// One channel of a message's plan, with selection's word on it: the one shape of a plan, in the
/// answer to a send and in the message read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlannedChannel {
    pub channel: Channel,
    pub reason: String,
}
