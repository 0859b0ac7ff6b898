//! The analytics rollup's tables: each outbound message folded from its events
//! (`analytics_messages`), the counts of the messages' fates per day and group
//! (`analytics_daily`) and per day and hour and provider (`analytics_daily_totals`,
//! `analytics_hourly_totals`), inbound volume per day and hour (`analytics_inbound_daily`,
//! `analytics_inbound_hourly`), and how far the log has been folded. What a fate counts as, and the folding itself, are `switchboard-app`'s
//! `analytics::rollup`; this module only reads and writes rows.

use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use crate::analytics::{Inbound, SentMessage};
use crate::sql::{DynamicQuery, Params, dynamic, fetch_packed, packed};
use crate::{Backend, StoreError};
use switchboard_core::domain::{Channel, Outcome};

pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

/// Rows per statement where a statement takes a list.
const CHUNK: usize = 400;

/// One row of the log, as the rollup folds it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogEvent {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub occurred_at: i64,
    pub channel: Channel,
    /// 1 for inbound, 0 for outbound.
    pub inbound: i64,
    pub outcome: Outcome,
    pub plugin_id: Option<String>,
    pub vendor_message_id: Option<String>,
}

/// One folded message: its milestones, its key and the inbound message credited to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FoldedMessage {
    pub sent: SentMessage,
    /// The vendor message id, or `#<interaction id>` for a logged message without one.
    pub key: String,
    pub response_at: Option<i64>,
    /// The outcome of that inbound message (`replied`, or `opted_out` for a STOP).
    pub response_outcome: Option<Outcome>,
}

/// A group of one day's messages: channel, plugin, kind, urgency and template, `''` for none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub struct DailyKey {
    pub day: i64,
    pub channel: Channel,
    pub plugin: String,
    pub kind: String,
    pub urgency: String,
    pub template: String,
}

impl DailyKey {
    /// A provider's (channel and plugin) messages of a day, whatever their kind, urgency and
    /// template.
    pub fn of_provider(day: i64, channel: Channel, plugin: String) -> Self {
        DailyKey {
            day,
            channel,
            plugin,
            kind: String::new(),
            urgency: String::new(),
            template: String::new(),
        }
    }
}

/// A provider's messages sent in one day or hour (`start` counts days or hours since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub struct TotalKey {
    pub start: i64,
    pub channel: Channel,
    pub plugin: String,
}

/// The counts of a group: JSON the app writes, read back as its type `C` (in the same pass as
/// the rest of the rows).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CountsRow<K, C> {
    pub key: K,
    pub counts: C,
}

const SENT_COLUMNS: &str = "channel, vendor_message_id, contact_id, plugin_id, sent_at, \
     delivered_at, opened_at, clicked_at, replied_at, answered_at, failure, bounced_at, \
     opted_out_at, kind, urgency, template";
const EVENT_SELECT: &str = "SELECT id, contact_id, occurred_at, channel, \
     CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END AS inbound, outcome, plugin_id, \
     vendor_message_id FROM interaction_log";
const EVENT_COLUMNS: &str =
    "id, contact_id, occurred_at, channel, inbound, outcome, plugin_id, vendor_message_id";

fn folded_columns() -> String {
    format!("json_array({SENT_COLUMNS}), message_key, response_at, response_outcome")
}

/// Every interaction up to this id has been folded.
pub async fn folded_through(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT through_id FROM analytics_folded WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn set_folded_through(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE analytics_folded SET through_id = $1 WHERE id = 1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The newest interaction's id (0 for an empty log).
pub async fn newest_interaction(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM interaction_log")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// Up to `limit` interactions after `after`, in order of id.
pub async fn events_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEvent>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "{EVENT_SELECT} WHERE id > {} ORDER BY id LIMIT {}",
        params.one(),
        params.one()
    );
    let sql = packed(conn, EVENT_COLUMNS, &select)?;
    fetch_packed(dynamic(sql).bind(after).bind(limit), conn).await
}

/// The interactions of `contact` up to `through`, in order of id.
pub async fn events_of_contact(
    conn: &mut AnyConnection,
    contact: i64,
    through: i64,
) -> Result<Vec<LogEvent>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "{EVENT_SELECT} WHERE contact_id = {} AND id <= {} ORDER BY id",
        params.one(),
        params.one()
    );
    let sql = packed(conn, EVENT_COLUMNS, &select)?;
    fetch_packed(dynamic(sql).bind(contact).bind(through), conn).await
}

