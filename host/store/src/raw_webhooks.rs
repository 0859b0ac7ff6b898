//! Raw webhooks: every verified request a vendor sent — its body byte for byte and the headers
//! a replay needs — so that it can be replayed when a plugin is fixed; and, within a budget per
//! plugin, the requests our own configuration kept a plugin from verifying.

use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;

use super::sql::{Params, dynamic};
use super::{Store, StoreError};

switchboard_core::word_enum!(
    /// What became of a raw webhook.
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    pub RawStatus {
        /// Its interactions are in the log.
        Processed => "processed",
        /// The plugin could not understand it (a malformed body).
        Rejected => "rejected",
        /// The plugin failed (trap, timeout, invalid output, misconfiguration); replayable.
        Failed => "failed",
    }
);

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub plugin_id: String,
    pub received_at: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A stored raw webhook.
#[derive(Debug, Clone)]
pub struct RawWebhook {
    pub id: i64,
    pub request: RawRequest,
    pub status: RawStatus,
    pub error: Option<String>,
    pub attempts: i64,
    /// Whether the host saw its signature verified before storing it.
    pub verified: bool,
    /// When an erasure removed someone's events from its body.
    pub redacted_at: Option<i64>,
}

/// The columns [`raw_webhook_from_row`] reads.
const COLUMNS: &str = "id, plugin_id, received_at, method, path, query, headers, body, status, \
                       error, attempts, verified, redacted_at";

/// Stores a request with its first status; `verified` says whether its signature was seen
/// verified (see [`unverified_usage`] for the others).
pub async fn insert(
    conn: &mut AnyConnection,
    request: &RawRequest,
    status: RawStatus,
    error: Option<&str>,
    processed_at: Option<i64>,
    verified: bool,
) -> Result<i64, StoreError> {
    let headers = serde_json::to_string(&request.headers)
        .map_err(|e| StoreError::Corrupt(format!("headers do not serialize: {e}")))?;
    let id = sqlx::query_scalar(
        "INSERT INTO raw_webhooks
             (plugin_id, received_at, method, path, query, headers, body, status, error,
              processed_at, verified)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING id",
    )
    .bind(&request.plugin_id)
    .bind(request.received_at)
    .bind(&request.method)
    .bind(&request.path)
    .bind(&request.query)
    .bind(headers)
    .bind(request.body.as_slice())
    .bind(status.as_str())
    .bind(error)
    .bind(processed_at)
    .bind(i64::from(verified))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// How much a plugin's unverified, unprocessed requests take: (requests, bytes of body and
/// headers).
pub async fn unverified_usage(
    conn: &mut AnyConnection,
    plugin_id: &str,
) -> Result<(u64, u64), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS requests,
                COALESCE(SUM(LENGTH(body) + LENGTH(headers) + LENGTH(query)), 0) AS bytes
         FROM raw_webhooks WHERE plugin_id = $1 AND verified = 0 AND status <> 'processed'",
    )
    .bind(plugin_id)
    .fetch_one(conn)
    .await?;
    let requests: i64 = row.try_get("requests")?;
    let bytes: i64 = row.try_get("bytes")?;
    Ok((requests.max(0) as u64, bytes.max(0) as u64))
}

