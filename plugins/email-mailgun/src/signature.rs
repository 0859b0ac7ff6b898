//! Mailgun's webhook signature: the body's `signature` object holds `timestamp` (Unix seconds),
//! `token` (a random string) and `signature`, the lowercase hex HMAC-SHA256 of `timestamp`
//! followed by `token` (no separator), keyed with the account's HTTP webhook signing key (the
//! secret `webhook_signing_key`). The host computes and compares the HMAC
//! (`secrets.verify-hmac`): the key never enters the plugin, and the host knows the request was
//! verified.
//!
//! The signature covers only the timestamp and the token, not the event: a captured signature
//! could be glued to another body within its freshness window. So once it verifies, its token is
//! registered with the host (`nonces.use-once`) until the window closes, and a second request
//! with the same token is refused as a bad signature.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_plugin_sdk::signature::matches_hmac;
use switchboard_plugin_sdk::{self as sdk, Timestamp, WebhookRejection, secrets};

/// The name of the secret that keys the HMAC.
pub const SECRET: &str = "webhook_signing_key";
const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Bytes in an HMAC-SHA256.
const HMAC_LEN: usize = 32;

/// Accepts the request only if its `signature` object is fresh, made with the signing key, and
/// its token not used before.
pub fn verify(signature: Option<&RawValue>, received_at_ms: i64) -> Result<(), WebhookRejection> {
    check(
        signature,
        received_at_ms,
        tolerance_secs(),
        host_verify,
        sdk::signature::use_once,
    )
}

