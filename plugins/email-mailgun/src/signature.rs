//! Mailgun's webhook signature: the body's `signature` object holds `timestamp` (Unix seconds),
//! `token` (a random string) and `signature`, the lowercase hex HMAC-SHA256 of `timestamp`
//! followed by `token` (no separator), keyed with the account's HTTP webhook signing key (the
//! secret `webhook_signing_key`). The host computes the HMAC; the key never enters the plugin.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_plugin_sdk::{self as sdk, Explain as _, WebhookRejection, secrets};

/// The name of the secret that keys the HMAC.
pub const SECRET: &str = "webhook_signing_key";
const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Bytes in an HMAC-SHA256.
const HMAC_LEN: usize = 32;

/// Accepts the request only if its `signature` object is fresh and made with the signing key.
pub fn verify(signature: Option<&RawValue>, received_at_ms: i64) -> Result<(), WebhookRejection> {
    check(signature, received_at_ms, tolerance_secs()?, host_hmac)
}

/// The whole check, with the HMAC passed in so that it also runs natively, in the unit tests.
///
/// Freshness is judged against the time the request was received, not the clock: a webhook kept
/// as failed (say, while the key was unset) must still verify when it is replayed later. Mailgun
/// also advises refusing a token seen before; a plugin keeps no state between calls, but the host
/// stores each event id once, so a replayed body adds nothing.
pub fn check(
    signature: Option<&RawValue>,
    received_at_ms: i64,
    tolerance_secs: i64,
    hmac: impl Fn(&[u8]) -> Result<Vec<u8>, WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let bad = WebhookRejection::BadSignature;
    let signed = Signed::parse(signature).map_err(bad)?;
    check_freshness(signed.timestamp_secs, received_at_ms, tolerance_secs).map_err(bad)?;
    let expected = hmac(&signed_payload(&signed.timestamp, &signed.token))?;
    if sdk::constant_time_eq(&expected, &signed.signature) {
        Ok(())
    } else {
        Err(bad(
            "`signature.signature` does not match the timestamp and token".to_string(),
        ))
    }
}

/// The `signature` object, its fields still raw so that an error can name the one at fault.
#[derive(Deserialize)]
struct SignatureFields<'a> {
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    token: Option<&'a RawValue>,
    #[serde(borrow)]
    signature: Option<&'a RawValue>,
}

/// A `signature` object, checked for shape.
#[derive(Debug, PartialEq, Eq)]
struct Signed {
    /// `timestamp` exactly as sent: it is signed as text.
    timestamp: String,
    timestamp_secs: i64,
    token: String,
    /// `signature`, decoded from hex.
    signature: Vec<u8>,
}

impl Signed {
    fn parse(raw: Option<&RawValue>) -> Result<Self, String> {
        let raw = raw.ok_or("missing `signature`")?;
        let fields: SignatureFields<'_> = serde_json::from_str(raw.get())
            .map_err(|_| "`signature` must be an object".to_string())?;
        let timestamp = timestamp_text(fields.timestamp)?;
        let timestamp_secs = timestamp
            .parse()
            .map_err(|_| format!("`signature.timestamp` is out of range: {timestamp}"))?;
        let token = text(fields.token, "signature.token")?;
        let signature = text(fields.signature, "signature.signature")?;
        let signature = hex_decode(&signature)
            .ok_or_else(|| format!("`signature.signature` is not {} hex digits", HMAC_LEN * 2))?;
        Ok(Signed {
            timestamp,
            timestamp_secs,
            token,
            signature,
        })
    }
}

/// `signature.timestamp`: Unix seconds as plain digits. Mailgun sends a string; a number is
/// accepted too, signed as its digits.
fn timestamp_text(raw: Option<&RawValue>) -> Result<String, String> {
    let raw = raw.ok_or("missing `signature.timestamp`")?.get();
    let text = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`signature.timestamp` is not a Unix time in seconds: {raw}"
        ));
    }
    Ok(text)
}

