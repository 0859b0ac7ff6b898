//! Call status callbacks: Twilio posts one each time a call changes state. The mapping is
//! tabulated at the top of the crate.

use serde_json::json;
use switchboard_plugin_sdk::{Channel, Direction, Identity, Interaction, Outcome, Timestamp, form};

use crate::timestamp;

/// Who or what picked up a call, by Twilio's answering machine detection (`AnsweredBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// `human`, `unknown`, or no detection at all: an answered call counts as answered.
    Person,
    /// `machine_start`, `machine_end_beep`, `machine_end_silence`, `machine_end_other`.
    Machine,
    /// `fax`.
    Fax,
}

impl Answerer {
    pub fn of(answered_by: Option<&str>) -> Self {
        match answered_by {
            Some(word) if word.starts_with("machine_") => Answerer::Machine,
            Some("fax") => Answerer::Fax,
            _ => Answerer::Person,
        }
    }

    /// What an answered call amounted to. A fax machine took the call and nobody heard it, which
    /// is neither engagement nor a failure of the number.
    fn outcome(self) -> Outcome {
        match self {
            Answerer::Person => Outcome::Answered,
            Answerer::Machine => Outcome::Voicemail,
            Answerer::Fax => Outcome::Unknown,
        }
    }
}

/// The interaction a status callback reports.
pub fn interaction(
    params: &[(String, String)],
    contact_id: Option<String>,
    received_at: Timestamp,
) -> Result<Interaction, String> {
    let sid = required(params, "CallSid")?;
    let status = required(params, "CallStatus")?;
    let direction_word = required(params, "Direction")?;
    let direction = direction_of(direction_word)?;
    let answered_by = form::get(params, "AnsweredBy").filter(|a| !a.is_empty());
    let answerer = Answerer::of(answered_by);
    let duration_secs = duration_secs(params)?;
    let (kind, outcome) = kind_and_outcome(status, answerer);

    let mut interaction = Interaction::new(
        kind,
        Channel::Phone,
        direction,
        outcome,
        occurred_at(params, received_at)?,
    );
    interaction.vendor_status = Some(status.to_string());
    interaction.vendor_message_id = Some(sid.to_string());
    // Twilio reports each state of a call once (and retries it unchanged), so sid + status
    // identifies the event.
    interaction.vendor_event_id = Some(format!("{sid}:{status}"));
    interaction.identities = identities(params, direction, contact_id);
    interaction.summary = Some(summary(status, answerer, duration_secs));
    interaction.metadata = json!({
        "direction": direction_word,
        "duration_secs": duration_secs,
        "answered_by": answered_by,
        "from": form::get(params, "From"),
        "to": form::get(params, "To"),
        "sequence_number": form::get(params, "SequenceNumber"),
    })
    .to_string();
    Ok(interaction)
}

/// The kind and outcome of a call status, sharpened by who picked up.
pub fn kind_and_outcome(status: &str, answerer: Answerer) -> (&'static str, Outcome) {
    match status {
        "queued" => ("phone_queued", Outcome::Queued),
        "initiated" => ("phone_initiated", Outcome::Queued),
        "ringing" => ("phone_ringing", Outcome::Sent),
        // `answered` is the name of the event we subscribe to; Twilio reports it as `in-progress`.
        "in-progress" | "answered" => match answerer {
            Answerer::Person => ("phone_answered", Outcome::Answered),
            Answerer::Machine => ("phone_voicemail", Outcome::Voicemail),
            Answerer::Fax => ("phone_fax", Outcome::Unknown),
        },
        "completed" => ("phone_completed", answerer.outcome()),
        "busy" => ("phone_busy", Outcome::Busy),
        "no-answer" => ("phone_no_answer", Outcome::NoAnswer),
        "failed" => ("phone_failed", Outcome::Failed),
        "canceled" => ("phone_canceled", Outcome::Failed),
        _ => ("phone_status", Outcome::Unknown),
    }
}

/// The outcome of a call status word.
pub fn outcome_of(status: &str, answered_by: Option<&str>) -> Outcome {
    kind_and_outcome(status, Answerer::of(answered_by)).1
}

/// Which way the call went. The person's number depends on it, so a direction we do not know is
/// refused rather than guessed.
fn direction_of(word: &str) -> Result<Direction, String> {
    match word {
        "inbound" => Ok(Direction::Inbound),
        "outbound-api" | "outbound-dial" => Ok(Direction::Outbound),
        other => Err(format!(
            "unknown Direction {other:?}; expected inbound, outbound-api or outbound-dial"
        )),
    }
}

/// Who the call is about: our contact id when the callback URL carries it, then the person's
/// number, the one that is not ours (the callee of our call, the caller of theirs).
fn identities(
    params: &[(String, String)],
    direction: Direction,
    contact_id: Option<String>,
) -> Vec<Identity> {
    let person = match direction {
        Direction::Outbound => form::get(params, "To"),
        Direction::Inbound => form::get(params, "From"),
    };
    contact_id
        .map(Identity::ContactId)
        .into_iter()
        .chain(
            person
                .filter(|p| !p.is_empty())
                .map(|p| Identity::Phone(p.to_string())),
        )
        .collect()
}

