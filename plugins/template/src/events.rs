//! The example vendor's webhook body → interactions, one per event.
//!
//! Fields are read one by one from the JSON, so that a malformed batch is refused with a message
//! that names the event and the field (``event 2: missing `to` ``), which the vendor's support or
//! the operator can act on.

use serde_json::Value;
use switchboard_plugin_sdk::{Direction, Identity, Interaction, Outcome};

use crate::{CHANNEL, CHANNEL_WORD};

/// 2000-01-01 in Unix milliseconds. An earlier `occurred_at` is almost surely seconds sent where
/// milliseconds belong, which would otherwise land silently in January 1970.
const EARLIEST_OCCURRED_AT_MS: i64 = 946_684_800_000;
/// The contract caps an interaction's metadata, where each event is kept, at 64 KiB.
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Parses a whole batch. One bad event fails the batch: Switchboard keeps the raw request, and
/// the vendor can resend or the operator replay it once the cause is fixed.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Interaction>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let events = body
        .get("events")
        .and_then(Value::as_array)
        .ok_or("body has no `events` array")?;
    events
        .iter()
        .enumerate()
        .map(|(index, event)| parse_event(event).map_err(|e| format!("event {index}: {e}")))
        .collect()
}

fn parse_event(event: &Value) -> Result<Interaction, String> {
    if !event.is_object() {
        return Err("not a JSON object".into());
    }
    let metadata = event.to_string();
    if metadata.len() > MAX_EVENT_BYTES {
        return Err(format!("larger than {MAX_EVENT_BYTES} bytes"));
    }
    let id = required(event, "id")?;
    let status = required(event, "status")?;
    let to = required(event, "to")?;
    let occurred_at = event
        .get("occurred_at")
        .ok_or("missing `occurred_at`")?
        .as_i64()
        .ok_or("`occurred_at` is not an integer (Unix milliseconds)")?;
    if occurred_at < EARLIEST_OCCURRED_AT_MS {
        return Err(format!(
            "`occurred_at` {occurred_at} is before 2000: it must be Unix milliseconds, not seconds"
        ));
    }

    let (kind, outcome) = kind_and_outcome(status);
    let mut interaction =
        Interaction::new(&kind, CHANNEL, direction_of(outcome), outcome, occurred_at);
    interaction.vendor_status = Some(status.to_string());
    // The vendor's event id makes a retried webhook add nothing: Switchboard logs each id once.
    interaction.vendor_event_id = Some(id.to_string());
    // The id our `send` returned: it joins this event to the send and the message's other events.
    interaction.vendor_message_id = optional(event, "message_id")?.map(str::to_string);
    // Strongest hint first: our own contact id, echoed back, wins over an address.
    if let Some(contact_id) = optional(event, "contact_id")? {
        interaction
            .identities
            .push(Identity::ContactId(contact_id.to_string()));
    }
    // The host normalizes the address (lowercase email, E.164 phone) and drops it if it is not one.
    interaction.identities.push(if to.contains('@') {
        Identity::Email(to.to_string())
    } else {
        Identity::Phone(to.to_string())
    });
    interaction.metadata = metadata;
    Ok(interaction)
}

/// The outcome of a status word; what `map_outcome` answers.
pub fn outcome_of(status: &str) -> Outcome {
    kind_and_outcome(status).1
}

/// The interaction kind (`<channel>_<event>`) and outcome of a status word. A word the vendor
/// adds later is logged as `<channel>_status` with outcome `unknown`, rather than guessed at.
fn kind_and_outcome(status: &str) -> (String, Outcome) {
    let (event, outcome) = match status {
        "queued" => ("queued", Outcome::Queued),
        // `<channel>_sent` is the kind of Switchboard's own record of a send; the vendor's `sent`
        // means it handed the message on, so it gets a word of its own.
        "sent" => ("dispatched", Outcome::Sent),
        "delivered" => ("delivered", Outcome::Delivered),
        "failed" => ("failed", Outcome::Failed),
        "bounced" => ("bounced", Outcome::Bounced),
        "opened" => ("opened", Outcome::Opened),
        "clicked" => ("clicked", Outcome::Clicked),
        "replied" => ("replied", Outcome::Replied),
        _ => ("status", Outcome::Unknown),
    };
    (format!("{CHANNEL_WORD}_{event}"), outcome)
}

