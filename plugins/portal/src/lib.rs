//! The organisation's own client portal for Switchboard: signed batches of what people did in the
//! portal (logins, page views, document downloads, messages read) in, one interaction each.
//!
//! Nothing goes out through this plugin: the portal inbox is delivered by Switchboard itself, so
//! `send` refuses, permanently.
//!
//! # Wire format
//!
//! The portal posts `POST /webhooks/<id>` (`/webhooks/portal` as installed in the repository's
//! `plugins.toml`) with a JSON body and a signature header.
//!
//! **Signature** (Stripe's scheme):
//!
//! ```text
//! X-Portal-Signature: t=1700000000,v1=31409e9670ab430167a4699e7f9ed932d4775da330c6a365799ae41ff340d707
//! ```
//!
//! (that is the signature of the body `{"events":[]}` at `t=1700000000` with the secret
//! `portal-test-secret`: a fixture for the portal's own tests).
//!
//! - `t` is the signing time in Unix seconds, plain digits.
//! - Each `v1` is the lowercase hex HMAC-SHA256 of the bytes `<t>.` followed by the raw body,
//!   keyed with the secret `signing_secret` (its UTF-8 bytes). The portal may send several `v1`
//!   entries (signing with the old and the new secret while rotating it): one match is enough.
//!   Entries with other keys (`v0`, a future `v2`) are ignored; spaces around entries are allowed.
//! - `t` must be within `timestamp_tolerance_secs` of the time Switchboard received the request
//!   (the request's `received-at`, which stays right when a stored webhook is replayed).
//!
//! The signature is checked first, before the method or the body. A missing or unparsable header,
//! more than 8 `v1` entries, no matching `v1`, or a stale `t` is refused as a bad signature (401,
//! nothing stored), whatever else is wrong with the request. An unset secret is a
//! misconfiguration (503; the request is kept as failed, to replay once the secret is set). Only
//! a signed request may be malformed: another method than `POST` (400), or a bad body (below).
//!
//! **Body**:
//!
//! ```json
//! {"events": [
//!   {"id": "evt_1", "type": "login", "occurred_at": 1700000000000,
//!    "user": {"contact_id": 123, "portal_user_id": "u-42", "email": "ana@example.org"}},
//!   {"id": "evt_2", "type": "page_view", "occurred_at": 1700000001000,
//!    "user": {"portal_user_id": "u-42"}, "page": "/billing"},
//!   {"id": "evt_3", "type": "document_download", "occurred_at": 1700000002000,
//!    "user": {"portal_user_id": "u-42"}, "document": {"id": "d1", "title": "Lease.pdf"}},
//!   {"id": "evt_4", "type": "message_read", "occurred_at": 1700000003000,
//!    "user": {"portal_user_id": "u-42"}, "message": {"id": "m1", "subject": "Your renewal"}}
//! ]}
//! ```
//!
//! - At most 1000 events per batch; an empty batch is fine.
//! - Every event: `id` (string, unique per event, at most 256 bytes: a resent event is logged
//!   once), `type` (`login`, `page_view`, `document_download`, `message_read`), `occurred_at`
//!   (integer Unix **milliseconds**, not before 2000 and at most an hour after receipt), `user`
//!   with `portal_user_id` (string, required), `contact_id` (positive integer: Switchboard's contact
//!   id, when the portal knows it) and `email` (string), both optional.
//! - `page_view` requires `page` (string). `document_download` requires `document.id`
//!   (`document.title` optional). `message_read` requires `message.id` (`message.subject`
//!   optional).
//! - `null` counts as absent. Other keys are ignored: the portal may add some (an event's own are
//!   kept with it, in its interaction's metadata).
//!
//! A body that breaks these rules is rejected as malformed (400, with the reason naming the event
//! index and the field, e.g. ``event 2: missing `user.portal_user_id` ``); the raw request is kept.
//!
//! **Reply**: `200` with `{"accepted": N}`, N the number of events in the batch (resent events
//! included; Switchboard logs each event id once).
//!
//! # Interactions
//!
//! Each event becomes one interaction on channel `portal`, direction `inbound`: kind
//! `portal_<type>`, outcome `opened` for `message_read` and `viewed` for the others, vendor status
//! the `type`, vendor event id the `id`, vendor message id the `message.id` of a `message_read`,
//! identities our contact id (when given), the external id `portal:<portal_user_id>` and the email
//! (when given), a one-line summary (`Logged in`, `Viewed /billing`, `Downloaded Lease.pdf`,
//! `Read message: <subject>`), and the event's own JSON as metadata.
//!
//! # Installing
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `timestamp_tolerance_secs`: how far the signature's `t` may be from the time the request was
//!   received (default 300).
//!
//! Secrets: `signing_secret`, the key the portal signs its webhooks with.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod events;
mod signature;

