//! Checking what a plugin returned before any of it reaches the log. A plugin is untrusted code:
//! its output is held to the contract in `wit/types.wit`, and a breach fails the call as "invalid
//! output" (the raw webhook is kept for replay) instead of writing nonsense.

use switchboard_core::domain::{Channel, Direction, Hints, IdentityKey, Outcome};
use switchboard_runtime::bindings::{HttpResponse, Identity, Interaction};

/// The most interactions one webhook may produce.
pub const MAX_INTERACTIONS: usize = 10_000;
const MAX_KIND_LEN: usize = 64;
const MAX_ID_LEN: usize = 256;
const MAX_VENDOR_STATUS_LEN: usize = 64;
const MAX_SUMMARY_CHARS: usize = 500;
const MAX_METADATA_BYTES: usize = 64 * 1024;
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// How far past the time of receipt an event may claim to have happened (vendor clock skew).
/// A later date is clamped to the time of receipt: the log orders consent by time, and a forged
/// opt-out dated next year must not outrank the real consent given meanwhile.
const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// An interaction that passed the checks, its hints normalized.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportedInteraction {
    pub kind: String,
    pub channel: Channel,
    pub direction: Direction,
    pub outcome: Outcome,
    pub vendor_status: Option<String>,
    pub occurred_at: i64,
    pub vendor_message_id: Option<String>,
    pub vendor_event_id: Option<String>,
    pub hints: Hints,
    pub summary: Option<String>,
    pub metadata: String,
}

/// What the checks are made against.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// The channels `plugins.toml` assigns to the plugin.
    pub channels: &'a [Channel],
    pub received_at: i64,
    /// For phone numbers without a country code.
    pub default_country_code: Option<&'a str>,
}

/// Checks every interaction; the first breach names the interaction and the field.
pub fn check_interactions(
    interactions: Vec<Interaction>,
    expect: Expectations<'_>,
) -> Result<Vec<ReportedInteraction>, String> {
    if interactions.len() > MAX_INTERACTIONS {
        return Err(format!(
            "{} interactions from one webhook; the most allowed is {MAX_INTERACTIONS}",
            interactions.len()
        ));
    }
    interactions
        .into_iter()
        .enumerate()
        .map(|(index, i)| check_one(i, expect).map_err(|e| format!("interaction {index}: {e}")))
        .collect()
}

fn check_one(
    interaction: Interaction,
    expect: Expectations<'_>,
) -> Result<ReportedInteraction, String> {
    check_kind(&interaction.kind)?;
    let channel = Channel::from(interaction.channel);
    if !expect.channels.contains(&channel) {
        return Err(format!(
            "channel {channel} is not assigned to this plugin in plugins.toml"
        ));
    }
    if interaction.occurred_at <= 0 {
        return Err(format!(
            "occurred-at {} is not a plausible time (ms since the epoch)",
            interaction.occurred_at
        ));
    }
    let occurred_at = if interaction.occurred_at > expect.received_at + MAX_FUTURE_SKEW_MS {
        tracing::debug!(
            occurred_at = interaction.occurred_at,
            received_at = expect.received_at,
            "event dated in the future; clamped to its time of receipt"
        );
        expect.received_at
    } else {
        interaction.occurred_at
    };
    Ok(ReportedInteraction {
        kind: interaction.kind,
        channel,
        direction: interaction.direction.into(),
        outcome: interaction.outcome.into(),
        vendor_status: optional_text(
            "vendor-status",
            interaction.vendor_status,
            MAX_VENDOR_STATUS_LEN,
        )?,
        occurred_at,
        vendor_message_id: optional_text(
            "vendor-message-id",
            interaction.vendor_message_id,
            MAX_ID_LEN,
        )?,
        vendor_event_id: optional_text("vendor-event-id", interaction.vendor_event_id, MAX_ID_LEN)?,
        hints: normalize_hints(&interaction.identities, expect.default_country_code),
        summary: interaction
            .summary
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.chars().take(MAX_SUMMARY_CHARS).collect()),
        metadata: check_metadata(interaction.metadata)?,
    })
}

fn check_kind(kind: &str) -> Result<(), String> {
    let bytes = kind.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_KIND_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "kind {kind:?} must be 1–{MAX_KIND_LEN} of a-z, 0-9 and _, starting with a letter"
        ))
    }
}

/// Empty text counts as absent; overlong text is a breach.
fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, String> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if v.len() > max => Err(format!("{field} is longer than {max} bytes")),
        other => Ok(other),
    }
}

fn check_metadata(metadata: String) -> Result<String, String> {
    if metadata.trim().is_empty() {
        return Ok("{}".to_string());
    }
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(format!(
            "metadata is larger than {MAX_METADATA_BYTES} bytes"
        ));
    }
    if !metadata.trim_start().starts_with('{') {
        return Err("metadata must be a JSON object".to_string());
    }
    // Read as the timeline will read it back (numbers in range, nesting within serde_json's
    // limit), so that what is stored can always be shown.
    match serde_json::from_str::<serde_json::Value>(&metadata) {
        Ok(_) => Ok(metadata),
        Err(e) => Err(format!("metadata is not JSON: {e}")),
    }
}

