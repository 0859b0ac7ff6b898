//! The consent ledger: every opt-in and opt-out per contact and channel, with where it came from
//! and its evidence. Entries are only added; a channel's state is its latest entry by the time
//! it happened, so a late webhook about an older STOP does not undo a newer START.

use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::StoreError;
use crate::domain::{Channel, Outcome};
use crate::prefs::tally::LoggedEvent;

/// Opted in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    OptedIn,
    OptedOut,
}

impl ConsentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::OptedIn => "opted_in",
            ConsentStatus::OptedOut => "opted_out",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "opted_in" => Some(ConsentStatus::OptedIn),
            "opted_out" => Some(ConsentStatus::OptedOut),
            _ => None,
        }
    }
}

/// Where a consent change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// An inbound STOP (or another opt-out keyword).
    InboundStop,
    /// An inbound START (or another opt-in keyword).
    InboundStart,
    Unsubscribe,
    Resubscribe,
    SpamReport,
    /// Staff, on the person's word.
    Staff,
    /// The person, in the portal's preference centre.
    PreferenceCentre,
}

impl ConsentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::InboundStop => "inbound_stop",
            ConsentSource::InboundStart => "inbound_start",
            ConsentSource::Unsubscribe => "unsubscribe",
            ConsentSource::Resubscribe => "resubscribe",
            ConsentSource::SpamReport => "spam_report",
            ConsentSource::Staff => "staff",
            ConsentSource::PreferenceCentre => "preference_centre",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            ConsentSource::InboundStop,
            ConsentSource::InboundStart,
            ConsentSource::Unsubscribe,
            ConsentSource::Resubscribe,
            ConsentSource::SpamReport,
            ConsentSource::Staff,
            ConsentSource::PreferenceCentre,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// How a reason names it: "opted out via STOP".
    pub fn describe(self) -> &'static str {
        match self {
            ConsentSource::InboundStop => "STOP",
            ConsentSource::InboundStart => "START",
            ConsentSource::Unsubscribe => "unsubscribe",
            ConsentSource::Resubscribe => "resubscribe",
            ConsentSource::SpamReport => "spam report",
            ConsentSource::Staff => "staff",
            ConsentSource::PreferenceCentre => "the preference centre",
        }
    }
}

/// What an interaction says about consent, if anything.
pub fn consent_in(event: &LoggedEvent) -> Option<(ConsentStatus, ConsentSource)> {
    if event.channel == Channel::System {
        return None;
    }
    match event.outcome {
        Outcome::OptedOut => Some((ConsentStatus::OptedOut, ConsentSource::InboundStop)),
        Outcome::OptedIn => Some((ConsentStatus::OptedIn, ConsentSource::InboundStart)),
        Outcome::Unsubscribed => Some((ConsentStatus::OptedOut, ConsentSource::Unsubscribe)),
        Outcome::Resubscribed => Some((ConsentStatus::OptedIn, ConsentSource::Resubscribe)),
        Outcome::SpamReported => Some((ConsentStatus::OptedOut, ConsentSource::SpamReport)),
        _ => None,
    }
}

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

/// A ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsentEntry {
    pub id: i64,
    pub contact_id: i64,
    pub channel: Channel,
    pub status: ConsentStatus,
    pub source: ConsentSource,
    pub occurred_at: i64,
    pub recorded_at: i64,
    /// `plugin:<id>` for vendor events, `staff:<key>` for staff and the preference centre.
    pub recorded_by: String,
    /// The interaction it came from.
    pub interaction_id: Option<i64>,
    /// The raw webhook it came from, replayable.
    pub raw_webhook_id: Option<i64>,
    pub note: Option<String>,
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

/// Records the consent changes among interactions just added to the log, each with the
/// interaction (and its raw webhook) as evidence.
pub async fn record_observed(
    conn: &mut AnyConnection,
    events: &[LoggedEvent],
) -> Result<(), StoreError> {
    for event in events {
        let Some((status, source)) = consent_in(event) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO consent_events (contact_id, channel, status, source, occurred_at,
                 recorded_at, recorded_by, interaction_id, raw_webhook_id)
             SELECT contact_id, channel, $2, $3, occurred_at, received_at, created_by, id,
                    raw_webhook_id
             FROM interaction_log WHERE id = $1",
        )
        .bind(event.id)
        .bind(status.as_str())
        .bind(source.as_str())
        .execute(&mut *conn)
        .await?;
    }
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
