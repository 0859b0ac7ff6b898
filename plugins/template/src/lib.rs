//! A Switchboard channel plugin, started from the template.
//!
//! Everything below describes **the example vendor's format — replace it with yours**. Each
//! concern is one file: `signature.rs` (is the webhook authentic?), `events.rs` (webhook body →
//! interactions), `send.rs` (a message → the vendor's API). Start with `describe` below.
//!
//! # Webhook
//!
//! The vendor posts `POST /webhooks/<id>` with a JSON batch of status events:
//!
//! ```json
//! {"events": [
//!   {"id": "evt_1", "status": "delivered", "to": "+14155550100", "message_id": "msg_1",
//!    "occurred_at": 1700000000000, "contact_id": "42"}
//! ]}
//! ```
//!
//! - `id`, `status`, `to` (the person: a phone number or an email address) and `occurred_at`
//!   (Unix milliseconds) are required; `message_id` (the vendor's id from our send) and
//!   `contact_id` (Switchboard's contact id, which we gave the vendor when sending) are optional.
//! - `status`: `queued`, `sent`, `delivered`, `failed`, `bounced`, `opened`, `clicked`, `replied`;
//!   other words are logged with outcome `unknown`.
//! - Header `x-example-signature`: the lowercase hex HMAC-SHA256 of the raw body, keyed with the
//!   secret `signing_secret`.
//!
//! The signature is checked first, before the method or the body: a missing or wrong signature is
//! refused (401, nothing stored) whatever else is wrong with the request. Only a signed request
//! may be malformed: another method than `POST`, or a body that breaks the rules above (400,
//! naming the event and the field; kept, since the host saw it verified). An unset secret is a
//! misconfiguration (503, kept for replay). Accepted: `200` with an empty body.
//!
//! # Sending
//!
//! `POST {api_base}/messages` with a bearer API key and an `Idempotency-Key` header:
//! `{"to", "text", "subject", "reference", "contact_id"}`; the vendor answers `2xx` with
//! `{"id": "msg_1"}`, or an error status with `{"error": {"code", "message"}}`.
//!
//! # Installing
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `api_base`: the vendor's API base URL, with its version (`https://api.example.com/v1`);
//!   required to send. Its host must be in `allowed_hosts`.
//!
//! Secrets (`[plugins.<id>.secrets]`): `signing_secret` (checks webhooks) and `api_key` (sends).
//! The plugin never sees their values: the host computes the HMAC and attaches the key.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod events;
mod send;
mod signature;

use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendReceipt,
    WebhookAccepted, WebhookRejection, WebhookRequest,
};

/// The channel this plugin serves.
const CHANNEL: Channel = Channel::Sms;
/// The channel's word, the prefix of every interaction kind (`<word>_delivered`).
const CHANNEL_WORD: &str = "sms";

struct Plugin;

impl sdk::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "channel-template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            // Switchboard de-duplicates events per vendor: keep this stable once installed.
            vendor: "example".into(),
            channels: vec![CHANNEL],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "The example vendor's signed status webhooks and messages API".into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(&request, signature::verify)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        send::send(&message)
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
    let interactions = events::parse_batch(&request.body).map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions,
        reply: sdk::http_reply::empty_ok(),
    })
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use signature::test_host::{BODY, GOOD, request};

    fn handle_natively(request: &WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, |r| {
            signature::check(r, signature::test_host::verify)
        })
    }

    #[test]
    fn a_signed_post_is_accepted() {
        let accepted = handle_natively(&request("POST", BODY, Some(GOOD))).unwrap();
        assert!(accepted.interactions.is_empty());
        assert_eq!(accepted.reply.status, 200);
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let refused = handle_natively(&request("PUT", b"not json", None));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature(
                "missing x-example-signature header".into()
            ))
        );
    }

    #[test]
    fn a_put_with_a_wrong_signature_is_a_bad_signature() {
        let flipped = format!("0{}", &GOOD[1..]);
        let refused = handle_natively(&request("PUT", BODY, Some(&flipped)));
        assert!(matches!(refused, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let refused = handle_natively(&request("PUT", BODY, Some(GOOD)));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("expected POST, got PUT".into()))
        );
    }

    #[test]
    fn a_validly_signed_bad_body_is_malformed() {
        let any_body = |_: &[u8], _: &[u8]| Ok(true);
        let refused = handle(&request("POST", b"{", Some(GOOD)), |r| {
            signature::check(r, any_body)
        });
        assert!(
            matches!(refused, Err(WebhookRejection::Malformed(why)) if why.starts_with("body is not JSON"))
        );
    }

    #[test]
    fn an_unset_secret_is_a_misconfiguration_whatever_the_method() {
        let unset = |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("unset".into()));
        let refused = handle(&request("GET", BODY, Some(GOOD)), |r| {
            signature::check(r, unset)
        });
        assert!(matches!(refused, Err(WebhookRejection::Misconfigured(_))));
    }
}
