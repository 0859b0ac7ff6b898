//! Sending through Twilio's 2010-04-01 Messages API.

use serde_json::Value;
use switchboard_plugin_sdk::{
    self as sdk, Header, OutboundMessage, SendFailure, SendFailureKind, SendReceipt, form, http,
    send_failure,
};

use crate::{CONTACT_ID_PARAM, status};

const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// Twilio error codes that mean the recipient cannot be messaged: invalid `To`, not a mobile
/// number, opted out (replied STOP).
const RECIPIENT_ERROR_CODES: [i64; 3] = [21211, 21614, 21610];

/// Creates a Message resource; Twilio answers 201 with its `sid` and `status`.
pub fn send(message: &OutboundMessage) -> Result<SendReceipt, SendFailure> {
    let account_sid = sdk::config::get("account_sid")
        .ok_or_else(|| send_failure::misconfigured("config key `account_sid` is not set"))?;
    let params = form_params(message)?;
    let api_base = sdk::config::get("api_base").unwrap_or_else(|| DEFAULT_API_BASE.to_string());
    let request = http::Request {
        method: "POST".into(),
        url: format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            api_base.trim_end_matches('/')
        ),
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/x-www-form-urlencoded".into(),
        }],
        body: form::encode(params.iter().map(|(k, v)| (*k, v.as_str()))).into_bytes(),
        auth: Some(http::Auth::Basic(http::BasicAuth {
            username: account_sid.clone(),
            password_secret: "auth_token".into(),
        })),
        timeout_ms: None,
    };
    let response = http::fetch(&request).map_err(send_failure::from_http_error)?;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if (200..300).contains(&response.status) {
        let vendor_status = body.get("status").and_then(Value::as_str);
        return Ok(SendReceipt {
            vendor_message_id: body.get("sid").and_then(Value::as_str).map(str::to_string),
            outcome: status::outcome_of(vendor_status.unwrap_or("queued"), None),
            vendor_status: vendor_status.map(str::to_string),
        });
    }
    Err(failure_of(response.status, &response.headers, &body))
}

/// The form parameters of a Messages create request.
pub fn form_params(message: &OutboundMessage) -> Result<Vec<(&'static str, String)>, SendFailure> {
    let text = message
        .text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| SendFailure {
            kind: SendFailureKind::ContentRejected,
            retryable: false,
            retry_after_ms: None,
            message: "an SMS needs a text body".into(),
            vendor_code: None,
        })?;
    let mut params = vec![("To", message.to.clone()), ("Body", text.to_string())];
    match (
        sdk::config::get("messaging_service_sid"),
        sdk::config::get("from_number"),
    ) {
        (Some(service), _) => params.push(("MessagingServiceSid", service)),
        (None, Some(from)) => params.push(("From", from)),
        (None, None) => {
            return Err(send_failure::misconfigured(
                "set config key `from_number` or `messaging_service_sid`",
            ));
        }
    }
    if let Some(url) = sdk::config::get("webhook_url") {
        params.push((
            "StatusCallback",
            status_callback_url(&url, &message.contact_id),
        ));
    }
    Ok(params)
}

/// Our webhook URL with the contact id in its query, so that status callbacks name the contact.
pub fn status_callback_url(webhook_url: &str, contact_id: &str) -> String {
    let separator = if webhook_url.contains('?') { '&' } else { '?' };
    let query = form::encode([(CONTACT_ID_PARAM, contact_id)]);
    format!("{webhook_url}{separator}{query}")
}

fn failure_of(status: u16, headers: &[Header], body: &Value) -> SendFailure {
    let code = body.get("code").and_then(Value::as_i64);
    let detail = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no detail");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_callback_names_the_contact() {
        assert_eq!(
            status_callback_url("https://x.test/webhooks/sms-twilio", "42"),
            "https://x.test/webhooks/sms-twilio?switchboard_contact_id=42"
        );
        assert_eq!(
            status_callback_url("https://x.test/h?tenant=a", "42"),
            "https://x.test/h?tenant=a&switchboard_contact_id=42"
        );
    }

    #[test]
    fn an_opted_out_recipient_is_not_retried() {
        let body = serde_json::json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient"});
        let failure = failure_of(400, &[], &body);
        assert!(matches!(failure.kind, SendFailureKind::InvalidRecipient));
        assert!(!failure.retryable);
        assert_eq!(failure.vendor_code.as_deref(), Some("21610"));
    }
}
