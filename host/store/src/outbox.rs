//! The outbox: messages, the attempts that carry them, and their history (`messages`,
//! `message_attempts`, `message_events`).
//!
//! An attempt is claimed by a dispatcher with a lease before its carrier is called, and its result
//! is committed after; an attempt whose lease ran out was interrupted (a crash, say) with its
//! vendor outcome unknown, and is queued again marked ambiguous. What a later event in the
//! interaction log (a bounce, a delivery, an answered call) does to an attempt, and when a message
//! falls back, is decided above the store (`send::settle`); here are the statements it uses.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::sql::{Params, dynamic};
use super::{Store, StoreError};
use switchboard_core::domain::{AttemptStatus, Channel, MessageStatus};

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
    event: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO message_events (message_id, attempt_seq, at, event, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(message_id)
    .bind(attempt_seq)
    .bind(at)
    .bind(event)
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

/// An attempt a dispatcher holds, with what it needs of its message.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub attempt_id: i64,
    pub message_id: String,
    pub seq: i64,
    pub channel: Channel,
    pub tries: u32,
    pub idempotency_key: String,
    pub ambiguous: bool,
    /// The lease this dispatcher holds: results are recorded only under it.
    pub lease_until: i64,
    pub contact_id: i64,
    pub urgency: String,
    pub kind: String,
    /// JSON.
    pub content: String,
}

/// Claims up to `limit` attempts due by `now` until `lease_until`. Due attempts of a message that
/// has already reached the person are cancelled instead.
pub async fn claim_due(
    conn: &mut AnyConnection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    // A retry or a deferral queued before the message reached them by another channel.
    sqlx::query(
        "UPDATE message_attempts SET status = 'cancelled', updated_at = $1
         WHERE status = 'queued' AND due_at <= $1
           AND message_id IN (SELECT id FROM messages WHERE status = 'delivered')",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let ids: Vec<i64> = sqlx::query(
        "UPDATE message_attempts SET status = 'in_flight', lease_until = $1, updated_at = $2
         WHERE id IN (SELECT id FROM message_attempts
                      WHERE status = 'queued' AND due_at <= $2 ORDER BY due_at, id LIMIT $3)
         RETURNING id",
    )
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| row.try_get("id"))
    .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = Params::for_connection(conn);
    let sql = format!(
        "SELECT a.id, a.message_id, a.seq, a.channel, a.tries, a.idempotency_key, a.ambiguous,
                m.contact_id, m.urgency, m.kind, m.content
         FROM message_attempts a JOIN messages m ON m.id = a.message_id
         WHERE a.id IN ({}) ORDER BY a.due_at, a.id",
        params.list(ids.len())
    );
    let mut query = dynamic(sql);
    for id in &ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            let channel: String = row.try_get("channel")?;
            let tries: i64 = row.try_get("tries")?;
            let ambiguous: i64 = row.try_get("ambiguous")?;
            Ok(Claimed {
                attempt_id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                seq: row.try_get("seq")?,
                channel: parse_channel(&channel)?,
                tries: u32::try_from(tries).unwrap_or(u32::MAX),
                idempotency_key: row.try_get("idempotency_key")?,
                ambiguous: ambiguous != 0,
                lease_until,
                contact_id: row.try_get("contact_id")?,
                urgency: row.try_get("urgency")?,
                kind: row.try_get("kind")?,
                content: row.try_get("content")?,
            })
        })
        .collect()
}

/// How many attempts are unfinished, by status: queued and in flight, both always given (the
/// other statuses are final). Cheap: the `(status, due_at)` index answers it, and only unfinished
/// attempts are counted.
pub async fn unfinished_attempts(store: &Store) -> Result<Vec<(AttemptStatus, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM message_attempts
         WHERE status IN ('queued', 'in_flight') GROUP BY status",
    )
    .fetch_all(store.pool())
    .await?;
    Ok([AttemptStatus::Queued, AttemptStatus::InFlight]
        .into_iter()
        .map(|status| {
            let count = rows
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |r| r.1);
            (status, count)
        })
        .collect())
}

/// When the next queued attempt is due.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let row =
        sqlx::query("SELECT MIN(due_at) AS due FROM message_attempts WHERE status = 'queued'")
            .fetch_one(conn)
            .await?;
    Ok(row.try_get("due")?)
}

