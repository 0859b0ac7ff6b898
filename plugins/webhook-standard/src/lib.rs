//! Any system that signs its webhooks per the Standard Webhooks specification
//! (standardwebhooks.com) for Switchboard: one event per delivery, in one documented shape, in;
//! nothing out.
//!
//! One install serves one sending system; install it again under another id (and another
//! `vendor`) for a second one.
//!
//! # Wire format
//!
//! The system posts `POST /webhooks/<id>` with a JSON body and the three Standard Webhooks
//! headers:
//!
//! ```text
//! webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
//! webhook-timestamp: 1700000000
//! webhook-signature: v1,2P3G8/TDyu5AhN/7JovvLBNABhcnzYdBSsjDhpxzxFM=
//!
//! {"type":"sms.delivered","timestamp":"2023-11-14T22:12:20Z","data":{"channel":"sms","direction":"outbound","outcome":"delivered","message_id":"msg-9","contact":{"phone":"+14155550100"}}}
//! ```
//!
//! (that is a whole delivery, its body byte for byte, signed with the secret
//! `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`: a fixture for the sender's own tests).
//!
//! - `webhook-id` identifies the event and stays the same when the sender retries it: it is the
//!   interaction's vendor event id, so a redelivery is logged once. At most 256 bytes.
//! - `webhook-timestamp` is the signing time in Unix seconds, plain digits; it must be within
//!   `timestamp_tolerance_secs` of the time Switchboard received the request (the request's
//!   `received-at`, which stays right when a stored webhook is replayed).
//! - `webhook-signature` is a space-separated list of `v1,<base64>` entries, each the
//!   HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<raw body>` keyed with the signing
//!   secret's bytes (the base64 after its `whsec_` prefix, decoded). One match is enough (the
//!   sender signs with the old and the new secret while it rotates them); entries of other
//!   versions (`v1a`, asymmetric) are ignored.
//!
//! The signature is checked first, before the method or the body. A missing or unparsable
//! header, more than 8 `v1` entries, no matching `v1` or a stale timestamp is refused as a bad
//! signature (401, nothing stored), whatever else is wrong with the request. An unset or
//! malformed secret is a misconfiguration (503; the request is kept as failed, to replay once the
//! secret is set). The host keys the HMAC with the secret's decoded bytes and compares it
//! (`secrets.verify-hmac`), so the secret never enters the plugin. Only a signed request may be
//! malformed: another method than `POST` (400), or a body that breaks the rules below.
//!
//! **Body**, one event, with every field:
//!
//! ```json
//! {"type": "sms.delivered", "id": "evt_1", "timestamp": "2023-11-14T22:12:20Z",
//!  "data": {"channel": "sms", "direction": "outbound", "outcome": "delivered",
//!           "message_id": "msg-9",
//!           "contact": {"contact_id": 12, "email": "ana@example.org", "phone": "+14155550100",
//!                       "external_id": {"system": "crm", "id": "CUST-1"}},
//!           "summary": "Your appointment is at 3pm",
//!           "metadata": {"carrier": "Example Mobile"}}}
//! ```
//!
//! - `type` (required): `<channel>.<event>`, its channel the one of `data.channel`
//!   (`sms.delivered`, `phone.call_completed`, `in_person.attended`); at most 64 bytes.
//! - `id`: the sender's own id for the event, kept in the metadata as `event_id`.
//! - `timestamp` (required): when it happened, an RFC 3339 date-time or an integer of Unix
//!   **milliseconds**; not before 2000 and at most an hour after receipt.
//! - `data.channel` (required): `email`, `sms`, `phone`, `portal`, `chat` or `in_person`.
//! - `data.direction` (required): `inbound` (the person acted) or `outbound` (the organisation
//!   reached out).
//! - `data.outcome` (required): an outcome word of `wit/types.wit`, in Switchboard's snake case
//!   (`delivered`, `no_answer`, `spam_reported`) or the WIT's kebab case (`no-answer`).
//! - `data.message_id`: the sender's id for the message the event is about (at most 256 bytes);
//!   events with the same one join in the log.
//! - `data.contact` (required, at least one of): `contact_id` (positive integer: Switchboard's
//!   contact id, when the sender knows it), `email`, `phone` (E.164 best), `external_id`
//!   (`system` and `id`: the sender's own id for the person).
//! - `data.summary`: one line for the timeline (cut to 500 characters).
//! - `data.metadata`: an object, kept as the interaction's metadata (at most 64 KiB).
//! - `null` counts as absent; other keys are ignored.
//!
//! A body that breaks these rules is rejected as malformed (400, with the reason naming the field,
//! ``missing `data.contact` ``); the raw request is kept.
//!
//! # Interactions
//!
//! One per delivery: kind the `type` with its dots made underscores (`sms_delivered`) when that is
//! a valid kind (lowercase `a-z`, `0-9`, `_`, at most 64), else `<channel>_<outcome>`; channel,
//! direction and outcome from `data`; vendor status the `type`; vendor event id the `webhook-id`;
//! vendor message id `data.message_id`; identities from `data.contact`, our contact id first; the
//! summary and metadata as given. The reply is an empty 200.
//!
//! # Installing
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `vendor`: the name of the sending system, lowercase (`a-z`, `0-9`, `-`, `_`, starting with a
//!   letter, at most 64), default `standard`. Switchboard records it as the external system of
//!   every interaction and de-duplicates event ids per vendor, so two installs for two systems
//!   need two names; keep it stable (a new name starts a new de-duplication namespace).
//! - `timestamp_tolerance_secs`: how far `webhook-timestamp` may be from the time the request was
//!   received (default 300).
//!
//! Channels: the plugin declares all six; list in `channels` those the system reports on. An
//! event on a channel not listed fails as invalid output (503, kept for replay).
//!
//! Secrets: `signing_secret`, the `whsec_…` secret the system signs with.
//!
//! `send` refuses, permanently: Standard Webhooks are inbound only.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod event;
mod signature;
mod timestamp;
mod words;

use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendFailureKind,
    SendReceipt, WebhookAccepted, WebhookRejection, WebhookRequest,
};