/// A required, non-empty string field of the `signature` object.
fn text(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
    let raw = raw.ok_or_else(|| format!("missing `{name}`"))?;
    let text: String =
        serde_json::from_str(raw.get()).map_err(|_| format!("`{name}` must be a string"))?;
    if text.is_empty() {
        return Err(format!("missing `{name}`"));
    }
    Ok(text)
}

/// Refuses a signature made too long before (or after) the request was received, so that a
/// captured request cannot be replayed against us later.
pub fn check_freshness(
    signed_at_secs: i64,
    received_at_ms: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let skew = (received_at_ms / 1000).abs_diff(signed_at_secs);
    if skew > tolerance_secs.unsigned_abs() {
        return Err(format!(
            "timestamp is {skew} s away from the time the request was received; the tolerance is {tolerance_secs} s"
        ));
    }
    Ok(())
}

/// What Mailgun signs: the timestamp and the token as sent, with nothing between them.
pub fn signed_payload(timestamp: &str, token: &str) -> Vec<u8> {
    [timestamp.as_bytes(), token.as_bytes()].concat()
}

/// HMAC-SHA256 keyed with the webhook signing key, computed by the host.
fn host_hmac(message: &[u8]) -> Result<Vec<u8>, WebhookRejection> {
    secrets::hmac(secrets::HmacAlgorithm::Sha256, SECRET, message).map_err(|e| {
        WebhookRejection::Misconfigured(format!("cannot check signatures: {}", e.explain()))
    })
}

fn tolerance_secs() -> Result<i64, WebhookRejection> {
    match sdk::config::get("timestamp_tolerance_secs") {
        None => Ok(DEFAULT_TOLERANCE_SECS),
        Some(text) => text.trim().parse::<u32>().map(i64::from).map_err(|_| {
            WebhookRejection::Misconfigured(format!(
                "config key `timestamp_tolerance_secs` is not a whole number of seconds: {text:?}"
            ))
        }),
    }
}

