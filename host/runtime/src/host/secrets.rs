//! `secrets`: HMACs keyed with a secret the plugin never sees, and their constant-time check
//! (`verify-hmac`), which also tells the host that the call verified its request.

use ring::hmac;

use base64::Engine as _;

use crate::bindings::switchboard::channel::secrets::{
    HmacAlgorithm, Host, KeyEncoding, KeyError, SecretError,
};
use crate::secrets::SecretLookupError;
use crate::state::PluginState;

impl Host for PluginState {
    fn is_set(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.plugin.secrets.get(&name).is_ok())
    }

    fn hmac(
        &mut self,
        algorithm: HmacAlgorithm,
        secret: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, SecretError>> {
        let value = match self.plugin.secrets.get(&secret) {
            Ok(value) => value,
            Err(SecretLookupError::Undeclared(name)) => {
                return Ok(Err(SecretError::Undeclared(name)));
            }
            Err(SecretLookupError::Unset(name)) => return Ok(Err(SecretError::Unset(name))),
        };
        Ok(Ok(compute_hmac(
            algorithm,
            value.expose().as_bytes(),
            &message,
        )))
    }

    fn hmac_decoded(
        &mut self,
        algorithm: HmacAlgorithm,
        secret: String,
        encoding: KeyEncoding,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, KeyError>> {
        Ok(self
            .key(&secret, &encoding)
            .map(|key| compute_hmac(algorithm, &key, &message)))
    }

    fn verify_hmac(
        &mut self,
        algorithm: HmacAlgorithm,
        secret: String,
        encoding: KeyEncoding,
        message: Vec<u8>,
        presented: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, KeyError>> {
        let matched = self
            .key(&secret, &encoding)
            .map(|key| hmac_matches(algorithm, &key, &message, &presented));
        if let Ok(matched) = matched {
            self.facts.saw_verification(matched);
        }
        Ok(matched)
    }
}

impl PluginState {
    /// The named secret as HMAC key bytes.
    fn key(&self, secret: &str, encoding: &KeyEncoding) -> Result<Vec<u8>, KeyError> {
        let value = match self.plugin.secrets.get(secret) {
            Ok(value) => value,
            Err(SecretLookupError::Undeclared(name)) => return Err(KeyError::Undeclared(name)),
            Err(SecretLookupError::Unset(name)) => return Err(KeyError::Unset(name)),
        };
        decode_key(value.expose(), encoding)
            .map_err(|why| KeyError::Malformed(format!("secret `{secret}` {why}")))
    }
}

/// A secret's text as key bytes. The error says what is wrong, never what the value is.
fn decode_key(text: &str, encoding: &KeyEncoding) -> Result<Vec<u8>, &'static str> {
    match encoding {
        KeyEncoding::Utf8 => Ok(text.as_bytes().to_vec()),
        KeyEncoding::Base64(prefix) => {
            let text = text.trim();
            let body = prefix
                .as_deref()
                .and_then(|p| text.strip_prefix(p))
                .unwrap_or(text);
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(body)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(body))
                .map_err(|_| "is not base64")?;
            if decoded.is_empty() {
                return Err("decodes to no bytes");
            }
            Ok(decoded)
        }
    }
}

fn hmac_key(algorithm: HmacAlgorithm, key: &[u8]) -> hmac::Key {
    let algorithm = match algorithm {
        HmacAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HmacAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HmacAlgorithm::Sha512 => hmac::HMAC_SHA512,
    };
    hmac::Key::new(algorithm, key)
}

fn compute_hmac(algorithm: HmacAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac_key(algorithm, key), message)
        .as_ref()
        .to_vec()
}

