//! The plugin carrier: email and SMS go through the plugin selection named (or the channel's
//! plugin), paced to its send rate, under a lease that covers the whole call. A retryable failure
//! is tried again with backoff (a vendor's Retry-After honoured, and held against every send to
//! that vendor); any other answer is recorded as final and the message settles or falls back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::prefs::sample::Rng;
use crate::send::content::Parts;
use crate::send::dispatch::pacing::Pacing;
use crate::send::dispatch::record::Records;
use crate::send::dispatch::{CarryError, DispatchSettings};
use crate::send::plugin_try::{Failure, Tried, TryRecord, through_plugin};
use crate::send::policy::RetryPolicy;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::{Channel, HistoryEvent};
use switchboard_runtime::bindings::{self, OutboundMessage};
use switchboard_runtime::{CallError, LivePlugins, Plugin};
use switchboard_store::Store;
use switchboard_store::outbox::{self, Claimed};

/// The longest a vendor's Retry-After is honoured.
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;
/// How long an attempt whose plugin found no free instance slot waits before it is tried again.
const BUSY_RETRY_MS: i64 = 1_000;

/// Carries attempts through plugins.
pub struct PluginCarrier {
    store: Store,
    plugins: Arc<LivePlugins>,
    records: Records,
    pacing: Pacing,
    jitter: Mutex<Rng>,
    retry: RetryPolicy,
    lease_margin_ms: i64,
}

impl PluginCarrier {
    pub fn new(
        store: Store,
        plugins: Arc<LivePlugins>,
        records: Records,
        settings: &DispatchSettings,
    ) -> Self {
        PluginCarrier {
            store,
            plugins,
            records,
            pacing: Pacing::default(),
            jitter: Mutex::new(Rng::seeded(now_ms() as u64 ^ u64::from(std::process::id()))),
            retry: settings.retry,
            lease_margin_ms: settings.lease_margin_ms,
        }
    }

    /// The longest send budget of any plugin: a claim's lease covers at least this.
    pub fn longest_send_budget(&self) -> i64 {
        let plugins = self.plugins.current();
        let longest = plugins
            .iter()
            .map(|p| p.spec.limits.send_timeout_ms)
            .max()
            .unwrap_or(0);
        i64::try_from(longest).unwrap_or(i64::MAX / 4)
    }

    /// Sends the attempt to `to` through the plugin named by `via` (else the channel's), and
    /// records the try.
    pub async fn carry(
        &self,
        attempt: &mut Claimed,
        via: Option<&str>,
        to: &str,
        parts: &Parts,
    ) -> Result<(), CarryError> {
        let plugins = self.plugins.current();
        let plugin = via
            .and_then(|id| plugins.get(id))
            .or_else(|| plugins.for_channel(attempt.channel))
            .cloned();
        let Some(plugin) = plugin else {
            let why = format!("no enabled plugin sends {}", attempt.channel);
            return self
                .records
                .refuse(attempt, "not_eligible", why, now_ms())
                .await;
        };
        if let Err(until) = self.paced(&plugin).await {
            return self.records.give_back(attempt, until).await;
        }
        if !self.lease_covers_the_call(attempt, &plugin).await? {
            tracing::warn!(message = %attempt.message_id, seq = attempt.seq, "lease lost before sending; not sent");
            return Ok(());
        }
        let message = outbound(attempt, to, parts)?;
        let tried = through_plugin(&plugin, &message).await;
        let now = now_ms();
        if let Tried::Failed(failure) = &tried {
            if failure.kind == CallError::BUSY {
                // The plugin never ran, so nothing was sent: not a try.
                let until = now.saturating_add(BUSY_RETRY_MS);
                return self
                    .records
                    .put_back(
                        attempt,
                        until,
                        HistoryEvent::PluginBusy,
                        &failure.message,
                        now,
                    )
                    .await;
            }
            if failure.retryable
                && let Some(due) = self.next_try(attempt, &plugin, failure, now)
            {
                return self.records.retry(attempt, due, failure, now).await;
            }
        }
        let record = TryRecord {
            contact_id: attempt.contact_id,
            channel: attempt.channel,
            plugin: &plugin,
            message_id: &attempt.message_id,
            attempt_seq: Some(attempt.seq),
            address: to,
            subject: parts.subject.as_deref(),
            text: parts.text.as_deref(),
            tried: &tried,
            created_by: "outbox",
            now,
        };
        self.records.answer(attempt, record).await
    }

