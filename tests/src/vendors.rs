//! The vendors as the tests play them: plugin entries configured as an operator would, and
//! webhooks built and signed as SendGrid, Twilio and the organisation's own portal send them.

use serde_json::{Value, json};

use crate::manifest::PluginConfig;
use crate::server::{Reply, Server, post};
use crate::sign::{SendGridKey, form_body, portal_signature, twilio_signature};

/// The public URL the operator registered at Twilio (Switchboard sits behind a proxy, so it is
/// not the address the test server listens on; the signature covers this one).
pub const TWILIO_WEBHOOK_URL: &str = "https://switchboard.example.org/webhooks/sms-twilio";
/// The Twilio auth token of the tests, and the variable it is read from.
pub const TWILIO_AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";
pub const TWILIO_AUTH_TOKEN_VAR: &str = "E2E_TWILIO_AUTH_TOKEN";
/// A well-formed Twilio account SID for the tests.
pub const TWILIO_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// `email-sendgrid`, verifying with `key`.
pub fn sendgrid_plugin(key: &SendGridKey) -> PluginConfig {
    PluginConfig::new("email-sendgrid", "email_sendgrid", &["email"])
        .config("verification_key", key.verification_key())
        .config("from_email", "office@example.org")
        .secret("api_key", "E2E_SENDGRID_API_KEY")
        .allow_host("api.sendgrid.com")
}

/// `sms-twilio`, its auth token read from [`TWILIO_AUTH_TOKEN_VAR`].
pub fn twilio_plugin() -> PluginConfig {
    PluginConfig::new("sms-twilio", "sms_twilio", &["sms"])
        .config("webhook_url", TWILIO_WEBHOOK_URL)
        .config("account_sid", TWILIO_ACCOUNT_SID)
        .config("from_number", "+15005550006")
        .secret("auth_token", TWILIO_AUTH_TOKEN_VAR)
        .allow_host("api.twilio.com")
}

/// One SendGrid event, as in an Event Webhook batch.
pub fn sendgrid_event(
    event: &str,
    email: &str,
    timestamp: i64,
    message: &str,
    event_id: &str,
) -> Value {
    json!({
        "email": email,
        "timestamp": timestamp,
        "event": event,
        "sg_event_id": event_id,
        "sg_message_id": format!("{message}.filterdrecv-5b4c6c8b8-2x9zq-1-6561F0A3-3.0"),
        "smtp-id": format!("<{message}@ismtpd0001p1iad2.sendgrid.net>"),
        "category": ["reminders"],
    })
}

/// POSTs a signed Event Webhook batch, signed now.
pub async fn post_sendgrid(server: &Server, key: &SendGridKey, events: &[Value]) -> Reply {
    let body = serde_json::to_vec(events).expect("serialize events");
    post_sendgrid_body(server, key, crate::now_ms() / 1000, body).await
}

/// POSTs a raw body signed with `key` at `timestamp_secs`.
pub async fn post_sendgrid_body(
    server: &Server,
    key: &SendGridKey,
    timestamp_secs: i64,
    body: Vec<u8>,
) -> Reply {
    let mut headers = key.headers(timestamp_secs, &body);
    headers.push(("Content-Type".into(), "application/json".into()));
    post(&server.url("/webhooks/email-sendgrid"), &headers, body).await
}

/// POSTs a Twilio webhook (form parameters), signed with `auth_token` over the public URL plus
/// `query`.
pub async fn post_twilio_signed_with(
    server: &Server,
    auth_token: &str,
    query: &str,
    params: &[(&str, &str)],
) -> Reply {
    let public_url = if query.is_empty() {
        TWILIO_WEBHOOK_URL.to_string()
    } else {
        format!("{TWILIO_WEBHOOK_URL}?{query}")
    };
    let local_url = if query.is_empty() {
        server.url("/webhooks/sms-twilio")
    } else {
        server.url(&format!("/webhooks/sms-twilio?{query}"))
    };
    let headers = vec![
        (
            "X-Twilio-Signature".to_string(),
            twilio_signature(auth_token, &public_url, params),
        ),
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        (
            "I-Twilio-Idempotency-Token".to_string(),
            format!("{}", crate::now_ms()),
        ),
    ];
    post(&local_url, &headers, form_body(params)).await
}

