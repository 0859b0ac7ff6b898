//! Twilio's conventions, shared by the Twilio plugins (`sms-twilio`, `voice-twilio`): request
//! validation of its webhooks, the contact id we put on status callback URLs, and creating
//! resources through its 2010-04-01 REST API.
//!
//! The plugins agree on their names: the config keys `webhook_url` (the public URL Twilio posts
//! to, which it signs), `api_base` (default `https://api.twilio.com`), and the secret `auth_token`
//! (which both signs Twilio's webhooks and authenticates our API calls).

use serde_json::Value;

use crate::{
    Header, SendFailure, SendFailureKind, WebhookRejection, WebhookRequest, form, http, secrets,
    send_failure,
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
/// Accepts the request only if its signature matches, checked by the host
/// (`secrets.verify-hmac`), so that the host knows the request was verified. Call it first,
/// before looking at the method or the parameters.
pub fn verify_signature(
    request: &WebhookRequest,
    params: &[(String, String)],
) -> Result<(), WebhookRejection> {
    let webhook_url = crate::config::get("webhook_url").filter(|url| !url.trim().is_empty());
    check_signature(request, params, webhook_url.as_deref(), host_verify)
}

/// The whole check, with the host's HMAC comparison passed in (`verify(message, presented)`) so
/// that it also runs natively, in the unit tests.
///
/// A request without a usable signature is a bad signature even while `webhook_url` is unset:
/// only one that carries a signature could have been checked with our configuration fixed.
pub fn check_signature(
    request: &WebhookRequest,
    params: &[(String, String)],
    webhook_url: Option<&str>,
    verify: impl FnOnce(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let presented = presented_signature(&request.headers)?;
    let webhook_url = webhook_url.ok_or_else(|| {
        WebhookRejection::Misconfigured(
            "config key `webhook_url` is not set: Twilio signs the URL it posts to".into(),
        )
    })?;
    let url = signed_url(webhook_url, &request.query);
    if verify(signed_data(&url, params).as_bytes(), &presented)? {
        Ok(())
    } else {
        // The URL is the usual culprit: say which one we checked against.
        Err(WebhookRejection::BadSignature(format!(
            "signature does not match (signed URL {url})"
        )))
    }
}

/// HMAC-SHA1 keyed with the auth token, computed and compared by the host.
fn host_verify(message: &[u8], presented: &[u8]) -> Result<bool, WebhookRejection> {
    crate::signature::matches_hmac(
        secrets::HmacAlgorithm::Sha1,
        AUTH_TOKEN_SECRET,
        &secrets::KeyEncoding::Utf8,
        message,
        presented,
    )
}

/// The signature the request carries, decoded.
fn presented_signature(headers: &[Header]) -> Result<Vec<u8>, WebhookRejection> {
    let presented = crate::header(headers, SIGNATURE_HEADER).ok_or_else(|| {
        WebhookRejection::BadSignature(format!("missing {SIGNATURE_HEADER} header"))
    })?;
    crate::base64_decode(presented)
        .map_err(|e| WebhookRejection::BadSignature(format!("signature {e}")))
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

    /// What the host's `secrets.verify-hmac` answers, natively, for the auth token `key`.
    fn host_with(key: &str) -> impl FnOnce(&[u8], &[u8]) -> Result<bool, WebhookRejection> {
        move |message, presented| Ok(hmac_sha1(key, message) == presented)
    }

    /// The worked example of Twilio's request-validation documentation (also the fixture of
    /// Twilio's own helper libraries): auth token 12345.
    fn documented_example(signature: Option<&str>) -> (WebhookRequest, Vec<(String, String)>) {
        let params = pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
        ]);
        let request = WebhookRequest {
            method: "POST".into(),
            path: "/myapp.php".into(),
            query: "foo=1&bar=2".into(),
            headers: signature
                .map(|value| Header {
                    name: "x-twilio-signature".into(),
                    value: value.into(),
                })
                .into_iter()
                .collect(),
            body: Vec::new(),
            received_at: 0,
        };
        (request, params)
    }

    const DOCUMENTED_URL: &str = "https://mycompany.com/myapp.php";
    const DOCUMENTED_SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    #[test]
    fn the_signed_string_matches_twilio_s_documented_example() {
        let (request, params) = documented_example(Some(DOCUMENTED_SIGNATURE));
        let good = check_signature(&request, &params, Some(DOCUMENTED_URL), host_with("12345"));
        assert_eq!(good, Ok(()));
        let other = check_signature(&request, &params, Some(DOCUMENTED_URL), host_with("54321"));
        assert!(matches!(
            other,
            Err(WebhookRejection::BadSignature(why)) if why.contains("myapp.php?foo=1&bar=2")
        ));
    }

    #[test]
    fn the_host_is_handed_the_decoded_signature_and_the_signed_string() {
        let (request, params) = documented_example(Some(DOCUMENTED_SIGNATURE));
        let seen = check_signature(
            &request,
            &params,
            Some(DOCUMENTED_URL),
            |message, presented| {
                assert_eq!(
                message,
                b"https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
            );
                assert_eq!(
                    presented,
                    crate::base64_decode(DOCUMENTED_SIGNATURE).unwrap()
                );
                Ok(true)
            },
        );
        assert_eq!(seen, Ok(()));
    }

    #[test]
    fn an_unset_webhook_url_is_a_misconfiguration_only_for_a_signed_request() {
        let never = |_: &[u8], _: &[u8]| -> Result<bool, WebhookRejection> { panic!("verified") };
        let (signed, params) = documented_example(Some(DOCUMENTED_SIGNATURE));
        assert!(matches!(
            check_signature(&signed, &params, None, never),
            Err(WebhookRejection::Misconfigured(why)) if why.contains("webhook_url")
        ));
        let (unsigned, params) = documented_example(None);
        assert!(matches!(
            check_signature(&unsigned, &params, None, never),
            Err(WebhookRejection::BadSignature(_))
        ));
    }

    #[test]
    fn an_unusable_auth_token_is_a_misconfiguration() {
        let (request, params) = documented_example(Some(DOCUMENTED_SIGNATURE));
        let unset = |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("unset".into()));
        assert!(matches!(
            check_signature(&request, &params, Some(DOCUMENTED_URL), unset),
            Err(WebhookRejection::Misconfigured(_))
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
