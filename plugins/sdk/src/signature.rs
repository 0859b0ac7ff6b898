//! Webhook signature helpers: hex, freshness, the HMAC check done by the host with a named secret
//! (the plugin never holds the secret, and the host sees the request verified), and replay
//! protection through the host's one-time nonces.
//!
//! The order every plugin follows (contract 1.2.0): verify the signature first, before looking at
//! the method, the path or the body. Only a request the host saw verified may afterwards be
//! called `malformed` and cost Switchboard storage; anyone can send the rest.

use crate::secrets::{self, HmacAlgorithm, KeyEncoding, KeyError};
use crate::{Timestamp, WebhookRejection, nonces};

/// The most signatures one request may present (a sender rotating its secret presents two or
/// three). Each costs the host an HMAC over the whole body, so a header listing hundreds must not
/// make a request that many times more expensive to refuse.
pub const MAX_PRESENTED_SIGNATURES: usize = 8;

/// Lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (either case), or `None`.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Refuses a signature made more than `tolerance_secs` away from when the request arrived
/// (`received_at`, which stays right when a stored webhook is replayed — never the clock).
pub fn check_freshness(
    signed_at_secs: i64,
    received_at: Timestamp,
    tolerance_secs: i64,
) -> Result<(), WebhookRejection> {
    let drift = (received_at / 1000).abs_diff(signed_at_secs);
    if drift > tolerance_secs.unsigned_abs() {
        return Err(WebhookRejection::BadSignature(format!(
            "the signature is {drift} s away from the time of receipt; at most {tolerance_secs} s is accepted"
        )));
    }
    Ok(())
}

/// Whether `presented` (the signature from the request, already decoded from its hex or base64)
/// is the HMAC of `message` keyed with the secret called `secret` decoded as `encoding`. The host
/// computes and compares it (`secrets.verify-hmac`), so it knows the request was verified.
///
/// A secret the host cannot use (undeclared, unset, not in `encoding`) is the operator's mistake,
/// not a forgery: `misconfigured`.
pub fn matches_hmac(
    algorithm: HmacAlgorithm,
    secret: &str,
    encoding: &KeyEncoding,
    message: &[u8],
    presented: &[u8],
) -> Result<bool, WebhookRejection> {
    secrets::verify_hmac(algorithm, secret, encoding, message, presented).map_err(|error| {
        WebhookRejection::Misconfigured(format!("cannot check signatures: {}", explain(&error)))
    })
}

/// Accepts only if `presented` is the HMAC of `message` keyed with the secret called `secret`
/// (see [`matches_hmac`]); a mismatch is a bad signature.
pub fn verify_hmac(
    algorithm: HmacAlgorithm,
    secret: &str,
    encoding: &KeyEncoding,
    message: &[u8],
    presented: &[u8],
) -> Result<(), WebhookRejection> {
    if matches_hmac(algorithm, secret, encoding, message, presented)? {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature(
            "the signature does not match".into(),
        ))
    }
}

/// Whether any of `presented` passes `verify` (a sender rotating its secret signs with the old
/// and the new one). More than [`MAX_PRESENTED_SIGNATURES`] is refused before any is checked; an
/// error from `verify` (a misconfiguration) ends the search.
pub fn any_matches<S: AsRef<[u8]>>(
    presented: &[S],
    mut verify: impl FnMut(&[u8]) -> Result<bool, WebhookRejection>,
) -> Result<bool, WebhookRejection> {
    if presented.len() > MAX_PRESENTED_SIGNATURES {
        return Err(WebhookRejection::BadSignature(format!(
            "{} signatures presented; at most {MAX_PRESENTED_SIGNATURES} are checked",
            presented.len()
        )));
    }
    for signature in presented {
        if verify(signature.as_ref())? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Registers a verified signature's one-time value (Mailgun's `token`) with the host until
/// `expires_at`, the end of the signature's freshness window. The host refuses a request that
/// uses it again; so does this call when the host cannot take it. Either way: a bad signature.
pub fn use_once(nonce: &str, expires_at: Timestamp) -> Result<(), WebhookRejection> {
    nonces::use_once(nonce, expires_at)
        .map_err(|why| WebhookRejection::BadSignature(format!("the signature's token: {why}")))
}

/// A sentence for the operator about a key the host could not use; never holds the secret.
pub fn explain(error: &KeyError) -> String {
    match error {
        KeyError::Undeclared(name) => format!("secret `{name}` is not declared in plugins.toml"),
        KeyError::Unset(name) => {
            format!("secret `{name}` is declared but its environment variable is not set")
        }
        KeyError::Malformed(why) => format!("the secret is not usable as a key: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(hex_encode(&[0, 171, 255]), "00abff");
        assert_eq!(hex_decode("00ABff").unwrap(), [0, 171, 255]);
        assert!(hex_decode("abc").is_none());
        assert!(hex_decode("zz").is_none());
        assert!(hex_decode("é1").is_none());
    }

    #[test]
    fn signatures_are_fresh_within_the_tolerance_of_receipt() {
        let received_at = 1_700_000_300_000;
        assert!(check_freshness(1_700_000_000, received_at, 300).is_ok());
        assert!(check_freshness(1_699_999_999, received_at, 300).is_err());
        assert!(check_freshness(1_700_000_601, received_at, 300).is_err());
        assert!(check_freshness(i64::MIN, received_at, 300).is_err());
    }

    #[test]
    fn any_presented_signature_may_match() {
        let presented = [b"old".to_vec(), b"new".to_vec()];
        let is_new = |s: &[u8]| Ok(s == b"new");
        assert_eq!(any_matches(&presented, is_new), Ok(true));
        assert_eq!(any_matches(&presented[..1], is_new), Ok(false));
        let none: [&[u8]; 0] = [];
        assert_eq!(any_matches(&none, is_new), Ok(false));
    }

    #[test]
    fn too_many_presented_signatures_are_refused_before_any_is_checked() {
        let presented = vec![b"x".to_vec(); MAX_PRESENTED_SIGNATURES + 1];
        let never = |_: &[u8]| -> Result<bool, WebhookRejection> { panic!("checked") };
        assert!(matches!(
            any_matches(&presented, never),
            Err(WebhookRejection::BadSignature(why)) if why == "9 signatures presented; at most 8 are checked"
        ));
    }

    #[test]
    fn a_misconfiguration_ends_the_search() {
        let presented = [b"a".to_vec(), b"b".to_vec()];
        let mut calls = 0;
        let unset = |_: &[u8]| {
            calls += 1;
            Err(WebhookRejection::Misconfigured("unset".into()))
        };
        assert!(matches!(
            any_matches(&presented, unset),
            Err(WebhookRejection::Misconfigured(_))
        ));
        assert_eq!(calls, 1);
    }

    #[test]
    fn key_errors_name_the_secret_but_never_hold_it() {
        assert_eq!(
            explain(&KeyError::Unset("signing_secret".into())),
            "secret `signing_secret` is declared but its environment variable is not set"
        );
        assert!(explain(&KeyError::Malformed("not base64".into())).contains("not base64"));
    }
}