/// The whole check, with the host's calls passed in (`verify(message, presented)`,
/// `use_once(token, expires_at)`) so that it also runs natively, in the unit tests.
///
/// Freshness is judged against the time the request was received, not the clock: a webhook kept
/// as failed (say, while the key was unset) must still verify when it is replayed later. A body
/// without a usable `signature` is a bad signature even while our configuration is broken: only
/// one that carries a signature could have been checked with it fixed.
pub fn check(
    signature: Option<&RawValue>,
    received_at_ms: i64,
    tolerance_secs: Result<i64, WebhookRejection>,
    verify: impl FnOnce(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
    use_once: impl FnOnce(&str, Timestamp) -> Result<(), WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let bad = WebhookRejection::BadSignature;
    let signed = Signed::parse(signature).map_err(bad)?;
    let tolerance_secs = tolerance_secs?;
    check_freshness(signed.timestamp_secs, received_at_ms, tolerance_secs).map_err(bad)?;
    let payload = signed_payload(&signed.timestamp, &signed.token);
    if !verify(&payload, &signed.signature)? {
        return Err(bad(
            "`signature.signature` does not match the timestamp and token".to_string(),
        ));
    }
    use_once(
        &signed.token,
        expires_at(signed.timestamp_secs, tolerance_secs),
    )
}

/// The end of a signature's freshness window, in milliseconds: until then its token could be
/// replayed, so the host must remember it until then.
pub fn expires_at(signed_at_secs: i64, tolerance_secs: i64) -> Timestamp {
    signed_at_secs
        .saturating_add(tolerance_secs)
        .saturating_mul(1000)
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

/// HMAC-SHA256 keyed with the webhook signing key, computed and compared by the host.
fn host_verify(message: &[u8], presented: &[u8]) -> Result<bool, WebhookRejection> {
    matches_hmac(
        secrets::HmacAlgorithm::Sha256,
        SECRET,
        &secrets::KeyEncoding::Utf8,
        message,
        presented,
    )
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
pub(crate) mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::{Value, json};
    use std::cell::RefCell;

    pub(crate) const KEY: &str = "mailgun-test-signing-key";
    /// The timestamp and token of the example in Mailgun's webhook documentation.
    pub(crate) const TIMESTAMP: &str = "1529006854";
    pub(crate) const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    const SIGNED_AT: i64 = 1_529_006_854;
    pub(crate) const RECEIVED_AT_MS: i64 = SIGNED_AT * 1000 + 2_000;
    /// HMAC-SHA256(KEY, TIMESTAMP + TOKEN), computed apart from this crate (Python's `hmac`).
    pub(crate) const GOOD: &str =
        "f1adbc71b89631d253ae9d52f234c3274ce91c2371eb1af6748f4b0d8bb0013e";

    /// What the host's `secrets.verify-hmac` answers, natively.
    pub(crate) fn host_with(key: &str) -> impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection> {
        move |message, presented| {
            let mut mac =
                Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
            mac.update(message);
            Ok(mac.verify_slice(presented).is_ok())
        }
    }

    /// The host's `nonces.use-once`, natively: each token once, within the contract's limits.
    #[derive(Default)]
    pub(crate) struct Nonces(pub(crate) RefCell<Vec<(String, Timestamp)>>);

    impl Nonces {
        pub(crate) fn use_once(
            &self,
            token: &str,
            expires_at: Timestamp,
        ) -> Result<(), WebhookRejection> {
            // As `sdk::signature::use_once` words the host's refusal.
            let refused = |why: &str| {
                Err(WebhookRejection::BadSignature(format!(
                    "the signature's token: {why}"
                )))
            };
            let mut used = self.0.borrow_mut();
            if token.len() > 256 {
                return refused("longer than 256 bytes");
            }
            if used.iter().any(|(seen, _)| seen == token) {
                return refused("already used");
            }
            used.push((token.to_string(), expires_at));
            Ok(())
        }
    }

    fn no_replay(_: &str, _: Timestamp) -> Result<(), WebhookRejection> {
        Ok(())
    }

    fn signature(timestamp: Value, token: Value, signature: Value) -> Value {
        json!({"timestamp": timestamp, "token": token, "signature": signature})
    }

    pub(crate) fn good() -> Value {
        signature(json!(TIMESTAMP), json!(TOKEN), json!(GOOD))
    }

    fn check_value(value: Option<&Value>, received_at_ms: i64) -> Result<(), String> {
        let raw = value.map(|v| RawValue::from_string(v.to_string()).unwrap());
        check(
            raw.as_deref(),
            received_at_ms,
            Ok(300),
            host_with(KEY),
            no_replay,
        )
        .map_err(|e| match e {
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
            Ok(300),
            host_with("old-signing-key"),
            no_replay,
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
        let never = |_: &[u8], _: &[u8]| -> Result<bool, WebhookRejection> { panic!("checked") };
        let raw = RawValue::from_string(good().to_string()).unwrap();
        assert!(check(Some(&raw), late, Ok(300), never, no_replay).is_err());
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
        let unset =
            |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(Some(&raw), RECEIVED_AT_MS, Ok(300), unset, no_replay);
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }

    #[test]
    fn a_bad_tolerance_is_a_misconfiguration_only_for_a_body_that_carries_a_signature() {
        let broken = || Err(WebhookRejection::Misconfigured("tolerance".into()));
        let raw = RawValue::from_string(good().to_string()).unwrap();
        let signed = check(
            Some(&raw),
            RECEIVED_AT_MS,
            broken(),
            host_with(KEY),
            no_replay,
        );
        assert!(matches!(signed, Err(WebhookRejection::Misconfigured(_))));
        let unsigned = check(None, RECEIVED_AT_MS, broken(), host_with(KEY), no_replay);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn a_verified_token_is_registered_until_the_freshness_window_closes() {
        let nonces = Nonces::default();
        let raw = RawValue::from_string(good().to_string()).unwrap();
        let first = check(
            Some(&raw),
            RECEIVED_AT_MS,
            Ok(300),
            host_with(KEY),
            |t, at| nonces.use_once(t, at),
        );
        assert_eq!(first, Ok(()));
        assert_eq!(
            *nonces.0.borrow(),
            [(TOKEN.to_string(), (SIGNED_AT + 300) * 1000)]
        );
    }

    #[test]
    fn a_replayed_mailgun_token_is_refused() {
        let nonces = Nonces::default();
        let raw = RawValue::from_string(good().to_string()).unwrap();
        let use_once = |t: &str, at| nonces.use_once(t, at);
        assert_eq!(
            check(
                Some(&raw),
                RECEIVED_AT_MS,
                Ok(300),
                host_with(KEY),
                use_once
            ),
            Ok(())
        );
        let again = check(
            Some(&raw),
            RECEIVED_AT_MS + 1_000,
            Ok(300),
            host_with(KEY),
            use_once,
        );
        assert!(
            matches!(again, Err(WebhookRejection::BadSignature(why)) if why.contains("already used"))
        );
    }

    #[test]
    fn an_unverified_token_is_not_registered() {
        let nonces = Nonces::default();
        let forged = signature(json!(TIMESTAMP), json!(TOKEN), json!("00".repeat(32)));
        let raw = RawValue::from_string(forged.to_string()).unwrap();
        let refused = check(
            Some(&raw),
            RECEIVED_AT_MS,
            Ok(300),
            host_with(KEY),
            |t, at| nonces.use_once(t, at),
        );
        assert!(matches!(refused, Err(WebhookRejection::BadSignature(_))));
        assert!(nonces.0.borrow().is_empty());
    }

    #[test]
    fn the_window_end_saturates_instead_of_overflowing() {
        assert_eq!(expires_at(1_529_006_854, 300), 1_529_007_154_000);
        assert_eq!(expires_at(i64::MAX, 300), i64::MAX);
    }

    #[test]
    fn the_signed_payload_is_the_timestamp_then_the_token() {
        assert_eq!(signed_payload("17", "abc"), b"17abc");
    }
}

/// Bounded fuzzing of the signature check: whatever the `signature` value, it is refused without
/// panicking, and nothing is registered for it. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::tests::{KEY, Nonces, RECEIVED_AT_MS, TIMESTAMP, TOKEN, host_with};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use switchboard_plugin_sdk::fuzz;

    const KEYS: &[&str] = &["timestamp", "token", "signature", TIMESTAMP, TOKEN];

    fn refused_unregistered(value: &serde_json::Value) -> Result<(), TestCaseError> {
        let nonces = Nonces::default();
        let raw = RawValue::from_string(value.to_string())?;
        let verdict = check(
            Some(&raw),
            RECEIVED_AT_MS,
            Ok(300),
            host_with(KEY),
            |t, at| nonces.use_once(t, at),
        );
        prop_assert!(
            matches!(verdict, Err(WebhookRejection::BadSignature(_))),
            "{verdict:?}"
        );
        prop_assert!(nonces.0.borrow().is_empty());
        Ok(())
    }

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn an_arbitrary_signature_value_is_refused(value in fuzz::json_value(KEYS)) {
            refused_unregistered(&value)?;
        }

        #[test]
        fn an_almost_right_signature_is_refused(
            timestamp in prop_oneof![Just(TIMESTAMP.to_string()), "[0-9-]{0,22}"],
            token in fuzz::text(KEYS),
            signature in "[0-9a-fA-F]{0,66}",
        ) {
            refused_unregistered(&json!({"timestamp": timestamp, "token": token, "signature": signature}))?;
        }
    }
}
