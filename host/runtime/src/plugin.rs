//! A loaded plugin and the four calls into it. Each call gets a fresh store and instance (nothing
//! leaks from one webhook to the next), the plugin's memory cap, a time budget that covers
//! instantiation, guest code and host calls alike, and a transfer budget that bounds what the host
//! copies out of the guest at once.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime::{Engine, Store, Trap};

use super::bindings::{
    ChannelPlugin, ChannelPluginPre, OutboundMessage, PluginInfo, SendFailure, SendReceipt,
    WebhookAccepted, WebhookRejection, WebhookRequest,
};
use super::egress::Egress;
use super::error::CallError;
use super::facts::{CallFacts, Nonce};
use super::state::{PluginContext, PluginState};
use crate::config::PluginSpec;
use switchboard_core::domain::{Channel, Outcome};

/// What the runtime's plugins share: the engine, the HTTP clients, and the instance slots.
pub(super) struct Shared {
    pub engine: Engine,
    pub egress: Egress,
    /// One permit per instance the pooling allocator has room for, so that a burst of calls
    /// waits for a slot instead of failing.
    pub slots: Semaphore,
}

/// What a plugin says about itself (its `describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub vendor: String,
    pub channels: Vec<Channel>,
    pub interface_version: String,
    pub description: String,
}

impl From<PluginInfo> for Description {
    fn from(info: PluginInfo) -> Self {
        Description {
            name: info.name,
            version: info.version,
            vendor: info.vendor,
            channels: info.channels.into_iter().map(Channel::from).collect(),
            interface_version: info.interface_version,
            description: info.description,
        }
    }
}

/// A `handle-webhook` call that returned: the plugin's answer, and what the host itself saw during
/// the call.
#[derive(Debug)]
pub struct WebhookCall {
    /// What the plugin answered.
    pub answer: Result<WebhookAccepted, WebhookRejection>,
    /// Whether a signature check through the host matched during the call
    /// (`secrets.verify-hmac` or `crypto.verify-signature` answered `true`).
    pub verified: bool,
    /// The values the plugin registered with `nonces.use-once`, each once (at most
    /// [`MAX_NONCES_PER_CALL`](super::MAX_NONCES_PER_CALL)).
    pub nonces: Vec<Nonce>,
}

/// A plugin ready to be called.
pub struct Plugin {
    pub spec: PluginSpec,
    /// The `.wasm` file's SHA-256, hex.
    pub sha256: String,
    pub description: Description,
    pre: ChannelPluginPre<PluginState>,
    context: Arc<PluginContext>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.spec.id)
            .field("sha256", &self.sha256)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Assembles a plugin and asks it to describe itself.
    pub(super) async fn new(
        spec: PluginSpec,
        sha256: String,
        pre: ChannelPluginPre<PluginState>,
        context: Arc<PluginContext>,
        shared: Arc<Shared>,
    ) -> Result<Self, CallError> {
        let budget = Duration::from_millis(spec.limits.webhook_timeout_ms);
        let info = call(&pre, &context, &shared, budget, async |store, plugin| {
            plugin
                .switchboard_channel_plugin()
                .call_describe(store)
                .await
        })
        .await?;
        Ok(Plugin {
            spec,
            sha256,
            description: info.into(),
            pre,
            context,
            shared,
        })
    }

    /// The plugin's id in `plugins.toml`.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The secrets the plugin declares whose environment variable is not set.
    pub fn unset_secrets(&self) -> Vec<&str> {
        self.context.secrets.unset()
    }

    /// Verifies and parses one webhook request.
    pub async fn handle_webhook(&self, request: &WebhookRequest) -> Result<WebhookCall, CallError> {
        let budget = Duration::from_millis(self.spec.limits.webhook_timeout_ms);
        self.call("handle_webhook", budget, async |store, plugin| {
            let answer = plugin
                .switchboard_channel_plugin()
                .call_handle_webhook(&mut *store, request)
                .await?;
            let CallFacts { verified, nonces } = std::mem::take(&mut store.data_mut().facts);
            Ok(WebhookCall {
                answer,
                verified,
                nonces,
            })
        })
        .await
    }

    /// Sends one message through the vendor.
    pub async fn send(
        &self,
        message: &OutboundMessage,
    ) -> Result<Result<SendReceipt, SendFailure>, CallError> {
        let budget = Duration::from_millis(self.spec.limits.send_timeout_ms);
        self.call("send", budget, async |store, plugin| {
            plugin
                .switchboard_channel_plugin()
                .call_send(store, message)
                .await
        })
        .await
    }

    /// Maps a vendor status word to an outcome.
    pub async fn map_outcome(&self, vendor_status: &str) -> Result<Outcome, CallError> {
        let budget = Duration::from_millis(self.spec.limits.webhook_timeout_ms);
        let outcome = self
            .call("map_outcome", budget, async |store, plugin| {
                plugin
                    .switchboard_channel_plugin()
                    .call_map_outcome(store, vendor_status)
                    .await
            })
            .await?;
        Ok(outcome.into())
    }

    /// Calls the plugin, and records the call's time and failure under `name` in the metrics.
    async fn call<R>(
        &self,
        name: &'static str,
        budget: Duration,
        body: impl AsyncFnOnce(&mut Store<PluginState>, &ChannelPlugin) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let started = std::time::Instant::now();
        let result = call(&self.pre, &self.context, &self.shared, budget, body).await;
        let failure = result.as_ref().err().map(CallError::code);
        switchboard_core::metrics::plugin_call(self.id(), name, started.elapsed(), failure);
        result
    }
}

