//! The outbox's rows: a message (with its plan and the response a repeated request gets), its
//! attempts and the lines of its history, as they are written; and the lookups by idempotency key
//! and by message that accepting and carrying a message need.

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::StoreError;
use switchboard_core::domain::{AttemptStatus, Channel, HistoryEvent, MessageStatus};

/// A message to store, with its first attempt when it has one.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub idempotency_key: &'a str,
    pub request_digest: &'a str,
    pub contact_id: i64,
    pub urgency: &'a str,
    pub kind: &'a str,
    /// JSON.
    pub content: &'a str,
    pub allow_fallback: bool,
    pub not_before: Option<i64>,
    pub plan: &'a [Channel],
    /// JSON: the response to give a repeated request.
    pub accepted: &'a str,
    pub status: MessageStatus,
    pub status_reason: Option<&'a str>,
    pub created_by: &'a str,
    pub now: i64,
}

/// A message stored under an idempotency key.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub request_digest: String,
    pub accepted: String,
}

/// The message stored under `key`, if any.
pub async fn by_idempotency_key(
    conn: &mut AnyConnection,
    key: &str,
) -> Result<Option<Stored>, StoreError> {
    let row =
        sqlx::query("SELECT id, request_digest, accepted FROM messages WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    row.map(|row| {
        Ok(Stored {
            id: row.try_get("id")?,
            request_digest: row.try_get("request_digest")?,
            accepted: row.try_get("accepted")?,
        })
    })
    .transpose()
}

pub async fn insert_message(
    conn: &mut AnyConnection,
    message: &NewMessage<'_>,
) -> Result<(), StoreError> {
    let plan = serde_json::to_string(message.plan)
        .map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
    sqlx::query(
        "INSERT INTO messages (id, idempotency_key, request_digest, contact_id, urgency, kind,
             content, allow_fallback, not_before, plan, accepted, status, status_reason,
             created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(message.id)
    .bind(message.idempotency_key)
    .bind(message.request_digest)
    .bind(message.contact_id)
    .bind(message.urgency)
    .bind(message.kind)
    .bind(message.content)
    .bind(i64::from(message.allow_fallback))
    .bind(message.not_before)
    .bind(plan)
    .bind(message.accepted)
    .bind(message.status.as_str())
    .bind(message.status_reason)
    .bind(message.created_by)
    .bind(message.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues attempt `seq` of a message on `channel`, due at `due_at`.
pub async fn add_attempt(
    conn: &mut AnyConnection,
    message_id: &str,
    seq: i64,
    channel: Channel,
    due_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO message_attempts (message_id, seq, channel, status, due_at, idempotency_key,
             created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6)",
    )
    .bind(message_id)
    .bind(seq)
    .bind(channel.as_str())
    .bind(due_at)
    .bind(format!("{message_id}-{seq}"))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a line to a message's history.
pub async fn add_event(
    conn: &mut AnyConnection,
    message_id: &str,
    attempt_seq: Option<i64>,
    at: i64,
    event: HistoryEvent,
    detail: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO message_history (message_id, attempt_seq, at, event, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(message_id)
    .bind(attempt_seq)
    .bind(at)
    .bind(event.as_str())
    .bind(detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a message's status and its reason.
pub async fn set_message_status(
    conn: &mut AnyConnection,
    message_id: &str,
    status: MessageStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE messages SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets an attempt's status.
pub async fn set_attempt_status(
    conn: &mut AnyConnection,
    attempt_id: i64,
    status: AttemptStatus,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE message_attempts SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(at)
        .bind(attempt_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The contact a message is for now (a merge may have moved it); `None` once it is erased.
pub async fn contact_of(
    conn: &mut AnyConnection,
    message_id: &str,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT contact_id FROM messages WHERE id = $1")
        .bind(message_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("contact_id")).transpose()?)
}