/// A reply is the person writing to us; everything else happened to a message we sent.
fn direction_of(outcome: Outcome) -> Direction {
    match outcome {
        Outcome::Replied => Direction::Inbound,
        _ => Direction::Outbound,
    }
}

fn required<'a>(event: &'a Value, field: &str) -> Result<&'a str, String> {
    optional(event, field)?.ok_or_else(|| format!("missing `{field}`"))
}

/// A text field; absent, `null` and `""` all count as absent.
fn optional<'a>(event: &'a Value, field: &str) -> Result<Option<&'a str>, String> {
    match event.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str()).filter(|t| !t.is_empty())),
        Some(_) => Err(format!("`{field}` is not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &str = r#"{"events": [
        {"id": "evt_1", "status": "delivered", "to": "+14155550100", "message_id": "msg_1",
         "occurred_at": 1700000000000, "contact_id": "42"},
        {"id": "evt_2", "status": "opened", "to": "ana@example.org", "occurred_at": 1700000001000}
    ]}"#;

    #[test]
    fn each_event_becomes_one_interaction() {
        let interactions = parse_batch(BATCH.as_bytes()).unwrap();
        assert_eq!(interactions.len(), 2);

        let delivered = &interactions[0];
        assert_eq!(delivered.kind, format!("{CHANNEL_WORD}_delivered"));
        assert_eq!(delivered.channel, CHANNEL);
        assert_eq!(delivered.direction, Direction::Outbound);
        assert_eq!(delivered.outcome, Outcome::Delivered);
        assert_eq!(delivered.vendor_status.as_deref(), Some("delivered"));
        assert_eq!(delivered.vendor_event_id.as_deref(), Some("evt_1"));
        assert_eq!(delivered.vendor_message_id.as_deref(), Some("msg_1"));
        assert_eq!(delivered.occurred_at, 1_700_000_000_000);
        assert!(matches!(&delivered.identities[0], Identity::ContactId(id) if id == "42"));
        assert!(matches!(&delivered.identities[1], Identity::Phone(p) if p == "+14155550100"));
        assert!(delivered.metadata.contains(r#""id":"evt_1""#));

        let opened = &interactions[1];
        assert_eq!(opened.vendor_message_id, None);
        assert!(matches!(&opened.identities[..], [Identity::Email(e)] if e == "ana@example.org"));
    }

    #[test]
    fn maps_every_status() {
        let cases = [
            ("queued", "queued", Outcome::Queued),
            ("sent", "dispatched", Outcome::Sent),
            ("delivered", "delivered", Outcome::Delivered),
            ("failed", "failed", Outcome::Failed),
            ("bounced", "bounced", Outcome::Bounced),
            ("opened", "opened", Outcome::Opened),
            ("clicked", "clicked", Outcome::Clicked),
            ("replied", "replied", Outcome::Replied),
            ("paused", "status", Outcome::Unknown),
        ];
        for (status, event, outcome) in cases {
            let kind = format!("{CHANNEL_WORD}_{event}");
            assert_eq!(kind_and_outcome(status), (kind, outcome), "{status}");
            assert_eq!(outcome_of(status), outcome, "{status}");
        }
        assert_eq!(direction_of(Outcome::Replied), Direction::Inbound);
    }

    #[test]
    fn an_empty_batch_is_fine() {
        assert!(parse_batch(br#"{"events": []}"#).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_batch_names_the_event_and_the_field() {
        let good = r#"{"id": "e", "status": "sent", "to": "+1", "occurred_at": 1700000000000}"#;
        let cases = [
            ("[]".to_string(), "no `events` array"),
            ("{".to_string(), "not JSON"),
            (format!(r#"{{"events": [{good}, 7]}}"#), "event 1: not a JSON object"),
            (
                format!(r#"{{"events": [{good}, {{"id": "e2", "status": "sent"}}]}}"#),
                "event 1: missing `to`",
            ),
            (
                r#"{"events": [{"id": "e", "status": 5, "to": "+1"}]}"#.to_string(),
                "event 0: `status` is not a string",
            ),
            (
                r#"{"events": [{"id": "", "status": "sent", "to": "+1"}]}"#.to_string(),
                "event 0: missing `id`",
            ),
            (
                r#"{"events": [{"id": "e", "status": "sent", "to": "+1", "occurred_at": "soon"}]}"#
                    .to_string(),
                "event 0: `occurred_at` is not an integer",
            ),
            (
                r#"{"events": [{"id": "e", "status": "sent", "to": "+1", "occurred_at": 1700000000}]}"#
                    .to_string(),
                "not seconds",
            ),
        ];
        for (body, expected) in cases {
            let why = parse_batch(body.as_bytes()).unwrap_err();
            assert!(why.contains(expected), "{body}: {why}");
        }
    }
}

/// Fuzzing of the parser, natively: arbitrary bytes, JSON-ish text and batches of arbitrary events
/// never panic, and are either parsed or refused with a reason.
///
/// A small generator of its own rather than a fuzzing crate, so that a plugin made from this
/// template passes its tests with nothing added to its manifest. 300 cases per property; for a
/// longer run, `FUZZ_CASES=100000 cargo test fuzz`.
#[cfg(test)]
mod fuzz {
    use super::*;

    /// xorshift64*: deterministic, so a failure names a case that can be run again.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    fn cases() -> u64 {
        std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(300)
    }

    /// Runs `property` on `cases()` inputs made by `make`, naming the failing seed.
    fn for_each_case(make: impl Fn(&mut Rng) -> Vec<u8>, property: impl Fn(&[u8])) {
        for seed in 1..=cases() {
            let input = make(&mut Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(&input)));
            assert!(
                outcome.is_ok(),
                "seed {seed}: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    /// Text made of JSON's own pieces, mostly in an order that almost parses.
    fn json_ish(rng: &mut Rng) -> Vec<u8> {
        const PIECES: [&str; 24] = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"events\"",
            "\"id\"",
            "\"status\"",
            "\"to\"",
            "\"occurred_at\"",
            "\"contact_id\"",
            "\"message_id\"",
            "\"delivered\"",
            "\"+1\"",
            "1700000000000",
            "-1",
            "1e400",
            "null",
            "true",
            "\"\\u0000\"",
            "\"\\ud800\"",
            " ",
            "\"é\"",
        ];
        let len = rng.below(40);
        (0..len)
            .map(|_| rng.pick(&PIECES))
            .collect::<String>()
            .into_bytes()
    }

    /// A batch whose events have each field present, absent, null or of another type.
    fn batch(rng: &mut Rng) -> Vec<u8> {
        const VALUES: [&str; 9] = [
            "\"x\"",
            "\"\"",
            "null",
            "0",
            "1700000000000",
            "-9223372036854775808",
            "[]",
            "{}",
            "\"+14155550100\"",
        ];
        const FIELDS: [&str; 6] = [
            "id",
            "status",
            "to",
            "occurred_at",
            "contact_id",
            "message_id",
        ];
        let events: Vec<String> = (0..rng.below(4))
            .map(|_| {
                let mut fields = Vec::new();
                for field in FIELDS {
                    if rng.below(4) != 0 {
                        fields.push(format!("\"{field}\": {}", rng.pick(&VALUES)));
                    }
                }
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        format!("{{\"events\": [{}]}}", events.join(",")).into_bytes()
    }

    /// Whatever the outcome, an accepted batch has one interaction per event.
    fn parses_or_refuses(body: &[u8]) {
        if let Ok(interactions) = parse_batch(body) {
            let events: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            assert_eq!(
                interactions.len(),
                events["events"].as_array().map_or(0, Vec::len)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let bytes = |rng: &mut Rng| (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        for_each_case(bytes, parses_or_refuses);
    }

    #[test]
    fn arbitrary_json_ish_text_never_panics() {
        for_each_case(json_ish, parses_or_refuses);
    }

    #[test]
    fn arbitrary_batches_are_parsed_or_refused_without_panicking() {
        for_each_case(batch, parses_or_refuses);
    }
}
