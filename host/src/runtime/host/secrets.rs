//! `secrets`: HMACs keyed with a secret the plugin never sees.

use ring::hmac;

use base64::Engine as _;

use crate::runtime::bindings::switchboard::channel::secrets::{
    HmacAlgorithm, Host, KeyEncoding, KeyError, SecretError,
};
use crate::runtime::secrets::SecretLookupError;
use crate::runtime::state::PluginState;

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
        let value = match self.plugin.secrets.get(&secret) {
            Ok(value) => value,
            Err(SecretLookupError::Undeclared(name)) => return Ok(Err(KeyError::Undeclared(name))),
            Err(SecretLookupError::Unset(name)) => return Ok(Err(KeyError::Unset(name))),
        };
        let key = match decode_key(value.expose(), &encoding) {
            Ok(key) => key,
            Err(why) => return Ok(Err(KeyError::Malformed(format!("secret `{secret}` {why}")))),
        };
        Ok(Ok(compute_hmac(algorithm, &key, &message)))
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

fn compute_hmac(algorithm: HmacAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    let algorithm = match algorithm {
        HmacAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HmacAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HmacAlgorithm::Sha512 => hmac::HMAC_SHA512,
    };
    hmac::sign(&hmac::Key::new(algorithm, key), message)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

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
