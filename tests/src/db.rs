//! The one place the end-to-end tests touch a test installation's database: what landed there,
//! read through named queries, and the few faults and bulk loads that tests and benchmarks write
//! straight into it. Every SQL statement of the tests is in this file, so that running them
//! against another database means changing this file alone; a test that wants something the staff
//! API shows reads it through the API instead.

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};

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
    pub vendor: Option<String>,
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

/// One row a benchmark writes straight into the interaction log (see [`Db::bulk_load`]).
#[derive(Debug, Clone)]
pub struct SeedInteraction {
    pub contact_id: i64,
    pub occurred_at: i64,
    pub channel: &'static str,
    pub direction: &'static str,
    pub outcome: &'static str,
    pub vendor_message_id: Option<String>,
    /// The plugin that reported it; none for what staff logged.
    pub plugin_id: Option<&'static str>,
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

    /// Runs one statement a benchmark wrote (never with input from outside).
    pub async fn execute(&self, sql: String) -> Result<u64, sqlx::Error> {
        use sqlx::Executor as _;
        let result = self.pool.execute(sqlx::AssertSqlSafe(sql)).await?;
        Ok(result.rows_affected())
    }

    /// Closes the connection (so that the database file can be read whole).
    pub async fn close(self) {
        self.pool.close().await;
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

    // The interaction log.

    /// The whole interaction log, oldest row first.
    pub async fn interactions(&self) -> Vec<Logged> {
        let rows = sqlx::query("SELECT * FROM interaction_log ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read interaction_log");
        rows.iter().map(logged).collect()
    }

    /// The rows plugin `plugin_id` logged, oldest first.
    pub async fn interactions_of_plugin(&self, plugin_id: &str) -> Vec<Logged> {
        let rows = sqlx::query("SELECT * FROM interaction_log WHERE plugin_id = ? ORDER BY id")
            .bind(plugin_id)
            .fetch_all(&self.pool)
            .await
            .expect("read interaction_log");
        rows.iter().map(logged).collect()
    }

    /// How many rows the interaction log holds.
    pub async fn interaction_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM interaction_log")
            .fetch_one(&self.pool)
            .await
            .expect("count interactions")
    }

    // Raw webhooks.

    /// Every stored raw webhook, oldest first.
    pub async fn raw_webhooks(&self) -> Vec<RawWebhook> {
        let rows = sqlx::query("SELECT * FROM raw_webhooks ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read raw_webhooks");
        rows.iter().map(raw_webhook).collect()
    }

    /// The raw webhooks stored for plugin `plugin_id`, oldest first.
    pub async fn raw_webhooks_of_plugin(&self, plugin_id: &str) -> Vec<RawWebhook> {
        let rows = sqlx::query("SELECT * FROM raw_webhooks WHERE plugin_id = ? ORDER BY id")
            .bind(plugin_id)
            .fetch_all(&self.pool)
            .await
            .expect("read raw_webhooks");
        rows.iter().map(raw_webhook).collect()
    }

    // Contacts and identities.

