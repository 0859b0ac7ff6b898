//! Sending through Mailgun's Messages API: `POST {api_base}/v3/{domain}/messages` with a form
//! body, authenticated with HTTP Basic as `api` and the API key (attached by the host).

use serde_json::Value;
use switchboard_plugin_sdk::{
    self as sdk, Header, HttpResponse, OutboundMessage, Outcome, SendFailure, SendFailureKind,
    SendReceipt, form, http, send_failure,
};

use crate::events::{CONTACT_ID_VARIABLE, MESSAGE_ID_VARIABLE, bare_message_id};

const DEFAULT_API_BASE: &str = "https://api.mailgun.net";
/// Mailgun's Basic auth username is always `api`; the password is the API key.
const API_USER: &str = "api";
/// The secret holding the API key.
pub const API_KEY_SECRET: &str = "api_key";
/// How much of Mailgun's error explanation a failure quotes.
const DETAIL_CHARS: usize = 200;

/// What a send needs from the plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Without a trailing `/` or `/v3`.
    pub api_base: String,
    /// The sending domain, as set up at Mailgun (`mg.example.org`).
    pub domain: String,
    pub from_email: String,
    pub from_name: Option<String>,
}

impl Settings {
    /// Reads the plugin's `config`; `domain` and `from_email` are required to send.
    pub fn from_config() -> Result<Self, SendFailure> {
        let get = |key: &str| sdk::config::get(key).filter(|v| !v.trim().is_empty());
        let required = |key: &str| {
            get(key).ok_or_else(|| {
                send_failure::misconfigured(format!("config key `{key}` is not set"))
            })
        };
        Ok(Settings::new(
            get("api_base").as_deref(),
            required("domain")?,
            required("from_email")?,
            get("from_name"),
        ))
    }

    /// Settings with the API base defaulted and tidied: operators copy it with a trailing slash,
    /// or with the version as SendGrid's `api_base` has it.
    pub fn new(
        api_base: Option<&str>,
        domain: String,
        from_email: String,
        from_name: Option<String>,
    ) -> Self {
        let api_base = api_base
            .unwrap_or(DEFAULT_API_BASE)
            .trim()
            .trim_end_matches('/');
        Settings {
            api_base: api_base.strip_suffix("/v3").unwrap_or(api_base).to_string(),
            domain: domain.trim().to_string(),
            from_email: from_email.trim().to_string(),
            from_name,
        }
    }
}

/// Sends one message; Mailgun answers 200 with the message's id.
pub fn send(message: &OutboundMessage) -> Result<SendReceipt, SendFailure> {
    let settings = Settings::from_config()?;
    let request = request(message, &settings)?;
    let response = http::fetch(&request).map_err(send_failure::from_http_error)?;
    receipt_of(&response)
}

/// The Messages API request for `message`: credentials by secret name, never by value.
pub fn request(
    message: &OutboundMessage,
    settings: &Settings,
) -> Result<http::Request, SendFailure> {
    let params = form_params(message, settings)?;
    Ok(http::Request {
        method: "POST".into(),
        url: messages_url(settings)?,
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/x-www-form-urlencoded".into(),
        }],
        body: form::encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))).into_bytes(),
        auth: Some(http::Auth::Basic(http::BasicAuth {
            username: API_USER.into(),
            password_secret: API_KEY_SECRET.into(),
        })),
        timeout_ms: None,
    })
}

/// `{api_base}/v3/{domain}/messages`. The domain goes into the path, so it must be a domain name
/// and nothing else.
fn messages_url(settings: &Settings) -> Result<String, SendFailure> {
    if !is_domain_name(&settings.domain) {
        return Err(send_failure::misconfigured(format!(
            "config key `domain` is not a domain name: {:?}",
            settings.domain
        )));
    }
    Ok(format!(
        "{}/v3/{}/messages",
        settings.api_base, settings.domain
    ))
}