/// Decodes an HMAC-SHA256 written in hex (Mailgun writes lowercase; either case is read).
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != HMAC_LEN * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::{Value, json};

    const KEY: &str = "mailgun-test-signing-key";
    /// The timestamp and token of the example in Mailgun's webhook documentation.
    const TIMESTAMP: &str = "1529006854";
    const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    const SIGNED_AT: i64 = 1_529_006_854;
    const RECEIVED_AT_MS: i64 = SIGNED_AT * 1000 + 2_000;
    /// HMAC-SHA256(KEY, TIMESTAMP + TOKEN), computed apart from this crate (Python's `hmac`).
    const GOOD: &str = "f1adbc71b89631d253ae9d52f234c3274ce91c2371eb1af6748f4b0d8bb0013e";

    /// What the host's `secrets.hmac` computes, natively.
    fn hmac_with(key: &str) -> impl Fn(&[u8]) -> Result<Vec<u8>, WebhookRejection> {
        move |message| {
            let mut mac =
                Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    fn signature(timestamp: Value, token: Value, signature: Value) -> Value {
        json!({"timestamp": timestamp, "token": token, "signature": signature})
    }

    fn good() -> Value {
        signature(json!(TIMESTAMP), json!(TOKEN), json!(GOOD))
    }

    fn check_value(value: Option<&Value>, received_at_ms: i64) -> Result<(), String> {
        let raw = value.map(|v| RawValue::from_string(v.to_string()).unwrap());
        check(raw.as_deref(), received_at_ms, 300, hmac_with(KEY)).map_err(|e| match e {
            WebhookRejection::BadSignature(why) => why,
            other => panic!("expected a bad signature, got {other:?}"),
        })
    }

    #[test]
    fn a_good_signature_is_accepted() {
        assert_eq!(check_value(Some(&good()), RECEIVED_AT_MS), Ok(()));
        let upper = signature(json!(TIMESTAMP), json!(TOKEN), json!(GOOD.to_uppercase()));
        assert_eq!(check_value(Some(&upper), RECEIVED_AT_MS), Ok(()));
        let numeric = signature(json!(SIGNED_AT), json!(TOKEN), json!(GOOD));
        assert_eq!(check_value(Some(&numeric), RECEIVED_AT_MS), Ok(()));
    }

    #[test]
    fn another_key_or_a_changed_token_does_not_match() {
        let raw = RawValue::from_string(good().to_string()).unwrap();
        let other_key = check(
            Some(&raw),
            RECEIVED_AT_MS,
            300,
            hmac_with("old-signing-key"),
        );
        assert!(
            matches!(other_key, Err(WebhookRejection::BadSignature(why)) if why.contains("does not match"))
        );
        let token = signature(json!(TIMESTAMP), json!(format!("{TOKEN}0")), json!(GOOD));
        let refused = check_value(Some(&token), RECEIVED_AT_MS).unwrap_err();
        assert!(refused.contains("does not match"), "{refused}");
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_before_the_hmac() {
        let late = (SIGNED_AT + 301) * 1000;
        let stale = check_value(Some(&good()), late).unwrap_err();
        assert!(stale.contains("301 s away"), "{stale}");
        assert!(stale.contains("tolerance is 300 s"), "{stale}");
        assert!(check_value(Some(&good()), (SIGNED_AT - 301) * 1000).is_err());
        assert!(check_value(Some(&good()), (SIGNED_AT + 300) * 1000).is_ok());
        let never = |_: &[u8]| -> Result<Vec<u8>, WebhookRejection> { panic!("HMAC computed") };
        let raw = RawValue::from_string(good().to_string()).unwrap();
        assert!(check(Some(&raw), late, 300, never).is_err());
    }

    #[test]
    fn a_missing_or_misshapen_signature_is_a_bad_signature_naming_the_field() {
        let missing = check_value(None, RECEIVED_AT_MS).unwrap_err();
        assert_eq!(missing, "missing `signature`");
        let cases = [
            (json!("t=1"), "`signature` must be an object"),
            (
                json!({"token": TOKEN, "signature": GOOD}),
                "missing `signature.timestamp`",
            ),
            (
                signature(json!("soon"), json!(TOKEN), json!(GOOD)),
                "`signature.timestamp` is not a Unix time",
            ),
            (
                signature(json!(-5), json!(TOKEN), json!(GOOD)),
                "`signature.timestamp` is not a Unix time",
            ),
            (
                signature(json!("99999999999999999999"), json!(TOKEN), json!(GOOD)),
                "out of range",
            ),
            (
                signature(json!(TIMESTAMP), json!(""), json!(GOOD)),
                "missing `signature.token`",
            ),
            (
                signature(json!(TIMESTAMP), json!(7), json!(GOOD)),
                "`signature.token` must be a string",
            ),
            (
                signature(json!(TIMESTAMP), json!(TOKEN), Value::Null),
                "missing `signature.signature`",
            ),
            (
                signature(json!(TIMESTAMP), json!(TOKEN), json!("abc")),
                "`signature.signature` is not 64 hex digits",
            ),
            (
                signature(json!(TIMESTAMP), json!(TOKEN), json!("zz".repeat(32))),
                "`signature.signature` is not 64 hex digits",
            ),
        ];
        for (value, expected) in cases {
            let why = check_value(Some(&value), RECEIVED_AT_MS).unwrap_err();
            assert!(why.contains(expected), "{value}: {why}");
        }
    }

    #[test]
    fn a_missing_secret_is_a_misconfiguration() {
        let raw = RawValue::from_string(good().to_string()).unwrap();
        let unset = |_: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(Some(&raw), RECEIVED_AT_MS, 300, unset);
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }

    #[test]
    fn the_signed_payload_is_the_timestamp_then_the_token() {
        assert_eq!(signed_payload("17", "abc"), b"17abc");
    }
}
