//! Sending through Twilio's 2010-04-01 Messages API.

use serde_json::Value;
use switchboard_plugin_sdk::twilio::{self, status_callback_url};
use switchboard_plugin_sdk::{
    self as sdk, Header, OutboundMessage, SendFailure, SendFailureKind, SendReceipt, send_failure,
};

use crate::status;

/// Twilio error codes that mean the recipient cannot be messaged: invalid `To`, not a mobile
/// number, opted out (replied STOP).
const RECIPIENT_ERROR_CODES: [i64; 3] = [21211, 21614, 21610];

/// Creates a Message resource; Twilio answers 201 with its `sid` and `status`.
pub fn send(message: &OutboundMessage) -> Result<SendReceipt, SendFailure> {
    let account_sid = sdk::config::get("account_sid")
        .ok_or_else(|| send_failure::misconfigured("config key `account_sid` is not set"))?;
    let params = form_params(message)?;
    let answer = twilio::create(&account_sid, "Messages.json", &params)?;
    if answer.is_success() {
        let vendor_status = answer.field("status");
        return Ok(SendReceipt {
            vendor_message_id: answer.field("sid").map(str::to_string),
            outcome: status::outcome_of(vendor_status.unwrap_or("queued"), None),
            vendor_status: vendor_status.map(str::to_string),
        });
    }
    Err(failure_of(answer.status, &answer.headers, &answer.body))
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

fn failure_of(status: u16, headers: &[Header], body: &Value) -> SendFailure {
    twilio::api_failure(status, headers, body, &RECIPIENT_ERROR_CODES)
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
