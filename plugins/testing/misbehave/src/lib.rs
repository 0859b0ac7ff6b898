//! A plugin that misbehaves on purpose, so that the host's sandbox promises are tests: whatever a
//! plugin does, it fails only its own call.
//!
//! Its `mode` config key picks the misbehaviour of `handle-webhook`, `send` and `map-outcome`:
//! - `loop`: spins forever (the time budget must stop it);
//! - `allocate`: asks for 1 GiB (the memory cap must stop it);
//! - `forbidden-http`: calls `url` (by default a host that is not on its allow-list); the host
//!   must refuse;
//! - `trap`: panics, which traps;
//! - anything else, or unset: behaves, accepting the webhook with no interactions.
//!
//! Its `claim_interface_version` config key, when set, is the interface version `describe`
//! reports, so that tests can see the host refuse a plugin built for another version.

// Natively this crate only builds for its (absent) unit tests; the exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use switchboard_plugin_sdk::{
    self as sdk, Channel, Explain as _, OutboundMessage, Outcome, PluginInfo, SendFailure,
    SendReceipt, WebhookAccepted, WebhookRejection, WebhookRequest, http,
};

struct Misbehave;

impl sdk::Guest for Misbehave {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "misbehave".into(),
            channels: vec![Channel::Email, Channel::Sms],
            interface_version: sdk::config::get("claim_interface_version")
                .unwrap_or_else(|| sdk::INTERFACE_VERSION.into()),
            description: "Misbehaves on purpose, for sandbox tests".into(),
        }
    }

    fn handle_webhook(_request: WebhookRequest) -> Result<WebhookAccepted, WebhookRejection> {
        misbehave().map_err(WebhookRejection::Misconfigured)?;
        Ok(WebhookAccepted {
            interactions: Vec::new(),
            reply: sdk::http_reply::empty_ok(),
        })
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        misbehave().map_err(sdk::send_failure::misconfigured)?;
        Ok(SendReceipt {
            vendor_message_id: None,
            outcome: Outcome::Sent,
            vendor_status: None,
        })
    }

    fn map_outcome(_vendor_status: String) -> Outcome {
        // Misbehaving here too lets a reload's smoke call catch a plugin that loads but fails.
        if misbehave().is_err() {
            return Outcome::Failed;
        }
        Outcome::Unknown
    }
}

fn misbehave() -> Result<(), String> {
    match sdk::config::get("mode").as_deref() {
        Some("loop") => spin(),
        Some("allocate") => {
            let mut hoard: Vec<u8> = Vec::with_capacity(1 << 30);
            hoard.push(1);
            std::hint::black_box(&hoard);
            Ok(())
        }
        Some("forbidden-http") => {
            let request = http::Request {
                method: "GET".into(),
                url: sdk::config::get("url")
                    .unwrap_or_else(|| "https://forbidden.example.com/exfiltrate".into()),
                headers: Vec::new(),
                body: Vec::new(),
                auth: None,
                timeout_ms: None,
            };
            match http::fetch(&request) {
                Ok(response) => Err(format!(
                    "the host let a forbidden request through ({})",
                    response.status
                )),
                Err(error) => Err(error.explain()),
            }
        }
        Some("trap") => panic!("misbehave: deliberate trap"),
        _ => Ok(()),
    }
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Misbehave);