/// Deals with every attempt whose lease ran out: its dispatcher stopped (a crash) or could not
/// record the vendor's answer, after it may have called the vendor. The first time, the attempt is
/// queued again marked ambiguous (tried with the same idempotency key); the second time it stops
/// as [`AttemptStatus::Unknown`], so that a recording that keeps failing cannot resend the message
/// every lease period. Returns how many were queued again and how many stopped.
pub async fn recover_expired(conn: &mut AnyConnection, now: i64) -> Result<(u64, u64), StoreError> {
    let requeued = sqlx::query(
        "UPDATE message_attempts
         SET status = 'queued', ambiguous = 1, tries = tries + 1, recoveries = recoveries + 1,
             due_at = $1, lease_until = NULL, updated_at = $1
         WHERE status = 'in_flight' AND lease_until < $1 AND recoveries = 0
         RETURNING message_id, seq",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for row in &requeued {
        let detail = json!({
            "reason": "the dispatcher holding this attempt stopped before recording the vendor's \
                       answer; tried again with the same idempotency key",
        });
        add_event(
            conn,
            &row.try_get::<String, _>("message_id")?,
            Some(row.try_get("seq")?),
            now,
            "outcome_unknown",
            &detail,
        )
        .await?;
    }
    let stopped = sqlx::query(
        "UPDATE message_attempts
         SET status = 'unknown', ambiguous = 1, tries = tries + 1, recoveries = recoveries + 1,
             lease_until = NULL, updated_at = $1,
             last_error = 'the vendor''s answer could not be recorded twice; not tried again'
         WHERE status = 'in_flight' AND lease_until < $1 AND recoveries > 0
         RETURNING message_id, seq",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for row in &stopped {
        stop_unknown(
            conn,
            &row.try_get::<String, _>("message_id")?,
            row.try_get("seq")?,
            "the dispatcher lost this attempt a second time before recording the vendor's \
             answer; it is not tried again, so that the person is not reached twice",
            now,
        )
        .await?;
    }
    Ok((requeued.len() as u64, stopped.len() as u64))
}

/// The vendor answered but its answer cannot be recorded: the attempt stops as unknown (neither
/// retried nor fallen back from) under the dispatcher's lease. False if the lease was lost.
pub async fn record_unknown(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    why: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let recorded = dynamic(format!(
        "UPDATE message_attempts
         SET status = 'unknown', ambiguous = 1, tries = tries + 1, lease_until = NULL,
             last_error = $1, updated_at = $2
         WHERE id = $3 AND {}",
        held(4)
    ))
    .bind(why)
    .bind(now)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(&mut *conn)
    .await?;
    if recorded.rows_affected() == 0 {
        return Ok(false);
    }
    stop_unknown(conn, &attempt.message_id, attempt.seq, why, now).await?;
    Ok(true)
}

