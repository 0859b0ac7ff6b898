//! The engagement counters' rows: per contact, channel, day, metric and slot, with the state
//! counting them needs (the milestones already counted per message, the outbound message still
//! waiting for a reply). Loaded and saved here; what an event adds is decided by the tally in
//! `prefs`, which counts new interactions, recounts a contact and rebuilds everything.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::tz::TimeZone;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use super::sql::{Params, dynamic, fetch_packed, packed};
use switchboard_core::clock::local_time;
use switchboard_core::domain::{Channel, Direction, LoggedInteraction, Outcome};

switchboard_core::word_enum!(
    /// What a counter counts.
    pub Metric {
        /// Messages that left us (any outbound event of a message counts it once).
        Sent => "sent",
        Delivered => "delivered",
        /// Opened or read (a click implies an open).
        Opened => "opened",
        /// Clicked, replied to within the reply window, or (phone) answered.
        Responded => "responded",
        Answered => "answered",
        Failed => "failed",
        /// Contact-initiated messages and calls (no outbound message waiting).
        Inbound => "inbound",
        /// Portal activity (logins, page views, downloads).
        Active => "active",
        /// An engagement at local hour `slot`.
        Hour => "hour",
        /// A time to action in bucket `slot`; `sum_ms` holds their total.
        Tta => "tta",
    }
);

/// Which counter: contact, channel, UTC day, metric and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    pub contact_id: i64,
    pub channel: Channel,
    pub day: i64,
    pub metric: Metric,
    pub slot: i64,
}

/// A counter's value (or, on the ingest path, what to add to it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValue {
    pub count: i64,
    pub sum_ms: i64,
    pub last_at: i64,
}

/// A message's key in the state: contact, channel, vendor message id.
pub type MessageKey = (i64, Channel, String);

/// Counters and the state behind them, as loaded for some events or as a tally left them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EngagementState {
    /// Counter values, or (to be added) increments.
    pub counters: BTreeMap<CounterKey, CounterValue>,
    /// Milestones counted per message (bits, see the tally): everything loaded or touched.
    pub messages: HashMap<MessageKey, u8>,
    /// The unanswered outbound message per contact and channel, by when it left: `None` once
    /// answered (its row is deleted when saved as [`Save::Add`]).
    pub awaiting: HashMap<(i64, Channel), Option<i64>>,
}

const CHUNK: usize = 200;

/// The log's columns an event is read from, for `SELECT` and `RETURNING`.
pub const EVENT_COLUMNS: &str = "id, contact_id, channel, direction, outcome, occurred_at, vendor_message_id, time_to_action_ms";

/// An event from a row with [`EVENT_COLUMNS`]; `None` for a row about no one.
pub fn attributed_event(row: &sqlx::any::AnyRow) -> Result<Option<LoggedInteraction>, StoreError> {
    let contact: Option<i64> = row.try_get("contact_id")?;
    match contact {
        Some(_) => event_of(row).map(Some),
        None => Ok(None),
    }
}

const STATE_TABLES: [&str; 3] = [
    "engagement_counts",
    "engagement_messages",
    "engagement_awaiting",
];

