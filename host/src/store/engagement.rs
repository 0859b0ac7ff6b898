//! Engagement counters and the state behind them (see [`crate::prefs::tally`]): counted as
//! interactions are added, recounted per contact after a merge or a time zone change, rebuilt
//! from the whole log on demand.

use std::collections::{HashMap, HashSet};

use jiff::tz::TimeZone;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use super::sql::{Params, dynamic};
use crate::domain::{Channel, Direction, Outcome};
use crate::prefs::local_time;
use crate::prefs::tally::{CounterKey, CounterValue, LoggedEvent, Metric, Tally};

const CHUNK: usize = 200;

/// The log's columns an event is read from, for `SELECT` and `RETURNING`.
pub const EVENT_COLUMNS: &str = "id, contact_id, channel, direction, outcome, occurred_at, vendor_message_id, time_to_action_ms";

/// Counts interactions just added to the log (read back with [`EVENT_COLUMNS`]), inside the
/// caller's transaction.
pub async fn count_new(
    conn: &mut AnyConnection,
    mut events: Vec<LoggedEvent>,
) -> Result<Vec<LoggedEvent>, StoreError> {
    events.sort_by_key(|e| e.id);
    if events.is_empty() {
        return Ok(events);
    }
    let mut tally = load_state(conn, &events).await?;
    let zones = zones_of(conn, &contacts_of(&events)).await?;
    for event in &events {
        tally.apply(event, zone_for(&zones, event.contact_id));
    }
    save(conn, &tally, Mode::Add).await?;
    Ok(events)
}

/// An event from a row with [`EVENT_COLUMNS`]; `None` for a row about no one.
pub fn attributed_event(row: &sqlx::any::AnyRow) -> Result<Option<LoggedEvent>, StoreError> {
    let contact: Option<i64> = row.try_get("contact_id")?;
    match contact {
        Some(_) => event_of(row).map(Some),
        None => Ok(None),
    }
}

/// Forgets a contact's counters and counts their whole log again.
pub async fn recount_contact(conn: &mut AnyConnection, contact_id: i64) -> Result<(), StoreError> {
    for table in [
        "engagement_counts",
        "engagement_messages",
        "engagement_awaiting",
    ] {
        dynamic(format!("DELETE FROM {table} WHERE contact_id = $1"))
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
    }
    let rows = dynamic(format!(
        "SELECT {EVENT_COLUMNS} FROM interaction_log WHERE contact_id = $1 ORDER BY id"
    ))
    .bind(contact_id)
    .fetch_all(&mut *conn)
    .await?;
    let zones = zones_of(conn, &[contact_id]).await?;
    let zone = zone_for(&zones, contact_id);
    let mut tally = Tally::default();
    for row in &rows {
        tally.apply(&event_of(row)?, zone);
    }
    save(conn, &tally, Mode::Replace).await
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    pub interactions: u64,
    pub counters: u64,
}

