//! Sending through SendGrid's v3 Mail Send API.

use serde_json::{Value, json};
use switchboard_plugin_sdk::{
    self as sdk, Header, OutboundMessage, Outcome, SendFailure, SendFailureKind, SendReceipt, http,
    send_failure,
};

const DEFAULT_API_BASE: &str = "https://api.sendgrid.com/v3";

/// Sends one message; SendGrid answers 202 with the message id in `X-Message-Id`.
pub fn send(message: &OutboundMessage, contact_id_arg: &str) -> Result<SendReceipt, SendFailure> {
    let from_email = sdk::config::get("from_email")
        .ok_or_else(|| send_failure::misconfigured("config key `from_email` is not set"))?;
    let body = request_body(
        message,
        &from_email,
        sdk::config::get("from_name").as_deref(),
        contact_id_arg,
    )?;
    let api_base = sdk::config::get("api_base").unwrap_or_else(|| DEFAULT_API_BASE.to_string());
    let request = http::Request {
        method: "POST".into(),
        url: format!("{}/mail/send", api_base.trim_end_matches('/')),
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: body.to_string().into_bytes(),
        auth: Some(http::Auth::Bearer("api_key".into())),
        timeout_ms: None,
    };
    let response = http::fetch(&request).map_err(send_failure::from_http_error)?;
    if (200..300).contains(&response.status) {
        return Ok(SendReceipt {
            vendor_message_id: sdk::header(&response.headers, "x-message-id").map(str::to_string),
            outcome: Outcome::Queued,
            vendor_status: Some("accepted".into()),
        });
    }
    Err(failure_of(
        response.status,
        &response.headers,
        &response.body,
    ))
}

/// The Mail Send request body: one personalization to the recipient, carrying Switchboard's
/// contact and message ids in `custom_args` so that every event about the message names them.
pub fn request_body(
    message: &OutboundMessage,
    from_email: &str,
    from_name: Option<&str>,
    contact_id_arg: &str,
) -> Result<Value, SendFailure> {
    let subject = message
        .subject
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| rejected("an email needs a subject"))?;
    let mut content = Vec::new();
    if let Some(text) = message.text.as_deref().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text/plain", "value": text}));
    }
    if let Some(html) = message.html.as_deref().filter(|h| !h.is_empty()) {
        content.push(json!({"type": "text/html", "value": html}));
    }
    if content.is_empty() {
        return Err(rejected("an email needs a text or HTML body"));
    }
    let mut personalization = json!({
        "to": [{"email": message.to}],
        "custom_args": {
            contact_id_arg: message.contact_id,
            "switchboard_message_id": message.message_id,
        },
    });
    let mut from = json!({"email": from_email});
    if let Some(name) = from_name {
        from["name"] = json!(name);
    }
    let mut body = json!({
        "personalizations": [],
        "from": from,
        "subject": subject,
        "content": content,
    });
    if let Some(template) = &message.template {
        body["template_id"] = json!(template.id);
        let data: Value = serde_json::from_str(&template.data)
            .map_err(|e| rejected(&format!("template data is not JSON: {e}")))?;
        personalization["dynamic_template_data"] = data;
    }
    body["personalizations"] = json!([personalization]);
    Ok(body)
}

fn failure_of(status: u16, headers: &[Header], body: &[u8]) -> SendFailure {
    let errors = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let detail = errors
        .iter()
        .map(|e| {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("error");
            match e.get("field").and_then(Value::as_str) {
                Some(field) => format!("{field}: {message}"),
                None => message.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut failure = send_failure::from_status(status, headers, &detail);
    let about_recipient = errors.iter().any(|e| {
        e.get("field")
            .and_then(Value::as_str)
            .is_some_and(|f| f.contains(".to"))
    });
    if status == 400 && about_recipient {
        failure.kind = SendFailureKind::InvalidRecipient;
    }
    failure
}

fn rejected(message: &str) -> SendFailure {
    SendFailure {
        kind: SendFailureKind::ContentRejected,
        retryable: false,
        retry_after_ms: None,
        message: message.to_string(),
        vendor_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_plugin_sdk::Channel;

    fn message() -> OutboundMessage {
        OutboundMessage {
            message_id: "m-1".into(),
            idempotency_key: "m-1-a1".into(),
            contact_id: "42".into(),
            channel: Channel::Email,
            to: "ana@example.org".into(),
            subject: Some("Your invoice".into()),
            text: Some("Hello".into()),
            html: None,
            template: None,
            metadata: "{}".into(),
        }
    }

    #[test]
    fn the_body_carries_the_contact_id_in_custom_args() {
        let body = request_body(&message(), "org@example.org", Some("Org"), "cid").unwrap();
        let personalization = &body["personalizations"][0];
        assert_eq!(personalization["to"][0]["email"], "ana@example.org");
        assert_eq!(personalization["custom_args"]["cid"], "42");
        assert_eq!(
            personalization["custom_args"]["switchboard_message_id"],
            "m-1"
        );
        assert_eq!(body["from"]["name"], "Org");
        assert_eq!(body["content"][0]["type"], "text/plain");
    }

    #[test]
    fn a_message_without_subject_or_body_is_rejected_before_sending() {
        let mut no_subject = message();
        no_subject.subject = None;
        let failure = request_body(&no_subject, "o@e.org", None, "cid").unwrap_err();
        assert!(matches!(failure.kind, SendFailureKind::ContentRejected));
        assert!(!failure.retryable);

        let mut no_body = message();
        no_body.text = None;
        assert!(request_body(&no_body, "o@e.org", None, "cid").is_err());
    }

    #[test]
    fn vendor_errors_are_classified() {
        let body =
            br#"{"errors":[{"field":"personalizations.0.to.0.email","message":"Invalid email"}]}"#;
        let failure = failure_of(400, &[], body);
        assert!(matches!(failure.kind, SendFailureKind::InvalidRecipient));
        assert!(failure.message.contains("Invalid email"));

        let limited = failure_of(
            429,
            &[Header {
                name: "Retry-After".into(),
                value: "7".into(),
            }],
            b"",
        );
        assert!(matches!(limited.kind, SendFailureKind::RateLimited));
        assert!(limited.retryable);
        assert_eq!(limited.retry_after_ms, Some(7000));
    }
}
