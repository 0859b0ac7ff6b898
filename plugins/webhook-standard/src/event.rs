//! One event → one interaction. The shape is documented at the top of the crate; an error names
//! the field at fault (``missing `data.contact` ``, `` `data.outcome` "read" is not an outcome``).

use serde_json::{Map, Value};
use switchboard_plugin_sdk::{
    self as sdk, Channel, ExternalId, Identity, Interaction, Outcome, Timestamp,
};

use crate::{timestamp, words};

/// The longest id the host keeps (webhook ids, message ids), in bytes.
const MAX_ID_BYTES: usize = 256;
/// The longest vendor status (the event `type`) the host keeps, in bytes.
const MAX_TYPE_BYTES: usize = 64;
/// The longest kind the contract allows.
const MAX_KIND_BYTES: usize = 64;
/// The contract's limits on a summary (characters) and on metadata (bytes).
const MAX_SUMMARY_CHARS: usize = 500;
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// 2000-01-01T00:00:00Z in milliseconds. An earlier `timestamp` is almost surely seconds sent
/// where milliseconds belong, which would otherwise land silently in January 1970.
const EARLIEST_MS: i64 = 946_684_800_000;
/// How far after its receipt an event may claim to have happened (the sender's clock skew).
const MAX_FUTURE_SKEW_MS: i64 = 60 * 60 * 1000;

/// The interaction an event describes. `webhook_id` is the delivery's `webhook-id`, the
/// specification's idempotency key: a redelivery of the event is logged once.
pub fn interaction(
    body: &[u8],
    webhook_id: &str,
    received_at: Timestamp,
) -> Result<Interaction, String> {
    if webhook_id.len() > MAX_ID_BYTES {
        return Err(format!("webhook-id is longer than {MAX_ID_BYTES} bytes"));
    }
    let event: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let event = event.as_object().ok_or("body is not a JSON object")?;
    let data = required_object(event, "data", "data")?;
    let channel = channel(data)?;
    let event_type = event_type(event, channel)?;
    let outcome = outcome(data)?;

    let mut interaction = Interaction::new(
        &kind(&event_type, channel, outcome),
        channel,
        direction(data)?,
        outcome,
        occurred_at(event.get("timestamp"), received_at)?,
    );
    interaction.vendor_status = Some(event_type);
    interaction.vendor_event_id = Some(webhook_id.to_string());
    interaction.vendor_message_id = message_id(data)?;
    interaction.identities = identities(required_object(data, "contact", "data.contact")?)?;
    interaction.summary = optional_text(data, "summary", "data.summary")?
        .map(|s| sdk::truncate_chars(s.trim(), MAX_SUMMARY_CHARS - 1));
    interaction.metadata = metadata(data, optional_text(event, "id", "id")?)?;
    Ok(interaction)
}

/// `type`: `<channel>.<event>`, its channel the one `data.channel` names.
fn event_type(event: &Map<String, Value>, channel: Channel) -> Result<String, String> {
    let event_type = optional_text(event, "type", "type")?.ok_or("missing `type`")?;
    if event_type.len() > MAX_TYPE_BYTES {
        return Err(format!("`type` is longer than {MAX_TYPE_BYTES} bytes"));
    }
    let prefix = format!("{}.", words::channel_word(channel));
    if !event_type.starts_with(&prefix) || event_type.len() == prefix.len() {
        return Err(format!(
            "`type` {event_type:?} is not `{prefix}<event>`: it must start with the channel of `data.channel`"
        ));
    }
    Ok(event_type.to_string())
}

/// The kind: the type with its dots made underscores (`sms.delivered` → `sms_delivered`) when
/// that is a valid kind, else `<channel>_<outcome>`.
pub fn kind(event_type: &str, channel: Channel, outcome: Outcome) -> String {
    let from_type = event_type.replace('.', "_");
    let valid = from_type.len() <= MAX_KIND_BYTES
        && from_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        from_type
    } else {
        format!(
            "{}_{}",
            words::channel_word(channel),
            words::outcome_word(outcome)
        )
    }
}