fn is_domain_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && !text.starts_with(['.', '-'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The form fields of a Messages request. Switchboard's contact and message ids go in `v:`
/// variables, which Mailgun echoes in every event about the message as `user-variables`.
///
/// No idempotency key is sent: the Messages API documents none, so a retry after a timeout may
/// send twice.
pub fn form_params(
    message: &OutboundMessage,
    settings: &Settings,
) -> Result<Vec<(String, String)>, SendFailure> {
    let subject = message
        .subject
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| rejected("an email needs a subject"))?;
    let mut params = vec![
        param(
            "from",
            from_field(&settings.from_email, settings.from_name.as_deref()),
        ),
        param("to", &message.to),
        param("subject", subject),
    ];
    let text = message.text.as_deref().filter(|t| !t.is_empty());
    let html = message.html.as_deref().filter(|h| !h.is_empty());
    if let Some(text) = text {
        params.push(param("text", text));
    }
    if let Some(html) = html {
        params.push(param("html", html));
    }
    if let Some(template) = &message.template {
        params.push(param("template", &template.id));
        params.push(param("t:variables", template_variables(&template.data)?));
    } else if text.is_none() && html.is_none() {
        return Err(rejected(
            "an email needs a text or HTML body, or a template",
        ));
    }
    params.push(param(
        &format!("v:{CONTACT_ID_VARIABLE}"),
        &message.contact_id,
    ));
    params.push(param(
        &format!("v:{MESSAGE_ID_VARIABLE}"),
        &message.message_id,
    ));
    Ok(params)
}

fn param(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// A template's variables, which Mailgun takes as a JSON object in `t:variables`.
fn template_variables(data: &str) -> Result<String, SendFailure> {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(_)) => Ok(data.to_string()),
        Ok(_) => Err(rejected("template data must be a JSON object")),
        Err(e) => Err(rejected(&format!("template data is not JSON: {e}"))),
    }
}

/// The `from` field, `Name <address>`. A name with characters RFC 5322 reserves (`Smith, Jones`)
/// is quoted, so that it stays one name rather than becoming a list.
pub fn from_field(email: &str, name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let name = name.trim();
    let plain = |c: char| c.is_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if name.is_empty() {
        email.to_string()
    } else if name.chars().all(plain) {
        format!("{name} <{email}>")
    } else {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{email}>")
    }
}

/// The receipt of a 2xx answer, `{"id": "<…>", "message": "Queued. Thank you."}`, or the failure
/// any other answer means.
pub fn receipt_of(response: &HttpResponse) -> Result<SendReceipt, SendFailure> {
    if !(200..300).contains(&response.status) {
        return Err(failure_of(
            response.status,
            &response.headers,
            &response.body,
        ));
    }
    // Mailgun has taken the message even if its answer cannot be read: failing here would send it
    // again.
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .map(bare_message_id)
        .filter(|id| !id.is_empty());
    Ok(SendReceipt {
        vendor_message_id: id,
        outcome: Outcome::Queued,
        vendor_status: Some("accepted".into()),
    })
}

fn failure_of(status: u16, headers: &[Header], body: &[u8]) -> SendFailure {
    let detail = detail_of(body);
    let mut failure = send_failure::from_status(status, headers, &detail);
    match status {
        400 if names_the_recipient(&detail) => failure.kind = SendFailureKind::InvalidRecipient,
        // Mailgun answers 404 for a domain it does not know, which is also what a domain of the
        // other region looks like.
        404 => {
            failure.kind = SendFailureKind::Misconfigured;
            failure.message.push_str(
                " (check config key `domain`, and that `api_base` is the domain's region: EU domains use https://api.eu.mailgun.net)",
            );
        }
        _ => {}
    }
    failure
}

/// Mailgun explains an error in `message` of a JSON body; some answers (401) are plain text.
fn detail_of(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string));
    let text = message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    match text.trim() {
        "" => "no detail".to_string(),
        text => sdk::truncate_chars(text, DETAIL_CHARS),
    }
}