/// The folded messages with these keys (`(key, channel)`), in no order.
pub async fn messages(
    conn: &mut AnyConnection,
    keys: &[(String, Channel)],
) -> Result<Vec<FoldedMessage>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT * FROM analytics_messages WHERE message_key IN ({})",
            params.list(chunk.len())
        );
        let sql = packed(conn, &folded_columns(), &select)?;
        let mut query = dynamic(sql);
        for (key, _) in chunk {
            query = query.bind(key.clone());
        }
        let rows: Vec<FoldedMessage> = fetch_packed(query, conn).await?;
        found.extend(rows.into_iter().filter(|m| {
            chunk
                .iter()
                .any(|(k, c)| *k == m.key && *c == m.sent.channel)
        }));
    }
    Ok(found)
}

/// The folded messages of `contacts` sent from `from` on, in no order.
pub async fn messages_of_contacts_since(
    conn: &mut AnyConnection,
    contacts: &[i64],
    from: i64,
) -> Result<Vec<FoldedMessage>, StoreError> {
    let mut found = Vec::new();
    for chunk in contacts.chunks(CHUNK) {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT * FROM analytics_messages WHERE contact_id IN ({}) AND sent_at >= {}",
            params.list(chunk.len()),
            params.one()
        );
        let sql = packed(conn, &folded_columns(), &select)?;
        let mut query = dynamic(sql);
        for contact in chunk {
            query = query.bind(*contact);
        }
        found.extend(fetch_packed::<FoldedMessage>(query.bind(from), conn).await?);
    }
    Ok(found)
}

/// Every folded message of a contact.
pub async fn messages_of_contact(
    conn: &mut AnyConnection,
    contact: i64,
) -> Result<Vec<FoldedMessage>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "SELECT * FROM analytics_messages WHERE contact_id = {}",
        params.one()
    );
    let sql = packed(conn, &folded_columns(), &select)?;
    fetch_packed(dynamic(sql).bind(contact), conn).await
}

/// The folded messages sent in `[since, until)`.
pub async fn messages_sent_between(
    conn: &mut AnyConnection,
    since: i64,
    until: i64,
) -> Result<Vec<FoldedMessage>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "SELECT * FROM analytics_messages WHERE sent_at >= {} AND sent_at < {}",
        params.one(),
        params.one()
    );
    let sql = packed(conn, &folded_columns(), &select)?;
    fetch_packed(dynamic(sql).bind(since).bind(until), conn).await
}

/// The folded messages to known contacts sent in `[since, until)`, as touches of their journeys,
/// oldest first; with their plugin only when `with_plugin` (millions of touches are read, and
/// a report by channel needs no more).
pub async fn touches(
    conn: &mut AnyConnection,
    since: i64,
    until: i64,
    with_plugin: bool,
) -> Result<Vec<crate::analytics::KindTouch>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let plugin = if with_plugin { "plugin_id" } else { "NULL" };
    // Every column from the index on (sent_at, contact_id, channel, plugin_id).
    let select = format!(
        "SELECT contact_id, channel, {plugin} AS plugin_id, sent_at FROM analytics_messages
         WHERE sent_at >= {} AND sent_at < {} AND contact_id IS NOT NULL
         ORDER BY sent_at",
        params.one(),
        params.one()
    );
    let sql = packed(conn, "contact_id, channel, plugin_id, sent_at", &select)?;
    fetch_packed(dynamic(sql).bind(since).bind(until), conn).await
}

/// The inbound interactions of `contacts` from `from` on, up to interaction `through`, oldest
/// first.
pub async fn inbound_of_contacts_since(
    conn: &mut AnyConnection,
    contacts: &[i64],
    from: i64,
    through: i64,
) -> Result<Vec<Inbound>, StoreError> {
    let mut found = Vec::new();
    for chunk in contacts.chunks(CHUNK) {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT contact_id, channel, outcome, occurred_at, id FROM interaction_log
             WHERE contact_id IN ({}) AND direction = 'inbound' AND channel <> 'system'
               AND occurred_at >= {} AND id <= {}
             ORDER BY occurred_at, id",
            params.list(chunk.len()),
            params.one(),
            params.one()
        );
        let sql = packed(conn, "contact_id, channel, outcome, occurred_at", &select)?;
        let mut query = dynamic(sql);
        for contact in chunk {
            query = query.bind(*contact);
        }
        found.extend(fetch_packed::<Inbound>(query.bind(from).bind(through), conn).await?);
    }
    Ok(found)
}