fn channel(data: &Map<String, Value>) -> Result<Channel, String> {
    let word = required_text(data, "channel", "data.channel")?;
    words::channel(word).ok_or_else(|| {
        format!(
            "`data.channel` {word:?} is not a channel; expected one of {}",
            words::CHANNEL_WORDS
        )
    })
}

fn direction(data: &Map<String, Value>) -> Result<sdk::Direction, String> {
    let word = required_text(data, "direction", "data.direction")?;
    words::direction(word).ok_or_else(|| {
        format!("`data.direction` {word:?} is not a direction; expected inbound or outbound")
    })
}

fn outcome(data: &Map<String, Value>) -> Result<Outcome, String> {
    let word = required_text(data, "outcome", "data.outcome")?;
    words::outcome(word).ok_or_else(|| {
        format!("`data.outcome` {word:?} is not an outcome (see wit/types.wit for the words)")
    })
}

/// `timestamp`: an RFC 3339 date-time or Unix milliseconds, refused when it cannot be right
/// (seconds instead of milliseconds, or well after the delivery arrived).
fn occurred_at(raw: Option<&Value>, received_at: Timestamp) -> Result<Timestamp, String> {
    let at = match raw {
        None | Some(Value::Null) => return Err("missing `timestamp`".into()),
        Some(Value::String(text)) => timestamp::parse_rfc3339(text)
            .ok_or_else(|| format!("`timestamp` {text:?} is not an RFC 3339 date-time"))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("`timestamp` {n} is not a whole number of Unix milliseconds"))?,
        Some(_) => {
            return Err(
                "`timestamp` must be an RFC 3339 string or an integer (Unix milliseconds)".into(),
            );
        }
    };
    if at < EARLIEST_MS {
        return Err(format!(
            "`timestamp` {at} is before the year 2000; an integer must be Unix milliseconds, not seconds"
        ));
    }
    if at > received_at.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(format!(
            "`timestamp` {at} is more than an hour after the webhook was received"
        ));
    }
    Ok(at)
}

fn message_id(data: &Map<String, Value>) -> Result<Option<String>, String> {
    let id = optional_text(data, "message_id", "data.message_id")?;
    match id {
        Some(id) if id.len() > MAX_ID_BYTES => Err(format!(
            "`data.message_id` is longer than {MAX_ID_BYTES} bytes"
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// The identity hints of `data.contact`, strongest first; at least one.
fn identities(contact: &Map<String, Value>) -> Result<Vec<Identity>, String> {
    let mut identities = Vec::with_capacity(4);
    if let Some(id) = contact_id(contact)? {
        identities.push(Identity::ContactId(id.to_string()));
    }
    if let Some(external) = external_id(contact)? {
        identities.push(Identity::External(external));
    }
    // The host normalizes addresses and numbers, and drops those that are not.
    if let Some(email) = optional_text(contact, "email", "data.contact.email")? {
        identities.push(Identity::Email(email.to_string()));
    }
    if let Some(phone) = optional_text(contact, "phone", "data.contact.phone")? {
        identities.push(Identity::Phone(phone.to_string()));
    }
    if identities.is_empty() {
        return Err(
            "`data.contact` names no one: give `contact_id`, `email`, `phone` or `external_id`"
                .into(),
        );
    }
    Ok(identities)
}

/// `data.contact.contact_id`: Switchboard's own contact id, a positive integer.
fn contact_id(contact: &Map<String, Value>) -> Result<Option<u64>, String> {
    match contact.get("contact_id") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| {
                "`data.contact.contact_id` must be a positive integer (Switchboard's contact id)"
                    .into()
            }),
    }
}

/// `data.contact.external_id`: `{"system": "...", "id": "..."}`.
fn external_id(contact: &Map<String, Value>) -> Result<Option<ExternalId>, String> {
    let Some(external) = optional_object(contact, "external_id", "data.contact.external_id")?
    else {
        return Ok(None);
    };
    let system = required_text(external, "system", "data.contact.external_id.system")?;
    let value = required_text(external, "id", "data.contact.external_id.id")?;
    Ok(Some(ExternalId {
        system: system.trim().to_ascii_lowercase(),
        value: value.trim().to_string(),
    }))
}

/// `data.metadata` as the interaction's metadata, with the event's `id` (when given) as
/// `event_id`.
fn metadata(data: &Map<String, Value>, event_id: Option<&str>) -> Result<String, String> {
    let mut metadata = optional_object(data, "metadata", "data.metadata")?
        .cloned()
        .unwrap_or_default();
    if let Some(id) = event_id {
        metadata.insert("event_id".into(), Value::String(id.to_string()));
    }
    let text = Value::Object(metadata).to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(format!(
            "`data.metadata` is larger than {MAX_METADATA_BYTES} bytes"
        ));
    }
    Ok(text)
}

/// A required string that is not blank.
fn required_text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, String> {
    optional_text(object, key, path)?.ok_or_else(|| format!("missing `{path}`"))
}

/// An optional string; `null` and blank count as absent.
fn optional_text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str()).filter(|t| !t.trim().is_empty())),
        Some(_) => Err(format!("`{path}` must be a string")),
    }
}

