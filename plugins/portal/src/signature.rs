//! The portal's webhook signature, Stripe's scheme: `X-Portal-Signature: t=<unix seconds>,v1=<hex>`
//! where each `v1` is the lowercase hex HMAC-SHA256 of `<t>.` followed by the raw body, keyed with
//! the secret `signing_secret`. The host computes and compares the HMAC (`secrets.verify-hmac`):
//! the secret never enters the plugin, and the host knows the request was verified.

use switchboard_plugin_sdk::signature::{any_matches, hex_decode, matches_hmac};
use switchboard_plugin_sdk::{self as sdk, WebhookRejection, WebhookRequest, secrets};

const SIGNATURE_HEADER: &str = "x-portal-signature";
/// The name of the secret that keys the HMAC.
pub const SECRET: &str = "signing_secret";
const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Hex digits in an HMAC-SHA256.
const HMAC_HEX_LEN: usize = 64;

/// Accepts the request only if it carries a fresh signature made with the signing secret.
pub fn verify(request: &WebhookRequest) -> Result<(), WebhookRejection> {
    check(
        sdk::header(&request.headers, SIGNATURE_HEADER),
        &request.body,
        request.received_at,
        tolerance_secs(),
        host_verify,
    )
}

/// The whole check, with the host's comparison passed in (`verify(message, presented)`) so that it
/// also runs natively, in the unit tests.
///
/// Freshness is judged against the time the request was received, not the clock: a webhook kept
/// as failed (say, while the secret was unset) must still verify when it is replayed later.
pub fn check(
    header: Option<&str>,
    body: &[u8],
    received_at_ms: i64,
    tolerance_secs: Result<i64, WebhookRejection>,
    verify: impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let bad = WebhookRejection::BadSignature;
    let header = header.ok_or_else(|| bad(format!("missing {SIGNATURE_HEADER} header")))?;
    let signature =
        Signature::parse(header).map_err(|why| bad(format!("{SIGNATURE_HEADER}: {why}")))?;
    // Our tolerance matters only once the request has a signature to judge.
    let tolerance_secs = tolerance_secs?;
    check_freshness(signature.signed_at, received_at_ms, tolerance_secs).map_err(bad)?;
    let payload = signed_payload(signature.signed_at_text, body);
    // Any entry may match: during a rotation the portal signs with the old and the new secret.
    if any_matches(&signature.v1, |v1| verify(&payload, v1))? {
        Ok(())
    } else {
        Err(bad(
            "no v1 signature matches the body and timestamp".to_string()
        ))
    }
}

/// The parts of a signature header that the check uses.
#[derive(Debug, PartialEq, Eq)]
struct Signature<'a> {
    /// `t` exactly as sent: it is signed as text.
    signed_at_text: &'a str,
    signed_at: i64,
    /// The `v1` entries, decoded from their 64 lowercase hex digits.
    v1: Vec<Vec<u8>>,
}

impl<'a> Signature<'a> {
    /// Parses `t=…,v1=…[,v1=…]`. Entries of other schemes (Stripe's `v0`, a future `v2`) are
    /// skipped, so that the portal can start sending a new scheme before Switchboard checks it.
    fn parse(header: &'a str) -> Result<Self, String> {
        let mut signed_at_text = None;
        let mut v1 = Vec::new();
        for entry in header.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("entry {entry:?} is not key=value"))?;
            match key.trim() {
                "t" if signed_at_text.is_some() => return Err("more than one t entry".into()),
                "t" => signed_at_text = Some(value.trim()),
                "v1" if is_lower_hex(value.trim(), HMAC_HEX_LEN) => {
                    v1.extend(hex_decode(value.trim()));
                }
                "v1" => {
                    return Err(format!(
                        "a v1 entry is not {HMAC_HEX_LEN} lowercase hex digits"
                    ));
                }
                _ => {}
            }
        }
        let signed_at_text = signed_at_text.ok_or("no t entry (the signing time)")?;
        let signed_at = unix_secs(signed_at_text)?;
        if v1.is_empty() {
            return Err("no v1 entry".into());
        }
        Ok(Signature {
            signed_at_text,
            signed_at,
            v1,
        })
    }
}

