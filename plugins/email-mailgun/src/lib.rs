//! Mailgun for Switchboard: signed event webhooks in, the Messages API out.
//!
//! # Webhooks
//!
//! Mailgun posts one event per request, as JSON, to `POST /webhooks/<id>`:
//!
//! ```json
//! {"signature": {"timestamp": "1529006854",
//!                "token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
//!                "signature": "<hex>"},
//!  "event-data": {"event": "delivered", "id": "CPgfbmQMTCKtHW6uIWtuVe", "timestamp": 1529006854.329574,
//!                 "recipient": "ana@example.org", "user-variables": {"switchboard_contact_id": "42"},
//!                 "message": {"headers": {"message-id": "20240101120000.abc123@mg.example.org"}},
//!                 "delivery-status": {"code": 250, "message": "OK"}}}
//! ```
//!
//! **Signature.** `signature.signature` is the lowercase hex HMAC-SHA256 of `signature.timestamp`
//! followed by `signature.token` (no separator), keyed with the account's HTTP webhook signing key
//! (the secret `webhook_signing_key`), compared in constant time. `signature.timestamp` must be
//! within `timestamp_tolerance_secs` of the time Switchboard received the request (its
//! `received-at`, which stays right when a stored webhook is replayed; never the clock). The host
//! computes and compares the HMAC (`secrets.verify-hmac`). Mailgun signs only the timestamp and
//! the token, not the event, so a captured signature could be glued to another event: once it
//! verifies, the token is registered with the host (`nonces.use-once`) until the end of the
//! freshness window (`signature.timestamp` + tolerance), and a request that uses it again is
//! refused as a bad signature (401). `switchboard replay` of a stored webhook is not refused.
//!
//! The signature is inside the body, so the body is split just far enough to find it, and
//! verified first, before the method or the event is looked at: a body that is not a JSON object,
//! lacks `signature`, or whose signature is malformed, wrong, stale or already used is refused as
//! a bad signature (401, nothing stored), whatever else is wrong with the request. Mailgun's
//! legacy form-encoded webhooks are not accepted. An unset signing key is a misconfiguration (503;
//! the request is kept as failed, to replay once the key is set). Only a signed request may be
//! malformed: another method than `POST` (400), or an event that breaks the rules below.
//!
//! **Event.** Read from `event-data` (`null` counts as absent; other keys are kept, in metadata):
//! `event` (required), `timestamp` (required, Unix seconds with a fraction), `id`, `recipient`,
//! `message.headers.message-id`, `severity` and `reason` (of `failed`), `delivery-status`
//! (`code`, `message`, `description`), `url` (of `clicked`) and `user-variables`. A field of the
//! wrong type is refused as malformed (400, the reason naming it, e.g. ``missing
//! `event-data.event` ``); the raw request is kept.
//!
//! # Interactions
//!
//! One per webhook, on channel `email`, direction `outbound`, with the kinds and outcomes that
//! `email-sendgrid` gives the same story, so that swapping one for the other changes no report:
//!
//! | Mailgun `event` | kind | outcome | SendGrid's word |
//! | --- | --- | --- | --- |
//! | `accepted` | `email_processed` | `queued` | `processed` |
//! | `delivered` | `email_delivered` | `delivered` | `delivered` |
//! | `opened` | `email_opened` | `opened` | `open` |
//! | `clicked` | `email_clicked` | `clicked` | `click` |
//! | `failed`, `severity` `permanent` | `email_bounced` | `bounced` | `bounce` |
//! | `failed`, `permanent`, `reason` `suppress-*` | `email_dropped` | `dropped` | `dropped` |
//! | `failed`, `severity` `temporary` | `email_deferred` | `deferred` | `deferred` |
//! | `failed`, no known severity | `email_failed` | `failed` | |
//! | `unsubscribed` | `email_unsubscribed` | `unsubscribed` | `unsubscribe` |
//! | `complained` | `email_spam_reported` | `spam_reported` | `spamreport` |
//! | anything else | `email_event` | `unknown` | |
//!
//! Vendor status: the event word, with the severity for `failed` (`failed:permanent`). Vendor event
//! id: `id` (or, without one, `<message-id>:<event>:<ms>`). Vendor message id:
//! `message.headers.message-id`, without angle brackets, as `send` returns it. Identities: our
//! contact id from `user-variables.switchboard_contact_id` (a string or an integer), then
//! `recipient`. Summary: the link of a click; for a failure the receiving server's answer
//! (`550 5.1.1 …`), else Mailgun's `reason`. Metadata: `event-data` verbatim.
//!
//! # Sending
//!
//! `POST {api_base}/v3/{domain}/messages`, form-encoded: `from` (`from_name <from_email>`), `to`,
//! `subject`, `text`, `html`, `template` and `t:variables` for a template, and the variables
//! `v:switchboard_contact_id` and `v:switchboard_message_id`, which Mailgun echoes in every event as
//! `user-variables`. HTTP Basic auth as `api` with the secret `api_key`, attached by the host. A
//! 200 `{"id": "<…@mg.example.org>", "message": "Queued. Thank you."}` gives the vendor message
//! id, without the angle brackets. 401/403 are credentials, 404 an unknown domain (or the wrong
//! region), 429 a rate limit (retry after `Retry-After`), 5xx Mailgun being down (retry), a 400
//! about `to` an invalid recipient, other 4xx the content. The Messages API documents no
//! idempotency key, so none is sent.
//!
//! # Installing
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `domain` (required to send): the sending domain as set up at Mailgun (`mg.example.org`).
//! - `from_email` (required to send) and `from_name`.
//! - `api_base`: default `https://api.mailgun.net`; domains in Mailgun's EU region use
//!   `https://api.eu.mailgun.net` (a trailing `/v3` is allowed).
//! - `timestamp_tolerance_secs`: how far a webhook's signed timestamp may be from the time it was
//!   received (default 300).
//!
//! Secrets: `api_key` (the Mailgun API key, to send) and `webhook_signing_key` (the HTTP webhook
//! signing key, to verify webhooks).

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod events;
mod messages_api;
mod signature;

