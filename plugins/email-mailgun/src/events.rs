//! Mailgun webhook bodies → one normalized interaction each.
//!
//! Mailgun posts one event per request, `{"signature": {…}, "event-data": {…}}`. The event's
//! fields are kept as raw JSON and decoded one by one, so that an error names the field (``missing
//! `event-data.event` ``), and the event is kept verbatim as its interaction's metadata. The
//! format and the mapping are documented at the top of the crate.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_plugin_sdk::json::raw::{optional, optional_text, required, required_text};
use switchboard_plugin_sdk::{
    self as sdk, Channel, Direction, Identity, Interaction, Outcome, Timestamp,
};

/// The user variable (`v:` at send time) that carries Switchboard's contact id.
pub const CONTACT_ID_VARIABLE: &str = "switchboard_contact_id";
/// The user variable that carries Switchboard's message id.
pub const MESSAGE_ID_VARIABLE: &str = "switchboard_message_id";
/// The longest event or message id: the host keeps ids up to this many bytes.
const MAX_ID_BYTES: usize = 256;
/// The longest vendor status the host keeps.
const MAX_STATUS_BYTES: usize = 64;
/// The largest event kept as metadata, which the contract caps at 64 KiB.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// How much of a URL or failure reason a summary quotes.
const SUMMARY_QUOTE_CHARS: usize = 200;
/// How far after its receipt an event may claim to have happened: the host's own limit, so that a
/// bad timestamp is the vendor's malformed body rather than the plugin's invalid output.
const MAX_FUTURE_SKEW_MS: i64 = 24 * 60 * 60 * 1000;
/// Mailgun's `reason` for a message it did not attempt because the address is on a suppression
/// list: what SendGrid calls `dropped`.
const SUPPRESSION_REASONS: [&str; 3] = [
    "suppress-bounce",
    "suppress-unsubscribe",
    "suppress-complaint",
];

/// A webhook body split into its two parts, still raw. Other top-level keys are ignored.
#[derive(Deserialize)]
pub struct Body<'a> {
    #[serde(borrow)]
    pub signature: Option<&'a RawValue>,
    #[serde(rename = "event-data", borrow)]
    pub event_data: Option<&'a RawValue>,
}

impl<'a> Body<'a> {
    /// Splits a body. The signature is inside it, so a body that is not a JSON object cannot be
    /// authenticated: the caller refuses it as a bad signature, and nothing is stored.
    pub fn read(body: &'a [u8]) -> Result<Self, String> {
        serde_json::from_slice(body)
            .map_err(|e| format!("body is not a JSON object, so it carries no signature: {e}"))
    }
}

/// The interaction kind and outcome of a Mailgun event, with (for `failed`) its `severity` and
/// `reason`, chosen so that SendGrid and Mailgun telling the same story log the same rows.
pub fn kind_and_outcome(
    event: &str,
    severity: Option<&str>,
    reason: Option<&str>,
) -> (&'static str, Outcome) {
    match (event, severity) {
        ("accepted", _) => ("email_processed", Outcome::Queued),
        ("delivered", _) => ("email_delivered", Outcome::Delivered),
        ("opened", _) => ("email_opened", Outcome::Opened),
        ("clicked", _) => ("email_clicked", Outcome::Clicked),
        // Mailgun keeps retrying a temporary failure, as SendGrid does a deferral.
        ("failed", Some("temporary")) => ("email_deferred", Outcome::Deferred),
        ("failed", Some("permanent")) if reason.is_some_and(is_suppression) => {
            ("email_dropped", Outcome::Dropped)
        }
        ("failed", Some("permanent")) => ("email_bounced", Outcome::Bounced),
        ("failed", _) => ("email_failed", Outcome::Failed),
        ("unsubscribed", _) => ("email_unsubscribed", Outcome::Unsubscribed),
        ("complained", _) => ("email_spam_reported", Outcome::SpamReported),
        _ => ("email_event", Outcome::Unknown),
    }
}

