//! The queue and its leases: attempts due are claimed by a dispatcher with a lease before their
//! carrier is called; the lease is renewed right before the call, or the attempt is given back
//! without a try. An attempt whose lease ran out was interrupted (a crash, say) with its vendor
//! outcome unknown: it is queued again marked outcome-unknown, and stops as unknown the second time.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::parse_channel;
use super::results::stop_unknown;
use super::rows::add_event;
use crate::sql::{Params, dynamic};
use crate::{Store, StoreError};
use switchboard_core::domain::{AttemptStatus, Channel, HistoryEvent};

/// An attempt a dispatcher holds, with what it needs of its message.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub attempt_id: i64,
    pub message_id: String,
    pub seq: i64,
    pub channel: Channel,
    pub tries: u32,
    pub idempotency_key: String,
    pub outcome_unknown: bool,
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
    let mut params = Params::for_connection(conn)?;
    let sql = format!(
        "SELECT a.id, a.message_id, a.seq, a.channel, a.tries, a.idempotency_key, a.outcome_unknown,
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
            let outcome_unknown: i64 = row.try_get("outcome_unknown")?;
            Ok(Claimed {
                attempt_id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                seq: row.try_get("seq")?,
                channel: parse_channel(&channel)?,
                tries: u32::try_from(tries).unwrap_or(u32::MAX),
                idempotency_key: row.try_get("idempotency_key")?,
                outcome_unknown: outcome_unknown != 0,
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
/// queued again marked outcome-unknown (tried with the same idempotency key); the second time it stops
/// as [`AttemptStatus::Unknown`], so that a recording that keeps failing cannot resend the message
/// every lease period. Returns how many were queued again and how many stopped.
pub async fn recover_expired(conn: &mut AnyConnection, now: i64) -> Result<(u64, u64), StoreError> {
    let requeued = sqlx::query(
        "UPDATE message_attempts
         SET status = 'queued', outcome_unknown = 1, tries = tries + 1, recoveries = recoveries + 1,
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
            HistoryEvent::OutcomeUnknown,
            &detail,
        )
        .await?;
    }
    let stopped = sqlx::query(
        "UPDATE message_attempts
         SET status = 'unknown', outcome_unknown = 1, tries = tries + 1, recoveries = recoveries + 1,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::outbox::record_failed;
    use crate::testing::{self, claim, message, shown};
    use switchboard_core::domain::MessageStatus;

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

        // The holder stopped: after the lease the attempt is queued again, marked outcome-unknown.
        let mut tx = store.begin_write().await.unwrap();
        assert_eq!(recover_expired(tx.conn(), 2_000).await.unwrap(), (1, 0));
        tx.commit().await.unwrap();
        let again = claim(&store, 2_000).await;
        assert_eq!(again.len(), 1);
        assert!(again[0].outcome_unknown);
        assert_eq!(
            again[0].idempotency_key, "msg_a-1",
            "the retry keeps its key"
        );
        let shown = shown(&store, "msg_a").await;
        assert!(shown.attempts[0].outcome_unknown);
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
}
