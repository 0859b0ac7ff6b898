//! SendGrid Event Webhook batches → normalized interactions.
//!
//! A batch is a JSON array of event objects. Each has `event`, `timestamp` (Unix seconds) and
//! `email`; most have `sg_event_id` and `sg_message_id`; the `custom_args` given at send time
//! appear as top-level keys.

use serde_json::{Map, Value};
use switchboard_plugin_sdk::{self as sdk, Channel, Direction, Identity, Interaction, Outcome};

/// Parses a whole batch. One event the vendor's contract does not allow (no `event`, no
/// `timestamp`) fails the batch with a message naming it: the raw request is kept either way.
pub fn parse_batch(body: &[u8], contact_id_arg: &str) -> Result<Vec<Interaction>, String> {
    let events: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| format!("body is not a JSON array of events: {e}"))?;
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let object = event
                .as_object()
                .ok_or_else(|| format!("event {index} is not a JSON object"))?;
            parse_event(object, contact_id_arg).map_err(|e| format!("event {index}: {e}"))
        })
        .collect()
}

fn parse_event(event: &Map<String, Value>, contact_id_arg: &str) -> Result<Interaction, String> {
    let name = str_field(event, "event").ok_or("missing `event`")?;
    let timestamp = event
        .get("timestamp")
        .and_then(Value::as_i64)
        .ok_or("missing or non-integer `timestamp`")?;
    let bounce_type = str_field(event, "type");
    let (kind, outcome) = kind_and_outcome(name, bounce_type);

    let mut interaction = Interaction::new(
        kind,
        Channel::Email,
        Direction::Outbound,
        outcome,
        timestamp.saturating_mul(1000),
    );
    interaction.vendor_status = Some(name.to_string());
    let sg_message_id = str_field(event, "sg_message_id");
    interaction.vendor_message_id = sg_message_id.map(message_id_of);
    interaction.vendor_event_id = str_field(event, "sg_event_id")
        .map(str::to_string)
        .or_else(|| sg_message_id.map(|id| format!("{id}:{name}:{timestamp}")));
    if let Some(contact_id) = event.get(contact_id_arg).and_then(scalar_text) {
        interaction.identities.push(Identity::ContactId(contact_id));
    }
    if let Some(email) = str_field(event, "email") {
        interaction
            .identities
            .push(Identity::Email(email.to_string()));
    }
    interaction.summary = summary_of(name, event);
    interaction.metadata = Value::Object(event.clone()).to_string();
    Ok(interaction)
}

/// The interaction kind and outcome of an event name (and, for `bounce`, its `type`).
fn kind_and_outcome(event: &str, bounce_type: Option<&str>) -> (&'static str, Outcome) {
    let outcome = outcome_of(event, bounce_type);
    let kind = match event {
        "processed" => "email_processed",
        "deferred" => "email_deferred",
        "delivered" => "email_delivered",
        "open" => "email_opened",
        "click" => "email_clicked",
        "bounce" if bounce_type == Some("blocked") => "email_blocked",
        "bounce" => "email_bounced",
        "dropped" => "email_dropped",
        "spamreport" => "email_spam_reported",
        "unsubscribe" => "email_unsubscribed",
        "group_unsubscribe" => "email_group_unsubscribed",
        "group_resubscribe" => "email_group_resubscribed",
        _ => "email_event",
    };
    (kind, outcome)
}

/// The outcome of a SendGrid event name. A `bounce` of type `blocked` is a temporary refusal by
/// the receiving server, so it is a failure, not a (permanent) bounce.
pub fn outcome_of(event: &str, bounce_type: Option<&str>) -> Outcome {
    match event {
        "processed" => Outcome::Queued,
        "deferred" => Outcome::Deferred,
        "delivered" => Outcome::Delivered,
        "open" => Outcome::Opened,
        "click" => Outcome::Clicked,
        "bounce" if bounce_type == Some("blocked") => Outcome::Failed,
        "bounce" => Outcome::Bounced,
        "blocked" => Outcome::Failed,
        "dropped" => Outcome::Dropped,
        "spamreport" => Outcome::SpamReported,
        "unsubscribe" | "group_unsubscribe" => Outcome::Unsubscribed,
        "group_resubscribe" => Outcome::Resubscribed,
        _ => Outcome::Unknown,
    }
}