/// The outcome of a vendor status as this plugin records it (`delivered`, `failed:permanent`), or
/// as Mailgun's webhook settings name it (`permanent_fail`, `temporary_fail`).
pub fn outcome_of(vendor_status: &str) -> Outcome {
    let (event, severity) = match vendor_status {
        "permanent_fail" => ("failed", Some("permanent")),
        "temporary_fail" => ("failed", Some("temporary")),
        status => match status.split_once(':') {
            Some((event, severity)) => (event, Some(severity)),
            None => (status, None),
        },
    };
    kind_and_outcome(event, severity, None).1
}

fn is_suppression(reason: &str) -> bool {
    SUPPRESSION_REASONS.contains(&reason)
}

/// The vendor status recorded: the event word, and for `failed` its severity
/// (`failed:permanent`), which decides between a bounce and a deferral.
fn vendor_status(event: &str, severity: Option<&str>) -> String {
    match severity {
        Some(severity) if event == "failed" => {
            let status = format!("{event}:{severity}");
            if status.len() <= MAX_STATUS_BYTES {
                status
            } else {
                event.to_string()
            }
        }
        _ => event.to_string(),
    }
}

/// Mailgun's message ids are RFC 5322 `Message-ID`s: the Messages API answers with the angle
/// brackets, the webhooks carry the id without them. The bare form joins the two.
pub fn bare_message_id(id: &str) -> String {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|id| id.strip_suffix('>'))
        .unwrap_or(id)
        .to_string()
}

/// The fields of `event-data` that Switchboard reads, still as raw JSON; the rest is skipped (and
/// kept in metadata). `null` counts as absent.
#[derive(Deserialize)]
struct EventFields<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    recipient: Option<&'a RawValue>,
    #[serde(borrow)]
    severity: Option<&'a RawValue>,
    #[serde(borrow)]
    reason: Option<&'a RawValue>,
    #[serde(borrow)]
    url: Option<&'a RawValue>,
    #[serde(rename = "delivery-status", borrow)]
    delivery_status: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(rename = "user-variables", borrow)]
    user_variables: Option<&'a RawValue>,
}

/// `message`: the message the event is about.
#[derive(Deserialize)]
struct MessageFields<'a> {
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
}

/// `message.headers`: Mailgun passes on a few of the message's headers.
#[derive(Deserialize)]
struct HeaderFields<'a> {
    #[serde(rename = "message-id", borrow)]
    message_id: Option<&'a RawValue>,
}

/// `delivery-status`: the receiving server's answer, for deliveries and failures.
#[derive(Deserialize)]
struct DeliveryStatusFields<'a> {
    #[serde(borrow)]
    code: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(borrow)]
    description: Option<&'a RawValue>,
}

/// `user-variables`: the `v:` variables given at send time, as Mailgun echoes them.
#[derive(Deserialize)]
struct UserVariables<'a> {
    #[serde(rename = "switchboard_contact_id", borrow)]
    contact_id: Option<&'a RawValue>,
}

/// Parses `event-data` into its interaction. A field that breaks Mailgun's format fails the
/// webhook with a message naming it; the raw request is kept either way.
pub fn parse_event(raw: Option<&RawValue>, received_at: Timestamp) -> Result<Interaction, String> {
    let json = raw.ok_or("missing `event-data`")?.get();
    if !json.starts_with('{') {
        return Err("`event-data` must be an object".to_string());
    }
    let fields: EventFields<'_> =
        serde_json::from_str(json).map_err(|e| format!("`event-data`: {e}"))?;
    let event = required_text(fields.event, "event-data.event")?;
    if event.len() > MAX_STATUS_BYTES {
        return Err(format!(
            "`event-data.event` is longer than {MAX_STATUS_BYTES} bytes"
        ));
    }
    let occurred_at = occurred_at(fields.timestamp, received_at)?;
    let severity = optional_text(fields.severity, "event-data.severity")?;
    let reason = optional_text(fields.reason, "event-data.reason")?;
    let (kind, outcome) = kind_and_outcome(&event, severity.as_deref(), reason.as_deref());
    let message_id = message_id(fields.message)?;
    let event_id = optional_id(fields.id, "event-data.id")?;

    let mut interaction = Interaction::new(
        kind,
        Channel::Email,
        Direction::Outbound,
        outcome,
        occurred_at,
    );
    interaction.vendor_status = Some(vendor_status(&event, severity.as_deref()));
    interaction.vendor_event_id = event_id.or_else(|| {
        let message_id = message_id.as_deref()?;
        derived_event_id(message_id, &event, occurred_at)
    });
    interaction.vendor_message_id = message_id;
    interaction.summary = summary(&event, &fields, reason)?;
    interaction.identities = identities(fields.user_variables, fields.recipient)?;
    interaction.metadata = metadata(json);
    Ok(interaction)
}

