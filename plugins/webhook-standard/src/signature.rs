//! Standard Webhooks signatures (standardwebhooks.com, specification 1.0.0, symmetric scheme):
//! `webhook-signature` lists `v1,<base64>` entries, each an HMAC-SHA256 of
//! `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64-decoded signing secret.
//!
//! The parsing and the freshness check are here; the HMAC and its comparison are the host's
//! (`secrets.verify-hmac`), since the secret never enters the plugin, and so that the host knows
//! the request was verified.

use switchboard_plugin_sdk::signature::{any_matches, matches_hmac};
use switchboard_plugin_sdk::{self as sdk, Header, WebhookRejection, WebhookRequest, secrets};

/// The name of the secret that keys the HMAC (`whsec_…` as the sender shows it).
pub const SECRET: &str = "signing_secret";
const ID_HEADER: &str = "webhook-id";
const TIMESTAMP_HEADER: &str = "webhook-timestamp";
const SIGNATURE_HEADER: &str = "webhook-signature";
const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Accepts the request only if it carries a fresh signature made with the signing secret, and
/// returns its `webhook-id`.
pub fn verify(request: &WebhookRequest) -> Result<String, WebhookRejection> {
    check(
        &request.headers,
        &request.body,
        request.received_at,
        tolerance_secs(),
        host_verify,
    )
}

/// The whole check, with the host's comparison passed in (`verify(content, presented)`) so that
/// it also runs natively, in the unit tests.
///
/// Freshness is judged against the time the request was received, not the clock: a webhook kept
/// as failed (say, while the secret was unset) must still verify when it is replayed later.
pub fn check(
    headers: &[Header],
    body: &[u8],
    received_at_ms: i64,
    tolerance_secs: Result<i64, WebhookRejection>,
    verify: impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
) -> Result<String, WebhookRejection> {
    let bad = WebhookRejection::BadSignature;
    let delivery = Delivery::parse(headers).map_err(bad)?;
    // Our tolerance matters only once the request has a signature to judge.
    let tolerance_secs = tolerance_secs?;
    check_freshness(delivery.signed_at, received_at_ms, tolerance_secs).map_err(bad)?;
    let content = signed_content(delivery.id, delivery.signed_at_text, body);
    // Any entry may match: while the sender rotates its secret it signs with the old and the new.
    if any_matches(&delivery.v1, |v1| verify(&content, v1))? {
        Ok(delivery.id.to_string())
    } else {
        Err(bad(
            "no v1 signature matches the webhook id, timestamp and body".to_string(),
        ))
    }
}

/// The three signed headers of a delivery.
#[derive(Debug, PartialEq, Eq)]
struct Delivery<'a> {
    id: &'a str,
    /// `webhook-timestamp` exactly as sent: it is signed as text.
    signed_at_text: &'a str,
    signed_at: i64,
    /// The decoded `v1` signatures.
    v1: Vec<Vec<u8>>,
}

impl<'a> Delivery<'a> {
    fn parse(headers: &'a [Header]) -> Result<Self, String> {
        let id = required(headers, ID_HEADER)?;
        let signed_at_text = required(headers, TIMESTAMP_HEADER)?;
        let signed_at = unix_secs(signed_at_text).ok_or_else(|| {
            format!("{TIMESTAMP_HEADER} is not a Unix time in seconds: {signed_at_text:?}")
        })?;
        let v1 = v1_signatures(required(headers, SIGNATURE_HEADER)?)
            .map_err(|why| format!("{SIGNATURE_HEADER}: {why}"))?;
        Ok(Delivery {
            id,
            signed_at_text,
            signed_at,
            v1,
        })
    }
}

/// A header that must be present and not blank.
fn required<'a>(headers: &'a [Header], name: &str) -> Result<&'a str, String> {
    sdk::header(headers, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("missing {name} header"))
}

/// The `v1` entries of a space-separated `<version>,<base64>` list, decoded. Entries of other
/// versions (the asymmetric `v1a`, a future `v2`) are skipped, so that a sender can add them
/// before Switchboard checks them.
fn v1_signatures(header: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut v1 = Vec::new();
    for entry in header.split_whitespace() {
        let (version, signature) = entry
            .split_once(',')
            .ok_or_else(|| format!("entry {entry:?} is not <version>,<signature>"))?;
        if version == "v1" {
            v1.push(sdk::base64_decode(signature).map_err(|e| format!("a v1 signature is {e}"))?);
        }
    }
    if v1.is_empty() {
        return Err("no v1 entry (the HMAC-SHA256 signature)".into());
    }
    Ok(v1)
}

/// Unix seconds written as plain digits (no sign, no fraction).
fn unix_secs(text: &str) -> Option<i64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
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
            "{TIMESTAMP_HEADER} is {skew} s away from the time the request was received; the tolerance is {tolerance_secs} s"
        ));
    }
    Ok(())
}