use serde_json::json;
use switchboard_plugin_sdk::{
    self as sdk, Channel, HttpResponse, OutboundMessage, Outcome, PluginInfo, SendFailure,
    SendFailureKind, SendReceipt, WebhookAccepted, WebhookRejection, WebhookRequest,
};

struct Portal;

impl sdk::Guest for Portal {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "portal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "portal".into(),
            channels: vec![Channel::Portal],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "Signed batches of activity from the organisation's own client portal"
                .into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(&request, signature::verify)
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        Err(not_a_sender())
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        events::outcome_of(&vendor_status)
    }
}

/// A webhook, in the order the contract asks for: the signature first (`verify`, the host's check
/// in the plugin, a stand-in in the tests), then the method, then the body. Anyone can send a
/// request; only one the host saw verified may be called malformed and cost Switchboard storage.
fn handle(
    request: &WebhookRequest,
    verify: impl FnOnce(&WebhookRequest) -> Result<(), WebhookRejection>,
) -> Result<WebhookAccepted, WebhookRejection> {
    verify(request)?;
    sdk::require_method(request, "POST")?;
    let interactions = events::parse_batch(&request.body, request.received_at)
        .map_err(WebhookRejection::Malformed)?;
    let reply = accepted_reply(interactions.len());
    Ok(WebhookAccepted {
        interactions,
        reply,
    })
}

/// `{"accepted": N}`: the portal learns the batch was taken and how many events it counted.
fn accepted_reply(events: usize) -> HttpResponse {
    sdk::http_reply::with_body(
        200,
        "application/json",
        json!({ "accepted": events }).to_string(),
    )
}

/// Why `send` refuses: the portal inbox is Switchboard's own, so a message routed here was routed
/// wrong, and sending it again here cannot help.
fn not_a_sender() -> SendFailure {
    SendFailure {
        kind: SendFailureKind::Other,
        retryable: false,
        retry_after_ms: None,
        message: "the portal plugin does not send: Switchboard delivers the portal inbox itself"
            .into(),
        vendor_code: None,
    }
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Portal);

#[cfg(test)]
mod tests {
    use super::*;
    use signature::tests::{BODY, GOOD_V1, RECEIVED_AT_MS, SECRET_VALUE, SIGNED_AT, host_with};

    fn request(method: &str, body: &[u8], signature: Option<String>) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/portal".into(),
            query: String::new(),
            headers: signature
                .map(|value| sdk::Header {
                    name: "x-portal-signature".into(),
                    value,
                })
                .into_iter()
                .collect(),
            body: body.to_vec(),
            received_at: RECEIVED_AT_MS,
        }
    }

    fn handle_with(
        request: &WebhookRequest,
        verify: impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
    ) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, |r| {
            let header = sdk::header(&r.headers, "x-portal-signature");
            signature::check(header, &r.body, r.received_at, Ok(300), verify)
        })
    }

    fn good_header() -> Option<String> {
        Some(format!("t={SIGNED_AT},v1={GOOD_V1}"))
    }

    #[test]
    fn a_signed_post_is_accepted() {
        let accepted = handle_with(
            &request("POST", BODY, good_header()),
            host_with(SECRET_VALUE),
        );
        assert_eq!(accepted.unwrap().reply.body, br#"{"accepted":0}"#);
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let refused = handle_with(&request("PUT", b"junk", None), host_with(SECRET_VALUE));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature(
                "missing x-portal-signature header".into()
            ))
        );
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let refused = handle_with(
            &request("GET", BODY, good_header()),
            host_with(SECRET_VALUE),
        );
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("expected POST, got GET".into()))
        );
    }

    #[test]
    fn a_validly_signed_bad_body_is_malformed_and_an_unsigned_one_a_bad_signature() {
        let any_body = |_: &[u8], _: &[u8]| Ok(true);
        let signed = handle_with(&request("POST", b"[1]", good_header()), any_body);
        assert!(matches!(signed, Err(WebhookRejection::Malformed(_))));
        let unsigned = handle_with(&request("POST", b"[1]", None), any_body);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn an_unset_secret_is_a_misconfiguration_only_for_a_signed_request() {
        let unset = |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("unset".into()));
        let signed = handle_with(&request("GET", BODY, good_header()), unset);
        assert!(matches!(signed, Err(WebhookRejection::Misconfigured(_))));
        let unsigned = handle_with(&request("GET", BODY, None), unset);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn the_reply_counts_the_events() {
        let reply = accepted_reply(4);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, br#"{"accepted":4}"#);
        assert_eq!(reply.headers[0].value, "application/json");
    }

    #[test]
    fn send_fails_for_good() {
        let failure = not_a_sender();
        assert!(!failure.retryable);
        assert!(matches!(failure.kind, SendFailureKind::Other));
    }
}
