//! The Signed Event Webhook check: ECDSA P-256 / SHA-256 over the timestamp header followed by
//! the raw body, the signature base64 DER in a header, the key from the SendGrid console. The host
//! verifies it (`crypto.verify-signature`), so the host knows the request was verified.

use switchboard_plugin_sdk::{self as sdk, WebhookRejection, WebhookRequest, crypto};

const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Our side of the check: the configured key and tolerance, or why they cannot be used.
pub struct Settings {
    pub verification_key: Result<Vec<u8>, WebhookRejection>,
    pub tolerance_secs: Result<i64, WebhookRejection>,
}

impl Settings {
    /// The plugin's configuration.
    pub fn configured() -> Self {
        Settings {
            verification_key: verification_key(),
            tolerance_secs: tolerance_secs(),
        }
    }
}

/// Accepts the request only if it carries a fresh, valid signature.
pub fn verify(request: &WebhookRequest) -> Result<(), WebhookRejection> {
    check(request, &Settings::configured(), host_verify)
}

/// The whole check, with the host's ECDSA verification passed in (`verify(key, message,
/// signature)`) so that it also runs natively, in the unit tests.
///
/// A request without a usable signature is a bad signature even while our configuration is
/// broken: only one that carries a signature could have been checked with it fixed.
pub fn check(
    request: &WebhookRequest,
    settings: &Settings,
    verify: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<bool, String>,
) -> Result<(), WebhookRejection> {
    let bad = |why: String| WebhookRejection::BadSignature(why);
    let signature = sdk::header(&request.headers, SIGNATURE_HEADER)
        .ok_or_else(|| bad(format!("missing {SIGNATURE_HEADER} header")))?;
    let timestamp = sdk::header(&request.headers, TIMESTAMP_HEADER)
        .ok_or_else(|| bad(format!("missing {TIMESTAMP_HEADER} header")))?;
    let signed_at: i64 = timestamp.trim().parse().map_err(|_| {
        bad(format!(
            "{TIMESTAMP_HEADER} is not a Unix time: {timestamp:?}"
        ))
    })?;
    let signature = sdk::base64_decode(signature).map_err(|e| bad(format!("signature {e}")))?;
    let tolerance_secs = settings.tolerance_secs.clone()?;
    check_freshness(signed_at, request.received_at, tolerance_secs).map_err(bad)?;
    let key = settings.verification_key.clone()?;
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(&request.body);
    match verify(&key, &message, &signature) {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad("signature does not match the body and timestamp".into())),
        Err(why) => Err(WebhookRejection::Misconfigured(format!(
            "config key `verification_key` is not a usable P-256 public key: {why}"
        ))),
    }
}

/// ECDSA P-256 / SHA-256, verified by the host.
fn host_verify(key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool, String> {
    crypto::verify_signature(
        crypto::SignatureAlgorithm::EcdsaP256Sha256,
        key,
        message,
        signature,
    )
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

fn verification_key() -> Result<Vec<u8>, WebhookRejection> {
    let text = sdk::require_config("verification_key")?;
    sdk::base64_decode(&text).map_err(|e| {
        WebhookRejection::Misconfigured(format!("config key `verification_key` is {e}"))
    })
}

/// Natively, in tests: requests signed for a stand-in of the host's ECDSA check, which accepts
/// the signature `good` over exactly `timestamp + body`.
#[cfg(test)]
pub(crate) mod test_host {
    use super::*;

    pub const SIGNED_AT: &str = "1700000000";
    pub const RECEIVED_AT: i64 = 1_700_000_002_000;
    pub const KEY: &[u8] = b"the-verification-key";

    pub fn settings() -> Settings {
        Settings {
            verification_key: Ok(KEY.to_vec()),
            tolerance_secs: Ok(300),
        }
    }

    /// What the host answers: `good` is the signature of every message under KEY.
    pub fn verify(key: &[u8], _message: &[u8], signature: &[u8]) -> Result<bool, String> {
        assert_eq!(key, KEY);
        Ok(signature == b"good")
    }

    /// A request with `body`, signed `good` when `signed`.
    pub fn request(method: &str, body: &[u8], signed: bool) -> WebhookRequest {
        let mut headers = vec![sdk::Header {
            name: TIMESTAMP_HEADER.into(),
            value: SIGNED_AT.into(),
        }];
        if signed {
            headers.push(sdk::Header {
                name: SIGNATURE_HEADER.into(),
                value: sdk::base64_encode(b"good"),
            });
        }
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/email-sendgrid".into(),
            query: String::new(),
            headers,
            body: body.to_vec(),
            received_at: RECEIVED_AT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_host::{KEY, RECEIVED_AT, SIGNED_AT, request, settings, verify};
    use super::*;

    #[test]
    fn freshness_allows_skew_up_to_the_tolerance_either_way() {
        let received_ms = 1_700_000_000_000;
        assert!(check_freshness(1_700_000_000 - 300, received_ms, 300).is_ok());
        assert!(check_freshness(1_700_000_000 + 300, received_ms, 300).is_ok());
        let stale = check_freshness(1_700_000_000 - 301, received_ms, 300).unwrap_err();
        assert!(stale.contains("301 s"), "{stale}");
        assert!(check_freshness(i64::MIN, received_ms, 300).is_err());
    }

    #[test]
    fn the_host_verifies_the_timestamp_then_the_raw_body() {
        let seen = check(
            &request("POST", b"[]", true),
            &settings(),
            |key, message, signature| {
                assert_eq!(key, KEY);
                assert_eq!(message, format!("{SIGNED_AT}[]").as_bytes());
                assert_eq!(signature, b"good");
                Ok(true)
            },
        );
        assert_eq!(seen, Ok(()));
    }

    #[test]
    fn a_wrong_or_missing_signature_is_a_bad_signature() {
        let wrong = check(&request("POST", b"[]", true), &settings(), |_, _, _| {
            Ok(false)
        });
        assert_eq!(
            wrong,
            Err(WebhookRejection::BadSignature(
                "signature does not match the body and timestamp".into()
            ))
        );
        let missing = check(&request("POST", b"[]", false), &settings(), verify);
        assert_eq!(
            missing,
            Err(WebhookRejection::BadSignature(format!(
                "missing {SIGNATURE_HEADER} header"
            )))
        );
    }

    #[test]
    fn a_stale_signature_is_refused_before_the_host_checks_it() {
        let mut late = request("POST", b"[]", true);
        late.received_at = RECEIVED_AT + 400_000;
        let never = |_: &[u8], _: &[u8], _: &[u8]| -> Result<bool, String> { panic!("checked") };
        assert!(matches!(
            check(&late, &settings(), never),
            Err(WebhookRejection::BadSignature(why)) if why.contains("tolerance is 300 s")
        ));
    }

    #[test]
    fn an_unset_or_unusable_key_is_a_misconfiguration_only_for_a_signed_request() {
        let unset = Settings {
            verification_key: Err(WebhookRejection::Misconfigured("unset".into())),
            tolerance_secs: Ok(300),
        };
        let signed = check(&request("POST", b"[]", true), &unset, verify);
        assert_eq!(signed, Err(WebhookRejection::Misconfigured("unset".into())));
        let unsigned = check(&request("POST", b"[]", false), &unset, verify);
        assert!(matches!(unsigned, Err(WebhookRejection::BadSignature(_))));
        let unusable = check(&request("POST", b"[]", true), &settings(), |_, _, _| {
            Err("not a P-256 key".into())
        });
        assert!(
            matches!(unusable, Err(WebhookRejection::Misconfigured(why)) if why.contains("not a P-256 key"))
        );
    }
}
