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
