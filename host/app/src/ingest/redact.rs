//! Cutting one person's events out of a stored webhook body, or keeping only theirs.
//!
//! A vendor batches events about many people into one request (SendGrid posts a JSON array).
//! Erasing one of them must not destroy the others' evidence, and exporting one of them must not
//! hand over the others' addresses: both work event by event. A body that is a JSON array is a
//! batch, one event per element; any other body is one event.
//!
//! An element is someone's when it is byte for byte the text a plugin gave as an interaction's
//! metadata (the SendGrid plugin keeps each event's verbatim text there), or when it names one of
//! their identifiers as a whole token — `ana@example.org` does not match inside
//! `hana@example.org`, nor `+1415555010` inside `+14155550100`.

use serde_json::value::RawValue;

use switchboard_core::domain::{IdentityKey, IdentityKind};

/// How to recognise one person's events.
#[derive(Debug, Clone, Default)]
pub struct Person<'a> {
    /// The verbatim texts of their events, as their interactions' metadata holds them.
    pub events: Vec<&'a str>,
    /// Their identifiers.
    pub identities: Vec<&'a IdentityKey>,
}

impl Person<'_> {
    /// Whether `event` (one element of a batch, or a whole body) is about this person.
    pub fn owns(&self, event: &[u8]) -> bool {
        let text = trim(event);
        self.events.iter().any(|e| trim(e.as_bytes()) == text)
            || self.identities.iter().any(|key| mentions(event, key))
    }
}

/// A body after redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redacted {
    /// Nothing in it was the person's.
    Unchanged,
    /// Some of it was: this is what remains (empty when all of it was theirs).
    Changed(Vec<u8>),
}

/// The body without `person`'s events.
pub fn without(body: &[u8], person: &Person<'_>) -> Redacted {
    match batch(body) {
        Some(events) => {
            let kept: Vec<&RawValue> = events
                .iter()
                .copied()
                .filter(|e| !person.owns(e.get().as_bytes()))
                .collect();
            if kept.len() == events.len() {
                Redacted::Unchanged
            } else if kept.is_empty() {
                Redacted::Changed(Vec::new())
            } else {
                Redacted::Changed(join(&kept))
            }
        }
        None if person.owns(body) => Redacted::Changed(Vec::new()),
        None => Redacted::Unchanged,
    }
}

/// Only `person`'s events of the body (empty when none are).
pub fn only(body: &[u8], person: &Person<'_>) -> Vec<u8> {
    match batch(body) {
        Some(events) => {
            let theirs: Vec<&RawValue> = events
                .into_iter()
                .filter(|e| person.owns(e.get().as_bytes()))
                .collect();
            if theirs.is_empty() {
                Vec::new()
            } else {
                join(&theirs)
            }
        }
        None if person.owns(body) => body.to_vec(),
        None => Vec::new(),
    }
}

/// The elements of a body that is a JSON array.
fn batch(body: &[u8]) -> Option<Vec<&RawValue>> {
    serde_json::from_slice::<Vec<&RawValue>>(body).ok()
}