/// Drops every counter and counts the whole log again, in log order.
pub async fn rebuild(conn: &mut AnyConnection) -> Result<Rebuilt, StoreError> {
    for table in [
        "engagement_counts",
        "engagement_messages",
        "engagement_awaiting",
    ] {
        dynamic(format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    let zones = all_zones(conn).await?;
    let mut tally = Tally::default();
    let mut interactions = 0;
    let mut after = 0i64;
    // Pages by id rather than one cursor, so no statement stays open while the results are
    // written into other tables of the same connection.
    loop {
        let rows = dynamic(format!(
            "SELECT {EVENT_COLUMNS} FROM interaction_log
             WHERE contact_id IS NOT NULL AND id > $1 ORDER BY id LIMIT 50000"
        ))
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        for row in &rows {
            let event = event_of(row)?;
            tally.apply(&event, zone_for(&zones, event.contact_id));
            interactions += 1;
        }
    }
    let counters = tally.counters.len() as u64;
    save(conn, &tally, Mode::Replace).await?;
    Ok(Rebuilt {
        interactions,
        counters,
    })
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The tally holds increments to add to stored counters.
    Add,
    /// The stored counters were cleared; the tally holds their values.
    Replace,
}

/// The state the events will read: their messages' milestones and their contacts' unanswered
/// messages.
async fn load_state(conn: &mut AnyConnection, events: &[LoggedEvent]) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let messages: HashSet<(i64, Channel, &str)> = events
        .iter()
        .filter_map(|e| Some((e.contact_id, e.channel, e.vendor_message_id.as_deref()?)))
        .collect();
    let messages: Vec<_> = messages.into_iter().collect();
    for chunk in messages.chunks(CHUNK) {
        let mut params = Params::for_connection(conn);
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
            tally.messages.insert(
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
        let sql = format!(
            "SELECT contact_id, channel, since FROM engagement_awaiting WHERE contact_id IN ({})",
            Params::for_connection(conn).list(chunk.len())
        );
        let mut query = dynamic(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            tally.awaiting.insert(
                (row.try_get("contact_id")?, channel_of(&row)?),
                Some(row.try_get("since")?),
            );
        }
    }
    Ok(tally)
}

/// Writes a tally: counters (added to or as they are), message milestones and unanswered
/// messages.
async fn save(conn: &mut AnyConnection, tally: &Tally, mode: Mode) -> Result<(), StoreError> {
    // A rebuild writes millions of rows: fewer, larger statements (8 parameters a row stays far
    // under SQLite's and PostgreSQL's limits), in primary-key order.
    let rows_per_statement = match mode {
        Mode::Add => CHUNK,
        Mode::Replace => 2_000,
    };
    let counters: Vec<_> = tally.counters.iter().collect();
    for chunk in counters.chunks(rows_per_statement) {
        let conflict = match mode {
            Mode::Add => {
                "ON CONFLICT (contact_id, channel, day, metric, slot) DO UPDATE SET
                   count = engagement_counts.count + excluded.count,
                   sum_ms = engagement_counts.sum_ms + excluded.sum_ms,
                   last_at = MAX(engagement_counts.last_at, excluded.last_at)"
            }
            Mode::Replace => "",
        };
        let sql = format!(
            "INSERT INTO engagement_counts
               (contact_id, channel, day, metric, slot, count, sum_ms, last_at)
             VALUES {} {conflict}",
            Params::for_connection(conn).rows(chunk.len(), 8)
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
    let mut messages: Vec<_> = tally.messages.iter().collect();
    messages.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for chunk in messages.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO engagement_messages (contact_id, channel, vendor_message_id, seen)
             VALUES {} ON CONFLICT (contact_id, channel, vendor_message_id)
             DO UPDATE SET seen = excluded.seen",
            Params::for_connection(conn).rows(chunk.len(), 4)
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
    let (waiting, answered): (Vec<_>, Vec<_>) = tally
        .awaiting
        .iter()
        .partition(|(_, since)| since.is_some());
    for chunk in waiting.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT INTO engagement_awaiting (contact_id, channel, since) VALUES {}
             ON CONFLICT (contact_id, channel) DO UPDATE SET since = excluded.since",
            Params::for_connection(conn).rows(chunk.len(), 3)
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
    if mode == Mode::Add {
        for chunk in answered.chunks(CHUNK) {
            let mut params = Params::for_connection(conn);
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

fn contacts_of(events: &[LoggedEvent]) -> Vec<i64> {
    let set: HashSet<i64> = events.iter().map(|e| e.contact_id).collect();
    let mut contacts: Vec<i64> = set.into_iter().collect();
    contacts.sort_unstable();
    contacts
}

/// The zones of `contacts` that name a known one.
async fn zones_of(
    conn: &mut AnyConnection,
    contacts: &[i64],
) -> Result<HashMap<i64, TimeZone>, StoreError> {
    let mut zones = HashMap::new();
    for chunk in contacts.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, timezone FROM contacts WHERE timezone IS NOT NULL AND id IN ({})",
            Params::for_connection(conn).list(chunk.len())
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

async fn all_zones(conn: &mut AnyConnection) -> Result<HashMap<i64, TimeZone>, StoreError> {
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

/// A contact's zone; hours of contacts whose zone we do not know are counted in UTC (and shown
/// as such), not in a guessed zone.
fn zone_for(zones: &HashMap<i64, TimeZone>, contact: i64) -> &TimeZone {
    zones.get(&contact).unwrap_or(&UTC)
}

static UTC: TimeZone = TimeZone::UTC;

fn event_of(row: &sqlx::any::AnyRow) -> Result<LoggedEvent, StoreError> {
    let direction: String = row.try_get("direction")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(LoggedEvent {
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
    let channel: String = row.try_get("channel")?;
    Channel::parse(&channel).ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))
}

fn channel_metric(row: &sqlx::any::AnyRow) -> Result<(Channel, Metric), StoreError> {
    let metric: String = row.try_get("metric")?;
    Ok((
        channel_of(row)?,
        Metric::parse(&metric).ok_or_else(|| StoreError::Corrupt(format!("metric {metric:?}")))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefs::local_time::utc_ms;
    use crate::store::interactions::tests::event;
    use crate::store::interactions::{self, NewInteraction};
    use crate::store::{Store, contacts, testing};

    fn on(
        contact: i64,
        channel: Channel,
        direction: Direction,
        row: NewInteraction,
    ) -> NewInteraction {
        NewInteraction {
            contact_id: Some(contact),
            channel,
            direction,
            ..row
        }
    }

    fn email(contact: i64, outcome: Outcome, at: &str, message: &str, id: &str) -> NewInteraction {
        let mut row = event("email_event", outcome, utc_ms(at), message, id);
        row.contact_id = Some(contact);
        row
    }

    fn sms(
        contact: i64,
        direction: Direction,
        outcome: Outcome,
        at: &str,
        message: &str,
    ) -> NewInteraction {
        on(
            contact,
            Channel::Sms,
            direction,
            event(
                "sms_event",
                outcome,
                utc_ms(at),
                message,
                &format!("{message}-{outcome}"),
            ),
        )
    }

    fn call(contact: i64, outcome: Outcome, at: &str) -> NewInteraction {
        let mut row = on(
            contact,
            Channel::Phone,
            Direction::Outbound,
            event("call", outcome, utc_ms(at), "", ""),
        );
        row.vendor_message_id = None;
        row.vendor_event_id = None;
        row.external_system = None;
        row
    }

    async fn write(store: &Store, rows: &[NewInteraction]) {
        let mut tx = store.begin_write().await.unwrap();
        interactions::insert_new(tx.conn(), rows).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn snapshot(
        store: &Store,
    ) -> (
        Vec<(CounterKey, CounterValue)>,
        Vec<(i64, String, String, i64)>,
        Vec<(i64, String, i64)>,
    ) {
        let mut conn = store.pool().acquire().await.unwrap();
        let counters = all_counters(&mut conn).await.unwrap();
        let messages = sqlx::query_as::<_, (i64, String, String, i64)>(
            "SELECT contact_id, channel, vendor_message_id, seen FROM engagement_messages
             ORDER BY contact_id, channel, vendor_message_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let awaiting = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT contact_id, channel, since FROM engagement_awaiting ORDER BY contact_id, channel",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        (counters, messages, awaiting)
    }

    fn total(
        counters: &[(CounterKey, CounterValue)],
        contact: i64,
        channel: Channel,
        metric: Metric,
    ) -> i64 {
        counters
            .iter()
            .filter(|(k, _)| k.contact_id == contact && k.channel == channel && k.metric == metric)
            .map(|(_, v)| v.count)
            .sum()
    }

    /// Two people's history, delivered in several batches the way webhooks arrive.
    async fn history(store: &Store) -> (i64, i64) {
        let mut tx = store.begin_write().await.unwrap();
        let ana = contacts::create_named(tx.conn(), Some("Ana"), Some("America/Chicago"), 0)
            .await
            .unwrap();
        let ben = contacts::create_named(tx.conn(), Some("Ben"), None, 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        write(
            store,
            &[
                email(ana, Outcome::Queued, "2026-11-02T15:00:00Z", "m1", "e1"),
                email(ana, Outcome::Delivered, "2026-11-02T15:00:05Z", "m1", "e2"),
                email(ana, Outcome::Queued, "2026-11-03T15:00:00Z", "m2", "e3"),
            ],
        )
        .await;
        write(
            store,
            &[
                // Two opens and a click of one message: one open, one response.
                email(ana, Outcome::Opened, "2026-11-02T23:30:00Z", "m1", "e4"),
                email(ana, Outcome::Opened, "2026-11-03T01:00:00Z", "m1", "e5"),
                email(ana, Outcome::Clicked, "2026-11-03T01:01:00Z", "m1", "e6"),
                email(ana, Outcome::Bounced, "2026-11-03T15:00:10Z", "m2", "e7"),
            ],
        )
        .await;
        write(
            store,
            &[
                sms(
                    ben,
                    Direction::Outbound,
                    Outcome::Sent,
                    "2026-11-04T10:00:00Z",
                    "s1",
                ),
                sms(
                    ben,
                    Direction::Outbound,
                    Outcome::Delivered,
                    "2026-11-04T10:00:03Z",
                    "s1",
                ),
                // A reply within the window answers s1; a second one is contact-initiated.
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::Replied,
                    "2026-11-04T10:20:00Z",
                    "r1",
                ),
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::Replied,
                    "2026-11-04T10:25:00Z",
                    "r2",
                ),
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::OptedOut,
                    "2026-11-05T10:25:00Z",
                    "r3",
                ),
                call(ben, Outcome::NoAnswer, "2026-11-06T17:00:00Z"),
                call(ben, Outcome::Answered, "2026-11-07T17:00:00Z"),
            ],
        )
        .await;
        // An SMS that is still waiting for a reply when the history ends.
        write(
            store,
            &[sms(
                ben,
                Direction::Outbound,
                Outcome::Sent,
                "2026-11-08T10:00:00Z",
                "s2",
            )],
        )
        .await;
        (ana, ben)
    }

    #[tokio::test]
    async fn milestones_count_once_per_message() {
        let (store, _dir) = testing::store().await;
        let (ana, ben) = history(&store).await;
        let (counters, _, awaiting) = snapshot(&store).await;
        let count = |contact, channel, metric| total(&counters, contact, channel, metric);
        assert_eq!(count(ana, Channel::Email, Metric::Sent), 2);
        assert_eq!(count(ana, Channel::Email, Metric::Delivered), 1);
        assert_eq!(
            count(ana, Channel::Email, Metric::Opened),
            1,
            "two opens, one message"
        );
        assert_eq!(count(ana, Channel::Email, Metric::Responded), 1);
        assert_eq!(count(ana, Channel::Email, Metric::Failed), 1);
        // The first open (23:30 UTC) is 17:30 in Chicago: the only engagement hour recorded.
        let hours: Vec<i64> = counters
            .iter()
            .filter(|(k, _)| k.contact_id == ana && k.metric == Metric::Hour)
            .map(|(k, _)| k.slot)
            .collect();
        assert_eq!(hours, vec![17]);

        assert_eq!(count(ben, Channel::Sms, Metric::Sent), 2);
        assert_eq!(count(ben, Channel::Sms, Metric::Responded), 1);
        assert_eq!(count(ben, Channel::Sms, Metric::Inbound), 1);
        // Ben's zone is unknown: his hours are counted in UTC.
        assert!(counters.iter().any(|(k, _)| k.contact_id == ben
            && k.channel == Channel::Sms
            && k.metric == Metric::Hour
            && k.slot == 10));
        let reply_tta: Vec<(i64, i64)> = counters
            .iter()
            .filter(|(k, _)| {
                k.contact_id == ben && k.channel == Channel::Sms && k.metric == Metric::Tta
            })
            .map(|(k, v)| (k.slot, v.sum_ms))
            .collect();
        assert_eq!(
            reply_tta,
            vec![(3, 20 * 60_000)],
            "replied 20 minutes after s1 left"
        );
        assert_eq!(count(ben, Channel::Phone, Metric::Sent), 2);
        assert_eq!(count(ben, Channel::Phone, Metric::Answered), 1);
        assert_eq!(
            awaiting,
            vec![(ben, "sms".to_string(), utc_ms("2026-11-08T10:00:00Z"))],
            "s2 still waits; the click answered Ana's email and the call was answered"
        );
    }

    #[tokio::test]
    async fn a_rebuild_gives_exactly_what_was_counted_as_interactions_arrived() {
        let (store, _dir) = testing::store().await;
        history(&store).await;
        let incremental = snapshot(&store).await;
        assert!(!incremental.0.is_empty());
        let mut tx = store.begin_write().await.unwrap();
        let rebuilt = rebuild(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rebuilt.interactions, 15);
        assert_eq!(snapshot(&store).await, incremental);
    }

    #[tokio::test]
    async fn a_zone_change_recounts_the_contact_in_their_new_zone() {
        let (store, _dir) = testing::store().await;
        let (ana, _) = history(&store).await;
        let mut tx = store.begin_write().await.unwrap();
        contacts::update(tx.conn(), ana, None, Some(Some("Asia/Tokyo")), 1)
            .await
            .unwrap();
        recount_contact(tx.conn(), ana).await.unwrap();
        tx.commit().await.unwrap();
        let (counters, _, _) = snapshot(&store).await;
        let hours: Vec<i64> = counters
            .iter()
            .filter(|(k, _)| k.contact_id == ana && k.metric == Metric::Hour)
            .map(|(k, _)| k.slot)
            .collect();
        // 23:30 UTC is 08:30 the next day in Tokyo.
        assert_eq!(hours, vec![8]);
        // And it is still what a rebuild gives.
        let recounted = snapshot(&store).await;
        let mut tx = store.begin_write().await.unwrap();
        rebuild(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(snapshot(&store).await, recounted);
    }
}
