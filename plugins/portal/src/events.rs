//! Portal activity batches → normalized interactions, one per event.
//!
//! Each event is read once, borrowing from the body: its fields are kept as raw JSON and decoded
//! one by one, so that an error names the event and the field (``event 3: missing
//! `user.portal_user_id` ``), and the event is kept verbatim as its interaction's metadata. The
//! format itself is documented at the top of the crate.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_plugin_sdk::json::raw::{optional, optional_text, required, required_text};
use switchboard_plugin_sdk::{
    self as sdk, Channel, Direction, ExternalId, Identity, Interaction, Outcome, Timestamp,
};

/// The most events one batch may carry.
pub const MAX_EVENTS: usize = 1000;
/// The external system that portal user ids belong to.
pub const SYSTEM: &str = "portal";
/// The longest event or message id: the host keeps ids up to this many bytes.
const MAX_ID_BYTES: usize = 256;
/// The largest event: it becomes the interaction's metadata, which the contract caps at 64 KiB.
const MAX_EVENT_BYTES: usize = 64 * 1024;
/// How much of a page, title or subject a summary quotes.
const SUMMARY_QUOTE_CHARS: usize = 200;
/// 2000-01-01T00:00:00Z in milliseconds. An earlier `occurred_at` is almost surely seconds sent
/// where milliseconds belong, which would otherwise land silently in January 1970.
const EARLIEST_OCCURRED_AT_MS: i64 = 946_684_800_000;
/// How far after its receipt an event may claim to have happened (the portal's clock skew).
const MAX_FUTURE_SKEW_MS: i64 = 60 * 60 * 1000;

/// What happened in the portal: the `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Login,
    PageView,
    DocumentDownload,
    MessageRead,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::Login,
        EventType::PageView,
        EventType::DocumentDownload,
        EventType::MessageRead,
    ];

    /// The type named by the portal's word for it.
    pub fn parse(word: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|t| t.word() == word)
    }

    /// The portal's word: the event's `type`, and the interaction's vendor status.
    pub fn word(self) -> &'static str {
        match self {
            EventType::Login => "login",
            EventType::PageView => "page_view",
            EventType::DocumentDownload => "document_download",
            EventType::MessageRead => "message_read",
        }
    }

    /// The interaction kind: `portal_<type>`.
    pub fn kind(self) -> &'static str {
        match self {
            EventType::Login => "portal_login",
            EventType::PageView => "portal_page_view",
            EventType::DocumentDownload => "portal_document_download",
            EventType::MessageRead => "portal_message_read",
        }
    }

    /// Reading a message is an open of it; everything else the person did in the portal is a view.
    pub fn outcome(self) -> Outcome {
        match self {
            EventType::MessageRead => Outcome::Opened,
            EventType::Login | EventType::PageView | EventType::DocumentDownload => Outcome::Viewed,
        }
    }
}

/// The outcome of an event type word; `unknown` for a word the portal does not send.
pub fn outcome_of(word: &str) -> Outcome {
    EventType::parse(word).map_or(Outcome::Unknown, EventType::outcome)
}

/// Parses a whole batch. One event that breaks the format fails the batch with a message naming
/// the event and the field: the raw request is kept either way, and the portal can resend.
pub fn parse_batch(body: &[u8], received_at: Timestamp) -> Result<Vec<Interaction>, String> {
    let batch: Batch<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("body is not a JSON object with an `events` array: {e}"))?;
    if batch.events.len() > MAX_EVENTS {
        return Err(format!(
            "{} events in one batch; the most accepted is {MAX_EVENTS}",
            batch.events.len()
        ));
    }
    batch
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            parse_event(event.get(), received_at).map_err(|e| format!("event {index}: {e}"))
        })
        .collect()
}

