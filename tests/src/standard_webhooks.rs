//! A system sending Standard Webhooks as the tests play it: `webhook-standard` entries configured
//! as an operator would, and events built and signed as the specification (standardwebhooks.com)
//! says, with RustCrypto rather than the host's HMAC.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::manifest::PluginConfig;
use crate::server::{Reply, Server, post};

/// The sender's signing secret in the tests (32 bytes that are not UTF-8, as a real secret's
/// random bytes are not), and the variable it is read from.
pub const STANDARD_SECRET: &str = "whsec_gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=";
pub const STANDARD_SECRET_VAR: &str = "E2E_STANDARD_WEBHOOK_SECRET";
/// The secret the sender is rotating away from.
pub const RETIRED_STANDARD_SECRET: &str = "whsec_4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=";
/// Every channel the event shape allows, in `plugins.toml` spelling.
pub const ALL_CHANNELS: [&str; 6] = ["email", "sms", "phone", "portal", "chat", "in_person"];

/// `webhook-standard` installed as `id` for a system named `vendor`, serving every channel, its
/// secret read from [`STANDARD_SECRET_VAR`].
pub fn standard_plugin(id: &str, vendor: &str) -> PluginConfig {
    PluginConfig::new(id, "webhook_standard", &ALL_CHANNELS)
        .config("vendor", vendor)
        .config("timestamp_tolerance_secs", 300)
        .secret("signing_secret", STANDARD_SECRET_VAR)
}

/// `webhook-signature`: one `v1,<base64>` entry per secret, each the HMAC-SHA256 of
/// `<id>.<timestamp>.<body>` keyed with the secret's bytes (the base64 after `whsec_`, decoded).
pub fn standard_signature(secrets: &[&str], id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
            let key = STANDARD.decode(encoded).expect("a base64 secret");
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
            mac.update(format!("{id}.{timestamp_secs}.").as_bytes());
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One event of the documented shape: `<channel>.<event>` type, about the person named by
/// `contact`, at `occurred_at_ms`.
pub fn standard_event(
    event_type: &str,
    direction: &str,
    outcome: &str,
    contact: Value,
    occurred_at_ms: i64,
) -> Value {
    let channel = event_type.split('.').next().unwrap_or_default();
    json!({
        "type": event_type,
        "timestamp": occurred_at_ms,
        "data": {
            "channel": channel,
            "direction": direction,
            "outcome": outcome,
            "contact": contact,
        },
    })
}

/// POSTs one event to the install `plugin_id` as delivery `webhook_id`, signed now with the
/// tests' secret.
pub async fn post_standard(
    server: &Server,
    plugin_id: &str,
    webhook_id: &str,
    event: &Value,
) -> Reply {
    let body = serde_json::to_vec(event).expect("serialize the event");
    let now_secs = crate::now_ms() / 1000;
    post_standard_body(
        server,
        plugin_id,
        &[STANDARD_SECRET],
        webhook_id,
        now_secs,
        body,
    )
    .await
}

/// POSTs a raw body as delivery `webhook_id`, signed with each of `secrets` at `timestamp_secs`.
pub async fn post_standard_body(
    server: &Server,
    plugin_id: &str,
    secrets: &[&str],
    webhook_id: &str,
    timestamp_secs: i64,
    body: Vec<u8>,
) -> Reply {
    let headers = vec![
        ("webhook-id".to_string(), webhook_id.to_string()),
        ("webhook-timestamp".to_string(), timestamp_secs.to_string()),
        (
            "webhook-signature".to_string(),
            standard_signature(secrets, webhook_id, timestamp_secs, &body),
        ),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    post(
        &server.url(&format!("/webhooks/{plugin_id}")),
        &headers,
        body,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_specification_s_example() {
        // The example of the Standard Webhooks reference libraries' tests.
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(
                &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let rotating = standard_signature(
            &[RETIRED_STANDARD_SECRET, STANDARD_SECRET],
            "msg_1",
            1,
            body,
        );
        assert_eq!(rotating.matches("v1,").count(), 2);
        assert!(rotating.ends_with(&standard_signature(&[STANDARD_SECRET], "msg_1", 1, body)));
    }
}
