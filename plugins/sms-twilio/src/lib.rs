//! Twilio Programmable Messaging for Switchboard: message status callbacks and inbound SMS in
//! (with the opt-out and opt-in keywords), the 2010-04-01 Messages API out.
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `webhook_url`: the public URL Twilio posts to, exactly as configured at Twilio (for example
//!   `https://switchboard.example.org/webhooks/sms-twilio`); required, because Twilio signs it.
//! - `account_sid` (required to send), and `from_number` or `messaging_service_sid`.
//! - `api_base`: default `https://api.twilio.com`.
//!
//! Secrets: `auth_token`, which both signs Twilio's webhooks and authenticates our API calls.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod inbound;
mod messages_api;
mod status;

use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendReceipt,
    WebhookAccepted, WebhookRejection, WebhookRequest, form, twilio,
};

struct Twilio;

impl sdk::Guest for Twilio {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "sms-twilio".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "twilio".into(),
            channels: vec![Channel::Sms],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "Twilio SMS status callbacks, inbound messages and the Messages API"
                .into(),
        }
    }

    fn handle_webhook(request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        if request.method != "POST" {
            return Err(WebhookRejection::Malformed(format!(
                "expected POST, got {}",
                request.method
            )));
        }
        let params = form::parse(&request.body);
        // Twilio request validation, shared with the other Twilio plugins in the SDK.
        twilio::verify_signature(&request, &params)?;
        let contact_id = twilio::contact_id_of(&request.query);
        if let Some(status) = form::get(&params, "MessageStatus").filter(|s| !is_inbound(s)) {
            let interaction = status::interaction(&params, status, contact_id, request.received_at)
                .map_err(WebhookRejection::Malformed)?;
            return Ok(WebhookAccepted {
                interactions: vec![interaction],
                reply: sdk::http_reply::empty_ok(),
            });
        }
        if form::get(&params, "Body").is_some() {
            let interaction = inbound::interaction(&params, request.received_at)
                .map_err(WebhookRejection::Malformed)?;
            return Ok(WebhookAccepted {
                interactions: vec![interaction],
                reply: inbound::empty_twiml(),
            });
        }
        Err(WebhookRejection::Malformed(
            "neither a status callback (no MessageStatus) nor an inbound message (no Body)".into(),
        ))
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        messages_api::send(&message)
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        status::outcome_of(&vendor_status, None)
    }
}

/// Inbound messages carry `SmsStatus`/`MessageStatus` `received` (or `receiving`).
fn is_inbound(status: &str) -> bool {
    matches!(status, "received" | "receiving")
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Twilio);