/// Records which contacts each stored webhook is about (repeats of known links are fine).
pub async fn link_contacts(
    conn: &mut AnyConnection,
    links: &[(i64, i64)],
) -> Result<(), StoreError> {
    for chunk in links.chunks(400) {
        let mut params = Params::for_connection(conn)?;
        let values: Vec<String> = chunk
            .iter()
            .map(|_| format!("({}, {})", params.one(), params.one()))
            .collect();
        let sql = format!(
            "INSERT INTO webhook_contacts (raw_webhook_id, contact_id) VALUES {}
             ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let mut query = dynamic(sql);
        for (raw_webhook_id, contact_id) in chunk {
            query = query.bind(*raw_webhook_id).bind(*contact_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves a merged contact's links to the survivor.
pub async fn move_links(
    conn: &mut AnyConnection,
    survivor: i64,
    merged: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_contacts (raw_webhook_id, contact_id)
         SELECT raw_webhook_id, $1 FROM webhook_contacts WHERE contact_id = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(survivor)
    .bind(merged)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM webhook_contacts WHERE contact_id = $1")
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What processing a stored webhook added to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    pub id: i64,
    /// Interactions it added.
    pub interactions: u64,
    /// Interactions the log already held.
    pub duplicates: u64,
}

/// Marks stored webhooks processed, with what each added: one statement per 200 webhooks.
pub async fn mark_processed(
    conn: &mut AnyConnection,
    processed: &[Processed],
    processed_at: i64,
) -> Result<(), StoreError> {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for chunk in processed.chunks(200) {
        let mut params = Params::for_connection(conn)?;
        let rows = params.rows(chunk.len(), 3);
        let sql = format!(
            "WITH done (id, interactions, duplicates) AS (VALUES {rows})
             UPDATE raw_webhooks SET status = 'processed', verified = 1, error = NULL,
                 interactions = done.interactions, duplicates = done.duplicates,
                 processed_at = {}
             FROM done WHERE raw_webhooks.id = done.id",
            params.one()
        );
        let mut query = dynamic(sql);
        for webhook in chunk {
            query = query
                .bind(webhook.id)
                .bind(count(webhook.interactions))
                .bind(count(webhook.duplicates));
        }
        query.bind(processed_at).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Counts a further attempt (a replay) at a stored webhook and records how it went.
pub async fn record_attempt(
    conn: &mut AnyConnection,
    id: i64,
    status: RawStatus,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE raw_webhooks SET attempts = attempts + 1, status = $2, error = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which stored webhooks to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub plugin_id: Option<String>,
    pub id: Option<i64>,
    /// Replay rejected webhooks too, not only failed ones.
    pub include_rejected: bool,
}

/// The stored webhooks a replay should reprocess, oldest first.
pub async fn replayable(
    store: &Store,
    filter: &ReplayFilter,
) -> Result<Vec<RawWebhook>, StoreError> {
    let rows = dynamic(format!(
        "SELECT {COLUMNS}
         FROM raw_webhooks
         WHERE (status = 'failed' OR (status = 'rejected' AND $1 = 1))
           AND (CAST($2 AS TEXT) IS NULL OR plugin_id = $2)
           AND (CAST($3 AS BIGINT) IS NULL OR id = $3)
         ORDER BY id"
    ))
    .bind(i64::from(filter.include_rejected))
    .bind(filter.plugin_id.as_deref())
    .bind(filter.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(raw_webhook_from_row).collect()
}

/// One stored webhook by id.
pub async fn get(store: &Store, id: i64) -> Result<Option<RawWebhook>, StoreError> {
    get_on(&mut *store.reader().await?, id).await
}

/// One stored webhook by id, read on `conn` (inside a transaction).
pub async fn get_on(conn: &mut AnyConnection, id: i64) -> Result<Option<RawWebhook>, StoreError> {
    let row = dynamic(format!("SELECT {COLUMNS} FROM raw_webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(raw_webhook_from_row).transpose()
}

/// The stored webhooks about a contact: those any of their events came in, first or repeated.
pub async fn about_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<RawWebhook>, StoreError> {
    let rows = dynamic(format!(
        "SELECT {COLUMNS} FROM raw_webhooks
         WHERE id IN (SELECT raw_webhook_id FROM webhook_contacts WHERE contact_id = $1)
         ORDER BY id"
    ))
    .bind(contact_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(raw_webhook_from_row).collect()
}

/// The ids of the stored webhooks about a contact (see [`about_contact`]).
pub async fn ids_about_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT raw_webhook_id FROM webhook_contacts WHERE contact_id = $1 ORDER BY raw_webhook_id",
    )
    .bind(contact_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get("raw_webhook_id")?))
        .collect()
}

/// The contacts a stored webhook is about.
pub async fn contacts_of(
    conn: &mut AnyConnection,
    raw_webhook_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query("SELECT contact_id FROM webhook_contacts WHERE raw_webhook_id = $1")
        .bind(raw_webhook_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("contact_id")?)).collect()
}

/// The stored webhooks no plugin processed (failed or rejected: attributed to no one), oldest
/// first, `batch` at a time after `after_id`.
pub async fn unprocessed_after(
    conn: &mut AnyConnection,
    after_id: i64,
    batch: i64,
) -> Result<Vec<RawWebhook>, StoreError> {
    let rows = dynamic(format!(
        "SELECT {COLUMNS} FROM raw_webhooks
         WHERE status <> 'processed' AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(batch)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(raw_webhook_from_row).collect()
}

/// Replaces a stored webhook's body with a redacted one (someone's events removed), noting when.
pub async fn replace_body(
    conn: &mut AnyConnection,
    id: i64,
    body: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE raw_webhooks SET body = $1, redacted_at = $2 WHERE id = $3")
        .bind(body)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Empties a stored webhook's headers and body, keeping the record that it came and why it was
/// emptied.
pub async fn redact(conn: &mut AnyConnection, id: i64, why: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE raw_webhooks SET headers = '[]', body = $1, query = '', error = $2 WHERE id = $3",
    )
    .bind(Vec::<u8>::new())
    .bind(why)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes stored webhooks; interactions recorded from them keep their rows, without the link.
pub async fn delete(conn: &mut AnyConnection, ids: &[i64]) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for id in ids {
        deleted += sqlx::query("DELETE FROM raw_webhooks WHERE id = $1")
            .bind(*id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

fn raw_webhook_from_row(row: &sqlx::any::AnyRow) -> Result<RawWebhook, StoreError> {
    let headers: String = row.try_get("headers")?;
    let status: String = row.try_get("status")?;
    Ok(RawWebhook {
        id: row.try_get("id")?,
        request: RawRequest {
            plugin_id: row.try_get("plugin_id")?,
            received_at: row.try_get("received_at")?,
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            query: row.try_get("query")?,
            headers: serde_json::from_str(&headers)
                .map_err(|e| StoreError::Corrupt(format!("raw webhook headers: {e}")))?,
            body: row.try_get("body")?,
        },
        status: RawStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("raw webhook status {status:?}")))?,
        error: row.try_get("error")?,
        attempts: row.try_get("attempts")?,
        verified: row.try_get::<i64, _>("verified")? != 0,
        redacted_at: row.try_get("redacted_at")?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing;

    /// Stores a request for tests that need a raw webhook to point at.
    pub(crate) async fn stored_request(conn: &mut AnyConnection) -> i64 {
        insert(conn, &request(), RawStatus::Processed, None, Some(1), true)
            .await
            .expect("store a request")
    }

    #[tokio::test]
    async fn unverified_requests_are_measured_per_plugin_until_processed() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let conn = tx.conn();
        let mut big = request();
        big.body = vec![b'x'; 1000];
        let kept = insert(
            conn,
            &big,
            RawStatus::Failed,
            Some("key unset"),
            None,
            false,
        )
        .await
        .unwrap();
        insert(conn, &big, RawStatus::Failed, Some("trap"), None, true)
            .await
            .unwrap();
        let (requests, bytes) = unverified_usage(conn, "email-sendgrid").await.unwrap();
        assert_eq!(requests, 1);
        assert!((1000..1100).contains(&bytes), "{bytes}");
        assert_eq!(unverified_usage(conn, "sms-twilio").await.unwrap(), (0, 0));
        let done = Processed {
            id: kept,
            interactions: 1,
            duplicates: 0,
        };
        mark_processed(conn, &[done], 5).await.unwrap();
        assert_eq!(
            unverified_usage(conn, "email-sendgrid").await.unwrap(),
            (0, 0)
        );
    }

    fn request() -> RawRequest {
        RawRequest {
            plugin_id: "email-sendgrid".into(),
            received_at: 1_700_000_000_000,
            method: "POST".into(),
            path: "/webhooks/email-sendgrid".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"[\x00binary-safe]".to_vec(),
        }
    }

    #[tokio::test]
    async fn a_failed_webhook_is_kept_whole_and_offered_for_replay() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let failed = insert(
            tx.conn(),
            &request(),
            RawStatus::Failed,
            Some("trap"),
            None,
            true,
        )
        .await
        .unwrap();
        let rejected = insert(
            tx.conn(),
            &request(),
            RawStatus::Rejected,
            Some("bad json"),
            None,
            true,
        )
        .await
        .unwrap();
        insert(
            tx.conn(),
            &request(),
            RawStatus::Processed,
            None,
            Some(1),
            true,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let only_failed = replayable(&store, &ReplayFilter::default()).await.unwrap();
        assert_eq!(only_failed.len(), 1);
        assert_eq!(only_failed[0].id, failed);
        assert_eq!(only_failed[0].request, request());
        assert_eq!(only_failed[0].error.as_deref(), Some("trap"));

        let with_rejected = ReplayFilter {
            include_rejected: true,
            ..Default::default()
        };
        let ids: Vec<i64> = replayable(&store, &with_rejected)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, [failed, rejected]);

        let other_plugin = ReplayFilter {
            plugin_id: Some("sms-twilio".into()),
            ..Default::default()
        };
        assert!(replayable(&store, &other_plugin).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn processing_and_attempts_are_recorded() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let id = insert(
            tx.conn(),
            &request(),
            RawStatus::Failed,
            Some("trap"),
            None,
            true,
        )
        .await
        .unwrap();
        record_attempt(tx.conn(), id, RawStatus::Failed, Some("trap again"))
            .await
            .unwrap();
        let done = Processed {
            id,
            interactions: 3,
            duplicates: 1,
        };
        mark_processed(tx.conn(), &[done], 99).await.unwrap();
        tx.commit().await.unwrap();
        let stored = get(&store, id).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.error, stored.attempts),
            (RawStatus::Processed, None, 2)
        );
    }
}
