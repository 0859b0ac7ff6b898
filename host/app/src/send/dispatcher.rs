//! The dispatcher: claims due attempts from the outbox, carries each on its channel, records the
//! result, and schedules retries. One runs in every `switchboard serve`; several processes on one
//! database share the work, because a claim is a single conditional update.
//!
//! Exactly-once from the host's side: an attempt is claimed with a lease (committed) before its
//! carrier is called, and its result is committed after. A claimed attempt is never claimed
//! again while its lease runs; one whose lease ran out belonged to a dispatcher that stopped
//! (killed, say) with the vendor's answer unknown, so it is queued again marked ambiguous, and
//! the retry carries the attempt's idempotency key for vendors that honour one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::carry::{Failure, Tried, TryRecord, log_row, through_plugin};
use super::content::{Content, Parts};
use super::policy::RetryPolicy;
use super::rate::Pacing;
use super::settle;
use crate::log;
use crate::prefs::sample::Rng;
use crate::prefs::select::{ChannelStatus, RankedChannel};
use crate::prefs::{Engine, SelectRequest};
use crate::service_error::ServiceError;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::{Channel, Direction, IdentityKind, Outcome, Urgency};
use switchboard_runtime::bindings::{self, OutboundMessage};
use switchboard_runtime::{CallError, LivePlugins, Plugin};
use switchboard_store::call_tasks::{self, NewTask};
use switchboard_store::interactions::NewInteraction;
use switchboard_store::outbox::{self, Claimed};
use switchboard_store::portal_inbox::{self, NewPortalMessage};
use switchboard_store::{Store, StoreError, contacts};

/// The longest a vendor's Retry-After is honoured.
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;
/// How long an attempt whose plugin found no free instance slot waits before it is tried again.
const BUSY_RETRY_MS: i64 = 1_000;

/// The carrier names of the two channels Switchboard carries itself.
pub const CALL_QUEUE: &str = "call_queue";
pub const PORTAL_INBOX: &str = "portal_inbox";

/// How the dispatcher works.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    pub retry: RetryPolicy,
    /// Attempts claimed, and carried concurrently, per round.
    pub batch: i64,
    /// How long an idle dispatcher sleeps before looking again (a new message wakes it sooner).
    pub idle_poll: Duration,
    /// Added to the longest plugin send budget to make a claim's lease.
    pub lease_margin_ms: i64,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            retry: RetryPolicy::default(),
            batch: 16,
            idle_poll: Duration::from_secs(1),
            lease_margin_ms: 5_000,
        }
    }
}

/// Carries queued attempts.
pub struct Dispatcher {
    store: Store,
    plugins: Arc<LivePlugins>,
    engine: Engine,
    settings: DispatchSettings,
    pacing: Pacing,
    wake: Arc<Notify>,
    jitter: Mutex<Rng>,
    stopping: AtomicBool,
}

/// Why one attempt could not be handled; it stays claimed and its lease recovers it.
#[derive(Debug, thiserror::Error)]
enum CarryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("message content is unreadable: {0}")]
    Content(String),
}

