//! What people told us about how to reach them: preferred channels in order, and their own
//! quiet hours.

use sqlx::{AnyConnection, Row};

use super::StoreError;
use switchboard_core::clock::local_time::format_minute;
use switchboard_core::domain::Channel;
pub use switchboard_core::records::{QuietSpan, StatedPreferences};

/// A contact's stated preferences (empty if they stated none).
pub async fn get(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<StatedPreferences, StoreError> {
    let row = sqlx::query(
        "SELECT preferred_channels, quiet_start, quiet_end, updated_at, updated_by
         FROM contact_preferences WHERE contact_id = $1",
    )
    .bind(contact_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(StatedPreferences::default());
    };
    let channels: String = row.try_get("preferred_channels")?;
    let preferred_channels = serde_json::from_str(&channels)
        .map_err(|e| StoreError::Corrupt(format!("preferred_channels: {e}")))?;
    let start: Option<i64> = row.try_get("quiet_start")?;
    let end: Option<i64> = row.try_get("quiet_end")?;
    let minute = |m: i64| u16::try_from(m).map_err(|_| StoreError::Corrupt(format!("minute {m}")));
    let quiet_hours = match (start, end) {
        (Some(start), Some(end)) => Some(QuietSpan {
            start: format_minute(minute(start)?),
            end: format_minute(minute(end)?),
        }),
        _ => None,
    };
    Ok(StatedPreferences {
        preferred_channels,
        quiet_hours,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

/// Replaces a contact's stated preferences.
pub async fn put(
    conn: &mut AnyConnection,
    contact_id: i64,
    preferred_channels: &[Channel],
    quiet_hours: Option<(u16, u16)>,
    by: &str,
    now: i64,
) -> Result<(), StoreError> {
    let channels = serde_json::to_string(preferred_channels)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO contact_preferences
             (contact_id, preferred_channels, quiet_start, quiet_end, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (contact_id) DO UPDATE SET
             preferred_channels = excluded.preferred_channels,
             quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(contact_id)
    .bind(channels)
    .bind(quiet_hours.map(|(s, _)| i64::from(s)))
    .bind(quiet_hours.map(|(_, e)| i64::from(e)))
    .bind(now)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
