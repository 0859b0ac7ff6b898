//! Storing accepted messages in the outbox: each with its history's first entry and its first
//! attempt (or the entry saying why there is none). Messages accepted at the same time share one
//! write transaction ([`crate::group_commit`]): accepting is a handful of small rows, and the
//! transaction's fixed costs (the write lock, the commit's flush to disk) were most of it.

use serde_json::{Value, json};
use sqlx::AnyConnection;

use crate::group_commit::{GroupCommit, Limits, Recorder};
use switchboard_core::domain::{Channel, HistoryEvent, MessageStatus};
use switchboard_store::outbox::{self, NewMessage, Stored};
use switchboard_store::{Store, StoreError};

/// Groups of up to this many messages; this many may wait before senders wait to queue.
const LIMITS: Limits = Limits {
    group_weight: 64,
    queue_depth: 256,
};

/// The committer of accepted messages.
pub type Enqueuer = GroupCommit<Messages>;

/// Starts the committer of accepted messages on a thread of its own.
pub fn start(store: Store) -> std::io::Result<Enqueuer> {
    GroupCommit::start("switchboard-enqueue", store, Messages, LIMITS)
}

/// An accepted message, ready to store.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub idempotency_key: String,
    pub request_digest: String,
    pub contact_id: i64,
    pub urgency: String,
    pub kind: String,
    /// JSON.
    pub content: String,
    pub allow_fallback: bool,
    pub not_before: Option<i64>,
    pub plan: Vec<Channel>,
    /// JSON: the answer to give a repeated request.
    pub accepted: String,
    pub status: MessageStatus,
    pub status_reason: Option<String>,
    pub created_by: String,
    /// The history's first entry: the plan and what was left out.
    pub accepted_detail: Value,
    /// When the first attempt is due; `None` if no channel can carry the message.
    pub first_attempt_at: Option<i64>,
    pub now: i64,
}

/// What became of a message to store.
#[derive(Debug, Clone)]
pub enum Enqueued {
    Stored,
    /// Another request (of another process, or just before in this group) took its idempotency
    /// key first: nothing was stored, and this is what that one stored.
    KeyTaken(Stored),
}

/// Stores accepted messages, in order.
pub struct Messages;

impl Recorder for Messages {
    type Item = Message;
    type Output = Enqueued;

    async fn record(
        &self,
        conn: &mut AnyConnection,
        _store: &Store,
        messages: &[Message],
    ) -> Result<Vec<Enqueued>, StoreError> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(store_one(conn, message).await?);
        }
        Ok(results)
    }
}

async fn store_one(conn: &mut AnyConnection, message: &Message) -> Result<Enqueued, StoreError> {
    // The key may have been taken since the sender checked it.
    if let Some(stored) = outbox::by_idempotency_key(conn, &message.idempotency_key).await? {
        return Ok(Enqueued::KeyTaken(stored));
    }
    let (id, now) = (message.id.as_str(), message.now);
    outbox::insert_message(
        conn,
        &NewMessage {
            id,
            idempotency_key: &message.idempotency_key,
            request_digest: &message.request_digest,
            contact_id: message.contact_id,
            urgency: &message.urgency,
            kind: &message.kind,
            content: &message.content,
            allow_fallback: message.allow_fallback,
            not_before: message.not_before,
            plan: &message.plan,
            accepted: &message.accepted,
            status: message.status,
            status_reason: message.status_reason.as_deref(),
            created_by: &message.created_by,
            now,
        },
    )
    .await?;
    let accepted = &message.accepted_detail;
    outbox::add_event(conn, id, None, now, HistoryEvent::Accepted, accepted).await?;
    match (message.plan.first(), message.first_attempt_at) {
        (Some(first), Some(due)) => outbox::add_attempt(conn, id, 1, *first, due, now).await?,
        _ => {
            let detail = json!({ "reason": message.status_reason });
            outbox::add_event(conn, id, None, now, HistoryEvent::GaveUp, &detail).await?;
        }
    }
    Ok(Enqueued::Stored)
}
