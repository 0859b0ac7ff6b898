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
//! This file is the loop (claiming as room frees up, waking, stopping) and the hand-off of one attempt; the
//! rest, one job each:
//! - `eligibility.rs`: the channel re-checked at dispatch (consent, reachability, quiet hours);
//! - `address.rs`: where the attempt goes, the contact's newest working address;
//! - `carrier/`: the three carriers, one file each — a plugin's `send` (email, SMS), the staff
//!   call queue, the portal inbox;
//! - `record.rs`: what is written back about an attempt (vendors' answers group-committed), and
//!   the wake-up that follows;
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
    /// Attempts carried at once (claimed as room frees up).
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
            batch: 32,
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

/// How many attempts to claim with `carrying` in flight out of `batch`: none until half the batch
/// is free (unless nothing is in flight), so that claims, each a write transaction, come in
/// batches rather than one per finished send.
fn room(batch: i64, carrying: usize) -> i64 {
    let batch = batch.max(1);
    let room = batch - i64::try_from(carrying).unwrap_or(i64::MAX);
    if carrying == 0 || room * 2 >= batch {
        room
    } else {
        0
    }
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
    ) -> std::io::Result<Arc<Self>> {
        let wake = Arc::new(Notify::new());
        let records = Records::new(store.clone(), wake.clone())?;
        Ok(Arc::new(Dispatcher {
            plugin: PluginCarrier::new(store.clone(), plugins, records.clone(), &settings),
            call_queue: CallQueue::new(store.clone()),
            portal_inbox: PortalInbox::new(store.clone()),
            store,
            engine,
            settings,
            wake,
            stopping: AtomicBool::new(false),
            records,
        }))
    }

    /// Whether the thread that records vendors' answers is still running (for `/healthz`).
    pub fn committer_alive(&self) -> bool {
        self.records.committer_alive()
    }

    /// Notified when a message is queued, so the dispatcher need not wait for its next look.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Carries attempts until [`Dispatcher::stop`]: up to `batch` at a time, claiming more as
    /// soon as some finish (a slow vendor holds up only its own sends, not the next claims).
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let dispatcher = self.clone();
        tokio::spawn(async move {
            let mut carrying = JoinSet::new();
            while !dispatcher.stopping.load(Ordering::SeqCst) {
                while carrying.try_join_next().is_some() {}
                let free = room(dispatcher.settings.batch, carrying.len());
                let claimed = match dispatcher.claim(now_ms(), free).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "claiming attempts failed; trying again shortly");
                        Vec::new()
                    }
                };
                let got = claimed.len();
                for attempt in claimed {
                    dispatcher.spawn_carry(&mut carrying, attempt);
                }
                if got > 0 && room(dispatcher.settings.batch, carrying.len()) > 0 {
                    continue; // more may be due
                }
                dispatcher.wait_for_work(&mut carrying).await;
            }
            // The sends in flight are answered and recorded before the dispatcher ends.
            while carrying.join_next().await.is_some() {}
            tracing::info!("dispatcher stopped");
        })
    }

    /// Waits until there may be something to do: a send finished (making room), a message was
    /// queued, or the next attempt falls due.
    async fn wait_for_work(&self, carrying: &mut JoinSet<()>) {
        if carrying.is_empty() {
            let pause = self.idle_pause(now_ms()).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        } else {
            tokio::select! {
                _ = carrying.join_next() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
            }
        }
    }

    /// Claims nothing more; the sends in flight finish (they are answered and recorded) and the
    /// task started by [`Dispatcher::start`] ends. A shutdown that waits for it leaves
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

    /// Recovers expired leases and claims up to `limit` due attempts (none if `limit` is not
    /// positive).
    async fn claim(&self, now: i64, limit: i64) -> Result<Vec<Claimed>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let lease_until = now + self.plugin.longest_send_budget() + self.settings.lease_margin_ms;
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
        let claimed = outbox::claim_due(tx.conn(), now, lease_until, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Carries a claimed attempt in a task of `carrying`.
    fn spawn_carry(self: &Arc<Self>, carrying: &mut JoinSet<()>, attempt: Claimed) {
        let dispatcher = self.clone();
        carrying.spawn(async move {
            let (message, seq) = (attempt.message_id.clone(), attempt.seq);
            if let Err(error) = dispatcher.carry(attempt).await {
                tracing::error!(%error, message, seq, "attempt not carried; its lease will recover it");
            }
        });
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

#[cfg(test)]
mod tests {
    use super::room;

    #[test]
    fn claims_wait_until_half_the_batch_is_free() {
        assert_eq!(room(32, 0), 32);
        assert_eq!(room(32, 17), 0);
        assert_eq!(room(32, 16), 16);
        assert_eq!(room(32, 32), 0);
        assert_eq!(room(1, 0), 1);
        assert_eq!(
            room(0, 0),
            1,
            "a batch of nothing still carries one at a time"
        );
    }
}