use serde_json::value::RawValue;
use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendReceipt,
    Timestamp, WebhookAccepted, WebhookRejection, WebhookRequest,
};

struct Mailgun;

impl sdk::Guest for Mailgun {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "email-mailgun".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "mailgun".into(),
            channels: vec![Channel::Email],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "Mailgun signed event webhooks and the Messages API".into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(&request, signature::verify)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        messages_api::send(&message)
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        events::outcome_of(&vendor_status)
    }
}

/// A webhook, in the order the contract asks for: the signature first — it is inside the body, so
/// the body is split just far enough to find it, and a body where none can be found is a bad
/// signature — then (`verify`: the host's check and nonce in the plugin, stand-ins in the tests)
/// the method, then the event. Anyone can send a request; only one the host saw verified may be
/// called malformed and cost Switchboard storage.
fn handle(
    request: &WebhookRequest,
    verify: impl FnOnce(Option<&RawValue>, Timestamp) -> Result<(), WebhookRejection>,
) -> Result<WebhookAccepted, WebhookRejection> {
    let body = events::Body::read(&request.body).map_err(WebhookRejection::BadSignature)?;
    verify(body.signature, request.received_at)?;
    sdk::require_method(request, "POST")?;
    let interaction = events::parse_event(body.event_data, request.received_at)
        .map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions: vec![interaction],
        reply: sdk::http_reply::empty_ok(),
    })
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Mailgun);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use signature::tests::{KEY, Nonces, RECEIVED_AT_MS, good, host_with};

    fn request(method: &str, body: &Value) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/email-mailgun".into(),
            query: String::new(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            received_at: RECEIVED_AT_MS,
        }
    }

    fn delivered() -> Value {
        json!({"event": "delivered", "id": "ev-1", "timestamp": 1_529_006_854.3,
               "recipient": "ana@example.org"})
    }

    fn handle_natively(
        request: &WebhookRequest,
        nonces: &Nonces,
    ) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, |raw, received_at| {
            signature::check(raw, received_at, Ok(300), host_with(KEY), |t, at| {
                nonces.use_once(t, at)
            })
        })
    }

    #[test]
    fn a_signed_event_is_accepted() {
        let body = json!({"signature": good(), "event-data": delivered()});
        let accepted = handle_natively(&request("POST", &body), &Nonces::default()).unwrap();
        assert_eq!(accepted.interactions[0].kind, "email_delivered");
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let body = json!({"event-data": delivered()});
        let refused = handle_natively(&request("PUT", &body), &Nonces::default());
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature("missing `signature`".into()))
        );
        let not_json = WebhookRequest {
            body: b"timestamp=1&token=t".to_vec(),
            ..request("PUT", &body)
        };
        assert!(matches!(
            handle_natively(&not_json, &Nonces::default()),
            Err(WebhookRejection::BadSignature(why)) if why.starts_with("body is not a JSON object")
        ));
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let body = json!({"signature": good(), "event-data": delivered()});
        let refused = handle_natively(&request("PUT", &body), &Nonces::default());
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("expected POST, got PUT".into()))
        );
    }

    #[test]
    fn a_validly_signed_body_without_its_event_is_malformed() {
        let body = json!({"signature": good()});
        let refused = handle_natively(&request("POST", &body), &Nonces::default());
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("missing `event-data`".into()))
        );
    }

    #[test]
    fn a_replayed_mailgun_token_glued_to_another_event_is_refused() {
        let nonces = Nonces::default();
        let first = json!({"signature": good(), "event-data": delivered()});
        assert!(handle_natively(&request("POST", &first), &nonces).is_ok());
        let mut other = delivered();
        other["event"] = json!("complained");
        let replayed = json!({"signature": good(), "event-data": other});
        assert!(matches!(
            handle_natively(&request("POST", &replayed), &nonces),
            Err(WebhookRejection::BadSignature(why)) if why.contains("already used")
        ));
    }
}