/// POSTs a Twilio webhook signed with the tests' auth token.
pub async fn post_twilio(server: &Server, query: &str, params: &[(&str, &str)]) -> Reply {
    post_twilio_signed_with(server, TWILIO_AUTH_TOKEN, query, params).await
}

/// The parameters of a message status callback.
pub fn twilio_status(sid: &str, status: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", TWILIO_ACCOUNT_SID.to_string()),
        ("ApiVersion", "2010-04-01".to_string()),
        ("From", "+15005550006".to_string()),
        ("MessageSid", sid.to_string()),
        ("MessageStatus", status.to_string()),
        ("SmsSid", sid.to_string()),
        ("SmsStatus", status.to_string()),
        ("To", to.to_string()),
    ]
}

/// The parameters of an inbound message.
pub fn twilio_inbound(sid: &str, from: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", TWILIO_ACCOUNT_SID.to_string()),
        ("ApiVersion", "2010-04-01".to_string()),
        ("Body", body.to_string()),
        ("From", from.to_string()),
        ("FromCountry", "US".to_string()),
        ("MessageSid", sid.to_string()),
        ("NumMedia", "0".to_string()),
        ("NumSegments", "1".to_string()),
        ("SmsMessageSid", sid.to_string()),
        ("SmsSid", sid.to_string()),
        ("SmsStatus", "received".to_string()),
        ("To", "+15005550006".to_string()),
    ]
}

/// Borrows owned parameters for signing and encoding.
pub fn borrowed<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The portal's signing secret in the tests, and the variable it is read from.
pub const PORTAL_SIGNING_SECRET: &str = "test-portal-signing-secret-0123456789";
pub const PORTAL_SIGNING_SECRET_VAR: &str = "E2E_PORTAL_SIGNING_SECRET";

/// `portal`, as the repository's `plugins.toml` installs it, its signing secret read from
/// [`PORTAL_SIGNING_SECRET_VAR`].
pub fn portal_plugin() -> PluginConfig {
    PluginConfig::new("portal", "portal", &["portal"])
        .config("timestamp_tolerance_secs", 300)
        .secret("signing_secret", PORTAL_SIGNING_SECRET_VAR)
}

/// One portal event of `event_type` by portal user `portal_user_id`, without the fields its type
/// needs (`page`, `document`, `message`): tests add those.
pub fn portal_event(
    id: &str,
    event_type: &str,
    portal_user_id: &str,
    occurred_at_ms: i64,
) -> Value {
    json!({
        "id": id,
        "type": event_type,
        "occurred_at": occurred_at_ms,
        "user": { "portal_user_id": portal_user_id },
    })
}

/// POSTs a batch of portal events, signed now with the tests' secret.
pub async fn post_portal(server: &Server, events: &[Value]) -> Reply {
    let body = serde_json::to_vec(&json!({ "events": events })).expect("serialize events");
    post_portal_body(
        server,
        &[PORTAL_SIGNING_SECRET],
        crate::now_ms() / 1000,
        body,
    )
    .await
}

/// POSTs a raw body to the portal plugin, signed with each of `secrets` at `timestamp_secs`.
pub async fn post_portal_body(
    server: &Server,
    secrets: &[&str],
    timestamp_secs: i64,
    body: Vec<u8>,
) -> Reply {
    let headers = vec![
        (
            "X-Portal-Signature".to_string(),
            portal_signature(secrets, timestamp_secs, &body),
        ),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    post(&server.url("/webhooks/portal"), &headers, body).await
}