/// `timestamp`: Unix seconds with a fraction, to the millisecond.
fn occurred_at(raw: Option<&RawValue>, received_at: Timestamp) -> Result<Timestamp, String> {
    let secs: f64 = required(raw, "event-data.timestamp", "a number (Unix seconds)")?;
    let at = (secs * 1000.0).round();
    if !at.is_finite() || at < 1.0 {
        return Err("`event-data.timestamp` must be a positive number (Unix seconds)".to_string());
    }
    // Saturates for absurd values, which the next check refuses.
    let at = at as i64;
    if at > received_at.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(format!(
            "`event-data.timestamp` {secs} is more than a day after the request was received"
        ));
    }
    Ok(at)
}

/// An event id for an event without one, from what identifies it: its message, word and time.
fn derived_event_id(message_id: &str, event: &str, occurred_at: Timestamp) -> Option<String> {
    Some(format!("{message_id}:{event}:{occurred_at}")).filter(|id| id.len() <= MAX_ID_BYTES)
}

/// `message.headers.message-id`, without angle brackets (see [`bare_message_id`]).
fn message_id(raw: Option<&RawValue>) -> Result<Option<String>, String> {
    let Some(message) = optional::<MessageFields<'_>>(raw, "event-data.message", "an object")?
    else {
        return Ok(None);
    };
    let Some(headers) =
        optional::<HeaderFields<'_>>(message.headers, "event-data.message.headers", "an object")?
    else {
        return Ok(None);
    };
    let id = optional_id(headers.message_id, "event-data.message.headers.message-id")?;
    Ok(id.map(|id| bare_message_id(&id)))
}

/// Who the event is about, strongest first: our contact id when the message carried it, then the
/// recipient's address.
fn identities(
    user_variables: Option<&RawValue>,
    recipient: Option<&RawValue>,
) -> Result<Vec<Identity>, String> {
    let mut identities = Vec::with_capacity(2);
    if let Some(contact_id) = contact_id(user_variables)? {
        identities.push(Identity::ContactId(contact_id));
    }
    // The host normalizes the address, and drops it if it is not one.
    if let Some(recipient) = optional_text(recipient, "event-data.recipient")? {
        identities.push(Identity::Email(recipient));
    }
    Ok(identities)
}

/// Our contact id among the user variables: we send it as text, but a sender may have given a
/// number, and Mailgun echoes what it was given.
fn contact_id(user_variables: Option<&RawValue>) -> Result<Option<String>, String> {
    let Some(variables) =
        optional::<UserVariables<'_>>(user_variables, "event-data.user-variables", "an object")?
    else {
        return Ok(None);
    };
    let Some(raw) = variables.contact_id else {
        return Ok(None);
    };
    let text = serde_json::from_str::<String>(raw.get())
        .or_else(|_| serde_json::from_str::<u64>(raw.get()).map(|n| n.to_string()))
        .map_err(|_| {
            format!(
                "`event-data.user-variables.{CONTACT_ID_VARIABLE}` must be a string or an integer"
            )
        })?;
    Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
}

/// The timeline line: the link of a click, the reason of a failure.
fn summary(
    event: &str,
    fields: &EventFields<'_>,
    reason: Option<String>,
) -> Result<Option<String>, String> {
    let text = match event {
        "clicked" => optional_text(fields.url, "event-data.url")?,
        "failed" => failure_reason(fields.delivery_status)?.or(reason),
        _ => None,
    };
    Ok(text.map(|t| sdk::truncate_chars(t.trim(), SUMMARY_QUOTE_CHARS)))
}

