//! What the dispatcher writes back about a claimed attempt, each in its own transaction and
//! only under the attempt's lease (see `store::outbox`): a vendor's answer, a retry, a refusal
//! that falls back, an attempt put back untried, a slot given back. Whatever may make another
//! attempt due wakes the dispatcher.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::CarryError;
use crate::log;
use crate::send::plugin_try::{Failure, Tried, TryRecord, log_row};
use crate::send::settle;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::HistoryEvent;
use switchboard_store::outbox::{self, Claimed};
use switchboard_store::{Store, StoreError};

/// The dispatcher's writes, and its wake-up.
#[derive(Clone)]
pub struct Records {
    store: Store,
    wake: Arc<Notify>,
}

impl Records {
    pub fn new(store: Store, wake: Arc<Notify>) -> Self {
        Records { store, wake }
    }

    /// The attempt cannot be carried (no content, not eligible, no address, no plugin): it fails
    /// for good without being tried, and the message falls back.
    pub async fn refuse(
        &self,
        attempt: &Claimed,
        kind: &str,
        message: String,
        now: i64,
    ) -> Result<(), CarryError> {
        let failure = Failure {
            kind: kind.to_string(),
            retryable: false,
            retry_after_ms: None,
            message,
            vendor_code: None,
            outcome_unknown: false,
        };
        let detail = serde_json::to_value(&failure).unwrap_or(Value::Null);
        let mut tx = self.store.begin_write().await?;
        settle::record_failed(tx.conn(), attempt, false, &detail, now).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Puts a claimed attempt back in the queue until `until` without using up a try (it was not
    /// tried: its channel is deferred, or its plugin found no free instance slot), and records
    /// why in its history as `event`.
    pub async fn put_back(
        &self,
        attempt: &Claimed,
        until: i64,
        event: HistoryEvent,
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

    /// Gives the attempt back until `until`, untried and without a word in its history: its
    /// plugin's send rate is spent.
    pub async fn give_back(&self, attempt: &Claimed, until: i64) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        outbox::release(tx.conn(), attempt, until, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A try failed in a way worth trying again: the next try is due at `due`.
    pub async fn retry(
        &self,
        attempt: &Claimed,
        due: i64,
        failure: &Failure,
        now: i64,
    ) -> Result<(), CarryError> {
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
        Ok(())
    }

    /// Records a try's final answer: the log row and the attempt's state, in one transaction.
    /// The vendor has answered, so a failure to record is retried here rather than left to the
    /// lease (which would send the message again).
    pub async fn answer(&self, attempt: &Claimed, record: TryRecord<'_>) -> Result<(), CarryError> {
        const PAUSES_MS: [u64; 3] = [100, 500, 2_000];
        let mut failures = 0;
        loop {
            match self.answer_once(attempt, record).await {
                Ok(()) => break,
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
                    match self.unknown(attempt, &why).await {
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
        // A fallback attempt may now be due.
        self.wake.notify_one();
        Ok(())
    }

    async fn unknown(&self, attempt: &Claimed, why: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        outbox::record_unknown(tx.conn(), attempt, why, now_ms()).await?;
        tx.commit().await
    }

    async fn answer_once(
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
                    record.address,
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
}
