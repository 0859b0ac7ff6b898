//! The portal inbox (`portal_messages`): a portal attempt posts the message here under the
//! message's own id, for the organisation's portal app to show.

use sqlx::{AnyConnection, Row};

use super::StoreError;
pub use switchboard_core::records::PortalMessage;

/// A message to post.
pub struct NewPortalMessage<'a> {
    pub message_id: &'a str,
    pub attempt_id: i64,
    pub contact_id: i64,
    pub subject: Option<&'a str>,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub now: i64,
}

/// Posts a message (once: a second post of the same message is ignored).
pub async fn post(
    conn: &mut AnyConnection,
    message: &NewPortalMessage<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO portal_messages (id, attempt_id, contact_id, subject, text, html, posted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(message.message_id)
    .bind(message.attempt_id)
    .bind(message.contact_id)
    .bind(message.subject)
    .bind(message.text)
    .bind(message.html)
    .bind(message.now)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, contact_id, subject, text, html, posted_at, read_at";

/// A contact's inbox, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<PortalMessage>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM portal_messages WHERE contact_id = $1 ORDER BY posted_at DESC, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contact_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(message_of)
        .collect()
}

/// One message of a contact's inbox.
pub async fn get(
    conn: &mut AnyConnection,
    contact_id: i64,
    id: &str,
) -> Result<Option<PortalMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM portal_messages WHERE id = $1 AND contact_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(contact_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(message_of)
        .transpose()
}

/// Marks a message read (the first read's time is kept).
pub async fn mark_read(conn: &mut AnyConnection, id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE portal_messages SET read_at = COALESCE(read_at, $1) WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

fn message_of(row: &sqlx::any::AnyRow) -> Result<PortalMessage, StoreError> {
    Ok(PortalMessage {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        subject: row.try_get("subject")?,
        text: row.try_get("text")?,
        html: row.try_get("html")?,
        posted_at: row.try_get("posted_at")?,
        read_at: row.try_get("read_at")?,
    })
}