/// What the outbox knows of messages it sent, by vendor message id: `(vendor message id,
/// channel, kind, urgency, template)`.
pub async fn outbox_attributes(
    conn: &mut AnyConnection,
    vendor_ids: &[(String, Channel)],
) -> Result<Vec<OutboxAttributes>, StoreError> {
    let backend = Backend::of_connection(conn)?;
    let template = backend.json_text("o.content", &["email", "template", "id"]);
    let mut found = Vec::new();
    for chunk in vendor_ids.chunks(CHUNK) {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT a.vendor_message_id, a.channel, o.kind, o.urgency, {template} AS template
             FROM message_attempts a JOIN messages o ON o.id = a.message_id
             WHERE a.vendor_message_id IN ({})",
            params.list(chunk.len())
        );
        let columns = "vendor_message_id, channel, kind, urgency, template";
        let sql = packed(conn, columns, &select)?;
        let mut query = dynamic(sql);
        for (id, _) in chunk {
            query = query.bind(id.clone());
        }
        found.extend(fetch_packed::<OutboxAttributes>(query, conn).await?);
    }
    Ok(found)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutboxAttributes {
    pub vendor_message_id: String,
    pub channel: Channel,
    pub kind: Option<String>,
    pub urgency: Option<String>,
    pub template: Option<String>,
}

