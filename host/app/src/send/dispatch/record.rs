//! What the dispatcher writes back about a claimed attempt, each in its own transaction and
//! only under the attempt's lease (see `store::outbox`): a vendor's answer, a retry, a refusal
//! that falls back, an attempt put back untried, a slot given back. Whatever may make another
//! attempt due wakes the dispatcher.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::AnyConnection;
use tokio::sync::Notify;

use super::CarryError;
use crate::group_commit::{GroupCommit, Limits, Recorder};
use crate::log;
use crate::send::plugin_try::{Failure, Tried, TryRecord, log_row};
use crate::send::settle;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::HistoryEvent;
use switchboard_store::interactions::NewInteraction;
use switchboard_store::outbox::{self, Claimed};
use switchboard_store::{Store, StoreError};

/// The dispatcher's writes, and its wake-up.
#[derive(Clone)]
pub struct Records {
    store: Store,
    answers: GroupCommit<Answers>,
    wake: Arc<Notify>,
}

/// Vendors' answers are recorded in groups of up to this many; this many may wait.
const ANSWER_LIMITS: Limits = Limits {
    group_weight: 64,
    queue_depth: 256,
};

impl Records {
    /// Starts the thread that records vendors' answers.
    pub fn new(store: Store, wake: Arc<Notify>) -> std::io::Result<Self> {
        let answers =
            GroupCommit::start("switchboard-answers", store.clone(), Answers, ANSWER_LIMITS)?;
        Ok(Records {
            store,
            answers,
            wake,
        })
    }

    /// Whether the thread that records vendors' answers is still running.
    pub fn committer_alive(&self) -> bool {
        self.answers.is_alive()
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
        let answer = Answer::of(attempt, &record);
        let mut failures = 0;
        loop {
            match self.answers.record(answer.clone()).await {
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
}

/// A vendor's final answer to a try, to record: its log row and the attempt's new state.
#[derive(Debug, Clone)]
pub struct Answer {
    attempt: Claimed,
    /// The try's `<channel>_sent` or `<channel>_failed` row (its contact is set when recorded).
    row: NewInteraction,
    result: Result<Sent, Value>,
    now: i64,
}

/// Where a try that the vendor took went.
#[derive(Debug, Clone)]
struct Sent {
    carrier: String,
    address: String,
    vendor_message_id: Option<String>,
}

impl Answer {
    fn of(attempt: &Claimed, record: &TryRecord<'_>) -> Self {
        let result = match record.tried {
            Tried::Sent {
                vendor_message_id, ..
            } => Ok(Sent {
                carrier: record.plugin.id().to_string(),
                address: record.address.to_string(),
                vendor_message_id: vendor_message_id.clone(),
            }),
            Tried::Failed(failure) => Err(serde_json::to_value(failure).unwrap_or(Value::Null)),
        };
        Answer {
            attempt: attempt.clone(),
            row: log_row(record),
            result,
            now: record.now,
        }
    }
}

/// Records vendors' answers together: their log rows in one append, then each attempt's state.
pub struct Answers;

impl Recorder for Answers {
    type Item = Answer;
    type Output = ();

    async fn record(
        &self,
        conn: &mut AnyConnection,
        _store: &Store,
        answers: &[Answer],
    ) -> Result<Vec<()>, StoreError> {
        // The message's contact now: a merge during the call moved it to the survivor; an
        // erasure meanwhile leaves nothing about them to record.
        let mut kept = Vec::with_capacity(answers.len());
        let mut rows = Vec::with_capacity(answers.len());
        for answer in answers {
            if let Some(contact_id) = outbox::contact_of(conn, &answer.attempt.message_id).await? {
                rows.push(NewInteraction {
                    contact_id: Some(contact_id),
                    ..answer.row.clone()
                });
                kept.push(answer);
            }
        }
        log::append(conn, rows.into_iter().map(Into::into).collect()).await?;
        for answer in kept {
            let attempt = &answer.attempt;
            match &answer.result {
                Ok(sent) => {
                    settle::record_sent(
                        conn,
                        attempt,
                        &sent.carrier,
                        &sent.address,
                        sent.vendor_message_id.as_deref(),
                        answer.now,
                    )
                    .await?;
                }
                Err(detail) => {
                    settle::record_failed(conn, attempt, true, detail, answer.now).await?;
                }
            }
        }
        Ok(vec![(); answers.len()])
    }
}
