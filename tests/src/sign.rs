//! Webhook signatures computed the way the vendors document them, with RustCrypto (the host uses
//! ring), so that the tests do not share an implementation with the code they test.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;

/// A SendGrid Signed Event Webhook key pair. Fixed, so that runs are repeatable.
pub struct SendGridKey(SigningKey);

impl SendGridKey {
    pub fn fixed() -> Self {
        SendGridKey::from_seed(7)
    }

    /// Another key: what an attacker (or a stale configuration) would sign with.
    pub fn other() -> Self {
        SendGridKey::from_seed(9)
    }

    fn from_seed(seed: u8) -> Self {
        let secret = [seed; 32];
        SendGridKey(SigningKey::from_slice(&secret).expect("a valid P-256 scalar"))
    }

    /// The verification key as the SendGrid console shows it: base64 DER SubjectPublicKeyInfo.
    pub fn verification_key(&self) -> String {
        let der = self
            .0
            .verifying_key()
            .to_public_key_der()
            .expect("encode the public key");
        STANDARD.encode(der.as_bytes())
    }

    /// The two headers of a signed delivery: ECDSA P-256/SHA-256 over timestamp + body, base64 DER.
    pub fn headers(&self, timestamp_secs: i64, body: &[u8]) -> Vec<(String, String)> {
        let timestamp = timestamp_secs.to_string();
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        let signature: Signature = self.0.sign(&message);
        vec![
            (
                "X-Twilio-Email-Event-Webhook-Signature".to_string(),
                STANDARD.encode(signature.to_der().as_bytes()),
            ),
            (
                "X-Twilio-Email-Event-Webhook-Timestamp".to_string(),
                timestamp,
            ),
        ]
    }
}

/// Twilio's `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each POST parameter's name
/// and value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The portal's `X-Portal-Signature` (Stripe's scheme): `t=<unix seconds>`, then one `v1=` per
/// secret, each the lowercase hex HMAC-SHA256 of `<t>.` followed by the body. Several secrets
/// sign at once while the portal rotates its secret.
pub fn portal_signature(secrets: &[&str], timestamp_secs: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp_secs}");
    for secret in secrets {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{timestamp_secs}.").as_bytes());
        mac.update(body);
        header.push_str(",v1=");
        for byte in mac.finalize().into_bytes() {
            header.push_str(&format!("{byte:02x}"));
        }
    }
    header
}

/// `application/x-www-form-urlencoded`, as Twilio posts it.
pub fn form_body(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilio_s_documented_example() {
        // The worked example of Twilio's request-validation documentation (also the fixture of
        // Twilio's own helper libraries).
        let params = [
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
        ];
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn portal_signature_matches_the_plugin_s_documented_example() {
        // The example in plugins/portal/src/lib.rs, computed apart from both (Python's `hmac`).
        let body = br#"{"events":[]}"#;
        assert_eq!(
            portal_signature(&["portal-test-secret"], 1_700_000_000, body),
            "t=1700000000,v1=31409e9670ab430167a4699e7f9ed932d4775da330c6a365799ae41ff340d707"
        );
        let rotating = portal_signature(&["old-secret", "portal-test-secret"], 1_700_000_000, body);
        assert_eq!(rotating.matches(",v1=").count(), 2);
        assert!(
            rotating
                .ends_with("v1=31409e9670ab430167a4699e7f9ed932d4775da330c6a365799ae41ff340d707")
        );
    }
}