/// SendGrid's `sg_message_id` is the `X-Message-Id` that Mail Send returned, followed by a dot and
/// the id of the server that handled it; the part before the first dot joins the send.
fn message_id_of(sg_message_id: &str) -> String {
    sg_message_id
        .split_once('.')
        .map_or(sg_message_id, |(id, _)| id)
        .to_string()
}

fn summary_of(event: &str, fields: &Map<String, Value>) -> Option<String> {
    let text = match event {
        "click" => str_field(fields, "url"),
        "bounce" | "dropped" => str_field(fields, "reason"),
        "deferred" => str_field(fields, "response"),
        _ => None,
    }?;
    Some(sdk::truncate_chars(text, 200))
}

fn str_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

/// Custom args are strings, but a sender may have passed a number.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<Interaction>, String> {
        parse_batch(body.as_bytes(), "switchboard_contact_id")
    }

    #[test]
    fn maps_every_documented_event() {
        let cases = [
            ("processed", None, "email_processed", Outcome::Queued),
            ("deferred", None, "email_deferred", Outcome::Deferred),
            ("delivered", None, "email_delivered", Outcome::Delivered),
            ("open", None, "email_opened", Outcome::Opened),
            ("click", None, "email_clicked", Outcome::Clicked),
            ("bounce", Some("bounce"), "email_bounced", Outcome::Bounced),
            ("bounce", Some("blocked"), "email_blocked", Outcome::Failed),
            ("dropped", None, "email_dropped", Outcome::Dropped),
            (
                "spamreport",
                None,
                "email_spam_reported",
                Outcome::SpamReported,
            ),
            (
                "unsubscribe",
                None,
                "email_unsubscribed",
                Outcome::Unsubscribed,
            ),
            (
                "group_unsubscribe",
                None,
                "email_group_unsubscribed",
                Outcome::Unsubscribed,
            ),
            (
                "group_resubscribe",
                None,
                "email_group_resubscribed",
                Outcome::Resubscribed,
            ),
            ("machine_learning", None, "email_event", Outcome::Unknown),
        ];
        for (event, bounce_type, kind, outcome) in cases {
            assert_eq!(
                kind_and_outcome(event, bounce_type),
                (kind, outcome),
                "{event}"
            );
        }
    }

    #[test]
    fn an_event_carries_ids_identities_and_its_own_json() {
        let batch = parse(
            r#"[{"email":"Ana@Example.org","timestamp":1700000000,"event":"click",
                "url":"https://example.org/pay","sg_event_id":"evt-1",
                "sg_message_id":"msg-1.filterdrecv-1","switchboard_contact_id":"42"}]"#,
        )
        .unwrap();
        let click = &batch[0];
        assert_eq!(click.kind, "email_clicked");
        assert_eq!(click.occurred_at, 1_700_000_000_000);
        assert_eq!(click.vendor_message_id.as_deref(), Some("msg-1"));
        assert_eq!(click.vendor_event_id.as_deref(), Some("evt-1"));
        assert_eq!(click.summary.as_deref(), Some("https://example.org/pay"));
        assert!(matches!(&click.identities[0], Identity::ContactId(id) if id == "42"));
        assert!(matches!(&click.identities[1], Identity::Email(e) if e == "Ana@Example.org"));
        let metadata: Value = serde_json::from_str(&click.metadata).unwrap();
        assert_eq!(metadata["url"], "https://example.org/pay");
    }

    #[test]
    fn an_event_without_an_event_id_gets_a_derived_one() {
        let batch =
            parse(r#"[{"email":"a@b.c","timestamp":5,"event":"open","sg_message_id":"m.x"}]"#)
                .unwrap();
        assert_eq!(batch[0].vendor_event_id.as_deref(), Some("m.x:open:5"));
    }

    #[test]
    fn malformed_batches_are_named() {
        assert!(parse("not json").unwrap_err().contains("not a JSON array"));
        assert!(
            parse("[1]")
                .unwrap_err()
                .contains("event 0 is not a JSON object")
        );
        let missing = parse(r#"[{"event":"open","timestamp":1},{"timestamp":1}]"#).unwrap_err();
        assert_eq!(missing, "event 1: missing `event`");
    }
}
