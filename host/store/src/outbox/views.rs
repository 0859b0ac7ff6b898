//! Reading a message back whole: the message, every attempt that carried it and its history, as
//! the API shows them (`GET /api/messages/{id}`, a contact's messages, a privacy export).

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::{parse_attempt_status, parse_channel, parse_message_status};
use crate::StoreError;
use switchboard_core::domain::PlannedChannel;
pub use switchboard_core::records::{AttemptView, EventView, MessageView};

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

/// The plan in the answer a message was accepted with (stored whole, for repeated requests).
fn plan_of(accepted: &str) -> Result<Vec<PlannedChannel>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        plan: Vec<PlannedChannel>,
    }
    serde_json::from_str::<Answer>(accepted)
        .map(|answer| answer.plan)
        .map_err(|e| StoreError::Corrupt(format!("accepted plan: {e}")))
}

/// A message with its attempts and history.
pub async fn view(conn: &mut AnyConnection, id: &str) -> Result<Option<MessageView>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT id, contact_id, urgency, kind, status, status_reason, allow_fallback, not_before,
                accepted, created_by, created_at, updated_at
         FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    let accepted: String = row.try_get("accepted")?;
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
        plan: plan_of(&accepted)?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        attempts: Vec::new(),
        history: Vec::new(),
    };
    for row in sqlx::query(
        "SELECT seq, channel, carrier, address, status, tries, due_at, vendor_message_id,
                outcome_unknown, idempotency_key, last_error, updated_at
         FROM message_attempts WHERE message_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    {
        let channel: String = row.try_get("channel")?;
        let status: String = row.try_get("status")?;
        let outcome_unknown: i64 = row.try_get("outcome_unknown")?;
        let last_error: Option<String> = row.try_get("last_error")?;
        message.attempts.push(AttemptView {
            seq: row.try_get("seq")?,
            channel: parse_channel(&channel)?,
            carrier: row.try_get("carrier")?,
            address: row.try_get("address")?,
            status: parse_attempt_status(&status)?,
            tries: row.try_get("tries")?,
            due_at: row.try_get("due_at")?,
            vendor_message_id: row.try_get("vendor_message_id")?,
            outcome_unknown: outcome_unknown != 0,
            idempotency_key: row.try_get("idempotency_key")?,
            last_error: last_error.and_then(|e| serde_json::from_str(&e).ok()),
            updated_at: row.try_get("updated_at")?,
        });
    }
    for row in sqlx::query(
        "SELECT at, attempt_seq, event, detail FROM message_history
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
