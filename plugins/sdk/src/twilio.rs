//! Twilio's conventions, shared by the Twilio plugins (`sms-twilio`, `voice-twilio`): request
//! validation of its webhooks, the contact id we put on status callback URLs, and creating
//! resources through its 2010-04-01 REST API.
//!
//! The plugins agree on their names: the config keys `webhook_url` (the public URL Twilio posts
//! to, which it signs), `api_base` (default `https://api.twilio.com`), and the secret `auth_token`
//! (which both signs Twilio's webhooks and authenticates our API calls).

use serde_json::Value;

use crate::{
    Explain as _, Header, SendFailure, SendFailureKind, WebhookRejection, WebhookRequest, form,
    http, secrets, send_failure,
};

/// The secret that signs webhooks and authenticates API calls.
pub const AUTH_TOKEN_SECRET: &str = "auth_token";
/// The query parameter on our status callback URLs that carries Switchboard's contact id back.
pub const CONTACT_ID_PARAM: &str = "switchboard_contact_id";
const SIGNATURE_HEADER: &str = "x-twilio-signature";
const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Request validation: `X-Twilio-Signature` is base64(HMAC-SHA1(auth token, URL + every POST
/// parameter's name and value, sorted by name)). The URL is the public one Twilio posted to, which
/// only the operator knows (proxies rewrite what we see), so it comes from `webhook_url`.
///
/// Accepts the request only if its signature matches.
pub fn verify_signature(
    request: &WebhookRequest,
    params: &[(String, String)],
) -> Result<(), WebhookRejection> {
    let presented = presented_signature(&request.headers)?;
    let url = signed_url(&crate::require_config("webhook_url")?, &request.query);
    let expected = secrets::hmac(
        secrets::HmacAlgorithm::Sha1,
        AUTH_TOKEN_SECRET,
        signed_data(&url, params).as_bytes(),
    )
    .map_err(|e| {
        WebhookRejection::Misconfigured(format!("cannot check signatures: {}", e.explain()))
    })?;
    compare(&expected, &presented, &url)
}

/// The signature the request carries, decoded.
fn presented_signature(headers: &[Header]) -> Result<Vec<u8>, WebhookRejection> {
    let presented = crate::header(headers, SIGNATURE_HEADER).ok_or_else(|| {
        WebhookRejection::BadSignature(format!("missing {SIGNATURE_HEADER} header"))
    })?;
    crate::base64_decode(presented)
        .map_err(|e| WebhookRejection::BadSignature(format!("signature {e}")))
}

/// Compares in constant time; the refusal names the URL, the usual culprit.
fn compare(expected: &[u8], presented: &[u8], url: &str) -> Result<(), WebhookRejection> {
    if crate::constant_time_eq(expected, presented) {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature(format!(
            "signature does not match (signed URL {url})"
        )))
    }
}

/// The URL Twilio signed: the configured public URL with the query string the request arrived
/// with (our status callback URLs carry the contact id there).
pub fn signed_url(webhook_url: &str, query: &str) -> String {
    let base = webhook_url
        .split_once('?')
        .map_or(webhook_url, |(base, _)| base);
    if query.is_empty() {
        webhook_url.to_string()
    } else {
        format!("{base}?{query}")
    }
}

/// The string Twilio signs: the URL, then each parameter's name and value, sorted by name (and by
/// value for repeated names), as Twilio's own helper libraries compute it.
pub fn signed_data(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    data
}

/// Our webhook URL with the contact id in its query, so that status callbacks name the contact.
pub fn status_callback_url(webhook_url: &str, contact_id: &str) -> String {
    let separator = if webhook_url.contains('?') { '&' } else { '?' };
    let query = form::encode([(CONTACT_ID_PARAM, contact_id)]);
    format!("{webhook_url}{separator}{query}")
}

/// The contact id our status callback URL carried back, from the request's query string.
pub fn contact_id_of(query: &str) -> Option<String> {
    form::parse(query.as_bytes())
        .into_iter()
        .find(|(name, _)| name == CONTACT_ID_PARAM)
        .map(|(_, value)| value)
}

/// What the REST API answered to a create request.
#[derive(Debug)]
pub struct ApiAnswer {
    pub status: u16,
    pub headers: Vec<Header>,
    /// The body as JSON; `null` when it is not JSON.
    pub body: Value,
}

impl ApiAnswer {
    /// Whether the resource was created.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A string field of the created resource (`sid`, `status`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }
}

/// Creates a resource (`Messages.json`, `Calls.json`) of the account: POSTs `params`
/// form-encoded to `{api_base}/2010-04-01/Accounts/{account_sid}/{resource}`, authenticated with
/// HTTP Basic (the account SID, and the auth token attached by the host).
pub fn create(
    account_sid: &str,
    resource: &str,
    params: &[(&str, String)],
) -> Result<ApiAnswer, SendFailure> {
    let api_base = crate::config::get("api_base").unwrap_or_else(|| DEFAULT_API_BASE.to_string());
    let request = http::Request {
        method: "POST".into(),
        url: format!(
            "{}/2010-04-01/Accounts/{account_sid}/{resource}",
            api_base.trim_end_matches('/')
        ),
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/x-www-form-urlencoded".into(),
        }],
        body: form::encode(params.iter().map(|(k, v)| (*k, v.as_str()))).into_bytes(),
        auth: Some(http::Auth::Basic(http::BasicAuth {
            username: account_sid.to_string(),
            password_secret: AUTH_TOKEN_SECRET.into(),
        })),
        timeout_ms: None,
    };
    let response = http::fetch(&request).map_err(send_failure::from_http_error)?;
    Ok(ApiAnswer {
        status: response.status,
        body: serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        headers: response.headers,
    })
}

