//! Mailgun as the tests play it: the `email-mailgun` entry configured as an operator would, events
//! built and signed the way Mailgun's webhooks send them, and a one-request loopback stand-in for
//! the Messages API (Mailgun publishes no API contract to serve a mock from).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::manifest::PluginConfig;
use crate::server::{Reply, Server, Setup, post};

/// The HTTP webhook signing key of the tests, and the variable it is read from.
pub const WEBHOOK_SIGNING_KEY: &str = "test-mailgun-webhook-signing-key-0123456789";
pub const WEBHOOK_SIGNING_KEY_VAR: &str = "E2E_MAILGUN_WEBHOOK_SIGNING_KEY";
/// The Mailgun API key of the tests, and the variable it is read from.
pub const API_KEY: &str = "key-test-0123456789abcdef0123456789ab";
pub const API_KEY_VAR: &str = "E2E_MAILGUN_API_KEY";
/// The sending domain of the tests.
pub const DOMAIN: &str = "mg.example.org";
/// The id the Messages API answers the loopback's sends with, brackets and all.
pub const SENT_MESSAGE_ID: &str = "<20240101120000.abc123@mg.example.org>";

/// `email-mailgun` installed as `id`, configured as the repository's `plugins.toml` does.
pub fn plugin(id: &str) -> PluginConfig {
    PluginConfig::new(id, "email_mailgun", &["email"])
        .config("domain", DOMAIN)
        .config("from_email", "office@example.org")
        .config("from_name", "The Office")
        .config("timestamp_tolerance_secs", 300)
        .secret("api_key", API_KEY_VAR)
        .secret("webhook_signing_key", WEBHOOK_SIGNING_KEY_VAR)
        .allow_host("api.mailgun.net")
}

/// `plugin(id)` sending to the loopback stand-in instead of Mailgun.
pub fn plugin_at(id: &str, api: &Loopback) -> PluginConfig {
    plugin(id)
        .config("api_base", &api.base)
        .allow_host(&api.host)
        .private_network()
}

/// Sets both secrets' variables for every command and server of `setup`.
pub fn with_secrets(setup: Setup) -> Setup {
    setup
        .env(WEBHOOK_SIGNING_KEY_VAR, WEBHOOK_SIGNING_KEY)
        .env(API_KEY_VAR, API_KEY)
}

/// One event's `event-data`, as Mailgun's webhook documentation shows it, about the message
/// `message_id` (a bare `Message-ID`, as Mailgun's events carry it) to `recipient`.
pub fn event(
    event: &str,
    recipient: &str,
    timestamp_secs: f64,
    message_id: &str,
    event_id: &str,
) -> Value {
    let domain = recipient.rsplit('@').next().unwrap_or_default();
    let mut event_data = json!({
        "event": event,
        "id": event_id,
        "timestamp": timestamp_secs,
        "log-level": "info",
        "recipient": recipient,
        "recipient-domain": domain,
        "tags": ["reminders"],
        "campaigns": [],
        "user-variables": {},
        "flags": {
            "is-routed": false,
            "is-authenticated": true,
            "is-system-test": false,
            "is-test-mode": false,
        },
        "envelope": {
            "transport": "smtp",
            "sender": format!("bounce+abc@{DOMAIN}"),
            "sending-ip": "198.51.100.7",
            "targets": recipient,
        },
        "message": {
            "headers": {
                "to": recipient,
                "message-id": message_id,
                "from": "The Office <office@example.org>",
                "subject": "Your invoice",
            },
            "attachments": [],
            "size": 1024,
        },
    });
    // Only attempts at delivery carry the receiving server's answer.
    if matches!(event, "delivered" | "failed") {
        event_data["delivery-status"] = json!({
            "tls": true,
            "mx-host": format!("mx.{domain}"),
            "code": 250,
            "description": "",
            "session-seconds": 0.4,
            "utf8": true,
            "attempt-no": 1,
            "message": "OK",
            "certificate-verified": true,
        });
    }
    event_data
}

/// A `failed` event: `severity` `permanent` (a bounce) or `temporary` (Mailgun will retry), with
/// the receiving server's answer.
pub fn failed(
    severity: &str,
    recipient: &str,
    timestamp_secs: f64,
    message_id: &str,
    event_id: &str,
    code: u16,
    answer: &str,
) -> Value {
    let mut failed = event("failed", recipient, timestamp_secs, message_id, event_id);
    failed["severity"] = json!(severity);
    failed["reason"] = json!(if severity == "permanent" {
        "bounce"
    } else {
        "generic"
    });
    failed["delivery-status"]["code"] = json!(code);
    failed["delivery-status"]["message"] = json!(answer);
    failed
}

