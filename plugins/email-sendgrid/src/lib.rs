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
        if request.method != "POST" {
            return Err(WebhookRejection::Malformed(format!(
                "expected POST, got {}",
                request.method
            )));
        }
        signature::verify(&request)?;
        let contact_id_arg = contact_id_arg();
        let interactions = events::parse_batch(&request.body, &contact_id_arg)
            .map_err(WebhookRejection::Malformed)?;
        Ok(WebhookAccepted {
            interactions,
            reply: sdk::http_reply::empty_ok(),
        })
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        mail_send::send(&message, &contact_id_arg())
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        events::outcome_of(&vendor_status, None)
    }
}

fn contact_id_arg() -> String {
    sdk::config::get("contact_id_arg").unwrap_or_else(|| DEFAULT_CONTACT_ID_ARG.to_string())
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(SendGrid);
