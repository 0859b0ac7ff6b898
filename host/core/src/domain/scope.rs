//! What an API key may do.

vocabulary!(
    /// What a key may do. A route names the one scope it needs; no scope implies another.
    Scope {
        /// Plugins, keys and the audit log.
        Admin => "admin",
        /// Contacts, identities, logging interactions, timelines, intents.
        Staff => "staff",
        /// Sending messages.
        Sender => "sender",
        /// Reading analytics.
        Analyst => "analyst",
        /// Exporting and erasing everything held about a person.
        Privacy => "privacy",
        /// The organisation's portal app: contacts' portal inboxes.
        Portal => "portal",
        /// Reading the server's Prometheus metrics (`GET /metrics`; an admin key may read them too).
        Metrics => "metrics",
    }
);