/// The failure an error answer means: by HTTP status (see [`send_failure::from_status`]), with
/// Twilio's own error `code` as the vendor code; a code among `recipient_codes` means the
/// recipient cannot be reached on this channel, which no retry changes.
pub fn api_failure(
    status: u16,
    headers: &[Header],
    body: &Value,
    recipient_codes: &[i64],
) -> SendFailure {
    let code = body.get("code").and_then(Value::as_i64);
    let detail = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no detail");
    let mut failure = send_failure::from_status(status, headers, detail);
    if let Some(code) = code {
        failure.vendor_code = Some(code.to_string());
        if recipient_codes.contains(&code) {
            failure.kind = SendFailureKind::InvalidRecipient;
            failure.retryable = false;
        }
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// What the host's `secrets.hmac` computes, natively.
    fn hmac_sha1(key: &str, message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn signed_data_sorts_parameters_by_name() {
        let params = pairs(&[("To", "+1"), ("Body", "hi"), ("From", "+2")]);
        assert_eq!(
            signed_data("https://x.test/hook", &params),
            "https://x.test/hookBodyhiFrom+2To+1"
        );
    }

    #[test]
    fn signed_url_uses_the_query_the_request_came_with() {
        assert_eq!(signed_url("https://x.test/h", ""), "https://x.test/h");
        assert_eq!(
            signed_url("https://x.test/h", "a=1"),
            "https://x.test/h?a=1"
        );
        assert_eq!(
            signed_url("https://x.test/h?old=1", "a=1"),
            "https://x.test/h?a=1"
        );
    }

    #[test]
    fn the_signed_string_matches_twilio_s_documented_example() {
        // The worked example of Twilio's request-validation documentation (also the fixture of
        // Twilio's own helper libraries): auth token 12345.
        let params = pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
        ]);
        let url = signed_url("https://mycompany.com/myapp.php", "foo=1&bar=2");
        let expected = hmac_sha1("12345", signed_data(&url, &params).as_bytes());
        let presented = crate::base64_decode("RSOYDt4T1cUTdK1PDd93/VVr8B8=").unwrap();
        assert!(compare(&expected, &presented, &url).is_ok());
        let other = hmac_sha1("54321", signed_data(&url, &params).as_bytes());
        assert!(matches!(
            compare(&other, &presented, &url),
            Err(WebhookRejection::BadSignature(why)) if why.contains("myapp.php?foo=1&bar=2")
        ));
    }

    #[test]
    fn a_missing_or_garbled_signature_header_is_a_bad_signature() {
        assert!(matches!(
            presented_signature(&[]),
            Err(WebhookRejection::BadSignature(why)) if why == "missing x-twilio-signature header"
        ));
        let garbled = [Header {
            name: "X-Twilio-Signature".into(),
            value: "not base64!".into(),
        }];
        assert!(matches!(
            presented_signature(&garbled),
            Err(WebhookRejection::BadSignature(why)) if why.starts_with("signature not valid base64")
        ));
    }

    #[test]
    fn the_contact_id_goes_out_on_the_callback_url_and_comes_back_in_the_query() {
        let url = status_callback_url("https://x.test/webhooks/voice-twilio", "42");
        assert_eq!(
            url,
            "https://x.test/webhooks/voice-twilio?switchboard_contact_id=42"
        );
        let (_, query) = url.split_once('?').unwrap();
        assert_eq!(contact_id_of(query).as_deref(), Some("42"));
        assert_eq!(
            contact_id_of("a=1&switchboard_contact_id=7").as_deref(),
            Some("7")
        );
        assert_eq!(contact_id_of(""), None);
    }

    #[test]
    fn an_error_code_names_the_failure() {
        let body = serde_json::json!({"code": 21211, "message": "Invalid 'To' Phone Number"});
        let failure = api_failure(400, &[], &body, &[21211]);
        assert!(matches!(failure.kind, SendFailureKind::InvalidRecipient));
        assert!(!failure.retryable);
        assert_eq!(failure.vendor_code.as_deref(), Some("21211"));
        assert!(failure.message.contains("Invalid 'To' Phone Number"));

        let unavailable = api_failure(503, &[], &Value::Null, &[21211]);
        assert!(matches!(
            unavailable.kind,
            SendFailureKind::VendorUnavailable
        ));
        assert!(unavailable.retryable);
        assert_eq!(unavailable.vendor_code.as_deref(), Some("503"));
    }
}