/// Runs `body` against a fresh instance within `budget`, and turns whatever went wrong into a
/// [`CallError`] that says what the plugin did.
async fn call<R>(
    pre: &ChannelPluginPre<PluginState>,
    context: &Arc<PluginContext>,
    shared: &Shared,
    budget: Duration,
    body: impl AsyncFnOnce(&mut Store<PluginState>, &ChannelPlugin) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let deadline = Instant::now() + budget;
    let budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
    let timed_out = || CallError::Timeout {
        plugin: context.id.clone(),
        budget_ms,
    };
    // Running out of time here is not a timeout of the plugin: it never started, so whoever
    // called may safely try again (a send was certainly not made).
    let _slot = tokio::time::timeout_at(deadline, shared.slots.acquire())
        .await
        .map_err(|_| CallError::Busy {
            plugin: context.id.clone(),
            budget_ms,
        })?
        .map_err(|_| CallError::Failed {
            plugin: context.id.clone(),
            detail: "the runtime is shutting down".into(),
        })?;

    let state = PluginState::new(context.clone(), shared.egress.clone(), deadline);
    let mut store = Store::new(&shared.engine, state);
    store.limiter(|state| &mut state.limiter);
    // Wasmtime checks every transfer out of the guest against this before copying it.
    store.set_hostcall_fuel(context.transfer_budget_bytes);
    // Yield to the executor at every epoch tick, so the timeout below can stop a runaway guest.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);

    let result = tokio::time::timeout_at(deadline, async {
        let plugin = pre.instantiate_async(&mut store).await?;
        body(&mut store, &plugin).await
    })
    .await;
    match result {
        Err(_) => Err(timed_out()),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(&context.id, error, store.data())),
    }
}