/// `CallDuration`: whole seconds, sent with `completed`.
fn duration_secs(params: &[(String, String)]) -> Result<Option<u64>, String> {
    form::get(params, "CallDuration")
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<u64>()
                .map_err(|_| format!("CallDuration is not a whole number of seconds: {d:?}"))
        })
        .transpose()
}

/// `Timestamp` (RFC 2822) when Twilio gives it, else the time of receipt.
fn occurred_at(params: &[(String, String)], received_at: Timestamp) -> Result<Timestamp, String> {
    match form::get(params, "Timestamp").filter(|t| !t.is_empty()) {
        None => Ok(received_at),
        Some(text) => timestamp::parse_rfc2822(text)
            .ok_or_else(|| format!("Timestamp is not an RFC 2822 date: {text:?}")),
    }
}

/// The timeline line of a call state.
pub fn summary(status: &str, answerer: Answerer, duration_secs: Option<u64>) -> String {
    let answered = match answerer {
        Answerer::Person => "Call answered",
        Answerer::Machine => "Answering machine picked up",
        Answerer::Fax => "A fax machine picked up",
    };
    match status {
        "queued" => "Call queued".to_string(),
        "initiated" => "Call initiated".to_string(),
        "ringing" => "Ringing".to_string(),
        "in-progress" | "answered" => answered.to_string(),
        "completed" => completed_summary(answerer, duration_secs),
        "busy" => "Line busy".to_string(),
        "no-answer" => "No answer".to_string(),
        "failed" => "Call failed".to_string(),
        "canceled" => "Call canceled".to_string(),
        other => format!("Call {other}"),
    }
}

fn completed_summary(answerer: Answerer, duration_secs: Option<u64>) -> String {
    let head = match answerer {
        Answerer::Person => "Call completed",
        Answerer::Machine => "Call completed: voicemail",
        Answerer::Fax => "Call completed: fax machine",
    };
    match duration_secs {
        Some(secs) => format!("{head} ({})", duration_text(secs)),
        None => head.to_string(),
    }
}

