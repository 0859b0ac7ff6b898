//! `crypto.verify-signature`: public-key checks done natively; a match tells the host that the
//! call verified its request.

use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

use crate::bindings::switchboard::channel::crypto::{Host, SignatureAlgorithm};
use crate::state::PluginState;

/// The DER `SubjectPublicKeyInfo` header of an uncompressed P-256 key (id-ecPublicKey,
/// prime256v1, a 66-byte BIT STRING); the 65-byte point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Host for PluginState {
    fn verify_signature(
        &mut self,
        algorithm: SignatureAlgorithm,
        public_key: Vec<u8>,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, String>> {
        let verified = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                verify_ecdsa_p256(&public_key, &message, &signature)
            }
        };
        if let Ok(matched) = verified {
            self.facts.saw_verification(matched);
        }
        Ok(verified)
    }
}

/// Verifies an ASN.1 DER ECDSA P-256/SHA-256 signature. The key may be DER
/// `SubjectPublicKeyInfo` (as vendors publish it) or a bare uncompressed point.
pub fn verify_ecdsa_p256(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    let point = match public_key {
        [0x04, ..] if public_key.len() == 65 => public_key,
        _ if public_key.len() == 91 && public_key.starts_with(&P256_SPKI_PREFIX) => {
            &public_key[26..]
        }
        _ => {
            return Err(format!(
                "expected a DER SubjectPublicKeyInfo for an uncompressed P-256 key (91 bytes) or a 65-byte point, got {} bytes",
                public_key.len()
            ));
        }
    };
    Ok(UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn key_pair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    #[test]
    fn only_a_verified_signature_marks_the_call_verified() {
        let pair = key_pair();
        let signature = pair.sign(&SystemRandom::new(), b"body").unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let mut state = PluginState::for_tests(Default::default());
        let verify = |state: &mut PluginState, message: &[u8], key: &[u8]| {
            state
                .verify_signature(
                    SignatureAlgorithm::EcdsaP256Sha256,
                    key.to_vec(),
                    message.to_vec(),
                    signature.as_ref().to_vec(),
                )
                .unwrap()
        };
        assert_eq!(verify(&mut state, b"tampered", &point), Ok(false));
        assert!(verify(&mut state, b"body", b"short").is_err());
        assert!(!state.facts.verified);
        assert_eq!(verify(&mut state, b"body", &point), Ok(true));
        assert!(state.facts.verified);
    }

    #[test]
    fn verifies_with_a_point_or_an_spki_key_and_rejects_tampering() {
        let pair = key_pair();
        let signature = pair.sign(&SystemRandom::new(), b"1700000000[]").unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let spki = [P256_SPKI_PREFIX.as_slice(), &point].concat();
        assert_eq!(
            verify_ecdsa_p256(&point, b"1700000000[]", signature.as_ref()),
            Ok(true)
        );
        assert_eq!(
            verify_ecdsa_p256(&spki, b"1700000000[]", signature.as_ref()),
            Ok(true)
        );
        assert_eq!(
            verify_ecdsa_p256(&spki, b"1700000001[]", signature.as_ref()),
            Ok(false)
        );
        assert!(
            verify_ecdsa_p256(b"short", b"m", signature.as_ref())
                .unwrap_err()
                .contains("5 bytes")
        );
    }
}