fn required_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, String> {
    optional_object(object, key, path)?.ok_or_else(|| format!("missing `{path}`"))
}

/// An optional object; `null` counts as absent.
fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(format!("`{path}` must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_plugin_sdk::Direction;

    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    fn event() -> Value {
        json!({
            "type": "sms.delivered",
            "id": "evt_1",
            "timestamp": "2023-11-14T22:12:20Z",
            "data": {
                "channel": "sms",
                "direction": "outbound",
                "outcome": "delivered",
                "message_id": "msg-9",
                "contact": {"phone": "+14155550100"},
                "summary": "Your appointment is at 3pm",
                "metadata": {"carrier": "Example Mobile"},
            },
        })
    }

    fn parse(event: &Value) -> Result<Interaction, String> {
        interaction(&serde_json::to_vec(event).unwrap(), "msg_abc", RECEIVED_AT)
    }

    #[test]
    fn an_event_becomes_one_interaction() {
        let i = parse(&event()).unwrap();
        assert_eq!(i.kind, "sms_delivered");
        assert_eq!(i.channel, Channel::Sms);
        assert_eq!(i.direction, Direction::Outbound);
        assert_eq!(i.outcome, Outcome::Delivered);
        assert_eq!(i.vendor_status.as_deref(), Some("sms.delivered"));
        assert_eq!(i.vendor_event_id.as_deref(), Some("msg_abc"));
        assert_eq!(i.vendor_message_id.as_deref(), Some("msg-9"));
        assert_eq!(i.occurred_at, RECEIVED_AT - 60_000);
        assert_eq!(i.summary.as_deref(), Some("Your appointment is at 3pm"));
        assert!(matches!(&i.identities[..], [Identity::Phone(p)] if p == "+14155550100"));
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert_eq!(
            metadata,
            json!({"carrier": "Example Mobile", "event_id": "evt_1"})
        );
    }

    #[test]
    fn the_kind_comes_from_the_type_or_else_from_the_outcome() {
        let cases = [
            (
                "sms.delivered",
                Channel::Sms,
                Outcome::Delivered,
                "sms_delivered",
            ),
            (
                "phone.call.completed",
                Channel::Phone,
                Outcome::Answered,
                "phone_call_completed",
            ),
            (
                "in_person.attended",
                Channel::InPerson,
                Outcome::Attended,
                "in_person_attended",
            ),
            (
                "email.Opened",
                Channel::Email,
                Outcome::Opened,
                "email_opened",
            ),
            (
                "chat.no-answer",
                Channel::Chat,
                Outcome::NoAnswer,
                "chat_no_answer",
            ),
        ];
        for (event_type, channel, outcome, expected) in cases {
            assert_eq!(kind(event_type, channel, outcome), expected, "{event_type}");
        }
        let long = format!("sms.{}", "x".repeat(61));
        assert_eq!(kind(&long, Channel::Sms, Outcome::Sent), "sms_sent");
    }

    #[test]
    fn every_identity_of_the_contact_is_a_hint_ours_first() {
        let mut e = event();
        e["data"]["contact"] = json!({
            "contact_id": 12,
            "email": "Ana@Example.org",
            "phone": "+14155550100",
            "external_id": {"system": "CRM", "id": "CUST-1"},
        });
        let identities = parse(&e).unwrap().identities;
        assert!(matches!(&identities[0], Identity::ContactId(id) if id == "12"));
        assert!(
            matches!(&identities[1], Identity::External(x) if x.system == "crm" && x.value == "CUST-1")
        );
        assert!(matches!(&identities[2], Identity::Email(m) if m == "Ana@Example.org"));
        assert!(matches!(&identities[3], Identity::Phone(p) if p == "+14155550100"));
    }

    #[test]
    fn optional_fields_may_go_and_a_timestamp_may_be_milliseconds() {
        let mut e = event();
        e["timestamp"] = json!(RECEIVED_AT - 5_000);
        for key in ["message_id", "summary", "metadata"] {
            e["data"].as_object_mut().unwrap().remove(key);
        }
        e.as_object_mut().unwrap().remove("id");
        e["data"]["outcome"] = json!("no-answer");
        e["data"]["channel"] = json!("in-person");
        e["type"] = json!("in_person.missed");
        let i = parse(&e).unwrap();
        assert_eq!(i.occurred_at, RECEIVED_AT - 5_000);
        assert_eq!(
            (i.channel, i.outcome),
            (Channel::InPerson, Outcome::NoAnswer)
        );
        assert_eq!(i.kind, "in_person_missed");
        assert_eq!(i.vendor_message_id, None);
        assert_eq!(i.summary, None);
        assert_eq!(i.metadata, "{}");
    }

    #[test]
    fn long_summaries_are_cut_to_the_contract_s_limit() {
        let mut e = event();
        e["data"]["summary"] = json!("a".repeat(600));
        let summary = parse(&e).unwrap().summary.unwrap();
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn malformed_events_name_the_field() {
        type Breach = fn(&mut Value);
        let cases: [(Breach, &str); 22] = [
            (|e| e["type"] = Value::Null, "missing `type`"),
            (|e| e["type"] = json!(7), "`type` must be a string"),
            (
                |e| e["type"] = json!("email.delivered"),
                "`type` \"email.delivered\" is not `sms.<event>`",
            ),
            (|e| e["type"] = json!("sms."), "is not `sms.<event>`"),
            (
                |e| e["type"] = json!(format!("sms.{}", "x".repeat(64))),
                "`type` is longer than 64 bytes",
            ),
            (|e| e["data"] = json!([]), "`data` must be an object"),
            (|e| e["data"] = Value::Null, "missing `data`"),
            (
                |e| e["data"]["channel"] = json!("voice"),
                "`data.channel` \"voice\" is not a channel; expected one of email, sms, phone, portal, chat, in_person",
            ),
            (
                |e| e["data"]["direction"] = json!("out"),
                "`data.direction` \"out\" is not a direction",
            ),
            (
                |e| e["data"]["outcome"] = json!("read"),
                "`data.outcome` \"read\" is not an outcome",
            ),
            (
                |e| e["data"]["outcome"] = Value::Null,
                "missing `data.outcome`",
            ),
            (|e| e["timestamp"] = Value::Null, "missing `timestamp`"),
            (
                |e| e["timestamp"] = json!("yesterday"),
                "`timestamp` \"yesterday\" is not an RFC 3339 date-time",
            ),
            (|e| e["timestamp"] = json!(1_700_000_000), "not seconds"),
            (
                |e| e["timestamp"] = json!(1.5e12),
                "not a whole number of Unix milliseconds",
            ),
            (
                |e| e["timestamp"] = json!(RECEIVED_AT + 2 * MAX_FUTURE_SKEW_MS),
                "more than an hour after",
            ),
            (
                |e| e["data"]["contact"] = json!({}),
                "`data.contact` names no one",
            ),
            (
                |e| e["data"]["contact"] = json!({"contact_id": "12"}),
                "`data.contact.contact_id` must be a positive integer",
            ),
            (
                |e| e["data"]["contact"] = json!({"external_id": {"system": "crm"}}),
                "missing `data.contact.external_id.id`",
            ),
            (
                |e| e["data"]["message_id"] = json!("m".repeat(300)),
                "`data.message_id` is longer than 256 bytes",
            ),
            (
                |e| e["data"]["metadata"] = json!("note"),
                "`data.metadata` must be an object",
            ),
            (
                |e| e["data"]["metadata"] = json!({"x": "y".repeat(MAX_METADATA_BYTES)}),
                "`data.metadata` is larger than 65536 bytes",
            ),
        ];
        for (breach, expected) in cases {
            let mut bad = event();
            breach(&mut bad);
            let error = parse(&bad).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_malformed() {
        let not_json = interaction(b"{not json", "msg_1", RECEIVED_AT).unwrap_err();
        assert!(not_json.starts_with("body is not JSON"), "{not_json}");
        let array = interaction(b"[]", "msg_1", RECEIVED_AT).unwrap_err();
        assert_eq!(array, "body is not a JSON object");
        let long_id = interaction(b"{}", &"w".repeat(300), RECEIVED_AT).unwrap_err();
        assert_eq!(long_id, "webhook-id is longer than 256 bytes");
    }
}

/// Bounded fuzzing of the event parser: whatever the body, it parses or refuses, never panics.
/// `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use switchboard_plugin_sdk::fuzz;

    const KEYS: &[&str] = &[
        "type",
        "id",
        "timestamp",
        "data",
        "channel",
        "direction",
        "outcome",
        "message_id",
        "contact",
        "contact_id",
        "email",
        "phone",
        "external_id",
        "system",
        "summary",
        "metadata",
        "sms.delivered",
        "sms",
        "email",
        "phone",
        "portal",
        "chat",
        "in_person",
        "inbound",
        "outbound",
        "delivered",
        "no_answer",
        "no-answer",
        "2023-11-14T22:12:20Z",
        "2023-11-14T22:12:20.123+01:00",
        "ana@example.org",
        "+14155550100",
    ];
    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    fn parses_or_refuses(body: &[u8]) {
        let _verdict = interaction(body, "msg_1", RECEIVED_AT);
    }

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_bytes_never_panic(body in fuzz::bytes()) {
            parses_or_refuses(&body);
        }

        #[test]
        fn arbitrary_json_ish_text_never_panics(body in fuzz::json_ish(KEYS)) {
            parses_or_refuses(&body);
        }

        #[test]
        fn arbitrary_events_are_parsed_or_refused(
            event in fuzz::json_object(KEYS),
            data in fuzz::json_object(KEYS),
            contact in fuzz::json_object(KEYS),
        ) {
            let mut event = event;
            let mut data = data;
            data["contact"] = contact;
            event["data"] = data;
            parses_or_refuses(event.to_string().as_bytes());
        }

        #[test]
        fn any_timestamp_text_is_parsed_or_refused(text in "[0-9T:.+Z-]{0,40}") {
            let _verdict = interaction(
                json!({"type": "sms.delivered", "timestamp": text, "data": {}}).to_string().as_bytes(),
                "msg_1",
                RECEIVED_AT,
            );
        }
    }
}