/// Normalizes the hints the vendor gave. An unusable one (a malformed address in a vendor's
/// event) is the vendor's data, not the plugin's fault: it is dropped, and the event still lands.
fn normalize_hints(identities: &[Identity], default_country_code: Option<&str>) -> Hints {
    let mut hints = Hints::default();
    for identity in identities {
        let key = match identity {
            Identity::ContactId(id) => {
                match id.trim().parse::<i64>() {
                    Ok(id) if id > 0 => hints.contact_id = hints.contact_id.or(Some(id)),
                    _ => {
                        tracing::debug!(contact_id = %id, "ignoring a contact id that is not ours")
                    }
                }
                continue;
            }
            Identity::Email(email) => IdentityKey::email(email),
            Identity::Phone(phone) => IdentityKey::phone(phone, default_country_code),
            Identity::External(external) => {
                IdentityKey::external(&external.system, &external.value)
            }
        };
        match key {
            Ok(key) if !hints.identities.contains(&key) => hints.identities.push(key),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "ignoring an unusable identity hint"),
        }
    }
    hints
}

/// Checks the reply a plugin wants sent to the vendor.
pub fn check_reply(reply: &HttpResponse) -> Result<(), String> {
    if !(100..=599).contains(&reply.status) {
        return Err(format!(
            "reply status {} is not an HTTP status",
            reply.status
        ));
    }
    if reply.body.len() > MAX_REPLY_BYTES {
        return Err(format!("reply body is larger than {MAX_REPLY_BYTES} bytes"));
    }
    for header in &reply.headers {
        if http::HeaderName::from_bytes(header.name.as_bytes()).is_err()
            || http::HeaderValue::from_str(&header.value).is_err()
        {
            return Err(format!(
                "reply header {:?} is not a valid HTTP header",
                header.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_runtime::bindings::{ExternalId, Header, WitChannel, WitDirection, WitOutcome};

    const NOW: i64 = 1_700_000_000_000;

    fn interaction() -> Interaction {
        Interaction {
            kind: "email_opened".into(),
            channel: WitChannel::Email,
            direction: WitDirection::Outbound,
            outcome: WitOutcome::Opened,
            vendor_status: Some("open".into()),
            occurred_at: NOW - 1000,
            vendor_message_id: Some("m1".into()),
            vendor_event_id: Some("e1".into()),
            identities: vec![
                Identity::Email("Ana@Example.org".into()),
                Identity::ContactId("42".into()),
                Identity::Phone("not a phone".into()),
                Identity::External(ExternalId {
                    system: "Portal".into(),
                    value: "u1".into(),
                }),
            ],
            summary: Some(" ".into()),
            metadata: String::new(),
        }
    }

    fn expect() -> Expectations<'static> {
        Expectations {
            channels: &[Channel::Email],
            received_at: NOW,
            default_country_code: None,
        }
    }

    #[test]
    fn a_good_interaction_is_normalized() {
        let checked = check_interactions(vec![interaction()], expect())
            .unwrap()
            .remove(0);
        assert_eq!(checked.outcome, Outcome::Opened);
        assert_eq!(checked.hints.contact_id, Some(42));
        let values: Vec<&str> = checked
            .hints
            .identities
            .iter()
            .map(|k| k.value.as_str())
            .collect();
        assert_eq!(
            values,
            ["ana@example.org", "portal:u1"],
            "the bad phone is dropped"
        );
        assert_eq!(checked.summary, None);
        assert_eq!(checked.metadata, "{}");
    }

    #[test]
    fn breaches_name_the_interaction_and_field() {
        type Breach = fn(&mut Interaction);
        let cases: [(Breach, &str); 6] = [
            (|i| i.kind = "Email Opened".into(), "interaction 1: kind"),
            (
                |i| i.channel = WitChannel::Sms,
                "channel sms is not assigned",
            ),
            (|i| i.occurred_at = -5, "not a plausible time"),
            (|i| i.metadata = "[1]".into(), "must be a JSON object"),
            (|i| i.metadata = "{\"a\": ".into(), "metadata is not JSON"),
            (
                |i| i.vendor_event_id = Some("x".repeat(300)),
                "vendor-event-id is longer",
            ),
        ];
        for (breach, expected) in cases {
            let mut bad = interaction();
            breach(&mut bad);
            let error = check_interactions(vec![interaction(), bad], expect()).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn an_event_dated_beyond_the_clock_skew_is_clamped_to_its_time_of_receipt() {
        let mut next_year = interaction();
        next_year.occurred_at = NOW + 365 * 24 * 60 * 60 * 1000;
        let mut skewed = interaction();
        skewed.occurred_at = NOW + 60_000;
        let checked = check_interactions(vec![next_year, skewed], expect()).unwrap();
        assert_eq!(checked[0].occurred_at, NOW, "clamped");
        assert_eq!(
            checked[1].occurred_at,
            NOW + 60_000,
            "within the skew: kept"
        );
    }

    #[test]
    fn replies_must_be_valid_http() {
        let reply = |status: u16, name: &str| HttpResponse {
            status,
            headers: vec![Header {
                name: name.into(),
                value: "v".into(),
            }],
            body: Vec::new(),
        };
        assert!(check_reply(&reply(200, "content-type")).is_ok());
        assert!(check_reply(&reply(999, "content-type")).is_err());
        assert!(check_reply(&reply(200, "bad header")).is_err());
    }
}