/// Writes folded messages (new or changed).
pub async fn save_messages(
    conn: &mut AnyConnection,
    messages: &[FoldedMessage],
) -> Result<(), StoreError> {
    const COLUMNS: usize = 19;
    for chunk in messages.chunks(CHUNK / 4) {
        let mut params = Params::for_connection(conn)?;
        let sql = format!(
            "INSERT INTO analytics_messages ({SENT_COLUMNS}, message_key, response_at,
                 response_outcome) VALUES {}
             ON CONFLICT (message_key, channel) DO UPDATE SET
                 contact_id = excluded.contact_id, plugin_id = excluded.plugin_id,
                 sent_at = excluded.sent_at, delivered_at = excluded.delivered_at,
                 opened_at = excluded.opened_at, clicked_at = excluded.clicked_at,
                 replied_at = excluded.replied_at, answered_at = excluded.answered_at,
                 failure = excluded.failure, bounced_at = excluded.bounced_at,
                 opted_out_at = excluded.opted_out_at, kind = excluded.kind,
                 urgency = excluded.urgency, template = excluded.template,
                 response_at = excluded.response_at, response_outcome = excluded.response_outcome",
            params.rows(chunk.len(), COLUMNS)
        );
        let mut query = dynamic(sql);
        for m in chunk {
            let s = &m.sent;
            query = query
                .bind(s.channel.as_str())
                .bind(s.vendor_message_id.clone())
                .bind(s.contact_id)
                .bind(s.plugin_id.clone())
                .bind(s.sent_at)
                .bind(s.delivered_at)
                .bind(s.opened_at)
                .bind(s.clicked_at)
                .bind(s.replied_at)
                .bind(s.answered_at)
                .bind(s.failure.map(|o| o.as_str()))
                .bind(s.bounced_at)
                .bind(s.opted_out_at)
                .bind(s.kind.clone())
                .bind(s.urgency.clone())
                .bind(s.template.clone())
                .bind(m.key.clone())
                .bind(m.response_at)
                .bind(m.response_outcome.map(|o| o.as_str()));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Deletes folded messages by `(key, channel)`.
pub async fn delete_messages(
    conn: &mut AnyConnection,
    keys: &[(String, Channel)],
) -> Result<(), StoreError> {
    for (key, channel) in keys {
        sqlx::query("DELETE FROM analytics_messages WHERE message_key = $1 AND channel = $2")
            .bind(key.clone())
            .bind(channel.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A table of counts per group: its name and its key's columns, the first the day or hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountsTable {
    name: &'static str,
    key: &'static [&'static str],
}

/// Per day and group ([`DailyKey`]).
pub const DAILY: CountsTable = CountsTable {
    name: "analytics_daily",
    key: &["day", "channel", "plugin", "kind", "urgency", "template"],
};
/// Per day and provider ([`TotalKey`] of days).
pub const DAILY_TOTALS: CountsTable = CountsTable {
    name: "analytics_daily_totals",
    key: &["day", "channel", "plugin"],
};
/// Per hour and provider ([`TotalKey`] of hours).
pub const HOURLY_TOTALS: CountsTable = CountsTable {
    name: "analytics_hourly_totals",
    key: &["hour", "channel", "plugin"],
};

/// A key of a [`CountsTable`], read from a JSON array of its columns in order.
pub trait CountsKey: serde::de::DeserializeOwned {
    /// Binds the key's columns, in order.
    fn bind_to(&self, query: DynamicQuery) -> DynamicQuery;
}

impl CountsKey for DailyKey {
    fn bind_to(&self, query: DynamicQuery) -> DynamicQuery {
        query
            .bind(self.day)
            .bind(self.channel.as_str())
            .bind(self.plugin.clone())
            .bind(self.kind.clone())
            .bind(self.urgency.clone())
            .bind(self.template.clone())
    }
}

impl CountsKey for TotalKey {
    fn bind_to(&self, query: DynamicQuery) -> DynamicQuery {
        query
            .bind(self.start)
            .bind(self.channel.as_str())
            .bind(self.plugin.clone())
    }
}

impl CountsTable {
    fn columns(self) -> String {
        format!("json_array({}), json(counts)", self.key.join(", "))
    }

    /// The rows of days (or hours) `[from, until)`.
    pub async fn between<K: CountsKey, C: serde::de::DeserializeOwned>(
        self,
        conn: &mut AnyConnection,
        from: i64,
        until: i64,
    ) -> Result<Vec<CountsRow<K, C>>, StoreError> {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT * FROM {} WHERE {time} >= {} AND {time} < {}",
            self.name,
            params.one(),
            params.one(),
            time = self.key[0]
        );
        let sql = packed(conn, &self.columns(), &select)?;
        fetch_packed(dynamic(sql).bind(from).bind(until), conn).await
    }

    /// The stored rows of these keys (those that have one).
    pub async fn of_keys<K: CountsKey, C: serde::de::DeserializeOwned>(
        self,
        conn: &mut AnyConnection,
        keys: &[K],
    ) -> Result<Vec<CountsRow<K, C>>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(self.keys_per_statement()) {
            let mut params = Params::for_connection(conn)?;
            // The wanted keys as a table the primary key is searched from, one row at a time.
            let on: Vec<String> = self
                .key
                .iter()
                .enumerate()
                .map(|(i, column)| format!("t.{column} = k.column{}", i + 1))
                .collect();
            let select = format!(
                "SELECT t.* FROM (VALUES {}) AS k JOIN {} t ON {}",
                params.rows(chunk.len(), self.key.len()),
                self.name,
                on.join(" AND ")
            );
            let sql = packed(conn, &self.columns(), &select)?;
            let query = chunk.iter().fold(dynamic(sql), |q, key| key.bind_to(q));
            found.extend(fetch_packed::<CountsRow<K, C>>(query, conn).await?);
        }
        Ok(found)
    }

    /// Writes rows; a row whose counts are `None` (nothing left in the group) is deleted.
    pub async fn put<K: CountsKey>(
        self,
        conn: &mut AnyConnection,
        rows: &[(K, Option<String>)],
    ) -> Result<(), StoreError> {
        let kept: Vec<(&K, &String)> = rows
            .iter()
            .filter_map(|(key, counts)| Some((key, counts.as_ref()?)))
            .collect();
        let columns = self.key.join(", ");
        for chunk in kept.chunks(self.keys_per_statement()) {
            let mut params = Params::for_connection(conn)?;
            let sql = format!(
                "INSERT INTO {} ({columns}, counts) VALUES {}
                 ON CONFLICT ({columns}) DO UPDATE SET counts = excluded.counts",
                self.name,
                params.rows(chunk.len(), self.key.len() + 1)
            );
            let query = chunk.iter().fold(dynamic(sql), |q, (key, counts)| {
                key.bind_to(q).bind((*counts).clone())
            });
            query.execute(&mut *conn).await?;
        }
        for (key, _) in rows.iter().filter(|(_, counts)| counts.is_none()) {
            let mut params = Params::for_connection(conn)?;
            let matching: Vec<String> = self
                .key
                .iter()
                .map(|column| format!("{column} = {}", params.one()))
                .collect();
            let sql = format!("DELETE FROM {} WHERE {}", self.name, matching.join(" AND "));
            key.bind_to(dynamic(sql)).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Keys per statement that lists them: about 900 parameters.
    fn keys_per_statement(self) -> usize {
        900 / (self.key.len() + 1)
    }
}

/// A table of inbound volume per channel and day or hour (counted from the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundTable {
    name: &'static str,
    time: &'static str,
    length_ms: i64,
}

pub const INBOUND_DAILY: InboundTable = InboundTable {
    name: "analytics_inbound_daily",
    time: "day",
    length_ms: DAY_MS,
};
pub const INBOUND_HOURLY: InboundTable = InboundTable {
    name: "analytics_inbound_hourly",
    time: "hour",
    length_ms: HOUR_MS,
};

impl InboundTable {
    /// The day or hour a time falls in.
    pub fn unit_of(self, at: i64) -> i64 {
        at.div_euclid(self.length_ms)
    }

    /// Adds `count` (which may be negative) to the volume of each `(day or hour, channel)`.
    pub async fn add(
        self,
        conn: &mut AnyConnection,
        deltas: &[((i64, Channel), i64)],
    ) -> Result<(), StoreError> {
        let (name, time) = (self.name, self.time);
        for ((unit, channel), count) in deltas {
            dynamic(format!(
                "INSERT INTO {name} ({time}, channel, count) VALUES ($1, $2, $3)
                 ON CONFLICT ({time}, channel) DO UPDATE SET count = count + excluded.count"
            ))
            .bind(*unit)
            .bind(channel.as_str())
            .bind(*count)
            .execute(&mut *conn)
            .await?;
        }
        dynamic(format!("DELETE FROM {name} WHERE count = 0"))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Volume per channel over days (or hours) `[from, until)`.
    pub async fn between(
        self,
        conn: &mut AnyConnection,
        from: i64,
        until: i64,
    ) -> Result<Vec<(Channel, i64)>, StoreError> {
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT channel, SUM(count) AS count FROM {name}
             WHERE {time} >= {} AND {time} < {} GROUP BY channel",
            params.one(),
            params.one(),
            name = self.name,
            time = self.time
        );
        let sql = packed(conn, "channel, count", &select)?;
        fetch_packed(dynamic(sql).bind(from).bind(until), conn).await
    }
}

/// Inbound volume per channel in `[since, until)`, counted in the log up to interaction
/// `through` (for the parts of a report's period that are not whole hours; the log's index on
/// its inbound rows by time serves the range).
pub async fn inbound_counted(
    conn: &mut AnyConnection,
    since: i64,
    until: i64,
    through: i64,
) -> Result<Vec<(Channel, i64)>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "SELECT channel, COUNT(*) AS count FROM interaction_log
         WHERE occurred_at >= {} AND occurred_at < {} AND direction = 'inbound'
           AND channel <> 'system' AND contact_id IS NOT NULL AND id <= {}
         GROUP BY channel",
        params.one(),
        params.one(),
        params.one()
    );
    let sql = packed(conn, "channel, count", &select)?;
    fetch_packed(dynamic(sql).bind(since).bind(until).bind(through), conn).await
}

