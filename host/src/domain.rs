//! The shared words: channel, direction, outcome. One spelling for each, used the same in SQL, in
//! the API and in `plugins.toml` (snake case); the WIT contract has its own kebab-case twins,
//! converted at the runtime's border.

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored word.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

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
