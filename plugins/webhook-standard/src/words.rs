//! The contract's words as a sender writes them in an event: channels, directions and outcomes in
//! Switchboard's snake case (`no_answer`, `in_person`), the WIT's kebab case accepted as well.

use switchboard_plugin_sdk::{Channel, Direction, Outcome};

const CHANNELS: [(&str, Channel); 6] = [
    ("email", Channel::Email),
    ("sms", Channel::Sms),
    ("phone", Channel::Phone),
    ("portal", Channel::Portal),
    ("chat", Channel::Chat),
    ("in_person", Channel::InPerson),
];

const OUTCOMES: [(&str, Outcome); 22] = [
    ("queued", Outcome::Queued),
    ("sent", Outcome::Sent),
    ("deferred", Outcome::Deferred),
    ("delivered", Outcome::Delivered),
    ("opened", Outcome::Opened),
    ("clicked", Outcome::Clicked),
    ("replied", Outcome::Replied),
    ("answered", Outcome::Answered),
    ("voicemail", Outcome::Voicemail),
    ("no_answer", Outcome::NoAnswer),
    ("busy", Outcome::Busy),
    ("bounced", Outcome::Bounced),
    ("dropped", Outcome::Dropped),
    ("failed", Outcome::Failed),
    ("unsubscribed", Outcome::Unsubscribed),
    ("resubscribed", Outcome::Resubscribed),
    ("spam_reported", Outcome::SpamReported),
    ("opted_out", Outcome::OptedOut),
    ("opted_in", Outcome::OptedIn),
    ("attended", Outcome::Attended),
    ("viewed", Outcome::Viewed),
    ("unknown", Outcome::Unknown),
];

/// Every channel word, for error messages.
pub const CHANNEL_WORDS: &str = "email, sms, phone, portal, chat, in_person";

/// The channel a word names.
pub fn channel(word: &str) -> Option<Channel> {
    let word = snake(word);
    CHANNELS.iter().find(|(w, _)| *w == word).map(|(_, c)| *c)
}

/// A channel's word: the first part of a kind.
pub fn channel_word(channel: Channel) -> &'static str {
    CHANNELS
        .iter()
        .find(|(_, c)| *c == channel)
        .map_or("unknown", |(w, _)| w)
}

/// The direction a word names.
pub fn direction(word: &str) -> Option<Direction> {
    match word {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

/// The outcome a word names.
pub fn outcome(word: &str) -> Option<Outcome> {
    let word = snake(word);
    OUTCOMES.iter().find(|(w, _)| *w == word).map(|(_, o)| *o)
}

/// An outcome's word: the second part of a kind built from it.
pub fn outcome_word(outcome: Outcome) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(_, o)| *o == outcome)
        .map_or("unknown", |(w, _)| w)
}

/// The WIT spells `no-answer` and `in-person` where the log and the API spell `no_answer`.
fn snake(word: &str) -> String {
    word.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_in_both_spellings() {
        for (word, channel_value) in CHANNELS {
            assert_eq!(channel(word), Some(channel_value));
            assert_eq!(channel(&word.replace('_', "-")), Some(channel_value));
            assert_eq!(channel_word(channel_value), word);
            assert!(CHANNEL_WORDS.contains(word));
        }
        for (word, outcome_value) in OUTCOMES {
            assert_eq!(outcome(word), Some(outcome_value));
            assert_eq!(outcome(&word.replace('_', "-")), Some(outcome_value));
            assert_eq!(outcome_word(outcome_value), word);
        }
        assert_eq!(direction("inbound"), Some(Direction::Inbound));
        assert_eq!(direction("outbound"), Some(Direction::Outbound));
    }

    #[test]
    fn other_words_name_nothing() {
        assert_eq!(channel("voice"), None);
        assert_eq!(channel("SMS"), None);
        assert_eq!(outcome("read"), None);
        assert_eq!(direction("out"), None);
    }
}