    /// How many contacts exist.
    pub async fn contact_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
            .fetch_one(&self.pool)
            .await
            .expect("count contacts")
    }

    /// `(contact_id, kind, value)` of every identity, in the order they were linked.
    pub async fn identities(&self) -> Vec<(i64, String, String)> {
        sqlx::query_as("SELECT contact_id, kind, value FROM identities ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("read identities")
    }

    /// `(kind, value)` of the identities of `contact`, in the order they were linked.
    pub async fn identities_of(&self, contact: i64) -> Vec<(String, String)> {
        sqlx::query_as("SELECT kind, value FROM identities WHERE contact_id = ? ORDER BY id")
            .bind(contact)
            .fetch_all(&self.pool)
            .await
            .expect("read identities")
    }

    /// The contact that owns identity `kind`/`value`, if any.
    pub async fn owner_of(&self, kind: &str, value: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT contact_id FROM identities WHERE kind = ? AND value = ?")
            .bind(kind)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .expect("read identities")
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

    // The outbox and the preference engine.

    /// The outbox's attempts by status, as `(status, count)` in status order.
    pub async fn attempt_statuses(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT status, COUNT(*) FROM message_attempts GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .expect("count attempts")
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

    // SQLite's write-ahead log.

    /// Copies the whole write-ahead log into the database file and empties it, so that the file
    /// holds everything (and, after an erasure, nothing erased lingers in the log).
    pub async fn checkpoint_all(&self) {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .expect("checkpoint");
    }

    /// A passive checkpoint: `Some((frames in the log, frames copied into the file))`, or `None`
    /// when another connection was checkpointing (busy). SQLite copies no frame written after
    /// the snapshot of a read transaction still open, so `copied < log` right after a write
    /// means some reader is still inside an older snapshot.
    pub async fn passive_checkpoint(&self) -> Option<(i64, i64)> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await
            .expect("checkpoint");
        let (busy, log, copied): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        (busy == 0).then_some((log, copied))
    }

    // Faults.

    /// Makes every insert of a `kind` row into the interaction log fail, as a full or broken
    /// database would, until [`Db::allow_inserts_of_kind`].
    pub async fn fail_inserts_of_kind(&self, kind: &str) {
        let sql = format!(
            "CREATE TRIGGER {} BEFORE INSERT ON interaction_log WHEN NEW.kind = '{}' \
             BEGIN SELECT RAISE(ABORT, 'injected fault: a {} row cannot be logged'); END",
            fault_trigger(kind),
            sql_word(kind),
            sql_word(kind)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .expect("install the fault");
    }

    /// Lifts [`Db::fail_inserts_of_kind`].
    pub async fn allow_inserts_of_kind(&self, kind: &str) {
        let sql = format!("DROP TRIGGER {}", fault_trigger(kind));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .expect("lift the fault");
    }

    // Bulk loads (benchmarks).

    /// Writes contacts `1..=contacts` (each with an email `p<id>@example.org` and a phone
    /// `+1415<id, 7 digits>`) and `history` into the log, in one unsynchronised transaction, and
    /// checkpoints; returns how many interactions it wrote. Faster by far than webhooks, for a
    /// benchmark that measures what comes after ingest.
    pub async fn bulk_load(
        &self,
        contacts: i64,
        history: impl Iterator<Item = SeedInteraction>,
    ) -> Result<i64, sqlx::Error> {
        use sqlx::Executor as _;
        let mut conn = self.pool.acquire().await?;
        conn.execute("PRAGMA synchronous = OFF").await?;
        conn.execute("BEGIN").await?;
        let now = crate::now_ms();
        for first in (1..=contacts).step_by(400) {
            let last = (first + 399).min(contacts);
            let (people, identities) = seed_contacts(first, last, now);
            conn.execute(sqlx::AssertSqlSafe(people)).await?;
            conn.execute(sqlx::AssertSqlSafe(identities)).await?;
        }
        let mut written = 0;
        let mut batch = Vec::with_capacity(500);
        for row in history {
            batch.push(seed_value(&row));
            if batch.len() == 500 {
                written += flush_seed(&mut conn, &mut batch).await?;
            }
        }
        written += flush_seed(&mut conn, &mut batch).await?;
        conn.execute("COMMIT").await?;
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        Ok(written)
    }
}

fn logged(row: &SqliteRow) -> Logged {
    Logged {
        id: row.get("id"),
        contact_id: row.get("contact_id"),
        occurred_at: row.get("occurred_at"),
        kind: row.get("kind"),
        channel: row.get("channel"),
        direction: row.get("direction"),
        outcome: row.get("outcome"),
        vendor_status: row.get("vendor_status"),
        plugin_id: row.get("plugin_id"),
        vendor: row.get("vendor"),
        vendor_message_id: row.get("vendor_message_id"),
        vendor_event_id: row.get("vendor_event_id"),
        raw_webhook_id: row.get("raw_webhook_id"),
        time_to_action_ms: row.get("time_to_action_ms"),
        summary: row.get("summary"),
        metadata: serde_json::from_str(row.get::<&str, _>("metadata")).expect("metadata is JSON"),
        created_by: row.get("created_by"),
    }
}

fn raw_webhook(row: &SqliteRow) -> RawWebhook {
    RawWebhook {
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
    }
}

/// The trigger that [`Db::fail_inserts_of_kind`] installs for `kind`.
fn fault_trigger(kind: &str) -> String {
    format!("fail_inserts_of_{}", sql_word(kind))
}

/// `kind` kept to the letters a kind is made of, so that it can be spliced into SQL.
fn sql_word(kind: &str) -> String {
    kind.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The `INSERT`s of contacts `first..=last` and their identities.
fn seed_contacts(first: i64, last: i64, now: i64) -> (String, String) {
    let mut people = String::from("INSERT INTO contacts (id, created_at, updated_at) VALUES ");
    let mut identities = String::from(
        "INSERT INTO identities (contact_id, kind, value, source, created_at) VALUES ",
    );
    for id in first..=last {
        let sep = if id == first { "" } else { "," };
        people.push_str(&format!("{sep}({id}, {now}, {now})"));
        identities.push_str(&format!(
            "{sep}({id}, 'email', 'p{id}@example.org', 'bench', {now}),\
             ({id}, 'phone', '+1415{id:07}', 'bench', {now})"
        ));
    }
    (people, identities)
}

/// One `VALUES` tuple of the interaction log insert in [`flush_seed`].
fn seed_value(row: &SeedInteraction) -> String {
    let message = row
        .vendor_message_id
        .as_deref()
        .map_or("NULL".to_string(), |m| format!("'{}'", sql_word(m)));
    let plugin = row
        .plugin_id
        .map_or("NULL".to_string(), |p| format!("'{}'", sql_word(p)));
    format!(
        "({}, {at}, {at}, '{channel}_{outcome}', '{channel}', '{}', '{outcome}', {message}, \
         {plugin}, 'bench')",
        row.contact_id,
        row.direction,
        at = row.occurred_at,
        channel = row.channel,
        outcome = row.outcome,
    )
}

async fn flush_seed(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    batch: &mut Vec<String>,
) -> Result<i64, sqlx::Error> {
    use sqlx::Executor as _;
    if batch.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO interaction_log (contact_id, occurred_at, received_at, kind, channel, \
         direction, outcome, vendor_message_id, plugin_id, created_by) VALUES {}",
        batch.join(",")
    );
    let written = batch.len() as i64;
    batch.clear();
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    Ok(written)
}