/// What the sender signs: `<webhook-id>.<webhook-timestamp>.<body>`.
pub fn signed_content(id: &str, signed_at_text: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + signed_at_text.len() + 2 + body.len());
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(signed_at_text.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// HMAC-SHA256 keyed with the signing secret's decoded bytes, computed and compared by the host.
///
/// Standard Webhooks keys the HMAC with the bytes that the secret's base64 (after `whsec_`)
/// encodes; the host decodes it, so the secret never enters the plugin.
fn host_verify(content: &[u8], presented: &[u8]) -> Result<bool, WebhookRejection> {
    let encoding = secrets::KeyEncoding::Base64(Some("whsec_".to_string()));
    matches_hmac(
        secrets::HmacAlgorithm::Sha256,
        SECRET,
        &encoding,
        content,
        presented,
    )
    .map_err(|rejection| match rejection {
        WebhookRejection::Misconfigured(why) => WebhookRejection::Misconfigured(format!(
            "{why} (a Standard Webhooks secret is `whsec_` followed by base64)"
        )),
        other => other,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    /// The example of the Standard Webhooks reference libraries' tests: this secret, id,
    /// timestamp and body sign to [`SPEC_V1`] (checked apart with Python's `hmac`).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const RECEIVED_AT_MS: i64 = SPEC_TIMESTAMP * 1000 + 2_000;

    /// The HMAC the host computes: keyed with the decoded secret.
    fn hmac_with(secret: &str) -> impl Fn(&[u8]) -> Result<Vec<u8>, WebhookRejection> {
        let key = sdk::base64_decode(secret.strip_prefix("whsec_").unwrap_or(secret))
            .expect("a base64 secret");
        move |content| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
            mac.update(content);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    /// What the host's `secrets.verify-hmac` answers, natively.
    pub(crate) fn host_with(
        secret: &str,
    ) -> impl Fn(&[u8], &[u8]) -> Result<bool, WebhookRejection> {
        let hmac = hmac_with(secret);
        move |content, presented| Ok(hmac(content)? == presented)
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> Vec<Header> {
        [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        ]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| Header {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
    }

    fn spec_headers(signature: &str) -> Vec<Header> {
        headers(SPEC_ID, &SPEC_TIMESTAMP.to_string(), signature)
    }

    fn check_with(headers: &[Header], body: &[u8], received_at_ms: i64) -> Result<String, String> {
        check(
            headers,
            body,
            received_at_ms,
            Ok(300),
            host_with(SPEC_SECRET),
        )
        .map_err(|e| match e {
            WebhookRejection::BadSignature(why) => why,
            other => panic!("expected a bad signature, got {other:?}"),
        })
    }

    #[test]
    fn the_specification_s_example_verifies_and_yields_the_webhook_id() {
        assert_eq!(
            check_with(&spec_headers(SPEC_V1), SPEC_BODY, RECEIVED_AT_MS),
            Ok(SPEC_ID.to_string())
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_skipped() {
        let other = hmac_with("whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LTEyMzQ1Njc4")(&signed_content(
            SPEC_ID,
            &SPEC_TIMESTAMP.to_string(),
            SPEC_BODY,
        ))
        .unwrap();
        let old = format!("v1,{}", sdk::base64_encode(&other));
        let rotating = format!("{old} v1a,bm90LWNoZWNrZWQ= {SPEC_V1}");
        assert!(check_with(&spec_headers(&rotating), SPEC_BODY, RECEIVED_AT_MS).is_ok());
        let refused = check_with(&spec_headers(&old), SPEC_BODY, RECEIVED_AT_MS).unwrap_err();
        assert_eq!(
            refused,
            "no v1 signature matches the webhook id, timestamp and body"
        );
    }

    #[test]
    fn a_changed_body_id_or_timestamp_does_not_match() {
        let body = check_with(
            &spec_headers(SPEC_V1),
            br#"{"test":2432232314}"#,
            RECEIVED_AT_MS,
        );
        assert!(body.unwrap_err().contains("no v1 signature matches"));
        let id = headers("msg_other", &SPEC_TIMESTAMP.to_string(), SPEC_V1);
        assert!(check_with(&id, SPEC_BODY, RECEIVED_AT_MS).is_err());
        let later = (SPEC_TIMESTAMP + 1).to_string();
        assert!(
            check_with(
                &headers(SPEC_ID, &later, SPEC_V1),
                SPEC_BODY,
                RECEIVED_AT_MS
            )
            .is_err()
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_before_the_hmac() {
        let late = (SPEC_TIMESTAMP + 301) * 1000;
        let never = |_: &[u8], _: &[u8]| -> Result<bool, WebhookRejection> {
            panic!("the HMAC is not computed for a stale request")
        };
        let stale = check(&spec_headers(SPEC_V1), SPEC_BODY, late, Ok(300), never).unwrap_err();
        assert!(
            matches!(&stale, WebhookRejection::BadSignature(why)
                if why == "webhook-timestamp is 301 s away from the time the request was received; the tolerance is 300 s"),
            "{stale:?}"
        );
        let early = (SPEC_TIMESTAMP - 301) * 1000;
        assert!(check_with(&spec_headers(SPEC_V1), SPEC_BODY, early).is_err());
        let edge = (SPEC_TIMESTAMP + 300) * 1000;
        assert!(check_with(&spec_headers(SPEC_V1), SPEC_BODY, edge).is_ok());
    }

    #[test]
    fn missing_or_unparsable_headers_are_a_bad_signature() {
        let ts = SPEC_TIMESTAMP.to_string();
        let cases = [
            (headers("", &ts, SPEC_V1), "missing webhook-id header"),
            (
                headers(SPEC_ID, "", SPEC_V1),
                "missing webhook-timestamp header",
            ),
            (
                headers(SPEC_ID, &ts, ""),
                "missing webhook-signature header",
            ),
            (
                headers(SPEC_ID, "soon", SPEC_V1),
                "webhook-timestamp is not a Unix time in seconds: \"soon\"",
            ),
            (
                headers(SPEC_ID, "-5", SPEC_V1),
                "webhook-timestamp is not a Unix time in seconds",
            ),
            (
                headers(SPEC_ID, &ts, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
                "webhook-signature: entry \"g0hM",
            ),
            (
                headers(SPEC_ID, &ts, "v1a,bm90LWNoZWNrZWQ="),
                "webhook-signature: no v1 entry",
            ),
            (
                headers(SPEC_ID, &ts, "v1a,bm90LWNoZWNrZWQ= garbage"),
                "webhook-signature: entry \"garbage\" is not <version>,<signature>",
            ),
            (
                headers(SPEC_ID, &ts, "v1,@@@@"),
                "webhook-signature: a v1 signature is not valid base64",
            ),
        ];
        for (headers, expected) in cases {
            let why = check_with(&headers, SPEC_BODY, RECEIVED_AT_MS).unwrap_err();
            assert!(why.starts_with(expected), "{expected}: {why}");
        }
    }

    #[test]
    fn an_unusable_secret_is_a_misconfiguration() {
        let unset =
            |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(
            &spec_headers(SPEC_V1),
            SPEC_BODY,
            RECEIVED_AT_MS,
            Ok(300),
            unset,
        );
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }

    #[test]
    fn a_bad_tolerance_is_a_misconfiguration_only_for_a_signed_request() {
        let broken = || Err(WebhookRejection::Misconfigured("tolerance".into()));
        let host = host_with(SPEC_SECRET);
        let signed = check(
            &spec_headers(SPEC_V1),
            SPEC_BODY,
            RECEIVED_AT_MS,
            broken(),
            &host,
        );
        assert_eq!(
            signed,
            Err(WebhookRejection::Misconfigured("tolerance".into()))
        );
        let unsigned = check(
            &spec_headers(""),
            SPEC_BODY,
            RECEIVED_AT_MS,
            broken(),
            &host,
        );
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
    }

    #[test]
    fn more_v1_entries_than_a_rotation_needs_are_refused_unchecked() {
        let many = [SPEC_V1; 9].join(" ");
        let refused = check_with(&spec_headers(&many), SPEC_BODY, RECEIVED_AT_MS).unwrap_err();
        assert_eq!(refused, "9 signatures presented; at most 8 are checked");
    }

    #[test]
    fn the_signed_content_is_the_id_the_timestamp_and_the_body_joined_by_dots() {
        assert_eq!(signed_content("msg_1", "17", b"{}"), b"msg_1.17.{}");
    }
}

/// Bounded fuzzing of the signature check: whatever the headers, it refuses without panicking.
/// `PROPTEST_CASES=100000` runs longer.
#[cfg(test)]
mod fuzz {
    use super::tests::host_with;
    use super::*;
    use proptest::prelude::*;
    use switchboard_plugin_sdk::fuzz;

    fn header(name: &str, value: String) -> Header {
        Header {
            name: name.into(),
            value,
        }
    }

    proptest! {
        #![proptest_config(fuzz::config())]

        #[test]
        fn arbitrary_headers_are_refused_without_panicking(
            id in fuzz::header_value(),
            timestamp in prop_oneof!["[0-9]{0,24}", fuzz::header_value()],
            signature in prop_oneof!["(v1[a]?,[A-Za-z0-9+/=]{0,50} ?){0,10}", fuzz::header_value()],
            body in fuzz::bytes(),
        ) {
            let headers = [
                header(ID_HEADER, id),
                header(TIMESTAMP_HEADER, timestamp),
                header(SIGNATURE_HEADER, signature),
            ];
            let host = host_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
            let verdict = check(&headers, &body, 1_700_000_000_000, Ok(300), host);
            prop_assert!(matches!(verdict, Err(WebhookRejection::BadSignature(_))), "{verdict:?}");
        }
    }
}
