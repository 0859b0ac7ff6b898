//! The statements settling a message uses (the decisions are `switchboard-app`'s `send::settle`):
//! the attempts that carried the vendor messages a new interaction names, cancelling what else is
//! queued once one attempt reached the person, and where a message is in its plan, for a fallback.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::queue::Claimed;
use super::rows::add_event;
use super::{parse_attempt_status, parse_channel, parse_message_status};
use crate::StoreError;
use crate::sql::{Params, dynamic};
use switchboard_core::domain::{AttemptStatus, Channel, HistoryEvent, MessageStatus};

/// An attempt as an event settles it.
#[derive(Debug, Clone)]
pub struct AttemptRef {
    pub id: i64,
    pub message_id: String,
    pub seq: i64,
    pub channel: Channel,
    pub status: AttemptStatus,
}

impl AttemptRef {
    /// A claimed attempt, in `status`.
    pub fn of(claimed: &Claimed, status: AttemptStatus) -> Self {
        AttemptRef {
            id: claimed.attempt_id,
            message_id: claimed.message_id.clone(),
            seq: claimed.seq,
            channel: claimed.channel,
            status,
        }
    }
}

/// The attempts that carried the vendor messages `vendor_ids`, each with its vendor message id.
pub async fn attempts_carrying(
    conn: &mut AnyConnection,
    vendor_ids: &[&str],
) -> Result<Vec<(String, AttemptRef)>, StoreError> {
    let mut rows = Vec::new();
    // Within SQLite's and PostgreSQL's parameter limits, however large the webhook batch.
    for chunk in vendor_ids.chunks(500) {
        let mut params = Params::for_connection(conn)?;
        let sql = format!(
            "SELECT id, message_id, seq, channel, status, vendor_message_id FROM message_attempts
             WHERE vendor_message_id IN ({})",
            params.list(chunk.len())
        );
        let mut query = dynamic(sql);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    let mut attempts = Vec::with_capacity(rows.len());
    for row in &rows {
        let channel: String = row.try_get("channel")?;
        let status: String = row.try_get("status")?;
        let vendor_id: String = row.try_get("vendor_message_id")?;
        attempts.push((
            vendor_id,
            AttemptRef {
                id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                seq: row.try_get("seq")?,
                channel: parse_channel(&channel)?,
                status: parse_attempt_status(&status)?,
            },
        ));
    }
    Ok(attempts)
}

/// Cancels what else is queued for a message that reached the person by attempt `reached`: its
/// other queued attempts, and its call-queue tasks nobody has taken.
pub async fn cancel_others(
    conn: &mut AnyConnection,
    message_id: &str,
    reached: i64,
    at: i64,
) -> Result<(), StoreError> {
    let cancelled = sqlx::query(
        "UPDATE message_attempts SET status = 'cancelled', updated_at = $1
         WHERE message_id = $2 AND id <> $3 AND status = 'queued'
         RETURNING seq",
    )
    .bind(at)
    .bind(message_id)
    .bind(reached)
    .fetch_all(&mut *conn)
    .await?;
    // A call nobody has taken is withdrawn; one a member of staff has claimed is theirs to
    // finish and log.
    sqlx::query(
        "UPDATE message_attempts SET status = 'cancelled', updated_at = $1
         WHERE id IN (SELECT attempt_id FROM call_tasks
                      WHERE message_id = $2 AND attempt_id <> $3 AND status = 'open')",
    )
    .bind(at)
    .bind(message_id)
    .bind(reached)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE call_tasks SET status = 'cancelled', completed_at = $1
         WHERE message_id = $2 AND attempt_id <> $3 AND status = 'open'",
    )
    .bind(at)
    .bind(message_id)
    .bind(reached)
    .execute(&mut *conn)
    .await?;
    for row in cancelled {
        let seq: i64 = row.try_get("seq")?;
        let detail = json!({ "reason": "an earlier attempt reached them" });
        add_event(
            conn,
            message_id,
            Some(seq),
            at,
            HistoryEvent::Cancelled,
            &detail,
        )
        .await?;
    }
    Ok(())
}

/// Where a message is in its plan: what a fallback decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub status: MessageStatus,
    pub allow_fallback: bool,
    /// The channels in the order they are tried.
    pub plan: Vec<Channel>,
    /// The channel of every attempt so far.
    pub tried: Vec<Channel>,
    /// The highest attempt number so far.
    pub last_seq: i64,
}

/// Where a message is in its plan.
pub async fn progress(conn: &mut AnyConnection, message_id: &str) -> Result<Progress, StoreError> {
    let row = sqlx::query("SELECT status, allow_fallback, plan FROM messages WHERE id = $1")
        .bind(message_id)
        .fetch_one(&mut *conn)
        .await?;
    let status: String = row.try_get("status")?;
    let allow_fallback: i64 = row.try_get("allow_fallback")?;
    let plan: String = row.try_get("plan")?;
    let plan: Vec<Channel> =
        serde_json::from_str(&plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
    let tried_rows = sqlx::query("SELECT seq, channel FROM message_attempts WHERE message_id = $1")
        .bind(message_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut tried = Vec::new();
    let mut last_seq = 0;
    for row in &tried_rows {
        let channel: String = row.try_get("channel")?;
        tried.push(parse_channel(&channel)?);
        last_seq = last_seq.max(row.try_get::<i64, _>("seq")?);
    }
    Ok(Progress {
        status: parse_message_status(&status)?,
        allow_fallback: allow_fallback != 0,
        plan,
        tried,
        last_seq,
    })
}
