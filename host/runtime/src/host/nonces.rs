//! `nonces.use-once`: values a request may use only once, kept in the call's facts for ingestion
//! to record with the webhook (limits in [`CallFacts::use_once`](crate::facts::CallFacts::use_once)).

use crate::bindings::switchboard::channel::nonces::Host;
use crate::state::PluginState;

impl Host for PluginState {
    fn use_once(&mut self, nonce: String, expires_at: i64) -> wasmtime::Result<Result<(), String>> {
        let registered = self.facts.use_once(nonce, expires_at);
        if let Err(why) = &registered {
            tracing::debug!(plugin = %self.plugin.id, %why, "nonce refused");
        }
        Ok(registered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Nonce;

    #[test]
    fn a_registered_nonce_lands_in_the_call_s_facts_and_a_bad_one_is_refused() {
        let mut state = PluginState::for_tests(Default::default());
        assert_eq!(state.use_once("token-1".into(), 5_000).unwrap(), Ok(()));
        let refused = state.use_once(String::new(), 5_000).unwrap();
        assert_eq!(
            refused,
            Err("a nonce must be 1 to 256 bytes; this one is 0 bytes".into())
        );
        assert_eq!(
            state.facts.nonces,
            [Nonce {
                value: "token-1".into(),
                expires_at: 5_000
            }]
        );
    }
}