fn join(events: &[&RawValue]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.iter().map(|e| e.get().len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(event.get().as_bytes());
    }
    out.push(b']');
    out
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Whether `text` names `key` as a whole token, in plain or URL-encoded form (emails compared
/// without regard to case). An external id counts in its `system:id` form, or bare as a whole
/// JSON string (`"CUST-1"`) or form value (`=CUST-1&`): a bare number alone is too common to
/// mean the person.
pub fn mentions(text: &[u8], key: &IdentityKey) -> bool {
    let value = key.value.as_str();
    match key.kind {
        IdentityKind::Email => {
            let lower = lowercase(text);
            let encoded = value.replace('@', "%40").replace('+', "%2b");
            has_token(&lower, value.as_bytes())
                || has_token(&lower, encoded.to_lowercase().as_bytes())
        }
        IdentityKind::Phone => {
            let encoded = value.replacen('+', "%2B", 1);
            has_token(text, value.as_bytes())
                || has_token(text, encoded.as_bytes())
                || has_token(
                    &text.to_ascii_lowercase(),
                    encoded.to_ascii_lowercase().as_bytes(),
                )
        }
        IdentityKind::External => {
            if has_token(text, value.as_bytes()) {
                return true;
            }
            let Some((_, bare)) = value.split_once(':') else {
                return false;
            };
            contains(text, format!("\"{bare}\"").as_bytes())
                || ends_as_form_value(text, bare.as_bytes())
        }
    }
}

/// The text lowercased as identities are normalized (Unicode rules: `À` → `à`), so that an
/// address the vendor wrote with capitals still matches.
fn lowercase(text: &[u8]) -> Vec<u8> {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        String::from_utf8_lossy(text).to_lowercase().into_bytes()
    }
}

/// Bytes that continue an identifier: a match must not have one on either side. Any byte of a
/// non-ASCII character counts (a letter of a longer word).
fn continues(byte: u8) -> bool {
    !byte.is_ascii()
        || byte.is_ascii_alphanumeric()
        || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-' | b'@' | b':')
}

fn has_token(text: &[u8], token: &[u8]) -> bool {
    if token.is_empty() || token.len() > text.len() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = find(&text[from..], token).map(|i| i + from) {
        let end = at + token.len();
        let before = at.checked_sub(1).map(|i| text[i]);
        let after = text.get(end).copied();
        // A trailing dot ends a sentence, not an address.
        let after_ok = match after {
            None => true,
            Some(b'.') => text.get(end + 1).is_none_or(|b| !b.is_ascii_alphanumeric()),
            Some(b) => !continues(b),
        };
        if before.is_none_or(|b| !continues(b)) && after_ok {
            return true;
        }
        from = at + 1;
    }
    false
}

fn ends_as_form_value(text: &[u8], value: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find(&text[from..], value).map(|i| i + from) {
        let end = at + value.len();
        if at > 0 && text[at - 1] == b'=' && text.get(end).is_none_or(|b| *b == b'&') {
            return true;
        }
        from = at + 1;
    }
    false
}

fn contains(text: &[u8], needle: &[u8]) -> bool {
    find(text, needle).is_some()
}

fn find(text: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > text.len() {
        return None;
    }
    text.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> IdentityKey {
        IdentityKey::email(value).unwrap()
    }

    #[test]
    fn an_address_matches_only_as_a_whole_token() {
        let ana = email("ana@example.org");
        assert!(mentions(br#"{"email":"ana@example.org"}"#, &ana));
        assert!(mentions(b"To=ANA%40example.org&x=1", &ana));
        assert!(mentions(b"write to ana@example.org.", &ana));
        assert!(!mentions(br#"{"email":"hana@example.org"}"#, &ana));
        assert!(!mentions(br#"{"email":"ana@example.org.uk"}"#, &ana));
        let phone = IdentityKey::phone("+1415555010", None).unwrap();
        assert!(mentions(b"From=%2B1415555010&Body=hi", &phone));
        assert!(!mentions(b"From=%2B14155550100&Body=hi", &phone));
    }

    #[test]
    fn an_external_id_matches_whole_and_never_as_a_bare_number_inside_another() {
        let crm1 = IdentityKey {
            kind: IdentityKind::External,
            value: "crm:1".into(),
        };
        assert!(mentions(br#"{"customer":"crm:1"}"#, &crm1));
        assert!(mentions(br#"{"customer_id":"1"}"#, &crm1));
        assert!(!mentions(br#"{"customer":"crm:10"}"#, &crm1));
        assert!(!mentions(br#"{"customer_id":"10","n":1}"#, &crm1));
    }

    #[test]
    fn erasing_one_person_keeps_the_others_events_of_a_batch() {
        let body = br#"[{"email":"ana@example.org","ip":"1.2.3.4"}, {"email":"hana@example.org","ip":"5.6.7.8"}]"#;
        let ana = email("ana@example.org");
        let person = Person {
            events: vec![],
            identities: vec![&ana],
        };
        let Redacted::Changed(rest) = without(body, &person) else {
            panic!("ana's event was not removed");
        };
        assert_eq!(rest, br#"[{"email":"hana@example.org","ip":"5.6.7.8"}]"#);
        assert_eq!(
            only(body, &person),
            br#"[{"email":"ana@example.org","ip":"1.2.3.4"}]"#
        );
    }

    #[test]
    fn an_event_is_recognised_by_its_verbatim_text_even_without_an_address() {
        let body = br#"[{"event":"open","sg_event_id":"e1"},{"event":"open","sg_event_id":"e2"}]"#;
        let person = Person {
            events: vec![r#"{"event":"open","sg_event_id":"e2"}"#],
            identities: vec![],
        };
        assert_eq!(
            without(body, &person),
            Redacted::Changed(br#"[{"event":"open","sg_event_id":"e1"}]"#.to_vec())
        );
    }

    #[test]
    fn a_single_event_body_is_removed_whole_or_left_alone() {
        let ana = email("ana@example.org");
        let person = Person {
            events: vec![],
            identities: vec![&ana],
        };
        assert_eq!(
            without(b"recipient=ana%40example.org&event=opened", &person),
            Redacted::Changed(Vec::new())
        );
        assert_eq!(
            without(b"recipient=hana%40example.org", &person),
            Redacted::Unchanged
        );
        assert!(only(b"recipient=hana%40example.org", &person).is_empty());
    }
}