/// Unix seconds written as plain digits (no sign, no fraction), as the portal signs them.
fn unix_secs(text: &str) -> Result<i64, String> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| format!("t is not a Unix time in seconds: {text:?}"))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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

/// What the portal signs: the timestamp as sent, a dot, the raw body.
pub fn signed_payload(signed_at_text: &str, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(signed_at_text.len() + 1 + body.len());
    payload.extend_from_slice(signed_at_text.as_bytes());
    payload.push(b'.');
    payload.extend_from_slice(body);
    payload
}

/// HMAC-SHA256 keyed with the signing secret, computed and compared by the host.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    pub(crate) const SECRET_VALUE: &str = "portal-test-secret";
    pub(crate) const BODY: &[u8] = br#"{"events":[]}"#;
    pub(crate) const SIGNED_AT: i64 = 1_700_000_000;
    pub(crate) const RECEIVED_AT_MS: i64 = SIGNED_AT * 1000 + 2_000;
    /// HMAC-SHA256(key, "1700000000." + BODY), computed apart from this crate (Python's `hmac`)
    /// for the keys `portal-test-secret` and `old-secret`.
    pub(crate) const GOOD_V1: &str =
        "31409e9670ab430167a4699e7f9ed932d4775da330c6a365799ae41ff340d707";
    const OLD_V1: &str = "ec628c73b6f37284975b422ea2b70263e170bd4d2799bffb73509f7a71db8433";

    /// What the host's `secrets.verify-hmac` answers, natively.
    pub(crate) fn host_with(
        secret: &str,
    ) -> impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection> {
        move |message, presented| {
            let mut mac =
                Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(message);
            Ok(mac.verify_slice(presented).is_ok())
        }
    }

    fn check_header(header: Option<&str>, body: &[u8], received_at_ms: i64) -> Result<(), String> {
        check(
            header,
            body,
            received_at_ms,
            Ok(300),
            host_with(SECRET_VALUE),
        )
        .map_err(|e| match e {
            WebhookRejection::BadSignature(why) => why,
            other => panic!("expected a bad signature, got {other:?}"),
        })
    }

    #[test]
    fn a_good_signature_is_accepted() {
        let header = format!("t={SIGNED_AT},v1={GOOD_V1}");
        assert_eq!(check_header(Some(&header), BODY, RECEIVED_AT_MS), Ok(()));
    }

    #[test]
    fn any_v1_entry_may_match_while_the_secret_is_rotated() {
        let rotating = format!("t={SIGNED_AT}, v1={OLD_V1}, v1={GOOD_V1}, v0=ignored");
        assert_eq!(check_header(Some(&rotating), BODY, RECEIVED_AT_MS), Ok(()));
        let old_only = format!("t={SIGNED_AT},v1={OLD_V1}");
        let refused = check_header(Some(&old_only), BODY, RECEIVED_AT_MS).unwrap_err();
        assert!(refused.contains("no v1 signature matches"), "{refused}");
    }

    #[test]
    fn a_tampered_body_does_not_match() {
        let header = format!("t={SIGNED_AT},v1={GOOD_V1}");
        let refused =
            check_header(Some(&header), br#"{"events": []}"#, RECEIVED_AT_MS).unwrap_err();
        assert!(refused.contains("no v1 signature matches"), "{refused}");
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_before_the_hmac() {
        let header = format!("t={SIGNED_AT},v1={GOOD_V1}");
        let late = (SIGNED_AT + 301) * 1000;
        let stale = check_header(Some(&header), BODY, late).unwrap_err();
        assert!(stale.contains("301 s away"), "{stale}");
        assert!(stale.contains("tolerance is 300 s"), "{stale}");
        let early = (SIGNED_AT - 301) * 1000;
        assert!(check_header(Some(&header), BODY, early).is_err());
        assert!(check_header(Some(&header), BODY, (SIGNED_AT + 300) * 1000).is_ok());
    }

    #[test]
    fn a_missing_or_unparsable_header_is_a_bad_signature() {
        let missing = check_header(None, BODY, RECEIVED_AT_MS).unwrap_err();
        assert_eq!(missing, "missing x-portal-signature header");
        let upper = GOOD_V1.to_ascii_uppercase();
        let cases = [
            ("garbage".to_string(), "is not key=value"),
            (format!("v1={GOOD_V1}"), "no t entry"),
            (format!("t=soon,v1={GOOD_V1}"), "not a Unix time"),
            (format!("t=-5,v1={GOOD_V1}"), "not a Unix time"),
            (format!("t={SIGNED_AT}"), "no v1 entry"),
            (format!("t={SIGNED_AT},v1={upper}"), "lowercase hex"),
            (format!("t={SIGNED_AT},v1=abc"), "lowercase hex"),
            (format!("t=1,t={SIGNED_AT},v1={GOOD_V1}"), "more than one t"),
        ];
        for (header, expected) in cases {
            let why = check_header(Some(&header), BODY, RECEIVED_AT_MS).unwrap_err();
            assert!(why.starts_with("x-portal-signature: "), "{header}: {why}");
            assert!(why.contains(expected), "{header}: {why}");
        }
    }

    #[test]
    fn a_missing_secret_is_a_misconfiguration() {
        let header = format!("t={SIGNED_AT},v1={GOOD_V1}");
        let unset =
            |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(Some(&header), BODY, RECEIVED_AT_MS, Ok(300), unset);
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }

    #[test]
    fn a_bad_tolerance_is_a_misconfiguration_only_for_a_signed_request() {
        let broken = || Err(WebhookRejection::Misconfigured("tolerance".into()));
        let header = format!("t={SIGNED_AT},v1={GOOD_V1}");
        let host = host_with(SECRET_VALUE);
        let signed = check(Some(&header), BODY, RECEIVED_AT_MS, broken(), &host);
        assert_eq!(
            signed,
            Err(WebhookRejection::Misconfigured("tolerance".into()))
        );
        let unsigned = check(None, BODY, RECEIVED_AT_MS, broken(), &host);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn more_v1_entries_than_a_rotation_needs_are_refused_unchecked() {
        let many = format!("t={SIGNED_AT}{}", format!(",v1={OLD_V1}").repeat(9));
        let refused = check_header(Some(&many), BODY, RECEIVED_AT_MS).unwrap_err();
        assert_eq!(refused, "9 signatures presented; at most 8 are checked");
    }

    #[test]
    fn the_signed_payload_is_the_timestamp_a_dot_and_the_body() {
        assert_eq!(signed_payload("17", b"{}"), b"17.{}");
    }
}

/// Bounded fuzzing of the signature check: whatever the header, it refuses or (only with the
/// right HMAC) accepts, never panics. `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::tests::{BODY, RECEIVED_AT_MS, SECRET_VALUE, host_with};
    use super::*;
    use proptest::prelude::*;
    use switchboard_plugin_sdk::fuzz;

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn an_arbitrary_header_is_refused_without_panicking(header in fuzz::header_value()) {
            let verdict = check(Some(&header), BODY, RECEIVED_AT_MS, Ok(300), host_with(SECRET_VALUE));
            prop_assert!(matches!(verdict, Err(WebhookRejection::BadSignature(_))), "{verdict:?}");
        }

        #[test]
        fn an_almost_right_header_is_refused_without_panicking(
            t in "[0-9-]{0,20}", v1 in "[0-9a-fA-F]{0,70}", extra in "[ ,=a-z0-9]{0,20}"
        ) {
            let header = format!("t={t},v1={v1}{extra}");
            let verdict = check(Some(&header), BODY, RECEIVED_AT_MS, Ok(300), host_with(SECRET_VALUE));
            prop_assert!(matches!(verdict, Err(WebhookRejection::BadSignature(_))), "{verdict:?}");
        }
    }
}
