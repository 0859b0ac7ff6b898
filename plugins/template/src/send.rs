//! Sending through the example vendor's messages API: `POST {api_base}/messages`.
//!
//! `send` is the only part that calls the host; building the request and reading the answer are
//! plain functions, tested natively.

use serde_json::{Value, json};
use switchboard_plugin_sdk::{
    self as sdk, Header, HttpResponse, OutboundMessage, Outcome, SendFailure, SendFailureKind,
    SendReceipt, http, send_failure,
};

/// The name of the secret holding the API key. The host attaches it; the plugin never sees it.
const API_KEY_SECRET: &str = "api_key";
/// The vendor's error codes that mean the recipient cannot be reached on this channel.
const RECIPIENT_ERROR_CODES: [&str; 2] = ["invalid_recipient", "unsubscribed"];

/// Sends one message; the vendor answers `2xx` with `{"id": "..."}`.
pub fn send(message: &OutboundMessage) -> Result<SendReceipt, SendFailure> {
    let api_base = sdk::config::get("api_base")
        .filter(|base| !base.trim().is_empty())
        .ok_or_else(|| send_failure::misconfigured("config key `api_base` is not set"))?;
    let response =
        http::fetch(&request(message, &api_base)?).map_err(send_failure::from_http_error)?;
    receipt_of(&response)
}

/// The HTTP request that sends `message`.
pub fn request(message: &OutboundMessage, api_base: &str) -> Result<http::Request, SendFailure> {
    let text = message
        .text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| SendFailure {
            kind: SendFailureKind::ContentRejected,
            retryable: false,
            retry_after_ms: None,
            message: "the example vendor needs a text body".into(),
            vendor_code: None,
        })?;
    let body = json!({
        "to": message.to,
        "text": text,
        "subject": message.subject,
        // Our ids go where the vendor echoes them in its webhooks, so that events find their way
        // home: `contact_id` becomes the strongest identity hint of every event about the message.
        "reference": message.message_id,
        "contact_id": message.contact_id,
    });
    Ok(http::Request {
        method: "POST".into(),
        url: format!("{}/messages", api_base.trim_end_matches('/')),
        headers: vec![
            header("content-type", "application/json"),
            // So that the vendor delivers this attempt once, however often the request reaches it.
            header("idempotency-key", &message.idempotency_key),
        ],
        body: body.to_string().into_bytes(),
        auth: Some(http::Auth::Bearer(API_KEY_SECRET.into())),
        timeout_ms: None,
    })
}

/// What the vendor's answer means: a receipt, or a failure that says whether to retry.
pub fn receipt_of(response: &HttpResponse) -> Result<SendReceipt, SendFailure> {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if !(200..300).contains(&response.status) {
        return Err(failure_of(response.status, &response.headers, &body));
    }
    match body.get("id").and_then(Value::as_str) {
        Some(id) => Ok(SendReceipt {
            vendor_message_id: Some(id.to_string()),
            outcome: Outcome::Queued,
            vendor_status: None,
        }),
        // Accepted, but not by the vendor we know (often `api_base` pointing elsewhere). Retrying
        // could send the message twice, so it is not retryable.
        None => Err(SendFailure {
            kind: SendFailureKind::Other,
            retryable: false,
            retry_after_ms: None,
            message: format!(
                "vendor answered {} without a message id; is `api_base` right?",
                response.status
            ),
            vendor_code: None,
        }),
    }
}

/// The SDK's reading of the status (429 and 5xx retryable, honouring `Retry-After`; other 4xx
/// not), sharpened by the vendor's own error code.
fn failure_of(status: u16, headers: &[Header], body: &Value) -> SendFailure {
    let error = &body["error"];
    let code = error["code"].as_str();
    let detail = error["message"].as_str().unwrap_or("no detail");
    let mut failure = send_failure::from_status(status, headers, detail);
    if let Some(code) = code {
        failure.vendor_code = Some(code.to_string());
        if RECIPIENT_ERROR_CODES.contains(&code) {
            failure.kind = SendFailureKind::InvalidRecipient;
            failure.retryable = false;
        }
    }
    failure
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CHANNEL;

    fn message() -> OutboundMessage {
        OutboundMessage {
            message_id: "m-1".into(),
            idempotency_key: "m-1-a1".into(),
            contact_id: "42".into(),
            channel: CHANNEL,
            to: "+14155550100".into(),
            subject: None,
            text: Some("Your appointment is tomorrow at 10".into()),
            html: None,
            template: None,
            metadata: "{}".into(),
        }
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers.iter().map(|(n, v)| header(n, v)).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_request_carries_our_ids_and_names_the_key() {
        let request = request(&message(), "https://api.example.test/v1/").unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://api.example.test/v1/messages");
        assert!(matches!(&request.auth, Some(http::Auth::Bearer(name)) if name == "api_key"));
        assert_eq!(
            sdk::header(&request.headers, "Idempotency-Key"),
            Some("m-1-a1")
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"to": "+14155550100", "text": "Your appointment is tomorrow at 10",
                   "subject": null, "reference": "m-1", "contact_id": "42"})
        );
    }

    #[test]
    fn a_message_without_text_is_refused_before_sending() {
        let mut empty = message();
        empty.text = Some("  ".into());
        let failure = request(&empty, "https://api.example.test").unwrap_err();
        assert!(matches!(failure.kind, SendFailureKind::ContentRejected));
        assert!(!failure.retryable);
    }

    #[test]
    fn an_accepted_message_gives_its_vendor_id() {
        let receipt = receipt_of(&response(201, &[], r#"{"id": "msg_1"}"#)).unwrap();
        assert_eq!(receipt.vendor_message_id.as_deref(), Some("msg_1"));
        assert_eq!(receipt.outcome, Outcome::Queued);

        let no_id = receipt_of(&response(200, &[], "<html>")).unwrap_err();
        assert!(!no_id.retryable);
        assert!(no_id.message.contains("api_base"), "{}", no_id.message);
    }

    #[test]
    fn vendor_errors_say_whether_to_retry() {
        let limited = receipt_of(&response(429, &[("Retry-After", "7")], "")).unwrap_err();
        assert!(matches!(limited.kind, SendFailureKind::RateLimited));
        assert!(limited.retryable);
        assert_eq!(limited.retry_after_ms, Some(7000));

        let down = receipt_of(&response(503, &[], "")).unwrap_err();
        assert!(matches!(down.kind, SendFailureKind::VendorUnavailable));
        assert!(down.retryable);

        let refused = r#"{"error": {"code": "too_long", "message": "text over 1600 characters"}}"#;
        let refused = receipt_of(&response(400, &[], refused)).unwrap_err();
        assert!(matches!(refused.kind, SendFailureKind::ContentRejected));
        assert!(!refused.retryable);
        assert!(refused.message.contains("text over 1600"));
        assert_eq!(refused.vendor_code.as_deref(), Some("too_long"));

        let recipient = r#"{"error": {"code": "unsubscribed", "message": "opted out"}}"#;
        let recipient = receipt_of(&response(422, &[], recipient)).unwrap_err();
        assert!(matches!(recipient.kind, SendFailureKind::InvalidRecipient));
        assert!(!recipient.retryable);

        let auth = receipt_of(&response(401, &[], "")).unwrap_err();
        assert!(matches!(auth.kind, SendFailureKind::Auth));
    }
}