/// A message whose attempt ended unknown is not tried further: its status says so.
async fn stop_unknown(
    conn: &mut AnyConnection,
    message_id: &str,
    seq: i64,
    why: &str,
    now: i64,
) -> Result<(), StoreError> {
    add_event(
        conn,
        message_id,
        Some(seq),
        now,
        "outcome_unknown",
        &json!({ "reason": why, "stopped": true }),
    )
    .await?;
    sqlx::query(
        "UPDATE messages SET status = 'unknown', status_reason = $1, updated_at = $2
         WHERE id = $3 AND status IN ('pending', 'sent')",
    )
    .bind(why)
    .bind(now)
    .bind(message_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Extends the lease right before the carrier is called, so that the whole call is covered;
/// false if the lease was lost (it ran out and another dispatcher took the attempt).
pub async fn renew(
    conn: &mut AnyConnection,
    attempt: &mut Claimed,
    lease_until: i64,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query(
        "UPDATE message_attempts SET lease_until = $1
         WHERE id = $2 AND status = 'in_flight' AND lease_until = $3",
    )
    .bind(lease_until)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(conn)
    .await?;
    if renewed.rows_affected() == 1 {
        attempt.lease_until = lease_until;
        return Ok(true);
    }
    Ok(false)
}

/// The condition under which a dispatcher may record an attempt's result: it still holds the
/// lease (bound as parameter `lease`), or the attempt was queued again (its lease ran out) and
/// nobody has taken it since.
fn held(lease: usize) -> String {
    format!("(status = 'queued' OR (status = 'in_flight' AND lease_until = ${lease}))")
}

/// Notes a result that came back after the lease was lost: another dispatcher owns the attempt
/// now, so the state is left to it, and the history keeps what this one saw.
async fn late_result(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    detail: Value,
    now: i64,
) -> Result<(), StoreError> {
    tracing::warn!(message = %attempt.message_id, seq = attempt.seq, "result after the lease was lost");
    add_event(
        conn,
        &attempt.message_id,
        Some(attempt.seq),
        now,
        "late_result",
        &detail,
    )
    .await
}

/// Gives a claimed attempt back without a try (rate limit, quiet hours): due again at `due_at`.
pub async fn release(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    due_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE message_attempts SET status = 'queued', due_at = $1, lease_until = NULL,
             updated_at = $2
         WHERE id = $3 AND status = 'in_flight' AND lease_until = $4",
    )
    .bind(due_at)
    .bind(now)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(conn)
    .await?;
    Ok(())
}

/// A carrier took the attempt: the attempt and its message are sent. Returns false, changing
/// nothing but the history, if this dispatcher no longer holds the attempt.
pub async fn record_sent(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    carrier: &str,
    address: &str,
    vendor_message_id: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let detail =
        json!({ "carrier": carrier, "to": address, "vendor_message_id": vendor_message_id });
    let recorded = dynamic(format!(
        "UPDATE message_attempts
         SET status = 'sent', tries = tries + 1, carrier = $1, address = $2,
             vendor_message_id = $3, lease_until = NULL, updated_at = $4
         WHERE id = $5 AND {}",
        held(6)
    ))
    .bind(carrier.to_string())
    .bind(address.to_string())
    .bind(vendor_message_id.map(str::to_string))
    .bind(now)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(&mut *conn)
    .await?;
    if recorded.rows_affected() == 0 {
        late_result(conn, attempt, json!({ "sent": detail }), now).await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE messages SET status = 'sent', status_reason = NULL, updated_at = $1
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(&attempt.message_id)
    .execute(&mut *conn)
    .await?;
    let detail =
        json!({ "carrier": carrier, "to": address, "vendor_message_id": vendor_message_id });
    add_event(
        conn,
        &attempt.message_id,
        Some(attempt.seq),
        now,
        "sent",
        &detail,
    )
    .await?;
    Ok(true)
}

/// A try failed and will be repeated at `due_at`.
pub async fn schedule_retry(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    due_at: i64,
    ambiguous: bool,
    failure: &Value,
    now: i64,
) -> Result<(), StoreError> {
    let detail = json!({ "failure": failure, "retry_at": due_at, "outcome_unknown": ambiguous });
    let scheduled = dynamic(format!(
        "UPDATE message_attempts
         SET status = 'queued', tries = tries + 1, due_at = $1, lease_until = NULL,
             ambiguous = CASE WHEN $2 = 1 THEN 1 ELSE ambiguous END, last_error = $3,
             updated_at = $4
         WHERE id = $5 AND {}",
        held(6)
    ))
    .bind(due_at)
    .bind(i64::from(ambiguous))
    .bind(failure.to_string())
    .bind(now)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(&mut *conn)
    .await?;
    if scheduled.rows_affected() == 0 {
        return late_result(conn, attempt, json!({ "retry": detail }), now).await;
    }
    add_event(
        conn,
        &attempt.message_id,
        Some(attempt.seq),
        now,
        "retry_scheduled",
        &detail,
    )
    .await
}

/// The attempt failed for good (`tried`: whether the carrier was called this time): records why.
/// Returns false, changing nothing but the history, if this dispatcher no longer holds the
/// attempt.
pub async fn record_failed(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    tried: bool,
    failure: &Value,
    now: i64,
) -> Result<bool, StoreError> {
    let recorded = dynamic(format!(
        "UPDATE message_attempts
         SET status = 'failed', tries = tries + $1, lease_until = NULL, last_error = $2,
             updated_at = $3
         WHERE id = $4 AND {}",
        held(5)
    ))
    .bind(i64::from(tried))
    .bind(failure.to_string())
    .bind(now)
    .bind(attempt.attempt_id)
    .bind(attempt.lease_until)
    .execute(&mut *conn)
    .await?;
    if recorded.rows_affected() == 0 {
        late_result(conn, attempt, json!({ "failed": failure }), now).await?;
        return Ok(false);
    }
    add_event(
        conn,
        &attempt.message_id,
        Some(attempt.seq),
        now,
        "failed",
        failure,
    )
    .await?;
    Ok(true)
}

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
        let mut params = Params::for_connection(conn);
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
        add_event(conn, message_id, Some(seq), at, "cancelled", &detail).await?;
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

fn parse_channel(text: &str) -> Result<Channel, StoreError> {
    Channel::parse(text).ok_or_else(|| StoreError::Corrupt(format!("channel {text:?}")))
}

fn parse_message_status(text: &str) -> Result<MessageStatus, StoreError> {
    MessageStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("MessageStatus {text:?}")))
}