/// Whether `presented` is the HMAC of `message`. ring compares in constant time, so how much of
/// a forged signature matches cannot be learned from how long the answer takes.
fn hmac_matches(algorithm: HmacAlgorithm, key: &[u8], message: &[u8], presented: &[u8]) -> bool {
    hmac::verify(&hmac_key(algorithm, key), message, presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::hashing::hex;

    #[test]
    fn keys_decode_from_base64_after_their_prefix() {
        let prefixed = KeyEncoding::Base64(Some("whsec_".into()));
        assert_eq!(decode_key("whsec_AQID", &prefixed).unwrap(), [1, 2, 3]);
        assert_eq!(decode_key("AQID", &prefixed).unwrap(), [1, 2, 3]);
        assert_eq!(
            decode_key("AQIDBA", &KeyEncoding::Base64(None)).unwrap(),
            [1, 2, 3, 4]
        );
        assert_eq!(decode_key("abc", &KeyEncoding::Utf8).unwrap(), b"abc");
        assert_eq!(decode_key("whsec_!!", &prefixed), Err("is not base64"));
    }

    fn state_with_secret(value: &str) -> PluginState {
        let mapping = [
            ("key".to_string(), "KEY_VAR".to_string()),
            ("unset".to_string(), "UNSET_VAR".to_string()),
        ];
        let secrets = crate::secrets::Secrets::read(&mapping.into(), |var| {
            (var == "KEY_VAR").then(|| value.to_string())
        });
        PluginState::for_tests(secrets)
    }

    #[test]
    fn verify_hmac_accepts_the_right_signature_and_marks_the_call_verified() {
        let mut state = state_with_secret("Jefe");
        let message = b"what do ya want for nothing?".to_vec();
        let right = compute_hmac(HmacAlgorithm::Sha256, b"Jefe", &message);
        let answer = state.verify_hmac(
            HmacAlgorithm::Sha256,
            "key".into(),
            KeyEncoding::Utf8,
            message,
            right,
        );
        assert!(matches!(answer.unwrap(), Ok(true)));
        assert!(state.facts.verified);
    }

    #[test]
    fn verify_hmac_refuses_a_wrong_or_truncated_signature_and_the_call_stays_unverified() {
        let mut state = state_with_secret("Jefe");
        let message = b"what do ya want for nothing?".to_vec();
        let right = compute_hmac(HmacAlgorithm::Sha256, b"Jefe", &message);
        let mut flipped = right.clone();
        flipped[31] ^= 1;
        for presented in [flipped, right[..16].to_vec(), Vec::new()] {
            let answer = state.verify_hmac(
                HmacAlgorithm::Sha256,
                "key".into(),
                KeyEncoding::Utf8,
                message.clone(),
                presented,
            );
            assert!(matches!(answer.unwrap(), Ok(false)));
        }
        assert!(!state.facts.verified);
    }

    #[test]
    fn verify_hmac_decodes_the_key_and_names_a_secret_it_cannot_use() {
        let mut state = state_with_secret("whsec_AQID");
        let signed = compute_hmac(HmacAlgorithm::Sha512, &[1, 2, 3], b"m");
        let prefixed = KeyEncoding::Base64(Some("whsec_".into()));
        let answer = state.verify_hmac(
            HmacAlgorithm::Sha512,
            "key".into(),
            prefixed,
            b"m".to_vec(),
            signed,
        );
        assert!(matches!(answer.unwrap(), Ok(true)));

        let mut state = state_with_secret("whsec_AQID");
        let unset = state.verify_hmac(
            HmacAlgorithm::Sha256,
            "unset".into(),
            KeyEncoding::Utf8,
            b"m".to_vec(),
            vec![0; 32],
        );
        assert!(matches!(unset.unwrap(), Err(KeyError::Unset(name)) if name == "unset"));
        let undeclared = state.verify_hmac(
            HmacAlgorithm::Sha256,
            "other".into(),
            KeyEncoding::Utf8,
            b"m".to_vec(),
            vec![0; 32],
        );
        assert!(matches!(undeclared.unwrap(), Err(KeyError::Undeclared(name)) if name == "other"));
        let not_base64 = state.verify_hmac(
            HmacAlgorithm::Sha256,
            "key".into(),
            KeyEncoding::Base64(None),
            b"m".to_vec(),
            vec![0; 32],
        );
        assert!(matches!(
            not_base64.unwrap(),
            Err(KeyError::Malformed(why)) if why == "secret `key` is not base64"
        ));
        assert!(!state.facts.verified);
    }

    #[test]
    fn hmacs_match_the_rfc_test_vectors() {
        // RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (HMAC-SHA256).
        let key = b"Jefe";
        let message = b"what do ya want for nothing?";
        assert_eq!(
            hex(&compute_hmac(HmacAlgorithm::Sha1, key, message)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&compute_hmac(HmacAlgorithm::Sha256, key, message)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
