//! SendGrid Event Webhook batches → normalized interactions.
//!
//! A batch is a JSON array of event objects. Each has `event`, `timestamp` (Unix seconds) and
//! `email`; most have `sg_event_id` and `sg_message_id`; the `custom_args` given at send time
//! appear as top-level keys.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use switchboard_plugin_sdk::{self as sdk, Channel, Direction, Identity, Interaction, Outcome};

/// Parses a whole batch. One event the vendor's contract does not allow (no `event`, no
/// `timestamp`) fails the batch with a message naming it: the raw request is kept either way.
///
/// The body is read in one pass: each event once, for the few fields Switchboard uses, borrowing
/// from the body, and its text kept verbatim as the interaction's metadata.
pub fn parse_batch(body: &[u8], contact_id_arg: &str) -> Result<Vec<Interaction>, String> {
    let text = std::str::from_utf8(body).map_err(|e| not_an_array(&e))?;
    let mut interactions = Vec::new();
    for_each_element(text, |index, rest| {
        let (interaction, length) =
            parse_event(rest, contact_id_arg).map_err(|e| format!("event {index}: {e}"))?;
        interactions.push(interaction);
        Ok(length)
    })?;
    Ok(interactions)
}

/// JSON's insignificant whitespace.
fn skip_space(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\r'])
}

fn not_an_array(why: &dyn fmt::Display) -> String {
    format!("body is not a JSON array of events: {why}")
}

/// Walks a JSON array, handing `each` the text from the start of each element to the end of the
/// body; `each` says how many bytes its element took. The separators and the closing bracket are
/// checked here, the elements by `each`.
fn for_each_element(
    text: &str,
    mut each: impl FnMut(usize, &str) -> Result<usize, String>,
) -> Result<(), String> {
    let mut rest = skip_space(text)
        .strip_prefix('[')
        .map(skip_space)
        .ok_or_else(|| not_an_array(&"it does not start with `[`"))?;
    let mut index = 0;
    if !rest.starts_with(']') {
        loop {
            let length = each(index, rest)?;
            rest = skip_space(rest.get(length..).unwrap_or_default());
            match rest.strip_prefix(',') {
                Some(after) => rest = skip_space(after),
                None if rest.starts_with(']') => break,
                None => return Err(format!("event {index}: expected `,` or `]` after it")),
            }
            index += 1;
        }
    }
    match skip_space(&rest[1..]) {
        "" => Ok(()),
        _ => Err(not_an_array(&"there is more after its closing `]`")),
    }
}

/// Reads the event object at the start of `json` (which runs on to the end of the batch) and says
/// how many bytes it took.
fn parse_event(json: &str, contact_id_arg: &str) -> Result<(Interaction, usize), String> {
    if !json.starts_with('{') {
        return Err("not a JSON object".to_string());
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let fields = FieldsOf { contact_id_arg }
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    // Where the object ended: a stream deserializer starts at the position the first left off.
    let length = deserializer.into_iter::<IgnoredAny>().byte_offset();
    let name = fields.event.as_deref().ok_or("missing `event`")?;
    let timestamp = fields.timestamp.ok_or("missing `timestamp`")?;
    let (kind, outcome) = kind_and_outcome(name, fields.bounce_type.as_deref());

    let mut interaction = Interaction::new(
        kind,
        Channel::Email,
        Direction::Outbound,
        outcome,
        timestamp.saturating_mul(1000),
    );
    interaction.vendor_status = Some(name.to_string());
    let sg_message_id = fields.sg_message_id.as_deref();
    interaction.vendor_message_id = sg_message_id.map(message_id_of);
    let text = json
        .get(..length)
        .ok_or("the event's end falls inside a character")?;
    interaction.vendor_event_id = Some(
        fields
            .sg_event_id
            .as_deref()
            .map(str::to_string)
            .or_else(|| sg_message_id.map(|id| format!("{id}:{name}:{timestamp}")))
            .unwrap_or_else(|| digest_id(text)),
    );
    interaction.summary = summary_of(name, &fields);
    if let Some(contact_id) = fields.contact_id {
        interaction.identities.push(Identity::ContactId(contact_id));
    }
    if let Some(email) = fields.email {
        interaction
            .identities
            .push(Identity::Email(email.into_owned()));
    }
    interaction.metadata = text.to_string();
    Ok((interaction, length))
}

/// An event id for an event with neither `sg_event_id` nor `sg_message_id`, from its verbatim
/// text: SendGrid retries a batch byte for byte, so a retried event gets the same id and adds
/// nothing. (Two events identical to the byte are the same event.)
fn digest_id(event_text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "sha256:{}",
        sdk::signature::hex_encode(&Sha256::digest(event_text.as_bytes()))
    )
}

