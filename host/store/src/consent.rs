//! The consent ledger: every opt-in and opt-out per contact and channel, with where it came from
//! and its evidence. Entries are only added; a channel's state is its latest entry by the time
//! it happened, so a late webhook about an older STOP does not undo a newer START.

use sqlx::{AnyConnection, Row};

use super::StoreError;
use switchboard_core::domain::{Channel, ConsentSource, ConsentStatus};
pub use switchboard_core::records::ConsentEntry;

/// A new ledger entry.
#[derive(Debug, Clone)]
pub struct NewConsent<'a> {
    pub contact_id: i64,
    pub channel: Channel,
    pub status: ConsentStatus,
    pub source: ConsentSource,
    pub occurred_at: i64,
    pub recorded_by: &'a str,
    pub interaction_id: Option<i64>,
    pub note: Option<&'a str>,
}

/// Adds an entry; the raw webhook is taken from the interaction.
pub async fn add(
    conn: &mut AnyConnection,
    entry: &NewConsent<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO consent_events (contact_id, channel, status, source, occurred_at,
             recorded_at, recorded_by, interaction_id, raw_webhook_id, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
             (SELECT raw_webhook_id FROM interaction_log WHERE id = $8), $9)
         RETURNING id",
    )
    .bind(entry.contact_id)
    .bind(entry.channel.as_str())
    .bind(entry.status.as_str())
    .bind(entry.source.as_str())
    .bind(entry.occurred_at)
    .bind(now)
    .bind(entry.recorded_by)
    .bind(entry.interaction_id)
    .bind(entry.note)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Adds an entry taken from a logged interaction: its contact, channel and time, who recorded it
/// and its raw webhook, with the interaction as evidence.
pub async fn add_from_interaction(
    conn: &mut AnyConnection,
    interaction_id: i64,
    status: ConsentStatus,
    source: ConsentSource,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO consent_events (contact_id, channel, status, source, occurred_at,
             recorded_at, recorded_by, interaction_id, raw_webhook_id)
         SELECT contact_id, channel, $2, $3, occurred_at, received_at, created_by, id,
                raw_webhook_id
         FROM interaction_log WHERE id = $1",
    )
    .bind(interaction_id)
    .bind(status.as_str())
    .bind(source.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, contact_id, channel, status, source, occurred_at, recorded_at, \
    recorded_by, interaction_id, raw_webhook_id, note";

/// A contact's ledger, oldest first.
pub async fn of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<ConsentEntry>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_events WHERE contact_id = $1 ORDER BY occurred_at, id"
    )))
    .bind(contact_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(entry_of).collect()
}

/// Each channel's current state: its latest entry.
pub fn current(ledger: &[ConsentEntry]) -> Vec<&ConsentEntry> {
    let mut latest: Vec<&ConsentEntry> = Vec::new();
    for entry in ledger {
        match latest.iter_mut().find(|e| e.channel == entry.channel) {
            Some(slot) => *slot = entry,
            None => latest.push(entry),
        }
    }
    latest
}

fn entry_of(row: &sqlx::any::AnyRow) -> Result<ConsentEntry, StoreError> {
    let corrupt =
        |what: &str, value: &str| StoreError::Corrupt(format!("consent {what} {value:?}"));
    let channel: String = row.try_get("channel")?;
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    Ok(ConsentEntry {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        status: ConsentStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        source: ConsentSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        recorded_by: row.try_get("recorded_by")?,
        interaction_id: row.try_get("interaction_id")?,
        raw_webhook_id: row.try_get("raw_webhook_id")?,
        note: row.try_get("note")?,
    })
}
