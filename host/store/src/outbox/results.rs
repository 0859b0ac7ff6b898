//! Recording what became of a claimed attempt: sent, failed for good, to be retried, or unknown
//! (the vendor answered but its answer cannot be recorded). Each is recorded only under the
//! dispatcher's lease; a result that comes back after the lease was lost goes to the history only.

use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::queue::Claimed;
use super::rows::add_event;
use crate::StoreError;
use crate::sql::dynamic;
use switchboard_core::domain::HistoryEvent;

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
         SET status = 'unknown', outcome_unknown = 1, tries = tries + 1, lease_until = NULL,
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
pub(super) async fn stop_unknown(
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
        HistoryEvent::OutcomeUnknown,
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
        HistoryEvent::LateResult,
        &detail,
    )
    .await
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
        json!({ "carrier": carrier, "address": address, "vendor_message_id": vendor_message_id });
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
    add_event(
        conn,
        &attempt.message_id,
        Some(attempt.seq),
        now,
        HistoryEvent::Sent,
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
    outcome_unknown: bool,
    failure: &Value,
    now: i64,
) -> Result<(), StoreError> {
    let detail =
        json!({ "failure": failure, "retry_at": due_at, "outcome_unknown": outcome_unknown });
    let scheduled = dynamic(format!(
        "UPDATE message_attempts
         SET status = 'queued', tries = tries + 1, due_at = $1, lease_until = NULL,
             outcome_unknown = CASE WHEN $2 = 1 THEN 1 ELSE outcome_unknown END, last_error = $3,
             updated_at = $4
         WHERE id = $5 AND {}",
        held(6)
    ))
    .bind(due_at)
    .bind(i64::from(outcome_unknown))
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
        HistoryEvent::RetryScheduled,
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
        HistoryEvent::Failed,
        failure,
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::recover_expired;
    use crate::testing::{self, claim, message, shown};
    use switchboard_core::domain::{AttemptStatus, Channel, MessageStatus};

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
