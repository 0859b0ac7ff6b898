//! The consent words: whether a person is opted in or out of a channel, and where that came from.

vocabulary!(
    /// Opted in or out.
    ConsentStatus {
        OptedIn => "opted_in",
        OptedOut => "opted_out",
    }
);

vocabulary!(
    /// Where a consent change came from.
    ConsentSource {
        /// An inbound STOP (or another opt-out keyword).
        InboundStop => "inbound_stop",
        /// An inbound START (or another opt-in keyword).
        InboundStart => "inbound_start",
        Unsubscribe => "unsubscribe",
        Resubscribe => "resubscribe",
        SpamReport => "spam_report",
        /// Staff, on the person's word.
        Staff => "staff",
        /// The person, in the portal's preference centre.
        PreferenceCentre => "preference_centre",
    }
);

impl ConsentSource {
    /// How a reason names it: "opted out via STOP".
    pub fn describe(self) -> &'static str {
        match self {
            ConsentSource::InboundStop => "STOP",
            ConsentSource::InboundStart => "START",
            ConsentSource::Unsubscribe => "unsubscribe",
            ConsentSource::Resubscribe => "resubscribe",
            ConsentSource::SpamReport => "spam report",
            ConsentSource::Staff => "staff",
            ConsentSource::PreferenceCentre => "the preference centre",
        }
    }
}
