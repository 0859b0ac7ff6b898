//! What the host itself saw during one call, beside what the plugin answered: whether a signature
//! was verified through the host (`secrets.verify-hmac`, `crypto.verify-signature`), and the
//! values the plugin registered with `nonces.use-once`. Ingestion decides what to store from these
//! facts, so they are gathered here by the host, never reported by the plugin.

/// The most values one call may register with `nonces.use-once`.
pub const MAX_NONCES_PER_CALL: usize = 8;
/// The longest value `nonces.use-once` accepts, in bytes.
pub const MAX_NONCE_BYTES: usize = 256;

/// A value a plugin registered for its request with `nonces.use-once`, and when the signature it
/// belongs to goes stale (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    pub value: String,
    pub expires_at: i64,
}

/// The facts of one call, gathered as the plugin uses the host.
#[derive(Debug, Default)]
pub struct CallFacts {
    /// A signature check through the host succeeded during the call.
    pub verified: bool,
    /// The values registered with `nonces.use-once`, each once, in the order first registered.
    pub nonces: Vec<Nonce>,
}

impl CallFacts {
    /// Notes the answer of a host-side signature check; only a match counts.
    pub fn saw_verification(&mut self, matched: bool) {
        self.verified |= matched;
    }

    /// Registers a nonce for this call. The same value registered twice is kept once, with the
    /// later of its expiry times; a value that is empty or too long, or one beyond the per-call
    /// limit, is refused with a reason the plugin can pass on.
    pub fn use_once(&mut self, value: String, expires_at: i64) -> Result<(), String> {
        if value.is_empty() || value.len() > MAX_NONCE_BYTES {
            return Err(format!(
                "a nonce must be 1 to {MAX_NONCE_BYTES} bytes; this one is {} bytes",
                value.len()
            ));
        }
        if let Some(known) = self.nonces.iter_mut().find(|n| n.value == value) {
            known.expires_at = known.expires_at.max(expires_at);
            return Ok(());
        }
        if self.nonces.len() >= MAX_NONCES_PER_CALL {
            return Err(format!(
                "at most {MAX_NONCES_PER_CALL} nonces may be registered for one request"
            ));
        }
        self.nonces.push(Nonce { value, expires_at });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_matching_signature_marks_the_call_verified() {
        let mut facts = CallFacts::default();
        facts.saw_verification(false);
        assert!(!facts.verified);
        facts.saw_verification(true);
        facts.saw_verification(false);
        assert!(facts.verified, "a later mismatch does not undo a match");
    }

    #[test]
    fn a_call_registers_at_most_eight_nonces_of_1_to_256_bytes() {
        let mut facts = CallFacts::default();
        for i in 0..MAX_NONCES_PER_CALL {
            assert_eq!(facts.use_once(format!("token-{i}"), 1_000), Ok(()));
        }
        assert_eq!(
            facts.use_once("one-too-many".into(), 1_000),
            Err("at most 8 nonces may be registered for one request".into())
        );
        assert_eq!(
            CallFacts::default().use_once(String::new(), 1_000),
            Err("a nonce must be 1 to 256 bytes; this one is 0 bytes".into())
        );
        assert_eq!(
            CallFacts::default().use_once("x".repeat(257), 1_000),
            Err("a nonce must be 1 to 256 bytes; this one is 257 bytes".into())
        );
        let mut longest = CallFacts::default();
        assert_eq!(longest.use_once("x".repeat(256), 1_000), Ok(()));
        assert_eq!(facts.nonces.len(), MAX_NONCES_PER_CALL);
        assert_eq!(
            facts.nonces[0],
            Nonce {
                value: "token-0".into(),
                expires_at: 1_000
            }
        );
    }

    #[test]
    fn a_nonce_registered_twice_is_kept_once_with_the_later_expiry() {
        let mut facts = CallFacts::default();
        assert_eq!(facts.use_once("token".into(), 2_000), Ok(()));
        assert_eq!(facts.use_once("token".into(), 1_000), Ok(()));
        assert_eq!(facts.use_once("token".into(), 3_000), Ok(()));
        assert_eq!(
            facts.nonces,
            [Nonce {
                value: "token".into(),
                expires_at: 3_000
            }]
        );
        for i in 1..MAX_NONCES_PER_CALL {
            assert_eq!(facts.use_once(format!("other-{i}"), 1_000), Ok(()));
        }
        assert_eq!(
            facts.use_once("token".into(), 4_000),
            Ok(()),
            "a repeat does not count against the limit"
        );
    }
}