/// Mailgun's `signature` object: `signature` is the lowercase hex HMAC-SHA256 of the timestamp
/// followed by the token, keyed with the signing key.
pub fn signature(key: &str, timestamp_secs: i64, token: &str) -> Value {
    let timestamp = timestamp_secs.to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"timestamp": timestamp, "token": token, "signature": hex})
}

/// A token unique to this process's deliveries: 50 hex digits, as Mailgun's are.
pub fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:034x}{n:016x}", crate::now_ms())
}

/// A webhook body: `event_data` with a signature made with `key` at `timestamp_secs`.
pub fn signed_body(key: &str, timestamp_secs: i64, event_data: &Value) -> Vec<u8> {
    let body = json!({
        "signature": signature(key, timestamp_secs, &token()),
        "event-data": event_data,
    });
    serde_json::to_vec(&body).expect("serialize the webhook")
}

/// POSTs one event to `/webhooks/<plugin_id>`, signed now with the tests' key.
pub async fn post_event(server: &Server, plugin_id: &str, event_data: &Value) -> Reply {
    let body = signed_body(WEBHOOK_SIGNING_KEY, crate::now_ms() / 1000, event_data);
    post_body(server, plugin_id, body).await
}

/// POSTs a raw body to `/webhooks/<plugin_id>`, as Mailgun does (JSON).
pub async fn post_body(server: &Server, plugin_id: &str, body: Vec<u8>) -> Reply {
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), "mailgun/treq-16.12.0".to_string()),
    ];
    post(
        &server.url(&format!("/webhooks/{plugin_id}")),
        &headers,
        body,
    )
    .await
}

/// A stand-in for the Messages API on a loopback port. It takes one request, checks it against
/// Mailgun's documented format (refusing it with a 400 as Mailgun would, the reason in
/// `message`), otherwise gives the canned answer, and hands the request to the test.
pub struct Loopback {
    /// `http://127.0.0.1:<port>`, for `api_base`.
    pub base: String,
    /// `127.0.0.1:<port>`, for `allowed_hosts`.
    pub host: String,
    request: tokio::task::JoinHandle<io::Result<Captured>>,
    /// Whether anyone connected.
    connected: Arc<AtomicBool>,
}

/// A request the loopback received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Loopback {
    /// Listens on a free loopback port; the one request it takes gets `status`, `headers` and
    /// `body` (if it meets the format).
    pub async fn start(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("loopback address");
        let mut answer = format!("HTTP/1.1 {status} Canned\r\n");
        for (name, value) in headers {
            answer += &format!("{name}: {value}\r\n");
        }
        let body = body.to_string();
        let connected = Arc::new(AtomicBool::new(false));
        let connection = connected.clone();
        let request = tokio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            connection.store(true, Ordering::SeqCst);
            let captured = read_request(&stream).await?;
            let reply = match check_messages_request(&captured) {
                Ok(()) => format!("{answer}{}", framing(&body)),
                Err(why) => {
                    let refusal = json!({ "message": why }).to_string();
                    format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n{}",
                        framing(&refusal)
                    )
                }
            };
            write_all(&stream, reply.as_bytes()).await?;
            Ok(captured)
        });
        Loopback {
            base: format!("http://{address}"),
            host: address.to_string(),
            request,
            connected,
        }
    }

    /// Whether anyone has connected to it.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// The request it took (waiting up to 30 s for one).
    pub async fn request(self) -> Captured {
        tokio::time::timeout(Duration::from_secs(30), self.request)
            .await
            .expect("the plugin called the Messages API")
            .expect("the loopback task ran")
            .expect("the loopback read the request")
    }
}

impl Captured {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form fields of the body, decoded, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form_fields(&self.body)
    }

    /// The first form field called `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Mailgun's documented format for `POST /v3/<domain>/messages`: HTTP Basic as `api` with the
