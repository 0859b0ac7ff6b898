//! The words of one interaction: the channel it went through, which way it went and what it
//! amounted to; and [`LoggedInteraction`], what a logged one tells.

vocabulary!(
    /// A way of reaching a person.
    Channel {
        Email => "email",
        Sms => "sms",
        Phone => "phone",
        Portal => "portal",
        InPerson => "in_person",
        Chat => "chat",
        /// Switchboard's own records about a contact (a merge, say): in the timeline, never a way
        /// of reaching anyone, and no plugin serves it.
        System => "system",
    }
);

vocabulary!(
    /// Which way an interaction went, seen from the organisation.
    Direction {
        Outbound => "outbound",
        Inbound => "inbound",
    }
);

vocabulary!(
    /// What an interaction amounted to, normalized across vendors (see `wit/types.wit`).
    Outcome {
        Queued => "queued",
        Sent => "sent",
        Deferred => "deferred",
        Delivered => "delivered",
        Opened => "opened",
        Clicked => "clicked",
        Replied => "replied",
        Answered => "answered",
        Voicemail => "voicemail",
        NoAnswer => "no_answer",
        Busy => "busy",
        Bounced => "bounced",
        Dropped => "dropped",
        Failed => "failed",
        Unsubscribed => "unsubscribed",
        Resubscribed => "resubscribed",
        SpamReported => "spam_reported",
        OptedOut => "opted_out",
        OptedIn => "opted_in",
        Attended => "attended",
        Viewed => "viewed",
        /// A conversation or record that took place (in-person, logged by staff).
        Completed => "completed",
        Unknown => "unknown",
    }
);

/// What a logged interaction about a contact tells: what every reaction to a new interaction
/// (the engagement counters, the consent ledger, the outbox) reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedInteraction {
    /// Its id in the log.
    pub id: i64,
    pub contact_id: i64,
    pub channel: Channel,
    pub direction: Direction,
    pub outcome: Outcome,
    pub occurred_at: i64,
    pub vendor_message_id: Option<String>,
    pub time_to_action_ms: Option<i64>,
}

impl Outcome {
    /// Outcomes that mark the moment a message left us: the anchor for time-to-action.
    pub fn starts_a_message(self) -> bool {
        matches!(self, Outcome::Queued | Outcome::Sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(*channel));
        }
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(*outcome));
        }
        assert_eq!(Channel::parse("fax"), None);
    }

    #[test]
    fn serde_uses_the_stored_word() {
        assert_eq!(
            serde_json::to_string(&Channel::InPerson).unwrap(),
            "\"in_person\""
        );
        assert_eq!(
            serde_json::to_string(&Outcome::SpamReported).unwrap(),
            "\"spam_reported\""
        );
    }
}