/// The body: other top-level keys are ignored, so that the portal may add some.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// The fields of one event that Switchboard reads, still as raw JSON; the rest is skipped (and
/// kept in metadata). `null` counts as absent.
#[derive(Deserialize)]
struct EventFields<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(rename = "type", borrow)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow)]
    occurred_at: Option<&'a RawValue>,
    #[serde(borrow)]
    user: Option<&'a RawValue>,
    #[serde(borrow)]
    page: Option<&'a RawValue>,
    #[serde(borrow)]
    document: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

/// `user`: who the event is about.
#[derive(Deserialize)]
struct UserFields<'a> {
    #[serde(borrow)]
    contact_id: Option<&'a RawValue>,
    #[serde(borrow)]
    portal_user_id: Option<&'a RawValue>,
    #[serde(borrow)]
    email: Option<&'a RawValue>,
}

/// `document` or `message`: what the event is about, by id, with a title or subject to show.
#[derive(Deserialize)]
struct ItemFields<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    title: Option<&'a RawValue>,
    #[serde(borrow)]
    subject: Option<&'a RawValue>,
}

fn parse_event(json: &str, received_at: Timestamp) -> Result<Interaction, String> {
    if !json.starts_with('{') {
        return Err("not a JSON object".to_string());
    }
    if json.len() > MAX_EVENT_BYTES {
        return Err(format!("larger than {MAX_EVENT_BYTES} bytes"));
    }
    let fields: EventFields<'_> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let id = id_text(fields.id, "id")?;
    let word = required_text(fields.event_type, "type")?;
    let event_type = EventType::parse(&word).ok_or_else(|| {
        format!(
            "unknown `type` {word:?}; expected one of login, page_view, document_download, message_read"
        )
    })?;
    let occurred_at = occurred_at(fields.occurred_at, received_at)?;
    let identities = identities(fields.user)?;
    let (summary, message_id) = summary_and_message(event_type, &fields)?;

    let mut interaction = Interaction::new(
        event_type.kind(),
        Channel::Portal,
        Direction::Inbound,
        event_type.outcome(),
        occurred_at,
    );
    interaction.vendor_status = Some(word);
    interaction.vendor_event_id = Some(id);
    interaction.vendor_message_id = message_id;
    interaction.identities = identities;
    interaction.summary = Some(summary);
    interaction.metadata = json.to_string();
    Ok(interaction)
}

/// `occurred_at`: Unix milliseconds, refused when it cannot be right (seconds instead of
/// milliseconds, or well after the batch arrived).
fn occurred_at(raw: Option<&RawValue>, received_at: Timestamp) -> Result<Timestamp, String> {
    let at: i64 = required(raw, "occurred_at", "an integer (Unix milliseconds)")?;
    if at < EARLIEST_OCCURRED_AT_MS {
        return Err(format!(
            "`occurred_at` {at} is before the year 2000; it must be Unix milliseconds, not seconds"
        ));
    }
    if at > received_at.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(format!(
            "`occurred_at` {at} is more than an hour after the batch was received"
        ));
    }
    Ok(at)
}

/// The identity hints of `user`, strongest first: our contact id when the portal knows it, the
/// portal's own user id, then the email address.
fn identities(raw: Option<&RawValue>) -> Result<Vec<Identity>, String> {
    let user: UserFields<'_> = required(raw, "user", "an object")?;
    let mut identities = Vec::with_capacity(3);
    if let Some(contact_id) = optional::<u64>(
        user.contact_id,
        "user.contact_id",
        "a positive integer (Switchboard's contact id)",
    )? {
        if contact_id == 0 {
            return Err("`user.contact_id` must be a positive integer".to_string());
        }
        identities.push(Identity::ContactId(contact_id.to_string()));
    }
    let portal_user_id = id_text(user.portal_user_id, "user.portal_user_id")?;
    identities.push(Identity::External(ExternalId {
        system: SYSTEM.to_string(),
        value: portal_user_id,
    }));
    // The host normalizes the address, and drops it if it is not one.
    if let Some(email) = optional_text(user.email, "user.email")? {
        identities.push(Identity::Email(email));
    }
    Ok(identities)
}

