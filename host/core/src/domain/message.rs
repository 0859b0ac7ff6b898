//! The words of a message in the outbox: how pressing it is, and where it and each attempt that
//! carries it stand.

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
