//! The example vendor's webhook signature: `x-example-signature` is the lowercase hex
//! HMAC-SHA256 of the raw body, keyed with the secret `signing_secret`. The host computes the
//! HMAC and compares it (`secrets.verify-hmac`): the secret never enters the plugin, and the host
//! knows the request was verified — only then may Switchboard keep a request the plugin finds
//! malformed.
//!
//! The example vendor signs only the body, so a captured request could be sent again; the event
//! ids make that harmless (Switchboard logs each once). If your vendor signs a timestamp too,
//! check it against the request's `received_at`, as `plugins/portal` does; if it signs a token
//! and not the body, register the token with `sdk::signature::use_once`, as
//! `plugins/email-mailgun` does.

use switchboard_plugin_sdk::signature::{hex_decode, matches_hmac};
use switchboard_plugin_sdk::{self as sdk, WebhookRejection, WebhookRequest, secrets};

const SIGNATURE_HEADER: &str = "x-example-signature";
/// The name of the secret that keys the HMAC, as the operator declares it in `plugins.toml`.
const SECRET: &str = "signing_secret";

/// Accepts the request only if it carries the signature of its body.
pub fn verify(request: &WebhookRequest) -> Result<(), WebhookRejection> {
    check(request, host_verify)
}

/// The whole check, with the host's comparison passed in (`verify(message, presented)`) so that
/// it also runs natively, in the unit tests.
///
/// It reads only the signature header and the raw body: nothing else about the request is
/// trusted before the signature is.
pub fn check(
    request: &WebhookRequest,
    verify: impl FnOnce(&[u8], &[u8]) -> Result<bool, WebhookRejection>,
) -> Result<(), WebhookRejection> {
    let bad = WebhookRejection::BadSignature;
    let header = sdk::header(&request.headers, SIGNATURE_HEADER)
        .ok_or_else(|| bad(format!("missing {SIGNATURE_HEADER} header")))?;
    let presented =
        hex_decode(header).ok_or_else(|| bad(format!("{SIGNATURE_HEADER} is not hex")))?;
    if verify(&request.body, &presented)? {
        Ok(())
    } else {
        Err(bad(format!("{SIGNATURE_HEADER} does not match the body")))
    }
}

/// HMAC-SHA256 keyed with the signing secret, computed and compared by the host. A secret the
/// operator has not set is their mistake, not a forgery: `misconfigured` keeps the request for
/// replay.
fn host_verify(message: &[u8], presented: &[u8]) -> Result<bool, WebhookRejection> {
    matches_hmac(
        secrets::HmacAlgorithm::Sha256,
        SECRET,
        &secrets::KeyEncoding::Utf8,
        message,
        presented,
    )
}

/// Natively, in tests: the host's `secrets.verify-hmac` for this vendor, answering for the body
/// `{"events":[]}` signed with `example-test-secret`.
#[cfg(test)]
pub mod test_host {
    use super::*;

    pub const BODY: &[u8] = br#"{"events":[]}"#;
    /// HMAC-SHA256 of BODY keyed with `example-test-secret`, computed apart from this crate
    /// (Python's `hmac`), so that the check is tested against the scheme, not against itself.
    pub const GOOD: &str = "9143599b84c2a12759cbcd7c08c1afc8d8f398c34152ba18abe5130e19db1f47";

    /// What the host answers: only GOOD over BODY matches.
    pub fn verify(message: &[u8], presented: &[u8]) -> Result<bool, WebhookRejection> {
        Ok(message == BODY && hex_decode(GOOD).as_deref() == Some(presented))
    }

    /// A request with `body` and, when given, the signature header.
    pub fn request(method: &str, body: &[u8], signature: Option<&str>) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/channel-template".into(),
            query: String::new(),
            headers: signature
                .map(|value| sdk::Header {
                    name: SIGNATURE_HEADER.into(),
                    value: value.into(),
                })
                .into_iter()
                .collect(),
            body: body.to_vec(),
            received_at: 1_700_000_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_host::{BODY, GOOD, request, verify};
    use super::*;

    fn refusal(header: Option<&str>) -> String {
        match check(&request("POST", BODY, header), verify) {
            Err(WebhookRejection::BadSignature(why)) => why,
            other => panic!("expected a bad signature, got {other:?}"),
        }
    }

    #[test]
    fn the_signature_of_the_body_is_accepted() {
        assert_eq!(check(&request("POST", BODY, Some(GOOD)), verify), Ok(()));
        let upper = GOOD.to_uppercase();
        assert_eq!(check(&request("POST", BODY, Some(&upper)), verify), Ok(()));
    }

    #[test]
    fn the_host_is_handed_the_raw_body_and_the_decoded_signature() {
        let seen = check(&request("POST", BODY, Some(GOOD)), |message, presented| {
            assert_eq!(message, BODY);
            assert_eq!(presented.len(), 32);
            Ok(true)
        });
        assert_eq!(seen, Ok(()));
    }

    #[test]
    fn a_missing_or_wrong_signature_is_refused() {
        assert_eq!(refusal(None), "missing x-example-signature header");
        assert_eq!(refusal(Some("not hex")), "x-example-signature is not hex");
        assert_eq!(refusal(Some(&GOOD[..63])), "x-example-signature is not hex");
        let flipped = format!("0{}", &GOOD[1..]);
        for wrong in [flipped.as_str(), "", &GOOD[..62]] {
            assert_eq!(
                refusal(Some(wrong)),
                "x-example-signature does not match the body",
                "{wrong}"
            );
        }
    }

    #[test]
    fn an_unset_secret_is_a_misconfiguration() {
        let unset =
            |_: &[u8], _: &[u8]| Err(WebhookRejection::Misconfigured("secret unset".into()));
        let result = check(&request("POST", BODY, Some(GOOD)), unset);
        assert!(matches!(result, Err(WebhookRejection::Misconfigured(_))));
    }
}