/// Whether a 400's explanation is about the `to` field ("'to' parameter is not a valid address").
fn names_the_recipient(detail: &str) -> bool {
    let detail = detail.to_ascii_lowercase();
    detail.contains("'to'") || detail.contains("to parameter")
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
    use switchboard_plugin_sdk::{Channel, Template};

    fn message() -> OutboundMessage {
        OutboundMessage {
            message_id: "msg_1".into(),
            idempotency_key: "msg_1-1".into(),
            contact_id: "42".into(),
            channel: Channel::Email,
            to: "ana@example.org".into(),
            subject: Some("Your invoice".into()),
            text: Some("Hello Ana".into()),
            html: Some("<p>Hello Ana</p>".into()),
            template: None,
            metadata: "{}".into(),
        }
    }

    fn settings() -> Settings {
        Settings::new(
            None,
            "mg.example.org".into(),
            "office@example.org".into(),
            Some("The Office".into()),
        )
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn failure(status: u16, headers: &[(&str, &str)], body: &str) -> SendFailure {
        receipt_of(&response(status, headers, body)).unwrap_err()
    }

    #[test]
    fn the_request_posts_a_form_to_the_domains_messages_with_the_key_by_name() {
        let request = request(&message(), &settings()).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "https://api.mailgun.net/v3/mg.example.org/messages"
        );
        assert_eq!(request.headers[0].name, "content-type");
        assert_eq!(
            request.headers[0].value,
            "application/x-www-form-urlencoded"
        );
        assert!(matches!(
            &request.auth,
            Some(http::Auth::Basic(basic)) if basic.username == "api" && basic.password_secret == "api_key"
        ));
        let fields = form::parse(&request.body);
        let expected = [
            ("from", "The Office <office@example.org>"),
            ("to", "ana@example.org"),
            ("subject", "Your invoice"),
            ("text", "Hello Ana"),
            ("html", "<p>Hello Ana</p>"),
            ("v:switchboard_contact_id", "42"),
            ("v:switchboard_message_id", "msg_1"),
        ];
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn the_api_base_may_name_a_region_a_trailing_slash_or_the_version() {
        for base in [
            "https://api.eu.mailgun.net",
            "https://api.eu.mailgun.net/",
            "https://api.eu.mailgun.net/v3",
            "https://api.eu.mailgun.net/v3/",
        ] {
            let eu = Settings::new(Some(base), "mg.example.org".into(), "o@e.org".into(), None);
            assert_eq!(
                request(&message(), &eu).unwrap().url,
                "https://api.eu.mailgun.net/v3/mg.example.org/messages",
                "{base}"
            );
        }
    }

    #[test]
    fn a_domain_that_is_not_a_domain_name_is_a_misconfiguration() {
        for domain in [
            "",
            "mg.example.org/../x",
            "mg example.org",
            ".mg.example.org",
        ] {
            let bad = Settings::new(None, domain.into(), "o@e.org".into(), None);
            let failure = request(&message(), &bad).unwrap_err();
            assert!(
                matches!(failure.kind, SendFailureKind::Misconfigured),
                "{domain}"
            );
            assert!(failure.message.contains("`domain`"), "{}", failure.message);
        }
    }

    #[test]
    fn the_sender_name_is_quoted_when_it_must_be() {
        assert_eq!(from_field("o@e.org", None), "o@e.org");
        assert_eq!(from_field("o@e.org", Some("  ")), "o@e.org");
        assert_eq!(from_field("o@e.org", Some("Office")), "Office <o@e.org>");
        assert_eq!(
            from_field("o@e.org", Some("Smith, Jones \"& Co\"")),
            "\"Smith, Jones \\\"& Co\\\"\" <o@e.org>"
        );
        assert_eq!(
            from_field("o@e.org", Some("Office\r\nBcc: x@y.z")),
            "\"OfficeBcc: x@y.z\" <o@e.org>"
        );
    }

    #[test]
    fn a_message_without_subject_or_body_is_rejected_before_sending() {
        let mut no_subject = message();
        no_subject.subject = Some(" ".into());
        let failure = form_params(&no_subject, &settings()).unwrap_err();
        assert!(matches!(failure.kind, SendFailureKind::ContentRejected));
        assert!(!failure.retryable);

        let mut no_body = message();
        no_body.text = None;
        no_body.html = Some(String::new());
        let failure = form_params(&no_body, &settings()).unwrap_err();
        assert!(
            failure.message.contains("text or HTML body"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn a_template_replaces_the_body() {
        let mut templated = message();
        templated.text = None;
        templated.html = None;
        templated.template = Some(Template {
            id: "invoice".into(),
            data: r#"{"amount":"12.00"}"#.into(),
        });
        let params = form_params(&templated, &settings()).unwrap();
        assert!(params.contains(&param("template", "invoice")));
        assert!(params.contains(&param("t:variables", r#"{"amount":"12.00"}"#)));

        templated.template = Some(Template {
            id: "invoice".into(),
            data: "[1]".into(),
        });
        let failure = form_params(&templated, &settings()).unwrap_err();
        assert!(
            failure.message.contains("JSON object"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn the_receipt_carries_the_id_without_angle_brackets() {
        let ok = response(
            200,
            &[("content-type", "application/json")],
            r#"{"id": "<20240101120000.abc123@mg.example.org>", "message": "Queued. Thank you."}"#,
        );
        let receipt = receipt_of(&ok).unwrap();
        assert_eq!(
            receipt.vendor_message_id.as_deref(),
            Some("20240101120000.abc123@mg.example.org")
        );
        assert_eq!(receipt.outcome, Outcome::Queued);
        assert_eq!(receipt.vendor_status.as_deref(), Some("accepted"));

        let unreadable = receipt_of(&response(200, &[], "Queued")).unwrap();
        assert_eq!(unreadable.vendor_message_id, None);
    }

    #[test]
    fn vendor_errors_are_classified() {
        let bad_to = failure(
            400,
            &[],
            r#"{"message": "'to' parameter is not a valid address. please check documentation"}"#,
        );
        assert!(matches!(bad_to.kind, SendFailureKind::InvalidRecipient));
        assert!(!bad_to.retryable);
        assert!(
            bad_to
                .message
                .contains("vendor answered 400: 'to' parameter"),
            "{}",
            bad_to.message
        );

        let other_400 = failure(
            400,
            &[],
            r#"{"message": "Need at least one of 'text' or 'html'"}"#,
        );
        assert!(matches!(other_400.kind, SendFailureKind::ContentRejected));

        let forbidden = failure(401, &[], "Forbidden");
        assert!(matches!(forbidden.kind, SendFailureKind::Auth));
        assert_eq!(forbidden.message, "vendor answered 401: Forbidden");

        let unknown_domain = failure(
            404,
            &[],
            r#"{"message": "Domain not found: mg.example.org"}"#,
        );
        assert!(matches!(
            unknown_domain.kind,
            SendFailureKind::Misconfigured
        ));
        assert!(unknown_domain.message.contains("api.eu.mailgun.net"));

        let limited = failure(
            429,
            &[("Retry-After", "7")],
            r#"{"message": "Too many requests"}"#,
        );
        assert!(matches!(limited.kind, SendFailureKind::RateLimited));
        assert!(limited.retryable);
        assert_eq!(limited.retry_after_ms, Some(7000));
        assert_eq!(limited.vendor_code.as_deref(), Some("429"));

        let down = failure(503, &[], "");
        assert!(matches!(down.kind, SendFailureKind::VendorUnavailable));
        assert!(down.retryable);
        assert_eq!(down.message, "vendor answered 503: no detail");
    }
}
