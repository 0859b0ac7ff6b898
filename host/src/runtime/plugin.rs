//! A loaded plugin and the four calls into it. Each call gets a fresh store and instance (nothing
//! leaks from one webhook to the next), the plugin's memory cap, and a time budget that covers
//! instantiation, guest code and host calls alike.

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
use super::state::{PluginContext, PluginState};
use crate::config::PluginSpec;
use crate::domain::{Channel, Outcome};

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
    pub async fn handle_webhook(
        &self,
        request: &WebhookRequest,
    ) -> Result<Result<WebhookAccepted, WebhookRejection>, CallError> {
        let budget = Duration::from_millis(self.spec.limits.webhook_timeout_ms);
        self.call(budget, async |store, plugin| {
            plugin
                .switchboard_channel_plugin()
                .call_handle_webhook(store, request)
                .await
        })
        .await
    }

    /// Sends one message through the vendor.
    pub async fn send(
        &self,
        message: &OutboundMessage,
    ) -> Result<Result<SendReceipt, SendFailure>, CallError> {
        let budget = Duration::from_millis(self.spec.limits.send_timeout_ms);
        self.call(budget, async |store, plugin| {
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
            .call(budget, async |store, plugin| {
                plugin
                    .switchboard_channel_plugin()
                    .call_map_outcome(store, vendor_status)
                    .await
            })
            .await?;
        Ok(outcome.into())
    }

    async fn call<R>(
        &self,
        budget: Duration,
        body: impl AsyncFnOnce(&mut Store<PluginState>, &ChannelPlugin) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        call(&self.pre, &self.context, &self.shared, budget, body).await
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