/// The timeline line of an event, and the id of the message it is about (only `message_read` is
/// about a message; its id joins the read to the message in the log).
fn summary_and_message(
    event_type: EventType,
    fields: &EventFields<'_>,
) -> Result<(String, Option<String>), String> {
    match event_type {
        EventType::Login => Ok(("Logged in".to_string(), None)),
        EventType::PageView => {
            let page = required_text(fields.page, "page")?;
            Ok((format!("Viewed {}", quote(&page)), None))
        }
        EventType::DocumentDownload => {
            let document: ItemFields<'_> = required(fields.document, "document", "an object")?;
            let id = id_text(document.id, "document.id")?;
            let summary = match optional_text(document.title, "document.title")? {
                Some(title) => format!("Downloaded {}", quote(&title)),
                None => format!("Downloaded document {}", quote(&id)),
            };
            Ok((summary, None))
        }
        EventType::MessageRead => {
            let message: ItemFields<'_> = required(fields.message, "message", "an object")?;
            let id = id_text(message.id, "message.id")?;
            let summary = match optional_text(message.subject, "message.subject")? {
                Some(subject) => format!("Read message: {}", quote(&subject)),
                None => "Read a message".to_string(),
            };
            Ok((summary, Some(id)))
        }
    }
}

/// A page, title or subject cut to a length that fits a timeline line.
fn quote(text: &str) -> String {
    sdk::truncate_chars(text.trim(), SUMMARY_QUOTE_CHARS)
}