/// The vendor when the operator names none.
const DEFAULT_VENDOR: &str = "standard";
const MAX_VENDOR_BYTES: usize = 64;

struct StandardWebhooks;

impl sdk::Guest for StandardWebhooks {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "webhook-standard".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            // The host asks once, at load, with the plugin's configuration in place.
            vendor: configured_vendor_text(),
            channels: vec![
                Channel::Email,
                Channel::Sms,
                Channel::Phone,
                Channel::Portal,
                Channel::Chat,
                Channel::InPerson,
            ],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "Events from any system that signs its webhooks per Standard Webhooks"
                .into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(&request, &configured_vendor_text(), signature::verify)
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        Err(not_a_sender())
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        outcome_of(&vendor_status)
    }
}

/// A webhook, in the order the contract asks for: the signature first (`verify`, the host's check
/// in the plugin, a stand-in in the tests), then our configuration, the method and the body.
/// Anyone can send a request; only one the host saw verified may be called malformed and cost
/// Switchboard storage.
fn handle(
    request: &WebhookRequest,
    vendor: &str,
    verify: impl FnOnce(&WebhookRequest) -> Result<String, WebhookRejection>,
) -> Result<WebhookAccepted, WebhookRejection> {
    let webhook_id = verify(request)?;
    // A vendor name that cannot be one must not label anything in the log.
    vendor_name(vendor).map_err(WebhookRejection::Misconfigured)?;
    sdk::require_method(request, "POST")?;
    let interaction = event::interaction(&request.body, &webhook_id, request.received_at)
        .map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions: vec![interaction],
        reply: sdk::http_reply::empty_ok(),
    })
}

/// The outcome a status word names: an outcome word itself, or a `type` whose event is one
/// (`sms.delivered`); `unknown` otherwise.
fn outcome_of(vendor_status: &str) -> Outcome {
    let word = vendor_status.rsplit('.').next().unwrap_or(vendor_status);
    words::outcome(word).unwrap_or(Outcome::Unknown)
}

/// The config key `vendor` as the operator wrote it, or the default.
fn configured_vendor_text() -> String {
    sdk::config::get("vendor")
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| DEFAULT_VENDOR.to_string())
}

/// Checks a vendor name: lowercase `a-z`, `0-9`, `-` and `_`, starting with a letter.
fn vendor_name(text: &str) -> Result<&str, String> {
    let bytes = text.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_VENDOR_BYTES
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if valid {
        Ok(text)
    } else {
        Err(format!(
            "config key `vendor` {text:?} must be 1–{MAX_VENDOR_BYTES} of a-z, 0-9, - and _, starting with a letter"
        ))
    }
}