fn parse_attempt_status(text: &str) -> Result<AttemptStatus, StoreError> {
    AttemptStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("AttemptStatus {text:?}")))
}

/// A message as `GET /api/messages/{id}` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub contact_id: i64,
    pub urgency: String,
    pub kind: String,
    pub status: MessageStatus,
    pub status_reason: Option<String>,
    pub allow_fallback: bool,
    pub not_before: Option<i64>,
    /// The channels in the order they are tried.
    pub plan: Vec<Channel>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: Vec<AttemptView>,
    pub history: Vec<EventView>,
}

/// One channel a message was tried on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub seq: i64,
    pub channel: Channel,
    /// The plugin, `call_queue` or `portal_inbox` that carried it.
    pub carrier: Option<String>,
    pub to: Option<String>,
    pub status: AttemptStatus,
    pub tries: i64,
    pub due_at: i64,
    pub vendor_message_id: Option<String>,
    /// A try ended without knowing whether the vendor took it; the retry carried the same
    /// idempotency key.
    pub outcome_was_unknown: bool,
    pub idempotency_key: String,
    #[schema(value_type = Option<Object>)]
    pub last_error: Option<Value>,
    pub updated_at: i64,
}

/// A line of a message's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub at: i64,
    pub attempt_seq: Option<i64>,
    pub event: String,
    #[schema(value_type = Object)]
    pub detail: Value,
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

