//! Bounded fuzzing (property tests) of the host's handling of untrusted text: the checks of what a
//! plugin returns (`validate`) and the cutting of stored webhook bodies for export and erasure
//! (`redact`). Whatever a plugin or a vendor sends, these never panic, and they keep their
//! promises: a check passes or names the breach; `without` and `only` split a batch between them;
//! an identifier matches only as a whole token.
//!
//! Each property runs 256 cases by default (about a second in CI). For a longer run:
//! `PROPTEST_CASES=100000 cargo test -p switchboard --lib fuzz` (a failing case is shrunk and
//! printed; nothing is written into the source tree). The plugins' own webhook parsers
//! are fuzzed in the plugins workspace (`plugins/sdk/src/fuzz.rs`).

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::value::RawValue;

use super::redact::{Person, Redacted, mentions, only, without};
use super::validate::{Expectations, check_interactions, check_reply};
use switchboard_core::domain::{Channel, IdentityKey, IdentityKind};
use switchboard_runtime::bindings::{
    ExternalId, Header, HttpResponse, Identity, Interaction, WitChannel, WitDirection, WitOutcome,
};

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`), without failure files in the tree.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The contract's limits, restated here so that a change to either side is noticed.
const MAX_KIND_LEN: usize = 64;
const MAX_ID_LEN: usize = 256;
const MAX_VENDOR_STATUS_LEN: usize = 64;
const MAX_SUMMARY_CHARS: usize = 500;
const MAX_METADATA_BYTES: usize = 64 * 1024;
const MAX_REPLY_BYTES: usize = 1024 * 1024;
const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

// ---- What a hostile or buggy plugin may return ----

/// Text as a plugin may send it: anything, near-valid words, blanks, and lengths around the
/// limits.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z][a-z0-9_]{0,70}",
        "[ \t\n]{0,3}",
        (0usize..600).prop_map(|n| "é".repeat(n)),
        (MAX_ID_LEN - 2..MAX_ID_LEN + 3).prop_map(|n| "i".repeat(n)),
    ]
}

fn optional_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

/// Times in milliseconds: any 64-bit value, the extremes, around zero, and around now.
fn time_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        -3i64..3,
        1_600_000_000_000i64..1_900_000_000_000,
    ]
}

/// Metadata: anything, JSON-ish fragments, objects, and objects just over the size limit.
fn metadata() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        r#"[ {}\[\]":,a-z0-9.eE+-]{0,40}"#,
        "[a-z]{0,8}".prop_map(|v| format!(r#"{{"event":"{v}","n":[1,2.5,null]}}"#)),
        (MAX_METADATA_BYTES - 12..MAX_METADATA_BYTES - 6)
            .prop_map(|n| format!(r#"{{"a":"{}"}}"#, "x".repeat(n))),
        Just(String::new()),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        prop_oneof![
            text(),
            Just("42".to_string()),
            Just("-1".to_string()),
            Just(" 7 ".to_string()),
            Just(i64::MAX.to_string()),
            Just("99999999999999999999".to_string()),
        ]
        .prop_map(Identity::ContactId),
        prop_oneof![
            text(),
            "[A-Za-z0-9._%+-]{1,12}@[a-z0-9-]{1,8}(\\.[a-z]{2,4}){0,2}"
        ]
        .prop_map(Identity::Email),
        prop_oneof![text(), "(\\+|00|tel:)?[0-9 ().-]{0,20}"].prop_map(Identity::Phone),
        (text(), text())
            .prop_map(|(system, value)| Identity::External(ExternalId { system, value })),
    ]
}

fn wit_channel() -> impl Strategy<Value = WitChannel> {
    prop::sample::select(vec![
        WitChannel::Email,
        WitChannel::Sms,
        WitChannel::Phone,
        WitChannel::Portal,
        WitChannel::InPerson,
        WitChannel::Chat,
    ])
}

fn wit_outcome() -> impl Strategy<Value = WitOutcome> {
    use WitOutcome::*;
    prop::sample::select(vec![
        Queued,
        Sent,
        Deferred,
        Delivered,
        Opened,
        Clicked,
        Replied,
        Answered,
        Voicemail,
        NoAnswer,
        Busy,
        Bounced,
        Dropped,
        Failed,
        Unsubscribed,
        Resubscribed,
        SpamReported,
        OptedOut,
        OptedIn,
        Attended,
        Viewed,
        Unknown,
    ])
}

fn interaction() -> impl Strategy<Value = Interaction> {
    (
        (text(), wit_channel(), any::<bool>(), wit_outcome()),
        (optional_text(), time_ms(), optional_text(), optional_text()),
        (vec(identity(), 0..5), optional_text(), metadata()),
    )
        .prop_map(
            |(
                (kind, channel, inbound, outcome),
                (vendor_status, occurred_at, vendor_message_id, vendor_event_id),
                (identities, summary, metadata),
            )| Interaction {
                kind,
                channel,
                direction: if inbound {
                    WitDirection::Inbound
                } else {
                    WitDirection::Outbound
                },
                outcome,
                vendor_status,
                occurred_at,
                vendor_message_id,
                vendor_event_id,
                identities,
                summary,
                metadata,
            },
        )
}

/// The channels `plugins.toml` may assign (including none, and `system`, which no plugin serves).
fn assigned_channels() -> impl Strategy<Value = Vec<Channel>> {
    prop::sample::subsequence(Channel::ALL.to_vec(), 0..=Channel::ALL.len())
}

/// When the host received the request: from the host's clock, so within the epoch and this
/// century (a replay passes the original time).
fn received_at() -> impl Strategy<Value = i64> {
    1i64..=4_102_444_800_000
}

fn country_code() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![None, Some("1"), Some("44"), Some("353")])
}

fn valid_kind(kind: &str) -> bool {
    let bytes = kind.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_KIND_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn within(value: &Option<String>, max: usize) -> bool {
    value
        .as_ref()
        .is_none_or(|v| !v.is_empty() && v.len() <= max)
}

proptest! {
    #![proptest_config(config())]

    /// Whatever a plugin returns, the check passes it whole (each interaction held to the
    /// contract) or names the first breach; it never panics.
    #[test]
    fn fuzz_check_interactions_passes_within_the_contract_or_names_the_breach(
        interactions in vec(interaction(), 0..6),
        channels in assigned_channels(),
        received_at in received_at(),
        country in country_code(),
    ) {
        let expect = Expectations { channels: &channels, received_at, default_country_code: country };
        let given = interactions.clone();
        match check_interactions(interactions, expect) {
            Ok(checked) => {
                prop_assert_eq!(checked.len(), given.len());
                for (out, input) in checked.iter().zip(&given) {
                    prop_assert!(valid_kind(&out.kind), "kind {:?}", out.kind);
                    prop_assert!(channels.contains(&out.channel));
                    prop_assert!(out.occurred_at > 0);
                    prop_assert!(out.occurred_at <= received_at + MAX_FUTURE_SKEW_MS);
                    if input.occurred_at <= received_at + MAX_FUTURE_SKEW_MS {
                        prop_assert_eq!(out.occurred_at, input.occurred_at);
                    } else {
                        prop_assert_eq!(out.occurred_at, received_at, "clamped to receipt");
                    }
                    prop_assert!(within(&out.vendor_status, MAX_VENDOR_STATUS_LEN));
                    prop_assert!(within(&out.vendor_message_id, MAX_ID_LEN));
                    prop_assert!(within(&out.vendor_event_id, MAX_ID_LEN));
                    let summary_ok = out.summary.as_ref().is_none_or(|s| {
                        !s.trim().is_empty() && s.chars().count() <= MAX_SUMMARY_CHARS
                    });
                    prop_assert!(summary_ok, "summary {:?}", out.summary);
                    prop_assert!(out.metadata.len() <= MAX_METADATA_BYTES);
                    let object = out.metadata.trim_start().starts_with('{');
                    prop_assert!(object, "metadata {:?}", out.metadata);
                    prop_assert!(out.hints.contact_id.is_none_or(|id| id > 0));
                    let mut keys = out.hints.identities.clone();
                    keys.dedup();
                    prop_assert_eq!(keys.len(), out.hints.identities.len(), "no repeated hint");
                }
            }
            Err(reason) => {
                prop_assert!(reason.starts_with("interaction "), "{}", reason);
            }
        }
    }

    /// An interaction the contract allows is never refused, whatever its identities say: an
    /// unusable hint is the vendor's data and is dropped, not a breach.
    #[test]
    fn fuzz_check_interactions_accepts_any_hints_on_a_valid_interaction(
        identities in vec(identity(), 0..8),
        occurred_at in prop_oneof![1i64..=i64::MAX, Just(i64::MAX), 1_600_000_000_000i64..1_900_000_000_000],
        received_at in received_at(),
        country in country_code(),
    ) {
        let interaction = Interaction {
            kind: "email_opened".into(),
            channel: WitChannel::Email,
            direction: WitDirection::Outbound,
            outcome: WitOutcome::Opened,
            vendor_status: Some("open".into()),
            occurred_at,
            vendor_message_id: Some("m1".into()),
            vendor_event_id: Some("e1".into()),
            identities,
            summary: None,
            metadata: "{}".into(),
        };
        let expect = Expectations {
            channels: &[Channel::Email],
            received_at,
            default_country_code: country,
        };
        let checked = check_interactions(vec![interaction], expect);
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }

    /// A plugin's reply passes only when the HTTP layer can send it as it is: a real status, a
    /// body within the limit, headers that are valid HTTP.
    #[test]
    fn fuzz_check_reply_passes_only_what_http_can_carry(
        status in prop_oneof![any::<u16>(), 100u16..=599],
        headers in vec((prop_oneof![any::<String>(), "[a-z-]{1,20}"], any::<String>()), 0..4),
        body_len in prop_oneof![0usize..64, MAX_REPLY_BYTES - 1..MAX_REPLY_BYTES + 2],
    ) {
        let reply = HttpResponse {
            status,
            headers: headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            body: vec![b'x'; body_len],
        };
        let sendable = (100..=599).contains(&status)
            && body_len <= MAX_REPLY_BYTES
            && reply.headers.iter().all(|h| {
                http::HeaderName::from_bytes(h.name.as_bytes()).is_ok()
                    && http::HeaderValue::from_str(&h.value).is_ok()
            });
        match check_reply(&reply) {
            Ok(()) => prop_assert!(sendable),
            Err(reason) => prop_assert!(!sendable && !reason.is_empty()),
        }
    }
}

// ---- What a vendor may send, and who it may name ----

/// Any identifier key, including values no constructor would make (the privacy code is handed
/// keys from the database, written by whatever version of the host stored them).
fn any_key() -> impl Strategy<Value = IdentityKey> {
    (
        prop::sample::select(vec![
            IdentityKind::Email,
            IdentityKind::Phone,
            IdentityKind::External,
        ]),
        prop_oneof![any::<String>(), "[a-z0-9:@.+%-]{0,12}"],
    )
        .prop_map(|(kind, value)| IdentityKey { kind, value })
}

/// A lowercase email address, as normalized.
fn address() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._]{0,7}@[a-z0-9]{1,8}\\.[a-z]{2,4}"
}

/// A character that continues an identifier (see `redact::continues`), so that it makes a longer
/// token when written next to one.
fn continuation() -> impl Strategy<Value = char> {
    prop::sample::select("abcxyz0189._%+-@:".chars().collect::<Vec<_>>())
}

/// How an address may stand in an event as a whole token: quoted JSON, upper case, inside a
/// sentence, form-encoded.
fn as_token(address: &str, style: u8) -> String {
    match style % 4 {
        0 => format!(r#""email":"{address}""#),
        1 => format!(r#""email":"{}""#, address.to_ascii_uppercase()),
        2 => format!(r#""note":"write to {address}.""#),
        _ => format!(
            r#""form":"recipient={}&event=open""#,
            address.replace('@', "%40")
        ),
    }
}

/// The address inside a longer token: a character before it, or one after (a dot followed by a
/// letter, as in `.uk`, also continues it).
fn inside_longer(address: &str, before: bool, extra: char) -> String {
    if before {
        format!(r#""email":"{extra}{address}""#)
    } else if extra == '.' {
        format!(r#""email":"{address}.uk""#)
    } else {
        format!(r#""email":"{address}{extra}""#)
    }
}

/// One element of a generated batch: the person's (naming them as a whole token) or someone
/// else's (naming only other addresses, some of which contain theirs inside a longer token).
#[derive(Debug, Clone)]
enum Element {
    Theirs { style: u8 },
    Longer { before: bool, extra: char },
    Other { n: u16 },
}

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        any::<u8>().prop_map(|style| Element::Theirs { style }),
        (any::<bool>(), continuation())
            .prop_map(|(before, extra)| Element::Longer { before, extra }),
        any::<u16>().prop_map(|n| Element::Other { n }),
    ]
}

fn render(element: &Element, index: usize, address: &str) -> String {
    let field = match element {
        Element::Theirs { style } => as_token(address, *style),
        Element::Longer { before, extra } => inside_longer(address, *before, *extra),
        Element::Other { n } => format!(r#""email":"other{n}@example-other.net""#),
    };
    format!(
        r#"{{"sg_event_id":"ev-{index}",{field},"ip":"10.0.0.{}"}}"#,
        index % 250
    )
}

/// The elements of a JSON array body (an empty body is an empty batch).
fn elements(body: &[u8]) -> Vec<String> {
    if body.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice::<Vec<&RawValue>>(body)
        .map(|events| events.iter().map(|e| e.get().to_string()).collect())
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", String::from_utf8_lossy(body)))
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes and arbitrary identifiers never make redaction panic, and what it returns
    /// from a JSON array is again a JSON array.
    #[test]
    fn fuzz_redaction_never_panics_on_arbitrary_bodies(
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            r#"[ \[\]{}",:a-z0-9@%+.\\-]{0,80}"#.prop_map(String::into_bytes),
        ],
        events in vec(any::<String>(), 0..3),
        keys in vec(any_key(), 0..4),
    ) {
        let person = Person {
            events: events.iter().map(String::as_str).collect(),
            identities: keys.iter().collect(),
        };
        let is_batch = serde_json::from_slice::<Vec<&RawValue>>(&body).is_ok();
        let kept = only(&body, &person);
        if is_batch && !kept.is_empty() {
            elements(&kept);
        }
        if let Redacted::Changed(rest) = without(&body, &person)
            && is_batch
        {
            elements(&rest);
        }
        for key in &keys {
            mentions(&body, key);
        }
    }

    /// `without` and `only` split a batch between them, element by element and in order: each
    /// element is in exactly one of the two, the person's whole-token mentions in `only`, the
    /// others (including addresses that merely contain theirs) in `without`.
    #[test]
    fn fuzz_without_and_only_partition_a_batch(
        address in address(),
        batch in vec(element(), 0..12),
        spacing in prop::sample::select(vec!["", " ", "\n  "]),
    ) {
        let key = IdentityKey::email(&address).expect("a generated address normalizes");
        let person = Person { events: Vec::new(), identities: vec![&key] };
        let rendered: Vec<String> = batch
            .iter()
            .enumerate()
            .map(|(index, element)| render(element, index, &address))
            .collect();
        let body = format!("[{spacing}{}{spacing}]", rendered.join(&format!(",{spacing}")));

        let is_theirs = |element: &Element| matches!(element, Element::Theirs { .. });
        let select = |want: bool| -> Vec<String> {
            batch
                .iter()
                .zip(&rendered)
                .filter(|(element, _)| is_theirs(element) == want)
                .map(|(_, text)| text.clone())
                .collect()
        };
        let (theirs, others) = (select(true), select(false));

        prop_assert_eq!(elements(&only(body.as_bytes(), &person)), theirs.clone());
        let rest = match without(body.as_bytes(), &person) {
            Redacted::Unchanged => {
                prop_assert!(theirs.is_empty(), "unchanged although it held theirs");
                elements(body.as_bytes())
            }
            Redacted::Changed(rest) => {
                prop_assert!(!theirs.is_empty(), "changed although none was theirs");
                elements(&rest)
            }
        };
        prop_assert_eq!(rest, others);
    }

    /// An address or phone number written inside a longer token is never a mention of it
    /// (`ana@` is not in `hana@`, `+1415555010` is not in `+14155550100`); written whole, it is.
    #[test]
    fn fuzz_a_whole_token_match_is_never_inside_a_longer_token(
        address in address(),
        digits in "[1-9][0-9]{7,13}",
        extra in continuation(),
        digit in 0u8..10,
        before in any::<bool>(),
    ) {
        let email = IdentityKey::email(&address).expect("a generated address normalizes");
        let longer = format!("{{{}}}", inside_longer(&address, before, extra));
        prop_assert!(!mentions(longer.as_bytes(), &email), "{} matched in {}", address, longer);
        let whole = format!(r#"{{"email":"{address}"}}"#);
        prop_assert!(mentions(whole.as_bytes(), &email));

        let phone = IdentityKey::phone(&format!("+{digits}"), None).expect("E.164");
        let number = &phone.value;
        let longer_number = if before {
            format!("From={digit}{number}&Body=hi")
        } else {
            format!("From={number}{digit}&Body=hi")
        };
        prop_assert!(!mentions(longer_number.as_bytes(), &phone), "{} in {}", number, longer_number);
        let encoded = format!("From={}&Body=hi", number.replacen('+', "%2B", 1));
        prop_assert!(mentions(encoded.as_bytes(), &phone), "{} not in {}", number, encoded);
    }
}

// ---- Two defects these properties found, kept as their regression tests ----

proptest! {
    #![proptest_config(config())]

    /// An address as the vendor wrote it is a mention of the person it normalizes to, non-ASCII
    /// capitals included (`Åsa@example.org`): `mentions` lowercases the body with the same
    /// Unicode rules as `normalize_email` (it once used ASCII rules, and missed such people).
    #[test]
    fn fuzz_an_address_as_the_vendor_wrote_it_mentions_its_person(
        local in "[a-zA-ZÀ-ÖØ-Þà-öø-þ0-9]{1,8}",
        domain in "[a-zA-Z0-9]{1,8}\\.[a-z]{2,4}",
    ) {
        let written = format!("{local}@{domain}");
        let key = IdentityKey::email(&written).expect("a generated address normalizes");
        let event = format!(r#"{{"email":"{written}"}}"#);
        prop_assert!(mentions(event.as_bytes(), &key), "{} not found as {}", key.value, written);
    }

    /// Metadata the check passes can be read back as a JSON object — including valid JSON that
    /// `serde_json::Value` refuses (a number beyond `f64`, `{"n":1e400}`, or nesting deeper than
    /// 128), which the check once skimmed with `IgnoredAny` and stored, for the timeline to show
    /// as `null`.
    #[test]
    fn fuzz_metadata_that_passes_the_check_reads_back_as_an_object(
        metadata in prop_oneof![
            metadata(),
            "-?[0-9]{1,3}(\\.[0-9]{1,3})?[eE][+-]?[0-9]{1,4}".prop_map(|n| format!(r#"{{"n":{n}}}"#)),
            (100usize..200).prop_map(|depth| format!(r#"{{"a":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth))),
        ],
    ) {
        let mut interaction = Interaction {
            kind: "email_opened".into(),
            channel: WitChannel::Email,
            direction: WitDirection::Outbound,
            outcome: WitOutcome::Opened,
            vendor_status: None,
            occurred_at: 1_700_000_000_000,
            vendor_message_id: None,
            vendor_event_id: None,
            identities: Vec::new(),
            summary: None,
            metadata: String::new(),
        };
        interaction.metadata = metadata;
        let expect = Expectations {
            channels: &[Channel::Email],
            received_at: 1_700_000_000_000,
            default_country_code: None,
        };
        if let Ok(checked) = check_interactions(vec![interaction], expect) {
            let read = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&checked[0].metadata);
            prop_assert!(read.is_ok(), "{:?}: {:?}", checked[0].metadata, read.err());
        }
    }
}