/// Why `send` refuses: Standard Webhooks carry events to us, never messages from us, so sending
/// again here cannot help.
fn not_a_sender() -> SendFailure {
    SendFailure {
        kind: SendFailureKind::Other,
        retryable: false,
        retry_after_ms: None,
        message: "webhook-standard does not send: Standard Webhooks are inbound only".into(),
        vendor_code: None,
    }
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(StandardWebhooks);

#[cfg(test)]
mod tests {
    use super::*;
    use sdk::Header;

    /// The example at the top of this file, signed with `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`
    /// (computed apart, with Python's `hmac`).
    const EXAMPLE_BODY: &[u8] = br#"{"type":"sms.delivered","timestamp":"2023-11-14T22:12:20Z","data":{"channel":"sms","direction":"outbound","outcome":"delivered","message_id":"msg-9","contact":{"phone":"+14155550100"}}}"#;
    const EXAMPLE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const EXAMPLE_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

    fn request(method: &str, body: &[u8], signed: bool) -> WebhookRequest {
        let mut headers = vec![
            ("webhook-id", EXAMPLE_ID),
            ("webhook-timestamp", "1700000000"),
        ];
        if signed {
            headers.push((
                "webhook-signature",
                "v1,2P3G8/TDyu5AhN/7JovvLBNABhcnzYdBSsjDhpxzxFM=",
            ));
        }
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/webhook-standard".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
            body: body.to_vec(),
            received_at: 1_700_000_001_000,
        }
    }

    fn handle_with(
        request: &WebhookRequest,
        vendor: &str,
        verify: impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
    ) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, vendor, |r| {
            signature::check(&r.headers, &r.body, r.received_at, Ok(300), verify)
        })
    }

    #[test]
    fn the_documented_example_verifies_and_parses() {
        let host = signature::tests::host_with(EXAMPLE_SECRET);
        let accepted = handle_with(&request("POST", EXAMPLE_BODY, true), "standard", host);
        let i = &accepted.unwrap().interactions[0];
        assert_eq!(i.kind, "sms_delivered");
        assert_eq!(i.vendor_event_id.as_deref(), Some(EXAMPLE_ID));
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let host = signature::tests::host_with(EXAMPLE_SECRET);
        let refused = handle_with(&request("PUT", b"junk", false), "Not A Vendor", host);
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature(
                "missing webhook-signature header".into()
            ))
        );
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let host = signature::tests::host_with(EXAMPLE_SECRET);
        let refused = handle_with(&request("PUT", EXAMPLE_BODY, true), "standard", host);
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("expected POST, got PUT".into()))
        );
    }

    #[test]
    fn a_validly_signed_bad_body_is_malformed() {
        let any_body = |_: &[u8], _: &[u8]| Ok(true);
        let refused = handle_with(&request("POST", b"{", true), "standard", any_body);
        assert!(
            matches!(refused, Err(WebhookRejection::Malformed(why)) if why.starts_with("body is not JSON"))
        );
    }

    #[test]
    fn a_bad_vendor_name_is_a_misconfiguration_once_the_signature_verified() {
        let host = signature::tests::host_with(EXAMPLE_SECRET);
        let signed = handle_with(&request("POST", EXAMPLE_BODY, true), "Billing", &host);
        assert!(
            matches!(signed, Err(WebhookRejection::Misconfigured(why)) if why.starts_with("config key `vendor`"))
        );
        let unsigned = handle_with(&request("POST", EXAMPLE_BODY, false), "Billing", &host);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn vendor_names_are_lowercase_words() {
        for name in ["standard", "billing-system", "crm_2"] {
            assert_eq!(vendor_name(name), Ok(name));
        }
        for name in ["", "Billing", "2crm", "crm system", &"x".repeat(65)] {
            let error = vendor_name(name).unwrap_err();
            assert!(error.starts_with("config key `vendor`"), "{error}");
        }
    }

    #[test]
    fn status_words_map_to_their_outcome() {
        assert_eq!(outcome_of("delivered"), Outcome::Delivered);
        assert_eq!(outcome_of("sms.delivered"), Outcome::Delivered);
        assert_eq!(outcome_of("phone.no_answer"), Outcome::NoAnswer);
        assert_eq!(outcome_of("phone.call.completed"), Outcome::Unknown);
        assert_eq!(outcome_of(""), Outcome::Unknown);
    }

    #[test]
    fn send_fails_for_good() {
        let failure = not_a_sender();
        assert!(!failure.retryable);
        assert!(matches!(failure.kind, SendFailureKind::Other));
    }
}