/// The fields of one event that Switchboard reads; the rest is skipped (and kept in metadata).
#[derive(Debug, Default)]
struct EventFields<'a> {
    event: Option<Cow<'a, str>>,
    timestamp: Option<i64>,
    email: Option<Cow<'a, str>>,
    sg_event_id: Option<Cow<'a, str>>,
    sg_message_id: Option<Cow<'a, str>>,
    /// `type` of a bounce: `bounce` or `blocked`.
    bounce_type: Option<Cow<'a, str>>,
    url: Option<Cow<'a, str>>,
    reason: Option<Cow<'a, str>>,
    response: Option<Cow<'a, str>>,
    /// The custom arg carrying our contact id (a string, or a number if a sender passed one).
    contact_id: Option<String>,
}

/// Reads [`EventFields`] from an event object; the contact id key is configurable, so this is a
/// seeded visitor rather than a derived struct.
struct FieldsOf<'k> {
    contact_id_arg: &'k str,
}

impl<'de> DeserializeSeed<'de> for FieldsOf<'_> {
    type Value = EventFields<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsOf<'_> {
    type Value = EventFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = EventFields::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let text = |map: &mut A| {
                map.next_value::<Option<Text<'de>>>()
                    .map(|t| t.map(|t| t.0))
            };
            match key.as_ref() {
                k if k == self.contact_id_arg => {
                    fields.contact_id = map.next_value::<Option<Scalar>>()?.map(|s| s.0);
                }
                "event" => fields.event = text(&mut map)?,
                "timestamp" => fields.timestamp = map.next_value()?,
                "email" => fields.email = text(&mut map)?,
                "sg_event_id" => fields.sg_event_id = text(&mut map)?,
                "sg_message_id" => fields.sg_message_id = text(&mut map)?,
                "type" => fields.bounce_type = text(&mut map)?,
                "url" => fields.url = text(&mut map)?,
                "reason" => fields.reason = text(&mut map)?,
                "response" => fields.response = text(&mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A JSON string, borrowed from the body unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A string or an integer, as text. Custom args are strings, but a sender may pass a number.
struct Scalar(String);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
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

fn summary_of(event: &str, fields: &EventFields<'_>) -> Option<String> {
    let text = match event {
        "click" => fields.url.as_deref(),
        "bounce" | "dropped" => fields.reason.as_deref(),
        "deferred" => fields.response.as_deref(),
        _ => None,
    }?;
    Some(sdk::truncate_chars(text, 200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
    fn escaped_text_numeric_contact_ids_and_unknown_fields_are_read() {
        let batch = parse(
            r#"[{"email":"ana\u0040example.org","timestamp":1,"event":"bounce","type":"bounce",
                "reason":"550 \"no such user\"","nested":{"a":[1,2,{"b":null}]},
                "switchboard_contact_id":42}]"#,
        )
        .unwrap();
        let bounce = &batch[0];
        assert_eq!(bounce.kind, "email_bounced");
        assert_eq!(bounce.summary.as_deref(), Some("550 \"no such user\""));
        assert!(matches!(&bounce.identities[0], Identity::ContactId(id) if id == "42"));
        assert!(matches!(&bounce.identities[1], Identity::Email(e) if e == "ana@example.org"));
        let metadata: Value = serde_json::from_str(&bounce.metadata).unwrap();
        assert_eq!(metadata["nested"]["a"][2]["b"], Value::Null);
    }

    #[test]
    fn each_event_keeps_exactly_its_own_text_whatever_the_spacing() {
        let first = r#"{"event":"open","timestamp":1,"note":"a ] and a , and a }","x":[{}]}"#;
        let second = r#"{ "event" : "click" , "timestamp" : 2 }"#;
        let body = format!(" \n[ {first} ,\r\n\t{second}\n] \n");
        let batch = parse(&body).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].metadata, first);
        assert_eq!(batch[1].metadata, second);
        assert_eq!(batch[1].kind, "email_clicked");
        assert_eq!(parse(" [ ] ").unwrap().len(), 0);
    }

    #[test]
    fn a_configured_contact_id_arg_is_honoured() {
        let batch = parse_batch(
            br#"[{"event":"open","timestamp":1,"crm_id":"c-7","switchboard_contact_id":"9"}]"#,
            "crm_id",
        )
        .unwrap();
        assert!(matches!(&batch[0].identities[0], Identity::ContactId(id) if id == "c-7"));
        assert_eq!(batch[0].identities.len(), 1);
    }

    #[test]
    fn an_event_without_an_event_id_gets_a_derived_one() {
        let batch =
            parse(r#"[{"email":"a@b.c","timestamp":5,"event":"open","sg_message_id":"m.x"}]"#)
                .unwrap();
        assert_eq!(batch[0].vendor_event_id.as_deref(), Some("m.x:open:5"));
    }

    #[test]
    fn an_event_with_no_ids_gets_one_from_its_own_text() {
        let event = r#"{"email":"a@b.c","timestamp":5,"event":"open"}"#;
        let batch = parse(&format!("[{event}, {event}]")).unwrap();
        // sha256 of the event's text, computed apart (`printf %s "$event" | sha256sum`).
        let expected = "sha256:caeded981cd8bb17be68f7b623f270740fdd03da36418e9b5b7c9a1b29048baa";
        assert_eq!(batch[0].vendor_event_id.as_deref(), Some(expected));
        assert_eq!(batch[1].vendor_event_id, batch[0].vendor_event_id);
        let retried = parse(&format!(" [\n{event}\n] ")).unwrap();
        assert_eq!(retried[0].vendor_event_id.as_deref(), Some(expected));
        let other = parse(r#"[{"email":"a@b.c","timestamp":6,"event":"open"}]"#).unwrap();
        assert_ne!(other[0].vendor_event_id.as_deref(), Some(expected));
    }

    #[test]
    fn malformed_batches_are_named() {
        assert!(parse("not json").unwrap_err().contains("not a JSON array"));
        assert!(
            parse("[1]")
                .unwrap_err()
                .contains("event 0: not a JSON object")
        );
        let missing = parse(r#"[{"event":"open","timestamp":1},{"timestamp":1}]"#).unwrap_err();
        assert_eq!(missing, "event 1: missing `event`");
        assert!(parse("").unwrap_err().contains("does not start with `[`"));
        assert!(parse("[").unwrap_err().starts_with("event 0: "));
        let unclosed = parse(r#"[{"event":"open","timestamp":1}"#).unwrap_err();
        assert_eq!(unclosed, "event 0: expected `,` or `]` after it");
        let no_comma = parse(r#"[{"event":"open","timestamp":1} {"event":"open","timestamp":2}]"#);
        assert_eq!(
            no_comma.unwrap_err(),
            "event 0: expected `,` or `]` after it"
        );
        let trailing = parse(r#"[{"event":"open","timestamp":1}] []"#).unwrap_err();
        assert!(
            trailing.contains("more after its closing `]`"),
            "{trailing}"
        );
        let broken = parse(r#"[{"event":"open","timestamp":1},{"event":"open" "timestamp":1}]"#);
        assert!(broken.unwrap_err().starts_with("event 1: expected `,`"));
        let not_utf8 = parse_batch(b"[\"\xff\"]", "switchboard_contact_id").unwrap_err();
        assert!(not_utf8.contains("not a JSON array"), "{not_utf8}");
        let text_time = parse(r#"[{"event":"open","timestamp":"soon"}]"#).unwrap_err();
        assert!(
            text_time.starts_with("event 0: invalid type: string"),
            "{text_time}"
        );
    }
}

/// Bounded fuzzing of the batch parser: whatever the body, it parses or refuses, never panics;
/// an accepted batch has one interaction per event, each with an event id and its own text as
/// metadata. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use switchboard_plugin_sdk::fuzz;

    const KEYS: &[&str] = &[
        "event",
        "timestamp",
        "email",
        "sg_event_id",
        "sg_message_id",
        "type",
        "url",
        "reason",
        "response",
        "switchboard_contact_id",
        "processed",
        "delivered",
        "bounce",
        "blocked",
        "click",
        "open",
        "dropped",
        "deferred",
        "unsubscribe",
        "msg.filter1",
    ];

    fn parses_or_refuses(body: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(interactions) = parse_batch(body, "switchboard_contact_id") {
            let batch: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            prop_assert_eq!(interactions.len(), batch.as_array().map_or(0, Vec::len));
            for interaction in &interactions {
                prop_assert!(interaction.vendor_event_id.is_some());
                prop_assert!(serde_json::from_str::<Value>(&interaction.metadata)?.is_object());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_bytes_never_panic(body in fuzz::bytes()) {
            parses_or_refuses(&body)?;
        }

        #[test]
        fn arbitrary_json_ish_text_never_panics(body in fuzz::json_ish(KEYS)) {
            parses_or_refuses(&body)?;
        }

        #[test]
        fn arbitrary_events_are_parsed_or_refused(events in proptest::collection::vec(fuzz::json_object(KEYS), 0..4)) {
            parses_or_refuses(json!(events).to_string().as_bytes())?;
        }

        #[test]
        fn arbitrary_json_is_parsed_or_refused(value in fuzz::json_value(KEYS)) {
            parses_or_refuses(value.to_string().as_bytes())?;
        }
    }
}