fn classify(plugin: &str, error: wasmtime::Error, state: &PluginState) -> CallError {
    let stderr = state.stderr.text();
    if let Some(asked) = state.limiter.refused() {
        return CallError::MemoryLimit {
            plugin: plugin.to_string(),
            limit_mib: state.plugin.memory_limit_bytes >> 20,
            asked_mib: asked >> 20,
            stderr,
        };
    }
    if exceeded_transfer_budget(&error) {
        tracing::debug!(
            plugin,
            error = format!("{error:?}"),
            "plugin transfer refused"
        );
        return CallError::OutputTooLarge {
            plugin: plugin.to_string(),
            budget_bytes: state.plugin.transfer_budget_bytes,
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        tracing::debug!(plugin, error = format!("{error:?}"), "plugin trap");
        return CallError::Trap {
            plugin: plugin.to_string(),
            trap: trap.to_string(),
            stderr,
        };
    }
    CallError::Failed {
        plugin: plugin.to_string(),
        detail: format!("{error:#}"),
    }
}

/// What wasmtime 48 says when a transfer out of the guest exceeds the store's hostcall fuel (its
/// error type is private, so its text is what can be recognised).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Whether `error` is wasmtime refusing a transfer over the budget set with `set_hostcall_fuel`.
fn exceeded_transfer_budget(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
}

#[cfg(test)]
mod tests {
    //! These load the built plugins (`cargo xtask test` builds them first).

    use super::*;
    use crate::bindings::Header;
    use crate::{Runtime, RuntimeSettings};
    use switchboard_e2e::manifest::{PluginConfig, manifest};
    use switchboard_e2e::sign::SendGridKey;
    use switchboard_e2e::vendors::{sendgrid_event, sendgrid_plugin};

    async fn load(dir: &std::path::Path, plugin: PluginConfig) -> Plugin {
        let manifest_path = dir.join("plugins.toml");
        std::fs::write(&manifest_path, manifest(&[plugin])).unwrap();
        let loaded = crate::config::load(&manifest_path).unwrap();
        let runtime = Runtime::new(RuntimeSettings {
            cache_dir: dir.join("cache"),
            instance_slots: 2,
        })
        .unwrap();
        runtime.load(&loaded.plugins[0]).await.unwrap()
    }

    /// A one-event SendGrid delivery, signed with `key`.
    fn signed_delivery(key: &SendGridKey) -> WebhookRequest {
        let now_secs = switchboard_e2e::now_ms() / 1000;
        let event = sendgrid_event("delivered", "ana@example.org", now_secs, "m1", "ev-1");
        let body = serde_json::to_vec(&[event]).unwrap();
        let headers = key
            .headers(now_secs, &body)
            .into_iter()
            .map(|(name, value)| Header {
                name: name.to_ascii_lowercase(),
                value,
            })
            .collect();
        WebhookRequest {
            method: "POST".into(),
            path: "/webhooks/email-sendgrid".into(),
            query: String::new(),
            headers,
            body,
            received_at: now_secs * 1000,
        }
    }

    #[tokio::test]
    async fn a_webhook_call_reports_whether_the_host_saw_its_signature_verified() {
        let dir = tempfile::tempdir().unwrap();
        let key = SendGridKey::fixed();
        let plugin = load(dir.path(), sendgrid_plugin(&key)).await;

        let genuine = plugin.handle_webhook(&signed_delivery(&key)).await.unwrap();
        assert!(matches!(&genuine.answer, Ok(a) if a.interactions.len() == 1));
        assert!(genuine.verified);
        assert!(genuine.nonces.is_empty());

        let forged = plugin
            .handle_webhook(&signed_delivery(&SendGridKey::other()))
            .await
            .unwrap();
        assert!(matches!(
            forged.answer,
            Err(WebhookRejection::BadSignature(_))
        ));
        assert!(!forged.verified);
    }

    #[tokio::test]
    async fn a_plugin_built_against_contract_1_0_still_loads_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let wasm =
            switchboard_e2e::repo_root().join("tests/fixtures/interface-1.0.0/misbehave.wasm");
        let plugin = load(dir.path(), PluginConfig::at("old", wasm, &["email"])).await;
        assert_eq!(plugin.description.interface_version, "1.0.0");
        let call = plugin
            .handle_webhook(&signed_delivery(&SendGridKey::fixed()))
            .await
            .unwrap();
        assert!(matches!(&call.answer, Ok(a) if a.interactions.is_empty()));
        assert!(!call.verified);
        assert!(call.nonces.is_empty());
    }

    #[tokio::test]
    async fn a_plugin_handing_the_host_more_than_its_transfer_budget_fails_only_that_call() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = load(
            dir.path(),
            PluginConfig::new("misbehave", "misbehave", &["email"]),
        )
        .await;
        // `describe` hands the host its name, "misbehave": nine bytes, one more than allowed.
        let tight = Arc::new(PluginContext {
            id: "misbehave".into(),
            config: plugin.context.config.clone(),
            secrets: plugin.context.secrets.clone(),
            egress: plugin.context.egress.clone(),
            memory_limit_bytes: plugin.context.memory_limit_bytes,
            transfer_budget_bytes: 8,
        });
        let error = call(
            &plugin.pre,
            &tight,
            &plugin.shared,
            Duration::from_secs(5),
            async |store, instance| {
                instance
                    .switchboard_channel_plugin()
                    .call_describe(store)
                    .await
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, CallError::OutputTooLarge { plugin, budget_bytes: 8 } if plugin == "misbehave"),
            "{error:?}"
        );
        assert_eq!(error.code(), "plugin_output_too_large");

        // Its next call, within the budget the plugin was loaded with, is unaffected.
        assert_eq!(plugin.context.transfer_budget_bytes, 16 << 20);
        assert_eq!(
            plugin.map_outcome("delivered").await.unwrap(),
            Outcome::Unknown
        );
    }
}