    /// The lease must cover the whole call. It usually does (it was sized for the longest send
    /// at the claim); after a wait it is extended, or the attempt is someone else's now (false).
    async fn lease_covers_the_call(
        &self,
        attempt: &mut Claimed,
        plugin: &Plugin,
    ) -> Result<bool, CarryError> {
        let budget = i64::try_from(plugin.spec.limits.send_timeout_ms).unwrap_or(i64::MAX / 4);
        let lease = now_ms() + budget + self.lease_margin_ms;
        if lease - self.lease_margin_ms / 2 <= attempt.lease_until {
            return Ok(true);
        }
        let mut tx = self.store.begin_write().await?;
        let renewed = outbox::renew(tx.conn(), attempt, lease).await?;
        tx.commit().await?;
        Ok(renewed)
    }

    /// When a retryable failure is tried again, if tries are left. A vendor's wait is honoured up
    /// to an hour: a bogus Retry-After must not stall the message, or the plugin, for ever; a
    /// rate limit holds back every send to the vendor for that long.
    fn next_try(
        &self,
        attempt: &Claimed,
        plugin: &Plugin,
        failure: &Failure,
        now: i64,
    ) -> Option<i64> {
        let retry_after = failure.retry_after_ms.map(|ms| ms.min(MAX_RETRY_AFTER_MS));
        if failure.kind == "rate_limited"
            && let Some(wait) = retry_after
        {
            self.pacing
                .pause(plugin.id(), now.saturating_add(wait as i64));
        }
        let jitter = match self.jitter.lock() {
            Ok(mut rng) => rng.uniform(),
            Err(poisoned) => poisoned.into_inner().uniform(),
        };
        self.retry
            .next_try(attempt.tries + 1, now, retry_after, jitter)
    }

    /// Waits briefly for a send slot of the plugin; a longer wait gives the attempt back.
    async fn paced(&self, plugin: &Plugin) -> Result<(), i64> {
        let rate = plugin.spec.limits.sends_per_second;
        let now = now_ms();
        match self.pacing.take(plugin.id(), rate, now) {
            Ok(()) => Ok(()),
            Err(until) if until - now <= 1_000 => {
                tokio::time::sleep(Duration::from_millis(
                    u64::try_from(until - now).unwrap_or(1),
                ))
                .await;
                self.pacing.take(plugin.id(), rate, now_ms())
            }
            Err(until) => Err(until),
        }
    }
}

/// The message as the plugin's `send` takes it.
fn outbound(attempt: &Claimed, to: &str, parts: &Parts) -> Result<OutboundMessage, CarryError> {
    let channel = attempt
        .channel
        .try_into()
        .map_err(|c: Channel| CarryError::Content(format!("{c} has no plugin channel")))?;
    Ok(OutboundMessage {
        message_id: attempt.message_id.clone(),
        idempotency_key: attempt.idempotency_key.clone(),
        contact_id: attempt.contact_id.to_string(),
        channel,
        to: to.to_string(),
        subject: parts.subject.clone(),
        text: parts.text.clone(),
        html: parts.html.clone(),
        template: parts.template.as_ref().map(|t| bindings::Template {
            id: t.id.clone(),
            data: t
                .data
                .as_ref()
                .map_or_else(|| "{}".to_string(), Value::to_string),
        }),
        metadata: json!({ "kind": attempt.kind, "attempt": attempt.seq }).to_string(),
    })
}
