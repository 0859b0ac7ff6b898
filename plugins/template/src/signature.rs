//! The example vendor's webhook signature: `x-example-signature` is the lowercase hex
//! HMAC-SHA256 of the raw body, keyed with the secret `signing_secret`. The host computes the
//! HMAC, so the secret never enters the plugin.
//!
//! The example vendor signs only the body, so a captured request could be sent again; the event
//! ids make that harmless (Switchboard logs each once). If your vendor signs a timestamp too,
//! check it against the request's `received_at`, as `plugins/portal` does.

use switchboard_plugin_sdk::{
    self as sdk, Explain as _, WebhookRejection, WebhookRequest, secrets,
};

const SIGNATURE_HEADER: &str = "x-example-signature";
/// The name of the secret that keys the HMAC, as the operator declares it in `plugins.toml`.
const SECRET: &str = "signing_secret";

/// Accepts the request only if it carries the signature of its body.
pub fn verify(request: &WebhookRequest) -> Result<(), WebhookRejection> {
    check(
        sdk::header(&request.headers, SIGNATURE_HEADER),
        &request.body,
        host_hmac,
    )
}

/// The whole check, with the HMAC passed in so that it also runs natively, in the unit tests.
pub fn check(
    header: Option<&str>,
    body: &[u8],
    hmac: impl Fn(&[u8]) -> Result<Vec<u8>, WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let presented = header.ok_or_else(|| {
        WebhookRejection::BadSignature(format!("missing {SIGNATURE_HEADER} header"))
    })?;
    let expected = hex(&hmac(body)?);
    // Constant time, so that how long a wrong guess takes says nothing about the right one.
    if sdk::constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature(format!(
            "{SIGNATURE_HEADER} does not match the body"
        )))
    }
}

/// HMAC-SHA256 keyed with the signing secret, computed by the host. A secret the operator has
/// not set is their mistake, not a forgery: `misconfigured` keeps the request for replay.
fn host_hmac(message: &[u8]) -> Result<Vec<u8>, WebhookRejection> {
    secrets::hmac(secrets::HmacAlgorithm::Sha256, SECRET, message).map_err(|e| {
        WebhookRejection::Misconfigured(format!("cannot check signatures: {}", e.explain()))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"events":[]}"#;
    /// HMAC-SHA256 of BODY keyed with `example-test-secret`, computed apart from this crate
    /// (Python's `hmac`), so that the check is tested against the scheme, not against itself.
    const GOOD: &str = "9143599b84c2a12759cbcd7c08c1afc8d8f398c34152ba18abe5130e19db1f47";

    /// What the host's `secrets.hmac` answers for BODY; it also checks that the raw body is what
    /// gets signed.
    fn host(message: &[u8]) -> Result<Vec<u8>, WebhookRejection> {
        assert_eq!(message, BODY);
        Ok((0..GOOD.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&GOOD[i..i + 2], 16).unwrap())
            .collect())
    }

    fn refusal(header: Option<&str>) -> String {
        match check(header, BODY, host) {
            Err(WebhookRejection::BadSignature(why)) => why,
            other => panic!("expected a bad signature, got {other:?}"),
        }
    }

    #[test]
    fn the_signature_of_the_body_is_accepted() {
        assert!(check(Some(GOOD), BODY, host).is_ok());
    }

    #[test]
    fn a_missing_or_wrong_signature_is_refused() {
        assert_eq!(refusal(None), "missing x-example-signature header");
        let flipped = format!("0{}", &GOOD[1..]);
        for wrong in [flipped.as_str(), "", "not hex", &GOOD[..63]] {
            assert!(refusal(Some(wrong)).contains("does not match"), "{wrong}");
        }
    }

    #[test]
    fn an_unset_secret_is_a_misconfiguration() {
        let unset = |_: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(Some(GOOD), BODY, unset);
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }
}
