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
//!
//! Webhooks: the signature (`X-Twilio-Signature`, over `webhook_url` and the form parameters) is
//! checked first, so an unsigned or wrongly signed request is a bad signature (401, nothing
//! stored) whatever else is wrong with it. Only then is a request with another method than `POST`,
//! or parameters that are neither a status callback nor an inbound message, malformed (400). An
//! unset `webhook_url` or `auth_token` is a misconfiguration (503, kept for replay) for a request
//! that carries a signature.

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
        // Twilio request validation, shared with the other Twilio plugins in the SDK.
        handle(&request, twilio::verify_signature)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendFailure> {
        messages_api::send(&message)
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
    let (interaction, reply) = interpret(&params, &request.query, request.received_at)
        .map_err(WebhookRejection::Malformed)?;
    Ok(WebhookAccepted {
        interactions: vec![interaction],
        reply,
    })
}

/// What a verified callback's parameters report: a status callback (`MessageStatus`, with the
/// contact id our callback URL carried in `query`) or an inbound message (`Body`), and the reply
/// Twilio expects.
fn interpret(
    params: &[(String, String)],
    query: &str,
    received_at: sdk::Timestamp,
) -> Result<(sdk::Interaction, sdk::HttpResponse), String> {
    if let Some(status) = form::get(params, "MessageStatus").filter(|s| !is_inbound(s)) {
        let contact_id = twilio::contact_id_of(query);
        let interaction = status::interaction(params, status, contact_id, received_at)?;
        return Ok((interaction, sdk::http_reply::empty_ok()));
    }
    if form::get(params, "Body").is_some() {
        let interaction = inbound::interaction(params, received_at)?;
        return Ok((interaction, inbound::empty_twiml()));
    }
    Err("neither a status callback (no MessageStatus) nor an inbound message (no Body)".into())
}

/// Inbound messages carry `SmsStatus`/`MessageStatus` `received` (or `receiving`).
fn is_inbound(status: &str) -> bool {
    matches!(status, "received" | "receiving")
}

#[cfg(target_arch = "wasm32")]
sdk::export_plugin!(Twilio);

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    const AUTH_TOKEN: &str = "twilio-test-token";
    const WEBHOOK_URL: &str = "https://switchboard.example.org/webhooks/sms-twilio";
    const STATUS: &[u8] = b"MessageSid=SM1&MessageStatus=delivered&To=%2B14155550100";

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
            path: "/webhooks/sms-twilio".into(),
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
        let signed = request("POST", query, STATUS, Some(twilio_signature(query, STATUS)));
        let accepted = handle_natively(&signed, Some(WEBHOOK_URL)).unwrap();
        let delivered = &accepted.interactions[0];
        assert_eq!(delivered.kind, "sms_delivered");
        assert!(matches!(&delivered.identities[0], sdk::Identity::ContactId(id) if id == "42"));
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
        let signed = request("GET", "", STATUS, Some(twilio_signature("", STATUS)));
        assert_eq!(
            handle_natively(&signed, Some(WEBHOOK_URL)).err(),
            Some(WebhookRejection::Malformed("expected POST, got GET".into()))
        );
    }

    #[test]
    fn a_validly_signed_callback_that_is_neither_status_nor_message_is_malformed() {
        let body = b"AccountSid=AC1";
        let signed = request("POST", "", body, Some(twilio_signature("", body)));
        assert!(matches!(
            handle_natively(&signed, Some(WEBHOOK_URL)),
            Err(WebhookRejection::Malformed(why)) if why.starts_with("neither a status callback")
        ));
    }

    #[test]
    fn a_tampered_parameter_is_a_bad_signature() {
        let signature = twilio_signature("", STATUS);
        let tampered = request(
            "POST",
            "",
            b"MessageSid=SM1&MessageStatus=failed",
            Some(signature),
        );
        assert!(matches!(
            handle_natively(&tampered, Some(WEBHOOK_URL)),
            Err(WebhookRejection::BadSignature(_))
        ));
    }

    #[test]
    fn an_unset_webhook_url_is_a_misconfiguration_only_for_a_signed_request() {
        let signed = request("PUT", "", STATUS, Some(twilio_signature("", STATUS)));
        assert!(matches!(
            handle_natively(&signed, None),
            Err(WebhookRejection::Misconfigured(why)) if why.contains("webhook_url")
        ));
        let unsigned = request("PUT", "", STATUS, None);
        assert!(matches!(
            handle_natively(&unsigned, None),
            Err(WebhookRejection::BadSignature(_))
        ));
    }

    #[test]
    fn an_inbound_message_gets_empty_twiml() {
        let body = b"MessageSid=SM2&From=%2B14155550100&Body=STOP&SmsStatus=received";
        let (interaction, reply) = interpret(&form::parse(body), "", 0).unwrap();
        assert_eq!(interaction.kind, "sms_opted_out");
        assert_eq!(reply, inbound::empty_twiml());
    }
}

/// Bounded fuzzing of what a verified callback's parameters say: whatever the form, it is read or
/// refused, never panics. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use sdk::fuzz;

    const NAMES: &[&str] = &[
        "MessageSid",
        "SmsSid",
        "MessageStatus",
        "SmsStatus",
        "Body",
        "From",
        "To",
        "ErrorCode",
        "ErrorMessage",
        "MessagingServiceSid",
        "received",
        "receiving",
        "delivered",
        "undelivered",
        "failed",
        "sent",
        "queued",
        "STOP",
        "START",
        "30005",
        "+14155550100",
    ];

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_bytes_never_panic(body in fuzz::bytes(), query in fuzz::header_value()) {
            let _verdict = interpret(&form::parse(&body), &query, 1_700_000_000_000);
        }

        #[test]
        fn arbitrary_forms_are_read_or_refused(body in fuzz::form(NAMES), query in fuzz::form(NAMES)) {
            let query = String::from_utf8(query).expect("a form is text");
            let _verdict = interpret(&form::parse(&body), &query, 1_700_000_000_000);
        }

        #[test]
        fn an_arbitrary_signature_header_is_refused_without_panicking(header in fuzz::header_value(), body in fuzz::form(NAMES)) {
            let request = tests_request(header, body);
            let verdict = handle(&request, |r, params| {
                twilio::check_signature(r, params, Some("https://x.test/h"), |_, _| Ok(false))
            });
            prop_assert!(matches!(verdict, Err(WebhookRejection::BadSignature(_))), "{verdict:?}");
        }
    }

    fn tests_request(signature: String, body: Vec<u8>) -> WebhookRequest {
        WebhookRequest {
            method: "POST".into(),
            path: "/webhooks/sms-twilio".into(),
            query: String::new(),
            headers: vec![sdk::Header {
                name: "x-twilio-signature".into(),
                value: signature,
            }],
            body,
            received_at: 0,
        }
    }
}