/// A required id: a string that is not blank and not longer than the host keeps.
fn id_text(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
    let id = required_text(raw, name)?;
    if id.len() > MAX_ID_BYTES {
        return Err(format!("`{name}` is longer than {MAX_ID_BYTES} bytes"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const RECEIVED_AT: Timestamp = 1_700_000_000_000;
    const OCCURRED_AT: Timestamp = RECEIVED_AT - 60_000;

    fn event(event_type: &str) -> Value {
        json!({
            "id": format!("evt_{event_type}"),
            "type": event_type,
            "occurred_at": OCCURRED_AT,
            "user": {"portal_user_id": "u-42"},
        })
    }

    fn parse(events: &[Value]) -> Result<Vec<Interaction>, String> {
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
        parse_batch(&body, RECEIVED_AT)
    }

    fn parse_one(event: Value) -> Result<Interaction, String> {
        parse(&[event]).map(|mut batch| batch.remove(0))
    }

    #[test]
    fn maps_every_event_type_and_unknown_words() {
        let cases = [
            ("login", "portal_login", Outcome::Viewed),
            ("page_view", "portal_page_view", Outcome::Viewed),
            (
                "document_download",
                "portal_document_download",
                Outcome::Viewed,
            ),
            ("message_read", "portal_message_read", Outcome::Opened),
        ];
        for (word, kind, outcome) in cases {
            let event_type = EventType::parse(word).unwrap();
            assert_eq!((event_type.kind(), event_type.outcome()), (kind, outcome));
            assert_eq!(outcome_of(word), outcome);
        }
        assert_eq!(outcome_of("logout"), Outcome::Unknown);
    }

    #[test]
    fn a_login_carries_its_ids_identities_and_own_json() {
        let mut login = event("login");
        login["user"] =
            json!({"contact_id": 123, "portal_user_id": "u-42", "email": "Ana@Example.org"});
        login["ip"] = json!("203.0.113.9");
        let i = parse_one(login).unwrap();
        assert_eq!(i.kind, "portal_login");
        assert_eq!(i.channel, Channel::Portal);
        assert_eq!(i.direction, Direction::Inbound);
        assert_eq!(i.outcome, Outcome::Viewed);
        assert_eq!(i.vendor_status.as_deref(), Some("login"));
        assert_eq!(i.vendor_event_id.as_deref(), Some("evt_login"));
        assert_eq!(i.vendor_message_id, None);
        assert_eq!(i.occurred_at, OCCURRED_AT);
        assert_eq!(i.summary.as_deref(), Some("Logged in"));
        assert!(matches!(&i.identities[0], Identity::ContactId(id) if id == "123"));
        assert!(
            matches!(&i.identities[1], Identity::External(e) if e.system == "portal" && e.value == "u-42")
        );
        assert!(matches!(&i.identities[2], Identity::Email(e) if e == "Ana@Example.org"));
        let metadata: Value = serde_json::from_str(&i.metadata).unwrap();
        assert_eq!(metadata["ip"], "203.0.113.9");
    }

    #[test]
    fn without_a_contact_id_or_email_the_portal_user_id_alone_identifies() {
        let i = parse_one(event("login")).unwrap();
        assert_eq!(i.identities.len(), 1);
        assert!(matches!(&i.identities[0], Identity::External(e) if e.value == "u-42"));
    }

    #[test]
    fn a_page_view_names_the_page() {
        let mut view = event("page_view");
        view["page"] = json!("/billing");
        let i = parse_one(view).unwrap();
        assert_eq!(
            (i.kind.as_str(), i.summary.as_deref()),
            ("portal_page_view", Some("Viewed /billing"))
        );
    }

    #[test]
    fn a_download_names_the_document_by_title_or_else_by_id() {
        let mut download = event("document_download");
        download["document"] = json!({"id": "d1", "title": "Lease.pdf"});
        let i = parse_one(download.clone()).unwrap();
        assert_eq!(i.summary.as_deref(), Some("Downloaded Lease.pdf"));
        assert_eq!(i.vendor_message_id, None);
        download["document"] = json!({"id": "d1"});
        let i = parse_one(download).unwrap();
        assert_eq!(i.summary.as_deref(), Some("Downloaded document d1"));
    }

    #[test]
    fn a_read_is_an_open_of_the_message_it_names() {
        let mut read = event("message_read");
        read["message"] = json!({"id": "m1", "subject": "Your lease renewal"});
        let i = parse_one(read.clone()).unwrap();
        assert_eq!(i.outcome, Outcome::Opened);
        assert_eq!(i.vendor_message_id.as_deref(), Some("m1"));
        assert_eq!(
            i.summary.as_deref(),
            Some("Read message: Your lease renewal")
        );
        read["message"] = json!({"id": "m1", "subject": null});
        assert_eq!(
            parse_one(read).unwrap().summary.as_deref(),
            Some("Read a message")
        );
    }

    #[test]
    fn long_summaries_are_cut() {
        let mut view = event("page_view");
        view["page"] = json!(format!("/{}", "a".repeat(500)));
        let summary = parse_one(view).unwrap().summary.unwrap();
        assert_eq!(
            summary.chars().count(),
            "Viewed ".len() + SUMMARY_QUOTE_CHARS + 1
        );
    }

    #[test]
    fn malformed_bodies_are_named() {
        let not_json = parse_batch(b"{not json", RECEIVED_AT).unwrap_err();
        assert!(
            not_json.starts_with("body is not a JSON object"),
            "{not_json}"
        );
        let array = parse_batch(b"[]", RECEIVED_AT).unwrap_err();
        assert!(array.contains("`events` array"), "{array}");
        let no_events = parse_batch(b"{}", RECEIVED_AT).unwrap_err();
        assert!(no_events.contains("missing field `events`"), "{no_events}");
        assert_eq!(
            parse_batch(br#"{"events":[1]}"#, RECEIVED_AT).unwrap_err(),
            "event 0: not a JSON object"
        );
        assert!(
            parse_batch(br#"{"events":[]}"#, RECEIVED_AT)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_batch_over_the_limit_is_refused() {
        let events = vec![event("login"); MAX_EVENTS + 1];
        let error = parse(&events).unwrap_err();
        assert_eq!(error, "1001 events in one batch; the most accepted is 1000");
        assert_eq!(parse(&events[..MAX_EVENTS]).unwrap().len(), MAX_EVENTS);
    }

    #[test]
    fn malformed_events_name_the_event_and_the_field() {
        type Breach = fn(&mut Value);
        let cases: [(Breach, &str); 15] = [
            (|e| e["id"] = Value::Null, "missing `id`"),
            (|e| e["id"] = json!(7), "`id` must be a string"),
            (
                |e| e["id"] = json!("x".repeat(300)),
                "`id` is longer than 256 bytes",
            ),
            (|e| e["type"] = json!("logout"), "unknown `type` \"logout\""),
            (|e| e["type"] = json!(" "), "missing `type`"),
            (
                |e| e["occurred_at"] = json!("soon"),
                "`occurred_at` must be an integer (Unix milliseconds)",
            ),
            (|e| e["occurred_at"] = json!(1_700_000_000), "not seconds"),
            (
                |e| e["occurred_at"] = json!(RECEIVED_AT + 2 * MAX_FUTURE_SKEW_MS),
                "more than an hour after",
            ),
            (|e| e["user"] = Value::Null, "missing `user`"),
            (|e| e["user"] = json!("u-42"), "`user` must be an object"),
            (
                |e| e["user"] = json!({"email": "a@b.org"}),
                "missing `user.portal_user_id`",
            ),
            (
                |e| e["user"]["contact_id"] = json!("abc"),
                "`user.contact_id` must be a positive integer",
            ),
            (
                |e| e["user"]["contact_id"] = json!(0),
                "`user.contact_id` must be a positive integer",
            ),
            (
                |e| e["user"]["email"] = json!(["a@b.org"]),
                "`user.email` must be a string",
            ),
            (|e| e["type"] = json!("page_view"), "missing `page`"),
        ];
        for (breach, expected) in cases {
            let mut bad = event("login");
            breach(&mut bad);
            let error = parse(&[event("login"), bad]).unwrap_err();
            assert!(error.starts_with("event 1: "), "{error}");
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn type_specific_fields_are_required_for_their_type() {
        let cases = [
            (
                "document_download",
                "document",
                json!(null),
                "missing `document`",
            ),
            (
                "document_download",
                "document",
                json!({"title": "Lease.pdf"}),
                "missing `document.id`",
            ),
            (
                "message_read",
                "message",
                json!("m1"),
                "`message` must be an object",
            ),
            (
                "message_read",
                "message",
                json!({"id": "m1", "subject": 5}),
                "`message.subject` must be a string",
            ),
        ];
        for (event_type, field, value, expected) in cases {
            let mut bad = event(event_type);
            bad[field] = value;
            let error = parse_one(bad).unwrap_err();
            assert_eq!(error, format!("event 0: {expected}"));
        }
    }
}

/// Bounded fuzzing of the batch parser: whatever the body, it parses or refuses, never panics,
/// and an accepted batch has one interaction per event. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use switchboard_plugin_sdk::fuzz;

    const KEYS: &[&str] = &[
        "events",
        "id",
        "type",
        "occurred_at",
        "user",
        "contact_id",
        "portal_user_id",
        "email",
        "page",
        "document",
        "message",
        "title",
        "subject",
        "login",
        "page_view",
        "document_download",
        "message_read",
    ];
    const RECEIVED_AT: Timestamp = 1_700_000_000_000;

    fn parses_or_refuses(body: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(interactions) = parse_batch(body, RECEIVED_AT) {
            let batch: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            prop_assert_eq!(
                interactions.len(),
                batch["events"].as_array().map_or(0, Vec::len)
            );
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
            parses_or_refuses(json!({ "events": events }).to_string().as_bytes())?;
        }
    }
}