/// Marks contacts whose messages must be folded again (a merge moved their interactions).
pub async fn mark_refold(conn: &mut AnyConnection, contacts: &[i64]) -> Result<(), StoreError> {
    for contact in contacts {
        sqlx::query("INSERT INTO analytics_refold (contact_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(*contact)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Whether contacts wait for a refold.
pub async fn refolds_waiting(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM analytics_refold)
             OR EXISTS (SELECT 1 FROM analytics_refold_messages)",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>(0)? != 0)
}

/// Takes the contacts marked for a refold.
pub async fn take_refolds(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query("DELETE FROM analytics_refold RETURNING contact_id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(StoreError::from))
        .collect()
}

/// Takes the messages marked for a refold, as `(key, channel)`.
pub async fn take_message_refolds(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, Channel)>, StoreError> {
    let rows = sqlx::query("DELETE FROM analytics_refold_messages RETURNING message_key, channel")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let key: String = r.try_get(0)?;
            let channel: String = r.try_get(1)?;
            let channel = Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown channel {channel}")))?;
            Ok((key, channel))
        })
        .collect()
}

/// The interactions of messages `(key, channel)` up to `through`, in order of id: by vendor
/// message id, or the one interaction of a key `#<id>`.
pub async fn events_of_messages(
    conn: &mut AnyConnection,
    keys: &[(String, Channel)],
    through: i64,
) -> Result<Vec<LogEvent>, StoreError> {
    let ids: Vec<i64> = keys
        .iter()
        .filter_map(|(k, _)| k.strip_prefix('#')?.parse().ok())
        .collect();
    let vendor_ids: Vec<String> = keys
        .iter()
        .filter(|(k, _)| !k.starts_with('#'))
        .map(|(k, _)| k.clone())
        .collect();
    let mut found: Vec<LogEvent> = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut query = events_where(conn, "id", chunk.len())?;
        for id in chunk {
            query = query.bind(*id);
        }
        found.extend(fetch_packed::<LogEvent>(query.bind(through), conn).await?);
    }
    for chunk in vendor_ids.chunks(CHUNK) {
        let mut query = events_where(conn, "vendor_message_id", chunk.len())?;
        for id in chunk {
            query = query.bind(id.clone());
        }
        found.extend(fetch_packed::<LogEvent>(query.bind(through), conn).await?);
    }
    found.retain(|e| {
        let key = e
            .vendor_message_id
            .clone()
            .unwrap_or_else(|| format!("#{}", e.id));
        keys.iter().any(|(k, c)| *k == key && *c == e.channel)
    });
    found.sort_by_key(|e| e.id);
    Ok(found)
}

