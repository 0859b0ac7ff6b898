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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_commit::record_together;
    use switchboard_store::{contacts, testing};

    fn message(id: &str, key: &str, contact_id: i64) -> Message {
        Message {
            id: id.into(),
            idempotency_key: key.into(),
            request_digest: format!("digest of {id}"),
            contact_id,
            urgency: "normal".into(),
            kind: "reminder".into(),
            content: r#"{"email":{"subject":"Hi","text":"Hello"}}"#.into(),
            allow_fallback: true,
            not_before: None,
            plan: vec![Channel::Email],
            accepted: "{}".into(),
            status: MessageStatus::Pending,
            status_reason: None,
            created_by: "test".into(),
            accepted_detail: json!({ "plan": [] }),
            first_attempt_at: Some(5),
            now: 5,
        }
    }

    #[tokio::test]
    async fn a_key_used_earlier_in_the_same_group_is_taken_and_stores_nothing_more() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        tx.commit().await.unwrap();
        let group = [
            message("msg_a", "key-1", contact),
            message("msg_b", "key-1", contact),
            message("msg_c", "key-2", contact),
        ];

        let results = record_together(&store, &Messages, &group).await;

        assert!(matches!(results[0], Ok(Enqueued::Stored)), "{results:?}");
        match &results[1] {
            Ok(Enqueued::KeyTaken(stored)) => {
                assert_eq!(stored.id, "msg_a");
                assert_eq!(stored.request_digest, "digest of msg_a");
            }
            other => panic!("the repeated key was not refused: {other:?}"),
        }
        assert!(matches!(results[2], Ok(Enqueued::Stored)), "{results:?}");
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT message_id FROM message_attempts ORDER BY id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(ids, ["msg_a", "msg_c"]);
    }
}
