//! The dispatcher: claims due attempts from the outbox, carries each on its channel, records the
//! result. One runs in every `switchboard serve`; several processes on one database share the
//! work, because a claim is a single conditional update.
//!
//! Exactly-once from the host's side: an attempt is claimed with a lease (committed) before its
//! carrier is called, and its result is committed after. A claimed attempt is never claimed
//! again while its lease runs; one whose lease ran out belonged to a dispatcher that stopped
//! (killed, say) with the vendor's answer unknown, so it is queued again marked outcome-unknown, and
//! the retry carries the attempt's idempotency key for vendors that honour one.
//!
//! This file is the loop (claim rounds, waking, stopping) and the hand-off of one attempt; the
//! rest, one job each:
//! - `eligibility.rs`: the channel re-checked at dispatch (consent, reachability, quiet hours);
//! - `address.rs`: where the attempt goes, the contact's newest working address;
//! - `carrier/`: the three carriers, one file each — a plugin's `send` (email, SMS), the staff
//!   call queue, the portal inbox;
//! - `record.rs`: what is written back about an attempt, and the wake-up that follows;
//! - `pacing.rs`: each plugin's send rate, and the pause a vendor asks for.

mod address;
mod carrier;
mod eligibility;
mod pacing;
mod record;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::content::Content;
use super::policy::RetryPolicy;
use crate::prefs::Engine;
use carrier::{CallQueue, PluginCarrier, PortalInbox};
use eligibility::Eligibility;
use record::Records;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::{Channel, HistoryEvent};
use switchboard_runtime::LivePlugins;
use switchboard_store::outbox::{self, Claimed};
use switchboard_store::{Store, StoreError};

pub use carrier::{CALL_QUEUE, PORTAL_INBOX};

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
    engine: Engine,
    settings: DispatchSettings,
    wake: Arc<Notify>,
    stopping: AtomicBool,
    records: Records,
    plugin: PluginCarrier,
    call_queue: CallQueue,
    portal_inbox: PortalInbox,
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
        let wake = Arc::new(Notify::new());
        let records = Records::new(store.clone(), wake.clone());
        Arc::new(Dispatcher {
            plugin: PluginCarrier::new(store.clone(), plugins, records.clone(), &settings),
            call_queue: CallQueue::new(store.clone()),
            portal_inbox: PortalInbox::new(store.clone()),
            store,
            engine,
            settings,
            wake,
            stopping: AtomicBool::new(false),
            records,
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
        let lease_until = now + self.plugin.longest_send_budget() + self.settings.lease_margin_ms;
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

    /// Carries one claimed attempt: checks the channel is still usable, then hands it to the
    /// channel's carrier.
    async fn carry(&self, mut attempt: Claimed) -> Result<(), CarryError> {
        let content: Content = serde_json::from_str(&attempt.content)
            .map_err(|e| CarryError::Content(e.to_string()))?;
        let now = now_ms();
        let Some(parts) = content.parts(attempt.channel) else {
            let why = format!("no content for {}", attempt.channel);
            return self.records.refuse(&attempt, "no_content", why, now).await;
        };
        let via = match eligibility::recheck(&self.engine, &attempt, now).await? {
            Eligibility::NotEligible(why) => {
                return self
                    .records
                    .refuse(&attempt, "not_eligible", why, now)
                    .await;
            }
            Eligibility::Deferred { until, reason } => {
                return self
                    .records
                    .put_back(&attempt, until, HistoryEvent::Deferred, &reason, now)
                    .await;
            }
            Eligibility::Eligible { via } => via,
        };
        let Some(address) =
            address::working(&self.store, attempt.contact_id, attempt.channel).await?
        else {
            let why = format!("{}: no address on file", attempt.channel);
            return self
                .records
                .refuse(&attempt, "not_eligible", why, now)
                .await;
        };
        match attempt.channel {
            Channel::Phone => self.call_queue.carry(&attempt, &address, &parts, now).await,
            Channel::Portal => {
                self.portal_inbox
                    .carry(&attempt, &address, &parts, now)
                    .await
            }
            _ => {
                self.plugin
                    .carry(&mut attempt, via.as_deref(), &address, &parts)
                    .await
            }
        }
    }
}
