//! The Signed Event Webhook check: ECDSA P-256 / SHA-256 over the timestamp header followed by
//! the raw body, the signature base64 DER in a header, the key from the SendGrid console.

use switchboard_plugin_sdk::{self as sdk, WebhookRejection, WebhookRequest, crypto};

const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Accepts the request only if it carries a fresh, valid signature.
pub fn verify(request: &WebhookRequest) -> Result<(), WebhookRejection> {
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
    check_freshness(signed_at, request.received_at, tolerance_secs()?).map_err(bad)?;

    let key = verification_key()?;
    let signature = sdk::base64_decode(signature).map_err(|e| bad(format!("signature {e}")))?;
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(&request.body);
    match crypto::verify_signature(
        crypto::SignatureAlgorithm::EcdsaP256Sha256,
        &key,
        &message,
        &signature,
    ) {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad("signature does not match the body and timestamp".into())),
        Err(why) => Err(WebhookRejection::Misconfigured(format!(
            "config key `verification_key` is not a usable P-256 public key: {why}"
        ))),
    }
}

/// Refuses a signature made too long before (or after) the request was received, so that a
/// captured request cannot be replayed against us later.
pub fn check_freshness(
    signed_at_secs: i64,
    received_at_ms: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let skew = (received_at_ms / 1000 - signed_at_secs).abs();
    if skew > tolerance_secs {
        return Err(format!(
            "timestamp is {skew} s away from the time the request was received; the tolerance is {tolerance_secs} s"
        ));
    }
    Ok(())
}

fn tolerance_secs() -> Result<i64, WebhookRejection> {
    match sdk::config::get("timestamp_tolerance_secs") {
        None => Ok(DEFAULT_TOLERANCE_SECS),
        Some(text) => text.trim().parse().map_err(|_| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_allows_skew_up_to_the_tolerance_either_way() {
        let received_ms = 1_700_000_000_000;
        assert!(check_freshness(1_700_000_000 - 300, received_ms, 300).is_ok());
        assert!(check_freshness(1_700_000_000 + 300, received_ms, 300).is_ok());
        let stale = check_freshness(1_700_000_000 - 301, received_ms, 300).unwrap_err();
        assert!(stale.contains("301 s"), "{stale}");
    }
}