/// The receiving server's answer to a failed attempt (`550 5.1.1 No such user`), or Mailgun's own
/// explanation when it made no attempt (a suppressed address).
fn failure_reason(raw: Option<&RawValue>) -> Result<Option<String>, String> {
    let name = "event-data.delivery-status";
    let Some(status) = optional::<DeliveryStatusFields<'_>>(raw, name, "an object")? else {
        return Ok(None);
    };
    let message = optional_text(status.message, "event-data.delivery-status.message")?;
    let description = optional_text(status.description, "event-data.delivery-status.description")?;
    let Some(text) = message.or(description) else {
        return Ok(None);
    };
    match smtp_code(status.code)? {
        Some(code) => Ok(Some(format!("{code} {}", text.trim()))),
        None => Ok(Some(text)),
    }
}

/// `delivery-status.code`: an SMTP reply code (Mailgun's own codes for attempts it did not make
/// are above 600); 0 or absent when there was no answer.
fn smtp_code(raw: Option<&RawValue>) -> Result<Option<u32>, String> {
    let name = "event-data.delivery-status.code";
    let code = match raw {
        None => None,
        Some(raw) => serde_json::from_str::<u32>(raw.get())
            .or_else(|_| {
                serde_json::from_str::<String>(raw.get()).map(|t| t.trim().parse().unwrap_or(0))
            })
            .map(Some)
            .map_err(|_| format!("`{name}` must be an integer"))?,
    };
    Ok(code.filter(|c| *c > 0))
}

