//! The audit log: who did what to whose data. Rows are never changed or deleted by Switchboard.

use sqlx::{AnyConnection, AnyPool, Row};

use super::StoreError;
pub use switchboard_core::records::AuditEntry;

/// Records an action.
pub async fn record(
    conn: &mut AnyConnection,
    at: i64,
    actor: &str,
    action: &str,
    contact_id: Option<i64>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, contact_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(contact_id)
    .bind(detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest entries (optionally about one contact), newest first, before the entry `before`.
pub async fn recent(
    pool: &AnyPool,
    contact_id: Option<i64>,
    before: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, contact_id, detail FROM audit_log
         WHERE id < $1 AND ($2 = 0 OR contact_id = $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(before)
    .bind(i64::from(contact_id.is_some()))
    .bind(contact_id.unwrap_or(0))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(AuditEntry {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                contact_id: row.try_get("contact_id")?,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
            })
        })
        .collect()
}