/// `45s`, `5m 12s`, `1h 2m 3s`.
pub fn duration_text(secs: u64) -> String {
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m {seconds}s"),
        _ => format!("{hours}h {minutes}m {seconds}s"),
    }
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, String> {
    form::get(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("status callback without {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    fn params(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An outbound call's callback, plus `extra` parameters.
    fn outbound(status: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = params(&[
            ("CallSid", "CA1"),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
            ("From", "+15005550006"),
            ("To", "+14155550100"),
        ]);
        p.extend(params(extra));
        p
    }

    #[test]
    fn maps_every_status() {
        let cases = [
            ("queued", "phone_queued", Outcome::Queued),
            ("initiated", "phone_initiated", Outcome::Queued),
            ("ringing", "phone_ringing", Outcome::Sent),
            ("in-progress", "phone_answered", Outcome::Answered),
            ("answered", "phone_answered", Outcome::Answered),
            ("completed", "phone_completed", Outcome::Answered),
            ("busy", "phone_busy", Outcome::Busy),
            ("no-answer", "phone_no_answer", Outcome::NoAnswer),
            ("failed", "phone_failed", Outcome::Failed),
            ("canceled", "phone_canceled", Outcome::Failed),
            ("paused", "phone_status", Outcome::Unknown),
        ];
        for (status, kind, outcome) in cases {
            assert_eq!(
                kind_and_outcome(status, Answerer::Person),
                (kind, outcome),
                "{status}"
            );
            assert_eq!(outcome_of(status, None), outcome, "{status}");
        }
    }

    #[test]
    fn a_machine_makes_an_answered_call_voicemail_and_a_fax_unknown() {
        for word in [
            "machine_start",
            "machine_end_beep",
            "machine_end_silence",
            "machine_end_other",
        ] {
            assert_eq!(Answerer::of(Some(word)), Answerer::Machine, "{word}");
            assert_eq!(outcome_of("completed", Some(word)), Outcome::Voicemail);
        }
        for word in [Some("human"), Some("unknown"), None] {
            assert_eq!(Answerer::of(word), Answerer::Person, "{word:?}");
        }
        assert_eq!(
            kind_and_outcome("in-progress", Answerer::Machine),
            ("phone_voicemail", Outcome::Voicemail)
        );
        assert_eq!(
            kind_and_outcome("in-progress", Answerer::Fax),
            ("phone_fax", Outcome::Unknown)
        );
        assert_eq!(outcome_of("completed", Some("fax")), Outcome::Unknown);
        // Only an answered call can have been answered by a machine.
        assert_eq!(
            outcome_of("no-answer", Some("machine_start")),
            Outcome::NoAnswer
        );
    }

    #[test]
    fn a_completed_outbound_call_carries_its_duration_and_the_callee() {
        let p = outbound(
            "completed",
            &[
                ("CallDuration", "312"),
                ("AnsweredBy", "human"),
                ("SequenceNumber", "3"),
                ("Timestamp", "Tue, 14 Nov 2023 22:13:20 +0000"),
            ],
        );
        let i = interaction(&p, Some("7".into()), RECEIVED_AT).unwrap();
        assert_eq!(i.kind, "phone_completed");
        assert_eq!(i.channel, Channel::Phone);
        assert_eq!(i.direction, Direction::Outbound);
        assert_eq!(i.outcome, Outcome::Answered);
        assert_eq!(i.vendor_status.as_deref(), Some("completed"));
        assert_eq!(i.vendor_message_id.as_deref(), Some("CA1"));
        assert_eq!(i.vendor_event_id.as_deref(), Some("CA1:completed"));
        assert_eq!(i.occurred_at, 1_700_000_000_000);
        assert_eq!(i.summary.as_deref(), Some("Call completed (5m 12s)"));
        assert!(matches!(&i.identities[0], Identity::ContactId(id) if id == "7"));
        assert!(matches!(&i.identities[1], Identity::Phone(p) if p == "+14155550100"));
        assert_eq!(i.identities.len(), 2);
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert_eq!(metadata["duration_secs"], 312);
        assert_eq!(metadata["direction"], "outbound-api");
        assert_eq!(metadata["answered_by"], "human");
        assert_eq!(metadata["sequence_number"], "3");
    }

    #[test]
    fn an_inbound_call_is_about_the_caller() {
        let p = params(&[
            ("CallSid", "CA2"),
            ("CallStatus", "completed"),
            ("Direction", "inbound"),
            ("From", "+14155550123"),
            ("To", "+15005550006"),
            ("CallDuration", "45"),
        ]);
        let i = interaction(&p, None, RECEIVED_AT).unwrap();
        assert_eq!(i.direction, Direction::Inbound);
        assert_eq!(
            i.occurred_at, RECEIVED_AT,
            "no Timestamp: the time of receipt"
        );
        assert_eq!(i.summary.as_deref(), Some("Call completed (45s)"));
        assert!(matches!(&i.identities[..], [Identity::Phone(p)] if p == "+14155550123"));
    }

    #[test]
    fn a_voicemail_says_so_in_its_summary() {
        let p = outbound(
            "completed",
            &[("CallDuration", "32"), ("AnsweredBy", "machine_end_beep")],
        );
        let i = interaction(&p, None, RECEIVED_AT).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.outcome),
            ("phone_completed", Outcome::Voicemail)
        );
        assert_eq!(
            i.summary.as_deref(),
            Some("Call completed: voicemail (32s)")
        );
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert_eq!(metadata["answered_by"], "machine_end_beep");
    }

    #[test]
    fn summaries_name_each_state() {
        let cases = [
            ("queued", "Call queued"),
            ("initiated", "Call initiated"),
            ("ringing", "Ringing"),
            ("in-progress", "Call answered"),
            ("completed", "Call completed"),
            ("busy", "Line busy"),
            ("no-answer", "No answer"),
            ("failed", "Call failed"),
            ("canceled", "Call canceled"),
            ("paused", "Call paused"),
        ];
        for (status, expected) in cases {
            assert_eq!(summary(status, Answerer::Person, None), expected);
        }
    }

    #[test]
    fn durations_read_as_hours_minutes_and_seconds() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(59), "59s");
        assert_eq!(duration_text(60), "1m 0s");
        assert_eq!(duration_text(312), "5m 12s");
        assert_eq!(duration_text(3723), "1h 2m 3s");
    }

    #[test]
    fn malformed_callbacks_name_the_parameter() {
        let cases: [(Vec<(String, String)>, &str); 6] = [
            (
                params(&[("CallStatus", "ringing"), ("Direction", "inbound")]),
                "status callback without CallSid",
            ),
            (
                params(&[("CallSid", "CA1"), ("Direction", "inbound")]),
                "status callback without CallStatus",
            ),
            (
                params(&[("CallSid", "CA1"), ("CallStatus", "ringing")]),
                "status callback without Direction",
            ),
            (
                params(&[
                    ("CallSid", "CA1"),
                    ("CallStatus", "ringing"),
                    ("Direction", "sideways"),
                ]),
                "unknown Direction \"sideways\"",
            ),
            (
                outbound("completed", &[("CallDuration", "5m")]),
                "CallDuration is not a whole number of seconds: \"5m\"",
            ),
            (
                outbound("completed", &[("Timestamp", "yesterday")]),
                "Timestamp is not an RFC 2822 date: \"yesterday\"",
            ),
        ];
        for (p, expected) in cases {
            let error = interaction(&p, None, RECEIVED_AT).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