/// The event verbatim, unless it is larger than the contract allows metadata to be: the event is
/// still logged, without its detail.
fn metadata(json: &str) -> String {
    if json.len() <= MAX_METADATA_BYTES {
        json.to_string()
    } else {
        format!(r#"{{"omitted":"event-data is larger than {MAX_METADATA_BYTES} bytes"}}"#)
    }
}

/// An optional id: a string not longer than the host keeps.
fn optional_id(raw: Option<&RawValue>, name: &str) -> Result<Option<String>, String> {
    let id = optional_text(raw, name)?;
    if id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
        return Err(format!("`{name}` is longer than {MAX_ID_BYTES} bytes"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    /// An event as Mailgun documents it, `delivered` to Ana.
    fn event(name: &str) -> Value {
        json!({
            "event": name,
            "id": format!("ev-{name}"),
            "timestamp": 1_699_999_940.329_574,
            "log-level": "info",
            "recipient": "Ana@Example.org",
            "recipient-domain": "example.org",
            "tags": ["reminders"],
            "user-variables": {"switchboard_contact_id": "42", "switchboard_message_id": "msg_1"},
            "message": {"headers": {
                "message-id": "20240101120000.abc123@mg.example.org",
                "subject": "Your invoice",
            }},
            "delivery-status": {"code": 250, "message": "OK", "description": ""},
        })
    }

    fn failed(severity: &str, reason: &str, code: u32, message: &str) -> Value {
        let mut failed = event("failed");
        failed["severity"] = json!(severity);
        failed["reason"] = json!(reason);
        failed["delivery-status"] = json!({"code": code, "message": message, "description": ""});
        failed
    }

    fn parse_value(event: &Value) -> Result<Interaction, String> {
        let raw = RawValue::from_string(event.to_string()).unwrap();
        parse_event(Some(&raw), RECEIVED_AT)
    }

    #[test]
    fn maps_every_documented_event_like_sendgrid_does() {
        let cases = [
            ("accepted", None, None, "email_processed", Outcome::Queued),
            (
                "delivered",
                None,
                None,
                "email_delivered",
                Outcome::Delivered,
            ),
            ("opened", None, None, "email_opened", Outcome::Opened),
            ("clicked", None, None, "email_clicked", Outcome::Clicked),
            (
                "failed",
                Some("permanent"),
                Some("bounce"),
                "email_bounced",
                Outcome::Bounced,
            ),
            (
                "failed",
                Some("permanent"),
                Some("suppress-bounce"),
                "email_dropped",
                Outcome::Dropped,
            ),
            (
                "failed",
                Some("temporary"),
                Some("generic"),
                "email_deferred",
                Outcome::Deferred,
            ),
            ("failed", None, None, "email_failed", Outcome::Failed),
            (
                "unsubscribed",
                None,
                None,
                "email_unsubscribed",
                Outcome::Unsubscribed,
            ),
            (
                "complained",
                None,
                None,
                "email_spam_reported",
                Outcome::SpamReported,
            ),
            ("stored", None, None, "email_event", Outcome::Unknown),
        ];
        for (name, severity, reason, kind, outcome) in cases {
            assert_eq!(
                kind_and_outcome(name, severity, reason),
                (kind, outcome),
                "{name} {severity:?} {reason:?}"
            );
        }
    }

    #[test]
    fn vendor_statuses_map_back_to_outcomes() {
        let cases = [
            ("accepted", Outcome::Queued),
            ("delivered", Outcome::Delivered),
            ("failed:permanent", Outcome::Bounced),
            ("failed:temporary", Outcome::Deferred),
            ("permanent_fail", Outcome::Bounced),
            ("temporary_fail", Outcome::Deferred),
            ("failed", Outcome::Failed),
            ("complained", Outcome::SpamReported),
            ("rejected", Outcome::Unknown),
        ];
        for (status, outcome) in cases {
            assert_eq!(outcome_of(status), outcome, "{status}");
        }
    }

    #[test]
    fn an_event_carries_ids_identities_and_its_own_json() {
        let mut click = event("clicked");
        click["url"] = json!("https://example.org/pay");
        let i = parse_value(&click).unwrap();
        assert_eq!(i.kind, "email_clicked");
        assert_eq!(i.channel, Channel::Email);
        assert_eq!(i.direction, Direction::Outbound);
        assert_eq!(i.outcome, Outcome::Clicked);
        assert_eq!(i.vendor_status.as_deref(), Some("clicked"));
        assert_eq!(i.occurred_at, 1_699_999_940_330);
        assert_eq!(
            i.vendor_message_id.as_deref(),
            Some("20240101120000.abc123@mg.example.org")
        );
        assert_eq!(i.vendor_event_id.as_deref(), Some("ev-clicked"));
        assert_eq!(i.summary.as_deref(), Some("https://example.org/pay"));
        assert!(matches!(&i.identities[0], Identity::ContactId(id) if id == "42"));
        assert!(matches!(&i.identities[1], Identity::Email(e) if e == "Ana@Example.org"));
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert_eq!(metadata, click, "the event-data verbatim");
    }

    #[test]
    fn a_permanent_failure_is_a_bounce_with_the_servers_answer() {
        let bounce = failed(
            "permanent",
            "bounce",
            550,
            "5.1.1 The email account does not exist",
        );
        let i = parse_value(&bounce).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.outcome),
            ("email_bounced", Outcome::Bounced)
        );
        assert_eq!(i.vendor_status.as_deref(), Some("failed:permanent"));
        assert_eq!(
            i.summary.as_deref(),
            Some("550 5.1.1 The email account does not exist")
        );
    }

    #[test]
    fn a_temporary_failure_is_a_deferral() {
        let deferral = failed("temporary", "generic", 421, "4.7.0 Try again later");
        let i = parse_value(&deferral).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.outcome),
            ("email_deferred", Outcome::Deferred)
        );
        assert_eq!(i.vendor_status.as_deref(), Some("failed:temporary"));
        assert_eq!(i.summary.as_deref(), Some("421 4.7.0 Try again later"));
    }

    #[test]
    fn a_suppressed_address_is_a_drop_explained_by_mailgun() {
        let mut dropped = failed("permanent", "suppress-bounce", 605, "");
        dropped["delivery-status"]["description"] =
            json!("Not delivering to previously bounced address");
        let i = parse_value(&dropped).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.outcome),
            ("email_dropped", Outcome::Dropped)
        );
        assert_eq!(
            i.summary.as_deref(),
            Some("605 Not delivering to previously bounced address")
        );
        dropped["delivery-status"] = Value::Null;
        let i = parse_value(&dropped).unwrap();
        assert_eq!(i.summary.as_deref(), Some("suppress-bounce"));
    }

    #[test]
    fn each_other_event_maps_without_a_summary() {
        let cases = [
            ("accepted", "email_processed", Outcome::Queued),
            ("delivered", "email_delivered", Outcome::Delivered),
            ("opened", "email_opened", Outcome::Opened),
            ("unsubscribed", "email_unsubscribed", Outcome::Unsubscribed),
            ("complained", "email_spam_reported", Outcome::SpamReported),
        ];
        for (name, kind, outcome) in cases {
            let i = parse_value(&event(name)).unwrap();
            assert_eq!((i.kind.as_str(), i.outcome), (kind, outcome), "{name}");
            assert_eq!(i.vendor_status.as_deref(), Some(name));
            assert_eq!(i.summary, None, "{name}");
        }
    }

    #[test]
    fn numeric_contact_ids_brackets_and_missing_ids_are_handled() {
        let mut open = event("opened");
        open["user-variables"] = json!({"switchboard_contact_id": 42, "other": {"a": 1}});
        open["message"]["headers"]["message-id"] = json!("<m1@mg.example.org>");
        open["id"] = Value::Null;
        open["timestamp"] = json!(1_699_999_000);
        let i = parse_value(&open).unwrap();
        assert!(matches!(&i.identities[0], Identity::ContactId(id) if id == "42"));
        assert_eq!(i.vendor_message_id.as_deref(), Some("m1@mg.example.org"));
        assert_eq!(
            i.vendor_event_id.as_deref(),
            Some("m1@mg.example.org:opened:1699999000000")
        );
    }

    #[test]
    fn without_user_variables_the_recipient_alone_identifies() {
        let mut open = event("opened");
        open.as_object_mut().unwrap().remove("user-variables");
        let i = parse_value(&open).unwrap();
        assert_eq!(i.identities.len(), 1);
        assert!(matches!(&i.identities[0], Identity::Email(e) if e == "Ana@Example.org"));
        open["user-variables"] = json!({"switchboard_contact_id": " "});
        assert_eq!(parse_value(&open).unwrap().identities.len(), 1);
    }

    #[test]
    fn message_ids_lose_their_angle_brackets() {
        assert_eq!(
            bare_message_id("<a.b@mg.example.org>"),
            "a.b@mg.example.org"
        );
        assert_eq!(
            bare_message_id(" a.b@mg.example.org "),
            "a.b@mg.example.org"
        );
        assert_eq!(bare_message_id("<unclosed"), "<unclosed");
    }

    #[test]
    fn oversized_events_are_logged_without_their_detail() {
        let mut open = event("opened");
        open["padding"] = json!("x".repeat(MAX_METADATA_BYTES));
        let i = parse_value(&open).unwrap();
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert!(
            metadata["omitted"]
                .as_str()
                .unwrap()
                .contains("larger than")
        );
    }

    #[test]
    fn malformed_events_name_the_field() {
        type Breach = fn(&mut Value);
        let cases: [(Breach, &str); 15] = [
            (|e| e["event"] = Value::Null, "missing `event-data.event`"),
            (|e| e["event"] = json!(" "), "missing `event-data.event`"),
            (
                |e| e["event"] = json!(3),
                "`event-data.event` must be a string",
            ),
            (
                |e| e["event"] = json!("e".repeat(65)),
                "`event-data.event` is longer than 64 bytes",
            ),
            (
                |e| e["timestamp"] = Value::Null,
                "missing `event-data.timestamp`",
            ),
            (
                |e| e["timestamp"] = json!("1699999940.3"),
                "`event-data.timestamp` must be a number (Unix seconds)",
            ),
            (
                |e| e["timestamp"] = json!(-1.5),
                "`event-data.timestamp` must be a positive number",
            ),
            (
                |e| e["timestamp"] = json!(1_700_000_000_000_i64),
                "more than a day after the request was received",
            ),
            (
                |e| e["id"] = json!(["x"]),
                "`event-data.id` must be a string",
            ),
            (
                |e| e["id"] = json!("x".repeat(300)),
                "`event-data.id` is longer than 256 bytes",
            ),
            (
                |e| e["recipient"] = json!(5),
                "`event-data.recipient` must be a string",
            ),
            (
                |e| e["message"] = json!("m"),
                "`event-data.message` must be an object",
            ),
            (
                |e| e["message"]["headers"]["message-id"] = json!(1),
                "`event-data.message.headers.message-id` must be a string",
            ),
            (
                |e| e["user-variables"] = json!([]),
                "`event-data.user-variables` must be an object",
            ),
            (
                |e| e["user-variables"]["switchboard_contact_id"] = json!({"id": 1}),
                "`event-data.user-variables.switchboard_contact_id` must be a string or an integer",
            ),
        ];
        for (breach, expected) in cases {
            let mut bad = event("delivered");
            breach(&mut bad);
            let error = parse_value(&bad).unwrap_err();
            assert!(
                error.starts_with('`') || error.starts_with("missing"),
                "{error}"
            );
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn malformed_failures_name_the_field() {
        let mut bad = failed("permanent", "bounce", 550, "no");
        bad["delivery-status"] = json!("550");
        assert_eq!(
            parse_value(&bad).unwrap_err(),
            "`event-data.delivery-status` must be an object"
        );
        bad["delivery-status"] = json!({"code": [550], "message": "no"});
        assert_eq!(
            parse_value(&bad).unwrap_err(),
            "`event-data.delivery-status.code` must be an integer"
        );
        bad["delivery-status"] = json!({"code": "550", "message": "no"});
        assert_eq!(
            parse_value(&bad).unwrap().summary.as_deref(),
            Some("550 no")
        );
    }

    #[test]
    fn a_missing_or_misshapen_event_data_is_named() {
        assert_eq!(
            parse_event(None, RECEIVED_AT).unwrap_err(),
            "missing `event-data`"
        );
        let list = RawValue::from_string("[1]".into()).unwrap();
        assert_eq!(
            parse_event(Some(&list), RECEIVED_AT).unwrap_err(),
            "`event-data` must be an object"
        );
    }

    #[test]
    fn the_body_splits_into_signature_and_event_data() {
        let body = br#"{"signature":{"token":"t"},"event-data":{"event":"opened"},"extra":1}"#;
        let split = Body::read(body).unwrap();
        assert_eq!(split.signature.unwrap().get(), r#"{"token":"t"}"#);
        assert_eq!(split.event_data.unwrap().get(), r#"{"event":"opened"}"#);
        let not_json = Body::read(b"timestamp=1&token=t").err().unwrap();
        assert!(
            not_json.starts_with("body is not a JSON object"),
            "{not_json}"
        );
        assert!(Body::read(b"[]").is_err());
    }
}

/// Bounded fuzzing of the body split and the event parser: whatever the body, it splits or is
/// refused, and the event parses or is refused, never panics; an accepted event keeps its own
/// text. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use switchboard_plugin_sdk::fuzz;

    const KEYS: &[&str] = &[
        "signature",
        "event-data",
        "timestamp",
        "token",
        "event",
        "id",
        "recipient",
        "severity",
        "reason",
        "url",
        "delivery-status",
        "code",
        "message",
        "description",
        "headers",
        "message-id",
        "user-variables",
        "switchboard_contact_id",
        "delivered",
        "failed",
        "permanent",
        "temporary",
        "suppress-bounce",
        "clicked",
    ];
    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    fn splits_and_parses_or_refuses(body: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(split) = Body::read(body)
            && let Ok(interaction) = parse_event(split.event_data, RECEIVED_AT)
        {
            let event: Value = serde_json::from_str(&interaction.metadata)?;
            prop_assert!(event.is_object());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_bytes_never_panic(body in fuzz::bytes()) {
            splits_and_parses_or_refuses(&body)?;
        }

        #[test]
        fn arbitrary_json_ish_text_never_panics(body in fuzz::json_ish(KEYS)) {
            splits_and_parses_or_refuses(&body)?;
        }

        #[test]
        fn arbitrary_events_are_parsed_or_refused(
            event in fuzz::json_object(KEYS),
            signature in fuzz::json_value(KEYS),
        ) {
            let body = json!({"signature": signature, "event-data": event});
            splits_and_parses_or_refuses(body.to_string().as_bytes())?;
        }
    }
}
