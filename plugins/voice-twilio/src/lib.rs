//! Twilio Programmable Voice for Switchboard: call status callbacks in, one phone interaction per
//! call state; the 2010-04-01 Calls API out, placing a call that reads the message aloud.
//!
//! # Status callbacks
//!
//! Twilio posts a form (`application/x-www-form-urlencoded`) to the call's `StatusCallback` URL
//! each time the call changes state, signed like every Twilio webhook (`X-Twilio-Signature`, see
//! [`switchboard_plugin_sdk::twilio`]). The calls this plugin places ask for `initiated`,
//! `ringing`, `answered` and `completed`; a call to the organisation's number reports what its
//! number's status callback is set to (by default `completed` only). Point the *status callback*
//! here, not the number's voice URL: the reply is an empty 200, not TwiML.
//!
//! Read: `CallSid`, `CallStatus`, `Direction`, `From`, `To`, `CallDuration` (seconds, on
//! `completed`), `AnsweredBy` (answering machine detection), `Timestamp` (RFC 2822) and
//! `SequenceNumber`. Each callback becomes one interaction on the `phone` channel:
//!
//! | `CallStatus` | kind | outcome |
//! | --- | --- | --- |
//! | `queued` | `phone_queued` | `queued` |
//! | `initiated` | `phone_initiated` | `queued` |
//! | `ringing` | `phone_ringing` | `sent` |
//! | `in-progress`, `answered` | `phone_answered` | `answered` |
//! | `completed` | `phone_completed` | `answered`, with the duration |
//! | `busy` | `phone_busy` | `busy` |
//! | `no-answer` | `phone_no_answer` | `no_answer` |
//! | `failed` | `phone_failed` | `failed` |
//! | `canceled` | `phone_canceled` | `failed` |
//! | anything else | `phone_status` | `unknown` |
//!
//! When answering machine detection says a machine picked up (`AnsweredBy` `machine_start`,
//! `machine_end_beep`, `machine_end_silence`, `machine_end_other`), an answered call is
//! `phone_voicemail`/`voicemail` and a completed one `phone_completed`/`voicemail`; when a fax
//! machine did (`fax`), the outcome is `unknown` (kind `phone_fax` while in progress): the number
//! is reachable, but nobody listened. `human`, `unknown` or no `AnsweredBy` leave the call answered.
//!
//! - Direction: `inbound` (someone called us), `outbound-api` and `outbound-dial` (we called).
//!   The person is `To` on an outbound call and `From` on an inbound one; their number is the
//!   interaction's identity hint, after the contact id that our status callback URL carries back
//!   in its query (`switchboard_contact_id`, set by `send`).
//! - Vendor message id: the `CallSid` (what `send` returned, so the callbacks join the send).
//!   Vendor event id: `<CallSid>:<CallStatus>`; Twilio reports each state of a call once and
//!   retries it unchanged, so a retry is logged once. The vendor is `twilio`, as for
//!   `sms-twilio`: call sids (`CA…`) and message sids (`SM…`, `MM…`) cannot collide.
//! - Occurred at: `Timestamp` when given, else when Switchboard received the callback.
//! - Summary: `Call completed (5m 12s)`, `Call completed: voicemail (32s)`, `No answer`, …
//!   Metadata: `direction`, `duration_secs`, `answered_by`, `from`, `to`, `sequence_number`.
//!
//! A callback without `CallSid`, `CallStatus` or `Direction`, with an unknown `Direction`, or with
//! a `CallDuration` or `Timestamp` that does not parse is malformed (400, kept as rejected).
//!
//! # Placing calls
//!
//! `send` creates a Call resource (`POST {api_base}/2010-04-01/Accounts/{account_sid}/Calls.json`)
//! from `from_number` to the message's `to`. Once answered, the call runs the operator's script
//! at `twiml_url` when one is configured, and otherwise says the message's text
//! (`<Response><Say>…</Say></Response>`, at most 4000 characters of TwiML). Its status callbacks
//! come to `webhook_url` with the contact id in the query, for each of `status_callback_events`
//! (one `StatusCallbackEvent` parameter per event, as Twilio takes a list).
//!
//! # Installing
//!
//! Configuration (`plugins.toml`, `[plugins.<id>.config]`):
//! - `webhook_url`: the public URL Twilio posts to, exactly as Twilio sees it (for example
//!   `https://switchboard.example.org/webhooks/voice-twilio`); required, because Twilio signs it.
//! - `account_sid` and `from_number` (a Twilio number or verified caller id): required to call.
//! - `api_base`: default `https://api.twilio.com`.
//! - `twiml_url`: optional; the TwiML script a placed call runs instead of saying the text.
//! - `status_callback_events`: the call progress events a placed call reports, separated by
//!   spaces; default `initiated ringing answered completed`. Empty leaves Twilio's default,
//!   `completed` only.
//!
//! Secrets: `auth_token`, which both signs Twilio's webhooks and authenticates our API calls.

// Natively this crate only builds for its unit tests; the plugin exports exist on wasm32.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod calls_api;
mod status;
mod timestamp;

use switchboard_plugin_sdk::{
    self as sdk, Channel, OutboundMessage, Outcome, PluginInfo, SendFailure, SendReceipt,
    WebhookAccepted, WebhookRejection, WebhookRequest, form, twilio,
};

struct TwilioVoice;

impl sdk::Guest for TwilioVoice {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "voice-twilio".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "twilio".into(),
            channels: vec![Channel::Phone],
            interface_version: sdk::INTERFACE_VERSION.into(),
            description: "Twilio Voice call status callbacks and the Calls API".into(),
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
        twilio::verify_signature(&request, &params)?;
        let contact_id = twilio::contact_id_of(&request.query);
        let interaction = status::interaction(&params, contact_id, request.received_at)
            .map_err(WebhookRejection::Malformed)?;
        Ok(WebhookAccepted {
            interactions: vec![interaction],
            // Twilio ignores the body of a reply to a status callback.
            reply: sdk::http_reply::empty_ok(),
        })
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        calls_api::send(&message)
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        status::outcome_of(&vendor_status, None)
    }
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(TwilioVoice);