/// Every message to a contact, oldest first.
pub async fn of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<MessageView>, StoreError> {
    let ids: Vec<String> =
        sqlx::query("SELECT id FROM messages WHERE contact_id = $1 ORDER BY created_at, id")
            .bind(contact_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
    let mut messages = Vec::with_capacity(ids.len());
    for id in ids {
        messages.extend(view(conn, &id).await?);
    }
    Ok(messages)
}

/// A message with its attempts and history.
pub async fn view(conn: &mut AnyConnection, id: &str) -> Result<Option<MessageView>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT id, contact_id, urgency, kind, status, status_reason, allow_fallback, not_before,
                plan, created_by, created_at, updated_at
         FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    let plan: String = row.try_get("plan")?;
    let allow_fallback: i64 = row.try_get("allow_fallback")?;
    let mut message = MessageView {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        urgency: row.try_get("urgency")?,
        kind: row.try_get("kind")?,
        status: parse_message_status(&status)?,
        status_reason: row.try_get("status_reason")?,
        allow_fallback: allow_fallback != 0,
        not_before: row.try_get("not_before")?,
        plan: serde_json::from_str(&plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        attempts: Vec::new(),
        history: Vec::new(),
    };
    for row in sqlx::query(
        "SELECT seq, channel, carrier, address, status, tries, due_at, vendor_message_id,
                ambiguous, idempotency_key, last_error, updated_at
         FROM message_attempts WHERE message_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    {
        let channel: String = row.try_get("channel")?;
        let status: String = row.try_get("status")?;
        let ambiguous: i64 = row.try_get("ambiguous")?;
        let last_error: Option<String> = row.try_get("last_error")?;
        message.attempts.push(AttemptView {
            seq: row.try_get("seq")?,
            channel: parse_channel(&channel)?,
            carrier: row.try_get("carrier")?,
            to: row.try_get("address")?,
            status: parse_attempt_status(&status)?,
            tries: row.try_get("tries")?,
            due_at: row.try_get("due_at")?,
            vendor_message_id: row.try_get("vendor_message_id")?,
            outcome_was_unknown: ambiguous != 0,
            idempotency_key: row.try_get("idempotency_key")?,
            last_error: last_error.and_then(|e| serde_json::from_str(&e).ok()),
            updated_at: row.try_get("updated_at")?,
        });
    }
    for row in sqlx::query(
        "SELECT at, attempt_seq, event, detail FROM message_events
         WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    {
        let detail: String = row.try_get("detail")?;
        message.history.push(EventView {
            at: row.try_get("at")?,
            attempt_seq: row.try_get("attempt_seq")?,
            event: row.try_get("event")?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        });
    }
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, claim, message, shown};

    #[tokio::test]
    async fn the_outbox_depth_counts_only_unfinished_attempts() {
        let (store, _dir) = testing::store().await;
        assert_eq!(
            unfinished_attempts(&store).await.unwrap(),
            [(AttemptStatus::Queued, 0), (AttemptStatus::InFlight, 0)]
        );
        message(&store, "msg_a", &[Channel::Email], true).await;
        let held = claim(&store, 10).await.remove(0);
        message(&store, "msg_b", &[Channel::Email], true).await;
        assert_eq!(
            unfinished_attempts(&store).await.unwrap(),
            [(AttemptStatus::Queued, 1), (AttemptStatus::InFlight, 1)]
        );
        let failure = json!({ "kind": "content_rejected", "message": "no" });
        let mut tx = store.begin_write().await.unwrap();
        record_failed(tx.conn(), &held, true, &failure, 20)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            unfinished_attempts(&store).await.unwrap(),
            [(AttemptStatus::Queued, 1), (AttemptStatus::InFlight, 0)],
            "a failed attempt is final"
        );
    }

    #[tokio::test]
    async fn a_claimed_attempt_is_not_claimed_again_until_its_lease_runs_out() {
        let (store, _dir) = testing::store().await;
        message(&store, "msg_a", &[Channel::Email], true).await;
        let first = claim(&store, 10).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].idempotency_key, "msg_a-1");
        assert!(claim(&store, 20).await.is_empty(), "held by its lease");

        // The holder stopped: after the lease the attempt is queued again, marked ambiguous.
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(recover_expired(tx.conn(), 2_000).await.unwrap(), (1, 0));
        tx.commit().await.unwrap();
        let again = claim(&store, 2_000).await;
        assert_eq!(again.len(), 1);
        assert!(again[0].ambiguous);
        assert_eq!(
            again[0].idempotency_key, "msg_a-1",
            "the retry keeps its key"
        );
        let shown = shown(&store, "msg_a").await;
        assert!(shown.attempts[0].outcome_was_unknown);
        assert!(shown.history.iter().any(|e| e.event == "outcome_unknown"));
    }

    #[tokio::test]
    async fn an_attempt_lost_a_second_time_stops_as_unknown_instead_of_being_sent_again() {
        let (store, _dir) = testing::store().await;
        message(&store, "msg_u", &[Channel::Email, Channel::Sms], true).await;
        claim(&store, 10).await;
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(recover_expired(tx.conn(), 2_000).await.unwrap(), (1, 0));
        tx.commit().await.unwrap();
        assert_eq!(claim(&store, 2_000).await.len(), 1, "tried once more");

        // Its result is lost again: it stops, and no other channel is tried.
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(recover_expired(tx.conn(), 60_000).await.unwrap(), (0, 1));
        tx.commit().await.unwrap();
        assert!(
            claim(&store, 60_000).await.is_empty(),
            "nothing left to send"
        );
        let shown = shown(&store, "msg_u").await;
        assert_eq!(shown.status, MessageStatus::Unknown);
        assert_eq!(shown.attempts.len(), 1, "no fallback");
        assert_eq!(shown.attempts[0].status, AttemptStatus::Unknown);
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(
            recover_expired(tx.conn(), 120_000).await.unwrap(),
            (0, 0),
            "and stays stopped"
        );
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_send_whose_answer_cannot_be_recorded_stops_as_unknown_under_its_lease() {
        let (store, _dir) = testing::store().await;
        message(&store, "msg_r", &[Channel::Email, Channel::Sms], true).await;
        let held = claim(&store, 10).await.remove(0);
        let mut tx = store.begin_write().await.unwrap();
        assert!(
            record_unknown(tx.conn(), &held, "could not record", 20)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let shown = shown(&store, "msg_r").await;
        assert_eq!(shown.status, MessageStatus::Unknown);
        assert_eq!(shown.attempts[0].status, AttemptStatus::Unknown);
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(recover_expired(tx.conn(), 999_999).await.unwrap(), (0, 0));
        tx.commit().await.unwrap();
    }
}
