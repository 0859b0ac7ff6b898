//! Webhook signature helpers: hex, freshness, and an HMAC check done by the host with a named
//! secret (the plugin never holds the secret).

use crate::secrets::{self, HmacAlgorithm, SecretError};
use crate::{Timestamp, WebhookRejection, constant_time_eq};

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
    let drift = (received_at / 1000 - signed_at_secs).abs();
    if drift > tolerance_secs {
        return Err(WebhookRejection::BadSignature(format!(
            "the signature is {drift} s away from the time of receipt; at most {tolerance_secs} s is accepted"
        )));
    }
    Ok(())
}

/// Checks that `presented` (the signature from the request, already decoded) is the HMAC of
/// `message` keyed with the secret called `secret`, computed by the host.
pub fn verify_hmac(
    algorithm: HmacAlgorithm,
    secret: &str,
    message: &[u8],
    presented: &[u8],
) -> Result<(), WebhookRejection> {
    let expected = secrets::hmac(algorithm, secret, message).map_err(|error| {
        WebhookRejection::Misconfigured(match error {
            SecretError::Undeclared(name) => {
                format!("secret `{name}` is not declared in plugins.toml")
            }
            SecretError::Unset(name) => {
                format!("secret `{name}` is declared but its environment variable is not set")
            }
        })
    })?;
    if constant_time_eq(&expected, presented) {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature(
            "the signature does not match".into(),
        ))
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
    }

    #[test]
    fn signatures_are_fresh_within_the_tolerance_of_receipt() {
        let received_at = 1_700_000_300_000;
        assert!(check_freshness(1_700_000_000, received_at, 300).is_ok());
        assert!(check_freshness(1_699_999_999, received_at, 300).is_err());
        assert!(check_freshness(1_700_000_601, received_at, 300).is_err());
    }
}
