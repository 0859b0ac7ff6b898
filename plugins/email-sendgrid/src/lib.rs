//! SendGrid for Switchboard: the Signed Event Webhook in, v3 Mail Send out.
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `verification_key`: the Signed Event Webhook public key from the SendGrid console (base64
//!   DER); required to accept webhooks.
//! - `timestamp_tolerance_secs`: how far a webhook's signed timestamp may be from the time it was
//!   received (default 300).
//! - `api_base`: the Mail Send API base including the version (default
//!   `https://api.sendgrid.com/v3`).
//! - `from_email` (required to send) and `from_name`.
//! - `contact_id_arg`: the `custom_args` key that carries Switchboard's contact id (default
//!   `switchboard_contact_id`).
//!
//! Secrets: `api_key`, the SendGrid API key used to send.
//!
//! Webhooks: the signature is checked first (by the host, `crypto.verify-signature`), so an
//! unsigned, stale or wrongly signed request is a bad signature (401, nothing stored) whatever else
//! is wrong with it. Only then is another method than `POST`, or a body that is not a batch of
//! events, malformed (400, kept). An unset or unusable `verification_key` is a misconfiguration
//! (503, kept for replay) for a request that carries a signature. Every event gets a vendor event
//! id, so that a retried batch adds nothing: `sg_event_id`, else `<sg_message_id>:<event>:<time>`,
//! else `sha256:<hex>` of the event's own text.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod events;
mod mail_send;
mod signature;

use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendReceipt,
    WebhookAccepted, WebhookRejection, WebhookRequest,
};

/// The `custom_args` key that carries Switchboard's contact id unless configured otherwise.
pub const DEFAULT_CONTACT_ID_ARG: &str = "switchboard_contact_id";

struct SendGrid;

impl sdk::Guest for SendGrid {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "email-sendgrid".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "sendgrid".into(),
            channels: vec![Channel::Email],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "SendGrid Signed Event Webhook and v3 Mail Send".into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(&request, &contact_id_arg(), signature::verify)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        mail_send::send(&message, &contact_id_arg())
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        events::outcome_of(&vendor_status, None)
    }
}

/// A webhook, in the order the contract asks for: the signature first (`verify`, the host's check
/// in the plugin, a stand-in in the tests), then the method, then the body. Anyone can send a
/// request; only one the host saw verified may be called malformed and cost Switchboard storage.
fn handle(
    request: &WebhookRequest,
    contact_id_arg: &str,
    verify: impl FnOnce(&WebhookRequest) -> Result<(), WebhookRejection>,
) -> Result<WebhookAccepted, WebhookRejection> {
    verify(request)?;
    sdk::require_method(request, "POST")?;
    let interactions =
        events::parse_batch(&request.body, contact_id_arg).map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions,
        reply: sdk::http_reply::empty_ok(),
    })
}

fn contact_id_arg() -> String {
    sdk::config::get("contact_id_arg").unwrap_or_else(|| DEFAULT_CONTACT_ID_ARG.to_string())
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(SendGrid);

#[cfg(test)]
mod tests {
    use super::*;
    use signature::test_host::{request, settings, verify};

    fn handle_natively(request: &WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, DEFAULT_CONTACT_ID_ARG, |r| {
            signature::check(r, &settings(), verify)
        })
    }

    #[test]
    fn a_signed_batch_is_accepted() {
        let body = br#"[{"event":"open","timestamp":1700000000,"sg_event_id":"e1"}]"#;
        let accepted = handle_natively(&request("POST", body, true)).unwrap();
        assert_eq!(accepted.interactions.len(), 1);
        assert_eq!(accepted.reply.status, 200);
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let refused = handle_natively(&request("PUT", b"junk", false));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature(
                "missing x-twilio-email-event-webhook-signature header".into()
            ))
        );
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let refused = handle_natively(&request("PUT", b"[]", true));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::Malformed("expected POST, got PUT".into()))
        );
    }

    #[test]
    fn a_validly_signed_bad_body_is_malformed() {
        let refused = handle_natively(&request("POST", b"{}", true));
        assert!(
            matches!(refused, Err(WebhookRejection::Malformed(why)) if why.contains("not a JSON array"))
        );
    }
}