/// API key, a form body with `from`, `to`, `subject` and a body (`text`, `html` or a `template`),
/// and no field outside the documented ones (`o:`, `h:`, `v:` and `t:` prefixes included).
pub fn check_messages_request(request: &Captured) -> Result<(), String> {
    let expected_path = format!("/v3/{DOMAIN}/messages");
    if request.method != "POST" || request.path != expected_path {
        return Err(format!(
            "expected POST {expected_path}, got {} {}",
            request.method, request.path
        ));
    }
    let credentials = format!("Basic {}", STANDARD.encode(format!("api:{API_KEY}")));
    if request.header("authorization") != Some(credentials.as_str()) {
        return Err("Forbidden: expected HTTP Basic as `api` with the API key".into());
    }
    let content_type = request.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(format!("expected a form body, got {content_type:?}"));
    }
    let form = request.form();
    let has = |name: &str| form.iter().any(|(n, v)| n == name && !v.is_empty());
    for required in ["from", "to", "subject"] {
        if !has(required) {
            return Err(format!("'{required}' parameter is missing"));
        }
    }
    if !(has("text") || has("html") || has("template")) {
        return Err(
            "Need at least one of 'text', 'html' or 'template' parameters specified".into(),
        );
    }
    const PLAIN: [&str; 9] = [
        "from", "to", "cc", "bcc", "subject", "text", "html", "amp-html", "template",
    ];
    let documented = |name: &str| {
        PLAIN.contains(&name) || ["o:", "h:", "v:", "t:"].iter().any(|p| name.starts_with(p))
    };
    match form.iter().find(|(name, _)| !documented(name)) {
        Some((name, _)) => Err(format!("'{name}' is not a parameter of this API")),
        None => Ok(()),
    }
}

/// Reads one HTTP/1.1 request whose body is framed by `Content-Length` (as the host sends it).
pub(crate) async fn read_request(stream: &TcpStream) -> io::Result<Captured> {
    let mut data = Vec::new();
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let mut request = parse_head(&head)?;
            let length = request
                .header("content-length")
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let body_start = end + 4;
            if data.len() >= body_start + length {
                request.body = data[body_start..body_start + length].to_vec();
                return Ok(request);
            }
        }
        let mut buf = [0u8; 8192];
        stream.readable().await?;
        match stream.try_read(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn parse_head(head: &str) -> io::Result<Captured> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP request line: {request_line:?}"),
        ));
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(Captured {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: Vec::new(),
    })
}

/// The rest of a response after its status line and own headers: length, close, body.
fn framing(body: &str) -> String {
    format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

pub(crate) async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Decodes `application/x-www-form-urlencoded`.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(eq) => (percent_decode(&pair[..eq]), percent_decode(&pair[eq + 1..])),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (text[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_plugins_documented_example() {
        // The fixture of plugins/email-mailgun/src/signature.rs, computed apart from both
        // (Python's `hmac`), on the timestamp and token of Mailgun's documentation.
        let signed = signature(
            "mailgun-test-signing-key",
            1_529_006_854,
            "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
        );
        assert_eq!(signed["timestamp"], "1529006854");
        assert_eq!(
            signed["signature"],
            "f1adbc71b89631d253ae9d52f234c3274ce91c2371eb1af6748f4b0d8bb0013e"
        );
    }

    #[test]
    fn tokens_are_fresh_and_fifty_hex_digits() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 50);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn form_fields_decode_what_the_plugin_encodes() {
        let fields = form_fields(b"from=The+Office+%3Co%40e.org%3E&v%3Aid=42&text=a%26b+%C3%A9&x");
        assert_eq!(
            fields,
            [
                ("from".to_string(), "The Office <o@e.org>".to_string()),
                ("v:id".to_string(), "42".to_string()),
                ("text".to_string(), "a&b é".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn the_loopback_refuses_what_mailgun_would() {
        let good = Captured {
            method: "POST".into(),
            path: format!("/v3/{DOMAIN}/messages"),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Basic {}", STANDARD.encode(format!("api:{API_KEY}"))),
                ),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: b"from=o%40e.org&to=a%40e.org&subject=Hi&text=Hello&v%3Aswitchboard_contact_id=1"
                .to_vec(),
        };
        assert_eq!(check_messages_request(&good), Ok(()));
        let mut wrong_key = good.clone();
        wrong_key.headers[0].1 = format!("Basic {}", STANDARD.encode("api:other"));
        assert!(check_messages_request(&wrong_key).is_err());
        let mut undocumented = good.clone();
        undocumented.body.extend_from_slice(b"&custom_args=1");
        assert!(check_messages_request(&undocumented).is_err());
        let mut no_body = good;
        no_body.body = b"from=o%40e.org&to=a%40e.org&subject=Hi".to_vec();
        assert!(check_messages_request(&no_body).is_err());
    }
}
