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
//! a `CallDuration` or `Timestamp` that does not parse is malformed (400, kept as rejected), and
//! so is a request with another method than `POST`; but the signature is checked first, so an
//! unsigned or wrongly signed request is a bad signature (401, nothing stored) whatever else is
//! wrong with it. An unset `webhook_url` or `auth_token` is a misconfiguration (503, kept for
//! replay) for a request that carries a signature.
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
        handle(&request, twilio::verify_signature)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        calls_api::send(&message)
    }

    fn map_outcome(vendor_status: String) -> Outcome {
        status::outcome_of(&vendor_status, None)
    }
}

/// A webhook, in the order the contract asks for: the signature first (`verify`, over the URL and
/// the form parameters; the host's check in the plugin, a stand-in in the tests), then the method,
/// then what the parameters say. Anyone can send a request; only one the host saw verified may be
/// called malformed and cost Switchboard storage.
fn handle(
    request: &WebhookRequest,
    verify: impl FnOnce(&WebhookRequest, &[(String, String)]) -> Result<(), WebhookRejection>,
) -> Result<WebhookAccepted, WebhookRejection> {
    // Parsing the form cannot fail (it is what Twilio signs); nothing in it is read before the
    // signature verified.
    let params = form::parse(&request.body);
    verify(request, &params)?;
    sdk::require_method(request, "POST")?;
    let contact_id = twilio::contact_id_of(&request.query);
    let interaction = status::interaction(&params, contact_id, request.received_at)
        .map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions: vec![interaction],
        // Twilio ignores the body of a reply to a status callback.
        reply: sdk::http_reply::empty_ok(),
    })
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(TwilioVoice);

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    const AUTH_TOKEN: &str = "twilio-test-token";
    const WEBHOOK_URL: &str = "https://switchboard.example.org/webhooks/voice-twilio";
    const COMPLETED: &[u8] =
        b"CallSid=CA1&CallStatus=completed&Direction=outbound-api&To=%2B14155550100&CallDuration=62";

    /// The signature Twilio would send: base64(HMAC-SHA1(auth token, URL + sorted parameters)).
    fn twilio_signature(query: &str, body: &[u8]) -> String {
        let url = twilio::signed_url(WEBHOOK_URL, query);
        let data = twilio::signed_data(&url, &form::parse(body));
        sdk::base64_encode(&hmac_sha1(data.as_bytes()))
    }

    fn hmac_sha1(message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(AUTH_TOKEN.as_bytes()).expect("any key");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn request(
        method: &str,
        query: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/voice-twilio".into(),
            query: query.into(),
            headers: signature
                .map(|value| sdk::Header {
                    name: "x-twilio-signature".into(),
                    value,
                })
                .into_iter()
                .collect(),
            body: body.to_vec(),
            received_at: 1_700_000_000_000,
        }
    }

    /// `handle` with the host's check done natively, `webhook_url` set or not.
    fn handle_natively(
        request: &WebhookRequest,
        webhook_url: Option<&str>,
    ) -> Result<WebhookAccepted, WebhookRejection> {
        handle(request, |r, params| {
            twilio::check_signature(r, params, webhook_url, |message, presented| {
                Ok(hmac_sha1(message) == presented)
            })
        })
    }

    #[test]
    fn a_signed_status_callback_is_accepted_with_the_contact_id_of_its_url() {
        let query = "switchboard_contact_id=42";
        let signed = request(
            "POST",
            query,
            COMPLETED,
            Some(twilio_signature(query, COMPLETED)),
        );
        let accepted = handle_natively(&signed, Some(WEBHOOK_URL)).unwrap();
        let call = &accepted.interactions[0];
        assert_eq!(call.kind, "phone_completed");
        assert!(matches!(&call.identities[0], sdk::Identity::ContactId(id) if id == "42"));
    }

    #[test]
    fn a_put_with_no_signature_is_refused_as_a_bad_signature_not_malformed() {
        let refused = handle_natively(&request("PUT", "", b"junk", None), Some(WEBHOOK_URL));
        assert_eq!(
            refused.err(),
            Some(WebhookRejection::BadSignature(
                "missing x-twilio-signature header".into()
            ))
        );
    }

    #[test]
    fn a_validly_signed_request_with_the_wrong_method_is_malformed() {
        let signed = request("GET", "", COMPLETED, Some(twilio_signature("", COMPLETED)));
        assert_eq!(
            handle_natively(&signed, Some(WEBHOOK_URL)).err(),
            Some(WebhookRejection::Malformed("expected POST, got GET".into()))
        );
    }

    #[test]
    fn a_validly_signed_callback_without_a_call_sid_is_malformed() {
        let body = b"CallStatus=completed";
        let signed = request("POST", "", body, Some(twilio_signature("", body)));
        assert!(matches!(
            handle_natively(&signed, Some(WEBHOOK_URL)),
            Err(WebhookRejection::Malformed(_))
        ));
    }

    #[test]
    fn an_unset_webhook_url_is_a_misconfiguration_only_for_a_signed_request() {
        let signed = request("POST", "", COMPLETED, Some(twilio_signature("", COMPLETED)));
        assert!(matches!(
            handle_natively(&signed, None),
            Err(WebhookRejection::Misconfigured(_))
        ));
        let unsigned = request("POST", "", COMPLETED, None);
        assert!(matches!(
            handle_natively(&unsigned, None),
            Err(WebhookRejection::BadSignature(_))
        ));
    }
}

/// Bounded fuzzing of what a verified status callback's parameters say: whatever the form, it is
/// read or refused, never panics. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use sdk::fuzz;

    const NAMES: &[&str] = &[
        "CallSid",
        "CallStatus",
        "Direction",
        "From",
        "To",
        "CallDuration",
        "AnsweredBy",
        "Timestamp",
        "SequenceNumber",
        "inbound",
        "outbound-api",
        "outbound-dial",
        "completed",
        "in-progress",
        "busy",
        "no-answer",
        "machine_start",
        "fax",
        "human",
        "62",
        "-1",
        "Tue, 14 Nov 2023 22:13:20 +0000",
        "Tue, 14 Nov 2023 22:13:20 GMT",
    ];

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_bytes_never_panic(body in fuzz::bytes()) {
            let _verdict = status::interaction(&form::parse(&body), None, 1_700_000_000_000);
        }

        #[test]
        fn arbitrary_forms_are_read_or_refused(body in fuzz::form(NAMES)) {
            let _verdict = status::interaction(&form::parse(&body), None, 1_700_000_000_000);
        }

        #[test]
        fn any_rfc_2822_ish_timestamp_is_read_or_refused(text in "[A-Za-z0-9,:+ -]{0,40}") {
            let _parsed = timestamp::parse_rfc2822(&text);
        }
    }
}