/// The events whose `column` is one of `count` values (bound next), up to an id (bound last).
fn events_where(
    conn: &AnyConnection,
    column: &str,
    count: usize,
) -> Result<DynamicQuery, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "{EVENT_SELECT} WHERE {column} IN ({}) AND id <= {}",
        params.list(count),
        params.one()
    );
    Ok(dynamic(packed(conn, EVENT_COLUMNS, &select)?))
}

/// Before a contact is deleted: takes its folded inbound messages out of the volume and marks
/// the messages its interactions belong to for a refold (which folds what is left of them).
pub async fn forget_contact(conn: &mut AnyConnection, contact: i64) -> Result<(), StoreError> {
    let through = folded_through(conn).await?;
    let mut params = Params::for_connection(conn)?;
    let select = format!(
        "SELECT occurred_at, channel FROM interaction_log
         WHERE contact_id = {} AND direction = 'inbound' AND channel <> 'system' AND id <= {}",
        params.one(),
        params.one()
    );
    let sql = packed(conn, "occurred_at, channel", &select)?;
    let rows: Vec<(i64, Channel)> =
        fetch_packed(dynamic(sql).bind(contact).bind(through), conn).await?;
    for table in [INBOUND_DAILY, INBOUND_HOURLY] {
        let mut deltas: std::collections::BTreeMap<(i64, Channel), i64> = Default::default();
        for (at, channel) in &rows {
            *deltas.entry((table.unit_of(*at), *channel)).or_default() -= 1;
        }
        let deltas: Vec<_> = deltas.into_iter().collect();
        table.add(conn, &deltas).await?;
    }
    sqlx::query(
        "INSERT INTO analytics_refold_messages (message_key, channel)
         SELECT COALESCE(vendor_message_id, '#' || id), channel FROM interaction_log
         WHERE contact_id = $1 AND direction = 'outbound' AND id <= $2
         UNION SELECT message_key, channel FROM analytics_messages WHERE contact_id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(contact)
    .bind(through)
    .execute(conn)
    .await?;
    Ok(())
}

/// Empties the rollup, to fold the whole log again.
pub async fn clear(conn: &mut AnyConnection) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM analytics_messages",
        "DELETE FROM analytics_daily",
        "DELETE FROM analytics_daily_totals",
        "DELETE FROM analytics_hourly_totals",
        "DELETE FROM analytics_inbound_daily",
        "DELETE FROM analytics_inbound_hourly",
        "DELETE FROM analytics_refold",
        "DELETE FROM analytics_refold_messages",
        "UPDATE analytics_folded SET through_id = 0",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}
