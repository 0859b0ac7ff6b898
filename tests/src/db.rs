//! Reading what landed in a test installation's database.

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};

/// The database of a test installation.
pub struct Db {
    pool: SqlitePool,
}

/// A row of the interaction log.
#[derive(Debug, Clone)]
pub struct Logged {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub occurred_at: i64,
    pub kind: String,
    pub channel: String,
    pub direction: String,
    pub outcome: String,
    pub vendor_status: Option<String>,
    pub plugin_id: Option<String>,
    pub external_system: Option<String>,
    pub vendor_message_id: Option<String>,
    pub vendor_event_id: Option<String>,
    pub raw_webhook_id: Option<i64>,
    pub time_to_action_ms: Option<i64>,
    pub summary: Option<String>,
    pub metadata: serde_json::Value,
    pub created_by: String,
}

/// A stored raw webhook.
#[derive(Debug, Clone)]
pub struct RawWebhook {
    pub id: i64,
    pub plugin_id: String,
    pub status: String,
    pub error: Option<String>,
    pub attempts: i64,
    pub interactions: i64,
    pub duplicates: i64,
    pub body: Vec<u8>,
    /// The headers kept with it, `(name, value)`, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Whether the host saw its signature verified before keeping it.
    pub verified: bool,
}

impl Db {
    pub async fn open(path: &Path) -> Self {
        let url = format!("sqlite://{}?mode=rw", path.display());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        Db { pool }
    }

    /// Asserts that nothing was stored: no interaction, no raw webhook.
    pub async fn assert_nothing_stored(&self) {
        assert!(
            self.interactions().await.is_empty(),
            "interactions were logged"
        );
        assert!(
            self.raw_webhooks().await.is_empty(),
            "raw webhooks were kept"
        );
    }

    /// The whole interaction log, oldest row first.
    pub async fn interactions(&self) -> Vec<Logged> {
        let rows = sqlx::query("SELECT * FROM interaction_log ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read interaction_log");
        rows.iter()
            .map(|row| Logged {
                id: row.get("id"),
                contact_id: row.get("contact_id"),
                occurred_at: row.get("occurred_at"),
                kind: row.get("kind"),
                channel: row.get("channel"),
                direction: row.get("direction"),
                outcome: row.get("outcome"),
                vendor_status: row.get("vendor_status"),
                plugin_id: row.get("plugin_id"),
                external_system: row.get("external_system"),
                vendor_message_id: row.get("vendor_message_id"),
                vendor_event_id: row.get("vendor_event_id"),
                raw_webhook_id: row.get("raw_webhook_id"),
                time_to_action_ms: row.get("time_to_action_ms"),
                summary: row.get("summary"),
                metadata: serde_json::from_str(row.get::<&str, _>("metadata"))
                    .expect("metadata is JSON"),
                created_by: row.get("created_by"),
            })
            .collect()
    }

    /// Every stored raw webhook, oldest first.
    pub async fn raw_webhooks(&self) -> Vec<RawWebhook> {
        let rows = sqlx::query("SELECT * FROM raw_webhooks ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read raw_webhooks");
        rows.iter()
            .map(|row| RawWebhook {
                id: row.get("id"),
                plugin_id: row.get("plugin_id"),
                status: row.get("status"),
                error: row.get("error"),
                attempts: row.get("attempts"),
                interactions: row.get("interactions"),
                duplicates: row.get("duplicates"),
                body: row.get("body"),
                headers: serde_json::from_str(row.get::<&str, _>("headers"))
                    .expect("headers are a JSON list of pairs"),
                verified: row.get::<i64, _>("verified") != 0,
            })
            .collect()
    }

    /// Runs one statement (a trigger a fault test installs, a checkpoint).
    pub async fn execute(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `(kind, value_hash, scheme)` of every suppression list entry.
    pub async fn suppressions(&self) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT kind, value_hash, scheme FROM suppressions ORDER BY kind, value_hash",
        )
        .fetch_all(&self.pool)
        .await
        .expect("read suppressions")
    }

    /// Closes the connection (so that the database file can be read whole).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// `(contact_id, kind, value)` of every identity.
    pub async fn identities(&self) -> Vec<(i64, String, String)> {
        sqlx::query_as("SELECT contact_id, kind, value FROM identities ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read identities")
    }

    /// How many contacts exist.
    pub async fn contact_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
            .fetch_one(&self.pool)
            .await
            .expect("count contacts")
    }

    /// The outbox's attempts by status, as `(status, count)` in status order.
    pub async fn attempt_statuses(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT status, COUNT(*) FROM message_attempts GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .expect("count attempts")
    }

    /// How many rows the interaction log holds.
    pub async fn interaction_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM interaction_log")
            .fetch_one(&self.pool)
            .await
            .expect("count interactions")
    }

    /// The preference engine's counters and state, one line per row, in key order: for
    /// comparing what was counted as webhooks arrived with a rebuild.
    pub async fn engagement_snapshot(&self) -> Vec<String> {
        let queries = [
            "SELECT 'count|' || contact_id || '|' || channel || '|' || day || '|' || metric || '|'
                    || slot || '|' || count || '|' || sum_ms || '|' || last_at
             FROM engagement_counts ORDER BY contact_id, channel, day, metric, slot",
            "SELECT 'message|' || contact_id || '|' || channel || '|' || vendor_message_id || '|'
                    || seen
             FROM engagement_messages ORDER BY contact_id, channel, vendor_message_id",
            "SELECT 'awaiting|' || contact_id || '|' || channel || '|' || since
             FROM engagement_awaiting ORDER BY contact_id, channel",
        ];
        let mut lines = Vec::new();
        for query in queries {
            let rows: Vec<String> = sqlx::query_scalar(query)
                .fetch_all(&self.pool)
                .await
                .expect("read the engagement counters");
            lines.extend(rows);
        }
        lines
    }
}