/// Forgets a contact's counters and the state behind them.
pub async fn forget_contact(conn: &mut AnyConnection, contact_id: i64) -> Result<(), StoreError> {
    for table in STATE_TABLES {
        dynamic(format!("DELETE FROM {table} WHERE contact_id = $1"))
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Forgets every counter and the state behind them.
pub async fn forget_all(conn: &mut AnyConnection) -> Result<(), StoreError> {
    for table in STATE_TABLES {
        dynamic(format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Every event of a contact's log, in log order.
pub async fn events_of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<LoggedInteraction>, StoreError> {
    let rows = dynamic(format!(
        "SELECT {EVENT_COLUMNS} FROM interaction_log WHERE contact_id = $1 ORDER BY id"
    ))
    .bind(contact_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_of).collect()
}

/// Up to `limit` events about someone after log id `after`, in log order: a page of the whole
/// log (pages rather than one cursor, so that no statement stays open while the caller writes
/// into other tables of the same connection).
pub async fn events_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<LoggedInteraction>, StoreError> {
    let rows = dynamic(format!(
        "SELECT {EVENT_COLUMNS} FROM interaction_log
         WHERE contact_id IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_of).collect()
}

/// A counter summed over the days of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowValue {
    pub count: i64,
    pub sum_ms: i64,
    pub last_at: i64,
    /// Days with a count.
    pub days: i64,
}

/// A contact's counters within a window: `(channel, metric, slot)` → value.
pub type WindowCounts = HashMap<(Channel, Metric, i64), WindowValue>;

/// Which of a contact's counters a windowed read sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// Everything: rates, activity, hours and times to action.
    All,
    /// What selection needs: the milestone counts and portal activity, not hours or times.
    Milestones,
}

/// Sums a contact's counters from `from_day` (UTC days since the epoch) on.
pub async fn window(
    conn: &mut AnyConnection,
    contact_id: i64,
    from_day: i64,
    which: Counters,
) -> Result<WindowCounts, StoreError> {
    let filter = match which {
        Counters::All => "",
        Counters::Milestones => "AND metric NOT IN ('hour', 'tta')",
    };
    let rows = dynamic(format!(
        "SELECT channel, metric, slot, SUM(count) AS count, SUM(sum_ms) AS sum_ms,
                MAX(last_at) AS last_at, COUNT(*) AS days
         FROM engagement_counts WHERE contact_id = $1 AND day >= $2 {filter}
         GROUP BY channel, metric, slot"
    ))
    .bind(contact_id)
    .bind(from_day)
    .fetch_all(conn)
    .await?;
    let mut counts = WindowCounts::new();
    for row in rows {
        let (channel, metric) = channel_metric(&row)?;
        counts.insert(
            (channel, metric, row.try_get("slot")?),
            WindowValue {
                count: row.try_get("count")?,
                sum_ms: row.try_get("sum_ms")?,
                last_at: row.try_get("last_at")?,
                days: row.try_get("days")?,
            },
        );
    }
    Ok(counts)
}

/// Everyone's slot-0 counters of `metrics` within a window, per contact: the population the
/// priors are fitted to.
pub async fn population(
    conn: &mut AnyConnection,
    from_day: i64,
) -> Result<HashMap<i64, HashMap<(Channel, Metric), i64>>, StoreError> {
    let rows = sqlx::query(
        "SELECT contact_id, channel, metric, SUM(count) AS count FROM engagement_counts
         WHERE day >= $1 AND slot = 0
           AND metric IN ('sent', 'delivered', 'opened', 'responded', 'answered')
         GROUP BY contact_id, channel, metric",
    )
    .bind(from_day)
    .fetch_all(conn)
    .await?;
    let mut population: HashMap<i64, HashMap<(Channel, Metric), i64>> = HashMap::new();
    for row in rows {
        let key = channel_metric(&row)?;
        population
            .entry(row.try_get("contact_id")?)
            .or_default()
            .insert(key, row.try_get("count")?);
    }
    Ok(population)
}

/// Every counter, sorted: for comparing an incremental count with a rebuild.
pub async fn all_counters(
    conn: &mut AnyConnection,
) -> Result<Vec<(CounterKey, CounterValue)>, StoreError> {
    let rows = sqlx::query(
        "SELECT contact_id, channel, day, metric, slot, count, sum_ms, last_at
         FROM engagement_counts ORDER BY contact_id, channel, day, metric, slot",
    )
    .fetch_all(conn)
    .await?;
    let mut counters = Vec::with_capacity(rows.len());
    for row in rows {
        let (channel, metric) = channel_metric(&row)?;
        counters.push((
            CounterKey {
                contact_id: row.try_get("contact_id")?,
                channel,
                day: row.try_get("day")?,
                metric,
                slot: row.try_get("slot")?,
            },
            CounterValue {
                count: row.try_get("count")?,
                sum_ms: row.try_get("sum_ms")?,
                last_at: row.try_get("last_at")?,
            },
        ));
    }
    counters.sort_by_key(|(key, _)| *key);
    Ok(counters)
}

/// How [`save`] writes a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// The state holds increments to add to stored counters.
    Add,
    /// The stored counters were forgotten; the state holds their values.
    Replace,
}

/// The state the events will read: their messages' milestones and their contacts' unanswered
/// messages.
pub async fn load(
    conn: &mut AnyConnection,
    events: &[LoggedInteraction],
) -> Result<EngagementState, StoreError> {
    let mut state = EngagementState::default();
    let messages: HashSet<(i64, Channel, &str)> = events
        .iter()
        .filter_map(|e| Some((e.contact_id, e.channel, e.vendor_message_id.as_deref()?)))
        .collect();
    let messages: Vec<_> = messages.into_iter().collect();
    for chunk in messages.chunks(CHUNK) {
        let mut params = Params::for_connection(conn)?;
        let clauses: Vec<String> = chunk
            .iter()
            .map(|_| {
                format!(
                    "(contact_id = {} AND channel = {} AND vendor_message_id = {})",
                    params.one(),
                    params.one(),
                    params.one()
                )
            })
            .collect();
        let sql = format!(
            "SELECT contact_id, channel, vendor_message_id, seen FROM engagement_messages
             WHERE {}",
            clauses.join(" OR ")
        );
        let mut query = dynamic(sql);
        for (contact, channel, id) in chunk {
            query = query
                .bind(*contact)
                .bind(channel.as_str())
                .bind(id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let seen: i64 = row.try_get("seen")?;
            state.messages.insert(
                (
                    row.try_get("contact_id")?,
                    channel_of(&row)?,
                    row.try_get("vendor_message_id")?,
                ),
                u8::try_from(seen).map_err(|_| StoreError::Corrupt(format!("seen {seen}")))?,
            );
        }
    }
    let contacts = contacts_of(events);
    for chunk in contacts.chunks(CHUNK) {
        let select = format!(
            "SELECT contact_id, channel, since FROM engagement_awaiting WHERE contact_id IN ({})",
            Params::for_connection(conn)?.list(chunk.len())
        );
        let mut query = dynamic(packed(conn, "contact_id, channel, since", &select)?);
        for id in chunk {
            query = query.bind(*id);
        }
        let rows: Vec<(i64, String, i64)> = fetch_packed(query, &mut *conn).await?;
        for (contact, channel, since) in rows {
            state
                .awaiting
                .insert((contact, parse_channel(&channel)?), Some(since));
        }
    }
    Ok(state)
}

/// Writes a state: counters (added to or as they are), message milestones and unanswered
/// messages.
pub async fn save(
    conn: &mut AnyConnection,
    state: &EngagementState,
    mode: Save,
) -> Result<(), StoreError> {
    // A rebuild writes millions of rows: fewer, larger statements (8 parameters a row stays far
    // under SQLite's and PostgreSQL's limits), in primary-key order.
    let rows_per_statement = match mode {
        Save::Add => CHUNK,
        Save::Replace => 2_000,
    };
    let counters: Vec<_> = state.counters.iter().collect();
    for chunk in counters.chunks(rows_per_statement) {
        // The later `last_at` by CASE: SQLite's two-argument MAX is PostgreSQL's GREATEST.
        let conflict = match mode {
            Save::Add => {
                "ON CONFLICT (contact_id, channel, day, metric, slot) DO UPDATE SET
                   count = engagement_counts.count + excluded.count,
                   sum_ms = engagement_counts.sum_ms + excluded.sum_ms,
                   last_at = CASE WHEN excluded.last_at > engagement_counts.last_at
                                  THEN excluded.last_at ELSE engagement_counts.last_at END"
            }
            Save::Replace => "",
        };
        let sql = format!(
            "INSERT INTO engagement_counts
               (contact_id, channel, day, metric, slot, count, sum_ms, last_at)
             VALUES {} {conflict}",
            Params::for_connection(conn)?.rows(chunk.len(), 8)
        );
        let mut query = dynamic(sql);
        for (key, value) in chunk {
            query = query
                .bind(key.contact_id)
                .bind(key.channel.as_str())
                .bind(key.day)
                .bind(key.metric.as_str())
                .bind(key.slot)
                .bind(value.count)
                .bind(value.sum_ms)
                .bind(value.last_at);
        }
        query.execute(&mut *conn).await?;
    }
    let mut messages: Vec<_> = state.messages.iter().collect();
    messages.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for chunk in messages.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO engagement_messages (contact_id, channel, vendor_message_id, seen)
             VALUES {} ON CONFLICT (contact_id, channel, vendor_message_id)
             DO UPDATE SET seen = excluded.seen",
            Params::for_connection(conn)?.rows(chunk.len(), 4)
        );
        let mut query = dynamic(sql);
        for ((contact, channel, id), seen) in chunk {
            query = query
                .bind(*contact)
                .bind(channel.as_str())
                .bind(id.clone())
                .bind(i64::from(**seen));
        }
        query.execute(&mut *conn).await?;
    }
    let (waiting, answered): (Vec<_>, Vec<_>) = state
        .awaiting
        .iter()
        .partition(|(_, since)| since.is_some());
    for chunk in waiting.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO engagement_awaiting (contact_id, channel, since) VALUES {}
             ON CONFLICT (contact_id, channel) DO UPDATE SET since = excluded.since",
            Params::for_connection(conn)?.rows(chunk.len(), 3)
        );
        let mut query = dynamic(sql);
        for ((contact, channel), since) in chunk {
            query = query
                .bind(*contact)
                .bind(channel.as_str())
                .bind(since.unwrap_or_default());
        }
        query.execute(&mut *conn).await?;
    }
    if mode == Save::Add {
        for chunk in answered.chunks(CHUNK) {
            let mut params = Params::for_connection(conn)?;
            let pairs: Vec<String> = chunk
                .iter()
                .map(|_| {
                    format!(
                        "(contact_id = {} AND channel = {})",
                        params.one(),
                        params.one()
                    )
                })
                .collect();
            let sql = format!(
                "DELETE FROM engagement_awaiting WHERE {}",
                pairs.join(" OR ")
            );
            let mut query = dynamic(sql);
            for ((contact, channel), _) in chunk {
                query = query.bind(*contact).bind(channel.as_str());
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

fn contacts_of(events: &[LoggedInteraction]) -> Vec<i64> {
    let set: HashSet<i64> = events.iter().map(|e| e.contact_id).collect();
    let mut contacts: Vec<i64> = set.into_iter().collect();
    contacts.sort_unstable();
    contacts
}

/// The zones of `contacts` that name a known one.
pub async fn zones_of(
    conn: &mut AnyConnection,
    contacts: &[i64],
) -> Result<HashMap<i64, TimeZone>, StoreError> {
    let mut zones = HashMap::new();
    for chunk in contacts.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, timezone FROM contacts WHERE timezone IS NOT NULL AND id IN ({})",
            Params::for_connection(conn)?.list(chunk.len())
        );
        let mut query = dynamic(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            insert_zone(&mut zones, &row)?;
        }
    }
    Ok(zones)
}

/// The zone of every contact that names a known one.
pub async fn all_zones(conn: &mut AnyConnection) -> Result<HashMap<i64, TimeZone>, StoreError> {
    let mut zones = HashMap::new();
    let rows = sqlx::query("SELECT id, timezone FROM contacts WHERE timezone IS NOT NULL")
        .fetch_all(conn)
        .await?;
    for row in rows {
        insert_zone(&mut zones, &row)?;
    }
    Ok(zones)
}

fn insert_zone(
    zones: &mut HashMap<i64, TimeZone>,
    row: &sqlx::any::AnyRow,
) -> Result<(), StoreError> {
    let name: String = row.try_get("timezone")?;
    // A zone stored before zones were checked, or since dropped from the database, counts as
    // unknown rather than failing the write.
    if let Ok(zone) = local_time::zone(&name) {
        zones.insert(row.try_get("id")?, zone);
    }
    Ok(())
}

fn event_of(row: &sqlx::any::AnyRow) -> Result<LoggedInteraction, StoreError> {
    let direction: String = row.try_get("direction")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(LoggedInteraction {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        channel: channel_of(row)?,
        direction: Direction::parse(&direction)
            .ok_or_else(|| StoreError::Corrupt(format!("direction {direction:?}")))?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("outcome {outcome:?}")))?,
        occurred_at: row.try_get("occurred_at")?,
        vendor_message_id: row.try_get("vendor_message_id")?,
        time_to_action_ms: row.try_get("time_to_action_ms")?,
    })
}

fn channel_of(row: &sqlx::any::AnyRow) -> Result<Channel, StoreError> {
    parse_channel(&row.try_get::<String, _>("channel")?)
}

fn parse_channel(channel: &str) -> Result<Channel, StoreError> {
    Channel::parse(channel).ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))
}

fn channel_metric(row: &sqlx::any::AnyRow) -> Result<(Channel, Metric), StoreError> {
    let metric: String = row.try_get("metric")?;
    Ok((
        channel_of(row)?,
        Metric::parse(&metric).ok_or_else(|| StoreError::Corrupt(format!("metric {metric:?}")))?,
    ))
}
