//! Intents: what a person is trying to get done, open until resolved, touched from any channel.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use super::sql::dynamic;
use switchboard_core::domain::Channel;
pub use switchboard_core::records::Intent;

const COLUMNS: &str = "id, contact_id, intent, status, attempts, channels, summary, created_at, \
    updated_at, resolved_at, created_by";

/// The contact's open intent called `intent`, if any.
pub async fn open_named(
    conn: &mut AnyConnection,
    contact_id: i64,
    intent: &str,
) -> Result<Option<Intent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM intents WHERE contact_id = $1 AND intent = $2 AND status = 'open'
         ORDER BY id DESC LIMIT 1"
    );
    let row = dynamic(sql)
        .bind(contact_id)
        .bind(intent)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(intent_from_row).transpose()
}

/// One intent.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Intent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM intents WHERE id = $1");
    let row = dynamic(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(intent_from_row).transpose()
}

/// A contact's intents, open ones first, most recently touched first.
pub async fn of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
    only_open: bool,
) -> Result<Vec<Intent>, StoreError> {
    let filter = if only_open {
        " AND status = 'open'"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM intents WHERE contact_id = $1{filter}
         ORDER BY CASE status WHEN 'open' THEN 0 ELSE 1 END, updated_at DESC, id DESC"
    );
    let rows = dynamic(sql).bind(contact_id).fetch_all(conn).await?;
    rows.iter().map(intent_from_row).collect()
}

/// Adds an intent.
pub async fn insert(conn: &mut AnyConnection, intent: &Intent) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO intents (contact_id, intent, status, attempts, channels, summary, created_at,
                              updated_at, resolved_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(intent.contact_id)
    .bind(&intent.intent)
    .bind(&intent.status)
    .bind(intent.attempts)
    .bind(channels_json(&intent.channels))
    .bind(intent.summary.as_deref())
    .bind(intent.created_at)
    .bind(intent.updated_at)
    .bind(intent.resolved_at)
    .bind(&intent.created_by)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Writes back an intent's changeable fields.
pub async fn save(conn: &mut AnyConnection, intent: &Intent) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE intents SET status = $1, attempts = $2, channels = $3, summary = $4,
                            updated_at = $5, resolved_at = $6
         WHERE id = $7",
    )
    .bind(&intent.status)
    .bind(intent.attempts)
    .bind(channels_json(&intent.channels))
    .bind(intent.summary.as_deref())
    .bind(intent.updated_at)
    .bind(intent.resolved_at)
    .bind(intent.id)
    .execute(conn)
    .await?;
    Ok(())
}

fn channels_json(channels: &[Channel]) -> String {
    serde_json::to_string(channels).unwrap_or_else(|_| "[]".into())
}

fn intent_from_row(row: &AnyRow) -> Result<Intent, StoreError> {
    let channels: String = row.try_get("channels")?;
    Ok(Intent {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        intent: row.try_get("intent")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        channels: serde_json::from_str(&channels)
            .map_err(|e| StoreError::Corrupt(format!("intent channels {channels:?}: {e}")))?,
        summary: row.try_get("summary")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        resolved_at: row.try_get("resolved_at")?,
        created_by: row.try_get("created_by")?,
    })
}