impl Dispatcher {
    pub fn new(
        store: Store,
        plugins: Arc<LivePlugins>,
        engine: Engine,
        settings: DispatchSettings,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            store,
            plugins,
            engine,
            settings,
            pacing: Pacing::default(),
            wake: Arc::new(Notify::new()),
            jitter: Mutex::new(Rng::seeded(now_ms() as u64 ^ u64::from(std::process::id()))),
            stopping: AtomicBool::new(false),
        })
    }

    /// Notified when a message is queued, so the dispatcher need not wait for its next look.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs rounds until [`Dispatcher::stop`].
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let dispatcher = self.clone();
        tokio::spawn(async move {
            while !dispatcher.stopping.load(Ordering::SeqCst) {
                let carried = match dispatcher.round(now_ms()).await {
                    Ok(carried) => carried,
                    Err(error) => {
                        tracing::warn!(%error, "dispatch round failed; trying again shortly");
                        0
                    }
                };
                if carried > 0 {
                    continue;
                }
                let pause = dispatcher.idle_pause(now_ms()).await;
                tokio::select! {
                    _ = dispatcher.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            tracing::info!("dispatcher stopped");
        })
    }

    /// Claims nothing more; the round in progress finishes (its sends are answered and recorded)
    /// and the task started by [`Dispatcher::start`] ends. A shutdown that waits for it leaves
    /// no attempt with an unknown outcome behind.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Until the next attempt is due, at most the idle poll.
    async fn idle_pause(&self, now: i64) -> Duration {
        let next = match self.store.reader().await {
            Ok(mut conn) => outbox::next_due(&mut conn).await.ok().flatten(),
            Err(_) => None,
        };
        let poll = self.settings.idle_poll;
        match next {
            Some(due) if due <= now => Duration::from_millis(10),
            Some(due) => poll.min(Duration::from_millis(u64::try_from(due - now).unwrap_or(0))),
            None => poll,
        }
    }

    /// One round: recovers expired leases, claims what is due and carries it. Returns how many
    /// attempts it carried.
    pub async fn round(self: &Arc<Self>, now: i64) -> Result<usize, StoreError> {
        let lease_until = now + self.longest_send_budget() + self.settings.lease_margin_ms;
        let claimed = {
            let mut tx = self.store.begin_write().await?;
            let (recovered, stopped) = outbox::recover_expired(tx.conn(), now).await?;
            if recovered > 0 {
                tracing::warn!(
                    recovered,
                    "attempts whose dispatcher stopped mid-send queued again"
                );
            }
            if stopped > 0 {
                tracing::error!(
                    stopped,
                    "attempts lost a second time before their result was recorded: stopped as unknown"
                );
            }
            let claimed =
                outbox::claim_due(tx.conn(), now, lease_until, self.settings.batch).await?;
            tx.commit().await?;
            claimed
        };
        let count = claimed.len();
        let mut carrying = JoinSet::new();
        for attempt in claimed {
            let dispatcher = self.clone();
            carrying.spawn(async move {
                let (message, seq) = (attempt.message_id.clone(), attempt.seq);
                if let Err(error) = dispatcher.carry(attempt).await {
                    tracing::error!(%error, message, seq, "attempt not carried; its lease will recover it");
                }
            });
        }
        while carrying.join_next().await.is_some() {}
        Ok(count)
    }

    fn longest_send_budget(&self) -> i64 {
        let plugins = self.plugins.current();
        let longest = plugins
            .iter()
            .map(|p| p.spec.limits.send_timeout_ms)
            .max()
            .unwrap_or(0);
        i64::try_from(longest).unwrap_or(i64::MAX / 4)
    }

    /// Carries one claimed attempt: checks the channel is still usable, then hands it to the
    /// channel's carrier.
    async fn carry(&self, mut claimed: Claimed) -> Result<(), CarryError> {
        let attempt = &mut claimed;
        let content: Content = serde_json::from_str(&attempt.content)
            .map_err(|e| CarryError::Content(e.to_string()))?;
        let now = now_ms();
        let Some(parts) = content.parts(attempt.channel) else {
            let failure = failure("no_content", format!("no content for {}", attempt.channel));
            return self.give_up(attempt, false, &failure, now).await;
        };
        let ranked = match self.current_ranking(attempt, now).await {
            Ok(ranked) => ranked,
            Err(ServiceError::Store(error)) => return Err(error.into()),
            Err(other) => {
                let failure = failure("not_eligible", other.to_string());
                return self.give_up(attempt, false, &failure, now).await;
            }
        };
        match ranked.status {
            ChannelStatus::Excluded => {
                let failure = failure("not_eligible", ranked.reason.clone());
                self.give_up(attempt, false, &failure, now).await
            }
            ChannelStatus::Deferred => {
                let until = ranked.available_at.unwrap_or(now + 60_000);
                self.put_back(attempt, until, "deferred", &ranked.reason, now)
                    .await
            }
            ChannelStatus::Eligible => {
                let Some(address) = self.address(attempt).await? else {
                    let failure = failure(
                        "not_eligible",
                        format!("{}: no address on file", attempt.channel),
                    );
                    return self.give_up(attempt, false, &failure, now).await;
                };
                match attempt.channel {
                    Channel::Phone => self.queue_call(attempt, &address, &parts, now).await,
                    Channel::Portal => self.post_to_portal(attempt, &address, &parts, now).await,
                    _ => {
                        self.through_plugin(attempt, ranked.via.as_deref(), &address, &parts)
                            .await
                    }
                }
            }
        }
    }

    /// Selection's view of the attempt's channel now: consent, reachability and quiet hours may
    /// have changed since the message was accepted.
    async fn current_ranking(
        &self,
        attempt: &Claimed,
        now: i64,
    ) -> Result<RankedChannel, ServiceError> {
        let urgency = match attempt.urgency.as_str() {
            "low" => Urgency::Low,
            "high" => Urgency::High,
            _ => Urgency::Normal,
        };
        let selection = self
            .engine
            .select(
                &SelectRequest {
                    contact_id: attempt.contact_id,
                    urgency,
                    kind: attempt.kind.clone(),
                    at: Some(now),
                    explore: false,
                    seed: None,
                },
                now,
            )
            .await?;
        selection
            .ranked
            .into_iter()
            .find(|r| r.channel == attempt.channel)
            .ok_or_else(|| {
                ServiceError::invalid("channel", format!("{} is not selectable", attempt.channel))
            })
    }

    /// The newest working address of the contact for the attempt's channel.
    async fn address(&self, attempt: &Claimed) -> Result<Option<String>, StoreError> {
        let mut conn = self.store.reader().await?;
        let identities = contacts::identity_rows(&mut conn, attempt.contact_id).await?;
        let kind = match attempt.channel {
            Channel::Email => IdentityKind::Email,
            Channel::Sms | Channel::Phone => IdentityKind::Phone,
            _ => IdentityKind::External,
        };
        Ok(identities
            .into_iter()
            .rev()
            .filter(|i| i.kind == kind && i.unreachable_at.is_none())
            .find(|i| attempt.channel != Channel::Portal || i.value.starts_with("portal:"))
            .map(|i| i.value))
    }

    /// A phone attempt is a task in the staff call queue.
    async fn queue_call(
        &self,
        attempt: &Claimed,
        phone: &str,
        parts: &Parts,
        now: i64,
    ) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        let task = call_tasks::create(
            tx.conn(),
            &NewTask {
                attempt_id: attempt.attempt_id,
                message_id: &attempt.message_id,
                contact_id: attempt.contact_id,
                phone,
                script: parts.text.as_deref().unwrap_or_default(),
                urgency: &attempt.urgency,
                now,
            },
        )
        .await?;
        let reference = call_tasks::call_reference(task);
        // Only under the lease: otherwise the task is not created (the transaction is dropped).
        if settle::record_sent(tx.conn(), attempt, CALL_QUEUE, phone, Some(&reference), now).await?
        {
            tx.commit().await?;
        }
        Ok(())
    }

    /// A portal attempt posts the message to the contact's portal inbox, and logs it.
    async fn post_to_portal(
        &self,
        attempt: &Claimed,
        account: &str,
        parts: &Parts,
        now: i64,
    ) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        portal_inbox::post(
            tx.conn(),
            &NewPortalMessage {
                message_id: &attempt.message_id,
                attempt_id: attempt.attempt_id,
                contact_id: attempt.contact_id,
                subject: parts.subject.as_deref(),
                text: parts.text.as_deref(),
                html: parts.html.as_deref(),
                now,
            },
        )
        .await?;
        let row = NewInteraction {
            contact_id: Some(attempt.contact_id),
            occurred_at: now,
            received_at: now,
            kind: "portal_sent".into(),
            channel: Channel::Portal,
            direction: Direction::Outbound,
            outcome: Outcome::Sent,
            vendor_status: None,
            plugin_id: None,
            external_system: Some(PORTAL_INBOX.into()),
            vendor_message_id: Some(attempt.message_id.clone()),
            vendor_event_id: None,
            raw_webhook_id: None,
            time_to_action_ms: None,
            summary: parts
                .subject
                .clone()
                .or_else(|| parts.text.as_deref().map(super::carry::preview)),
            metadata:
                json!({ "message_id": attempt.message_id, "attempt": attempt.seq, "to": account })
                    .to_string(),
            created_by: "outbox".into(),
        };
        log::append(tx.conn(), vec![row.into()]).await?;
        let recorded = settle::record_sent(
            tx.conn(),
            attempt,
            PORTAL_INBOX,
            account,
            Some(&attempt.message_id),
            now,
        )
        .await?;
        // Only under the lease: otherwise nothing is posted (the transaction is dropped).
        if recorded {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Email and SMS go through the plugin selection named, paced, and the try is recorded.
    async fn through_plugin(
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
            let failure = failure(
                "not_eligible",
                format!("no enabled plugin sends {}", attempt.channel),
            );
            return self.give_up(attempt, false, &failure, now_ms()).await;
        };
        if let Err(until) = self.paced(&plugin).await {
            let mut tx = self.store.begin_write().await?;
            outbox::release(tx.conn(), attempt, until, now_ms()).await?;
            tx.commit().await?;
            return Ok(());
        }
        // The lease must cover the whole call. It usually does (it was sized for the longest
        // send at the claim); after a wait it is extended, or the attempt is someone else's now.
        let budget = i64::try_from(plugin.spec.limits.send_timeout_ms).unwrap_or(i64::MAX / 4);
        let lease = now_ms() + budget + self.settings.lease_margin_ms;
        let renewed = lease - self.settings.lease_margin_ms / 2 <= attempt.lease_until || {
            let mut tx = self.store.begin_write().await?;
            let renewed = outbox::renew(tx.conn(), attempt, lease).await?;
            tx.commit().await?;
            renewed
        };
        if !renewed {
            tracing::warn!(message = %attempt.message_id, seq = attempt.seq, "lease lost before sending; not sent");
            return Ok(());
        }
        let message = outbound(attempt, to, parts)?;
        let tried = through_plugin(&plugin, &message).await;
        let now = now_ms();
        if let Tried::Failed(failure) = &tried
            && failure.kind == CallError::BUSY
        {
            // The plugin never ran, so nothing was sent: not a try.
            let until = now.saturating_add(BUSY_RETRY_MS);
            return self
                .put_back(attempt, until, CallError::BUSY, &failure.message, now)
                .await;
        }
        match &tried {
            Tried::Failed(failure) if failure.retryable => {
                // A vendor's wait is honoured up to an hour: a bogus Retry-After must not stall
                // the message, or the plugin, for ever.
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
                let next =
                    self.settings
                        .retry
                        .next_try(attempt.tries + 1, now, retry_after, jitter);
                if let Some(due) = next {
                    let detail = serde_json::to_value(failure).unwrap_or(Value::Null);
                    let mut tx = self.store.begin_write().await?;
                    outbox::schedule_retry(
                        tx.conn(),
                        attempt,
                        due,
                        failure.outcome_unknown,
                        &detail,
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    self.wake.notify_one();
                    return Ok(());
                }
            }
            _ => {}
        }
        let record = TryRecord {
            contact_id: attempt.contact_id,
            channel: attempt.channel,
            plugin: &plugin,
            message_id: &attempt.message_id,
            attempt_seq: Some(attempt.seq),
            to,
            subject: parts.subject.as_deref(),
            text: parts.text.as_deref(),
            tried: &tried,
            created_by: "outbox",
            now,
        };
        self.record_try(attempt, record).await?;
        // A fallback attempt may now be due.
        self.wake.notify_one();
        Ok(())
    }

    /// Puts a claimed attempt back in the queue until `until` without using up a try (it was not
    /// tried: its channel is deferred, or its plugin found no free instance slot), and records
    /// why in its history as `event`.
    async fn put_back(
        &self,
        attempt: &Claimed,
        until: i64,
        event: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        outbox::release(tx.conn(), attempt, until, now).await?;
        let detail = json!({ "until": until, "reason": reason });
        outbox::add_event(
            tx.conn(),
            &attempt.message_id,
            Some(attempt.seq),
            now,
            event,
            &detail,
        )
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records a try's final answer: the log row and the attempt's state, in one transaction.
    /// The vendor has answered, so a failure to record is retried here rather than left to the
    /// lease (which would send the message again).
    async fn record_try(&self, attempt: &Claimed, record: TryRecord<'_>) -> Result<(), CarryError> {
        const PAUSES_MS: [u64; 3] = [100, 500, 2_000];
        let mut failures = 0;
        loop {
            match self.record_try_once(attempt, record).await {
                Ok(()) => return Ok(()),
                Err(error) if failures < PAUSES_MS.len() => {
                    tracing::warn!(%error, message = %attempt.message_id, "recording a send failed; trying again");
                    tokio::time::sleep(Duration::from_millis(PAUSES_MS[failures])).await;
                    failures += 1;
                }
                Err(error) => {
                    // The full record keeps failing. The vendor has the message: stop it as
                    // unknown with one small write if that still works, rather than let the lease
                    // run out and send it again.
                    let why = format!(
                        "the vendor answered, but its answer could not be recorded ({error}); \
                         not tried again"
                    );
                    match self.record_unknown(attempt, &why).await {
                        Ok(()) => {
                            tracing::error!(message = %attempt.message_id, %error, "send recorded as outcome unknown")
                        }
                        Err(also) => {
                            tracing::error!(message = %attempt.message_id, %error, %also, "send not recorded; its lease will recover it once")
                        }
                    }
                    return Err(error.into());
                }
            }
        }
    }

    async fn record_unknown(&self, attempt: &Claimed, why: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        outbox::record_unknown(tx.conn(), attempt, why, now_ms()).await?;
        tx.commit().await
    }

    async fn record_try_once(
        &self,
        attempt: &Claimed,
        record: TryRecord<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        // The message's contact now: a merge during the call moved it to the survivor.
        let Some(contact_id) = outbox::contact_of(tx.conn(), &attempt.message_id).await? else {
            return Ok(()); // erased meanwhile: nothing about them is kept
        };
        let row = log_row(&TryRecord {
            contact_id,
            ..record
        });
        log::append(tx.conn(), vec![row.into()]).await?;
        match record.tried {
            Tried::Sent {
                vendor_message_id, ..
            } => {
                settle::record_sent(
                    tx.conn(),
                    attempt,
                    record.plugin.id(),
                    record.to,
                    vendor_message_id.as_deref(),
                    record.now,
                )
                .await?;
            }
            Tried::Failed(failure) => {
                let detail = serde_json::to_value(failure).unwrap_or(Value::Null);
                settle::record_failed(tx.conn(), attempt, true, &detail, record.now).await?;
            }
        }
        tx.commit().await
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

    /// Records that the attempt failed for good and falls back.
    async fn give_up(
        &self,
        attempt: &Claimed,
        tried: bool,
        failure: &Failure,
        now: i64,
    ) -> Result<(), CarryError> {
        let detail = serde_json::to_value(failure).unwrap_or(Value::Null);
        let mut tx = self.store.begin_write().await?;
        settle::record_failed(tx.conn(), attempt, tried, &detail, now).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// A failure that happened before any vendor was called.
fn failure(kind: &str, message: String) -> Failure {
    Failure {
        kind: kind.to_string(),
        retryable: false,
        retry_after_ms: None,
        message,
        vendor_code: None,
        outcome_unknown: false,
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
