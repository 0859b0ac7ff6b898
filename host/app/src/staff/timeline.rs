//! A contact's timeline: every channel in one list, newest first, filtered and paged by an opaque
//! cursor (the last row's time and id), each row with a one-line summary for its channel.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::contacts::exists;
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, Direction, Outcome};
use switchboard_store::interactions::{self, Interaction, TimelineFilter};
use switchboard_store::{Store, StoreError};

/// Filters and paging.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Channels, comma-separated (`email,sms`).
    pub channel: Option<String>,
    /// Interaction kinds, comma-separated (`email_opened,phone_answered`).
    pub kind: Option<String>,
    /// From this time on, ms since the epoch.
    pub since: Option<i64>,
    /// Before this time, ms since the epoch.
    pub until: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// One row of a timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub id: i64,
    pub occurred_at: i64,
    pub channel: Channel,
    pub kind: String,
    pub direction: Direction,
    pub outcome: Outcome,
    /// One line for the channel: email subject, SMS preview, call notes, event name.
    pub summary: String,
    pub created_by: String,
    pub plugin_id: Option<String>,
    pub vendor_message_id: Option<String>,
    pub time_to_action_ms: Option<i64>,
    /// Channel-specific detail, as recorded.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// A page of a timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelinePage {
    pub contact_id: i64,
    pub entries: Vec<TimelineEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Contacts' timelines, over the store.
#[derive(Clone)]
pub struct Timeline {
    store: Store,
}

impl Timeline {
    pub fn new(store: Store) -> Self {
        Timeline { store }
    }

    /// Reads a page of a contact's timeline.
    pub async fn page(
        &self,
        contact_id: i64,
        query: &TimelineQuery,
    ) -> Result<TimelinePage, ServiceError> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ServiceError::invalid("limit", "between 1 and 200"));
        }
        let filter = TimelineFilter {
            channels: list(query.channel.as_deref())
                .map(|c| {
                    Channel::parse(c).ok_or_else(|| {
                        ServiceError::invalid("channel", format!("{c:?} is not a channel"))
                    })
                })
                .collect::<Result<_, _>>()?,
            kinds: list(query.kind.as_deref()).map(str::to_string).collect(),
            since: query.since,
            until: query.until,
            before: query.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        exists(&mut conn, contact_id).await?;
        let mut rows = interactions::timeline(&mut conn, contact_id, &filter).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|r| encode_cursor(r.occurred_at, r.id)))
            .flatten();
        Ok(TimelinePage {
            contact_id,
            entries: rows.into_iter().map(entry).collect(),
            next_cursor,
        })
    }
}

/// An interaction as a timeline row.
pub fn entry(row: Interaction) -> TimelineEntry {
    let metadata: serde_json::Value =
        serde_json::from_str(&row.metadata).unwrap_or(serde_json::Value::Null);
    let summary = row
        .summary
        .clone()
        .unwrap_or_else(|| default_summary(&row, &metadata));
    TimelineEntry {
        id: row.id,
        occurred_at: row.occurred_at,
        channel: row.channel,
        kind: row.kind,
        direction: row.direction,
        outcome: row.outcome,
        summary,
        created_by: row.created_by,
        plugin_id: row.plugin_id,
        vendor_message_id: row.vendor_message_id,
        time_to_action_ms: row.time_to_action_ms,
        metadata,
    }
}

/// A summary for rows recorded without one: the subject or preview when the metadata has one,
/// else what happened on which channel.
fn default_summary(row: &Interaction, metadata: &serde_json::Value) -> String {
    let what = format!(
        "{} {}",
        channel_name(row.channel),
        row.outcome.as_str().replace('_', " ")
    );
    for key in ["subject", "preview", "event_name", "notes"] {
        if let Some(text) = metadata
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
        {
            return format!("{what}: {text}");
        }
    }
    what
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Phone => "Call",
        Channel::Portal => "Portal",
        Channel::InPerson => "In person",
        Channel::Chat => "Chat",
        Channel::System => "Record",
    }
}

fn list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn encode_cursor(at: i64, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), ServiceError> {
    let bad = || ServiceError::invalid("cursor", "not a cursor from this timeline");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = encode_cursor(1_700_000_000_000, 42);
        assert_eq!(decode_cursor(&cursor).unwrap(), (1_700_000_000_000, 42));
        assert!(decode_cursor("not base64!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1:x")).is_err()
        );
    }
}
