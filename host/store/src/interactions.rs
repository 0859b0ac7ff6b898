//! The interaction log: one row per thing that happened between the organisation and a person,
//! whatever the channel.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::engagement::{self, EVENT_COLUMNS};
use super::sql::{Params, dynamic};
use super::{Backend, Store, StoreError};
use switchboard_core::domain::{Channel, Direction, LoggedInteraction, Outcome};

/// A row to add to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInteraction {
    pub contact_id: Option<i64>,
    pub occurred_at: i64,
    pub received_at: i64,
    pub kind: String,
    pub channel: Channel,
    pub direction: Direction,
    pub outcome: Outcome,
    pub vendor_status: Option<String>,
    pub plugin_id: Option<String>,
    pub vendor: Option<String>,
    pub vendor_message_id: Option<String>,
    pub vendor_event_id: Option<String>,
    pub raw_webhook_id: Option<i64>,
    pub time_to_action_ms: Option<i64>,
    pub summary: Option<String>,
    /// A JSON object.
    pub metadata: String,
    pub created_by: String,
}

/// A row of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interaction {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub occurred_at: i64,
    pub received_at: i64,
    pub kind: String,
    pub channel: Channel,
    pub direction: Direction,
    pub outcome: Outcome,
    pub vendor_status: Option<String>,
    pub plugin_id: Option<String>,
    pub vendor: Option<String>,
    pub vendor_message_id: Option<String>,
    pub vendor_event_id: Option<String>,
    pub raw_webhook_id: Option<i64>,
    pub time_to_action_ms: Option<i64>,
    pub summary: Option<String>,
    pub metadata: String,
    pub created_by: String,
}

/// The columns a new row fills, in [`bind_row`]'s order.
pub(crate) const COLUMNS: &str = "contact_id, occurred_at, received_at, kind, channel, direction, \
    outcome, vendor_status, plugin_id, vendor, vendor_message_id, vendor_event_id, \
    raw_webhook_id, time_to_action_ms, summary, metadata, created_by";
pub(crate) const COLUMN_COUNT: usize = 17;
/// Rows per INSERT, well under SQLite's and PostgreSQL's parameter limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

impl NewInteraction {
    /// What this row tells once it is logged with id `id`; `None` for a row about no one.
    pub(crate) fn event(&self, id: i64) -> Option<LoggedInteraction> {
        Some(LoggedInteraction {
            id,
            contact_id: self.contact_id?,
            channel: self.channel,
            direction: self.direction,
            outcome: self.outcome,
            occurred_at: self.occurred_at,
            vendor_message_id: self.vendor_message_id.clone(),
            time_to_action_ms: self.time_to_action_ms,
        })
    }
}

/// Which rows [`insert_new`] added: how many by the raw webhook they came in, and what those
/// about someone tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    by_webhook: HashMap<Option<i64>, u64>,
    events: Vec<LoggedInteraction>,
}

impl Inserted {
    /// The added rows about someone, in log order.
    pub fn events(&self) -> &[LoggedInteraction] {
        &self.events
    }

    /// How many rows were added in all.
    pub fn total(&self) -> u64 {
        self.by_webhook.values().sum()
    }

    /// How many of the added rows came in raw webhook `raw_webhook_id`.
    pub fn from_webhook(&self, raw_webhook_id: i64) -> u64 {
        self.by_webhook
            .get(&Some(raw_webhook_id))
            .copied()
            .unwrap_or(0)
    }

    /// Counts an added row that came in raw webhook `raw_webhook_id`, with what it tells.
    pub(crate) fn count(&mut self, raw_webhook_id: Option<i64>, event: Option<LoggedInteraction>) {
        *self.by_webhook.entry(raw_webhook_id).or_default() += 1;
        self.events.extend(event);
    }
}

/// Adds rows, skipping any whose `(vendor, vendor_event_id)` is already in the log (or
/// earlier in `rows`), and says which went in. Only inserts: what a new interaction sets off is
/// the log's business (`log::append`, the one way the application adds to the log). How the added
/// rows are found is the backend's choice ([`Backend::insert_interactions`]).
pub async fn insert_new(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
) -> Result<Inserted, StoreError> {
    let backend = Backend::of_connection(conn)?;
    let mut inserted = backend.insert_interactions(conn, rows).await?;
    inserted.events.sort_by_key(|e| e.id);
    Ok(inserted)
}

/// The portable way: each added row comes back from the `INSERT` itself.
pub(crate) async fn insert_returning(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
) -> Result<Inserted, StoreError> {
    let mut inserted = Inserted::default();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO interaction_log ({COLUMNS}) VALUES {} ON CONFLICT DO NOTHING
             RETURNING {EVENT_COLUMNS}, raw_webhook_id",
            Params::for_connection(conn)?.rows(chunk.len(), COLUMN_COUNT)
        );
        let mut query = dynamic(sql);
        for row in chunk {
            query = bind_row(query, row);
        }
        for row in query.fetch_all(&mut *conn).await? {
            inserted.count(
                row.try_get("raw_webhook_id")?,
                engagement::attributed_event(&row)?,
            );
        }
    }
    Ok(inserted)
}

/// Binds a row's values in [`COLUMNS`] order.
pub(crate) fn bind_row(
    query: Query<'static, Any, AnyArguments>,
    row: &NewInteraction,
) -> Query<'static, Any, AnyArguments> {
    query
        .bind(row.contact_id)
        .bind(row.occurred_at)
        .bind(row.received_at)
        .bind(row.kind.as_str())
        .bind(row.channel.as_str())
        .bind(row.direction.as_str())
        .bind(row.outcome.as_str())
        .bind(row.vendor_status.as_deref())
        .bind(row.plugin_id.as_deref())
        .bind(row.vendor.as_deref())
        .bind(row.vendor_message_id.as_deref())
        .bind(row.vendor_event_id.as_deref())
        .bind(row.raw_webhook_id)
        .bind(row.time_to_action_ms)
        .bind(row.summary.as_deref())
        .bind(row.metadata.as_str())
        .bind(row.created_by.as_str())
}

/// Which of `event_ids` the log already holds for `vendor`, each with the contact its
/// interaction is about.
pub async fn known_event_ids(
    conn: &mut AnyConnection,
    vendor: &str,
    event_ids: &[&str],
) -> Result<HashMap<String, Option<i64>>, StoreError> {
    let mut known = HashMap::new();
    for chunk in event_ids.chunks(ROWS_PER_STATEMENT) {
        let mut params = Params::for_connection(conn)?;
        let sql = format!(
            "SELECT vendor_event_id, contact_id FROM interaction_log
             WHERE vendor = {} AND vendor_event_id IN ({})",
            params.one(),
            params.list(chunk.len())
        );
        let mut query = dynamic(sql).bind(vendor);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            known.insert(row.try_get("vendor_event_id")?, row.try_get("contact_id")?);
        }
    }
    Ok(known)
}

/// The metadata of a contact's interactions recorded from one stored webhook.
pub async fn metadata_from_webhook(
    conn: &mut AnyConnection,
    contact_id: i64,
    raw_webhook_id: i64,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT metadata FROM interaction_log WHERE contact_id = $1 AND raw_webhook_id = $2",
    )
    .bind(contact_id)
    .bind(raw_webhook_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("metadata")?)).collect()
}

/// How many interactions a contact has.
pub async fn count_of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<u64, StoreError> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM interaction_log WHERE contact_id = $1")
            .bind(contact_id)
            .fetch_one(conn)
            .await?;
    Ok(count.max(0) as u64)
}

/// The outcomes the log holds for a vendor message on a channel, in log order (those it cannot
/// read are left out).
pub async fn outcomes_of_message(
    conn: &mut AnyConnection,
    channel: Channel,
    vendor_message_id: &str,
) -> Result<Vec<Outcome>, StoreError> {
    let rows = sqlx::query(
        "SELECT outcome FROM interaction_log
         WHERE vendor_message_id = $1 AND channel = $2 ORDER BY id",
    )
    .bind(vendor_message_id)
    .bind(channel.as_str())
    .fetch_all(conn)
    .await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in &rows {
        let outcome: String = row.try_get("outcome")?;
        outcomes.extend(Outcome::parse(&outcome));
    }
    Ok(outcomes)
}

/// What the log already knows about a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageFacts {
    /// The contact of its earliest interaction that has one.
    pub contact_id: Option<i64>,
    /// When it left us: its earliest queued or sent interaction.
    pub started_at: Option<i64>,
}

/// The facts about each `(channel, vendor message id)` that the log has interactions for.
pub async fn message_facts(
    conn: &mut AnyConnection,
    messages: &[(Channel, &str)],
) -> Result<HashMap<(Channel, String), MessageFacts>, StoreError> {
    let mut facts: HashMap<(Channel, String), MessageFacts> = HashMap::new();
    let ids: Vec<&str> = messages
        .iter()
        .map(|(_, id)| *id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT channel, vendor_message_id, contact_id, outcome, occurred_at FROM interaction_log
             WHERE vendor_message_id IN ({}) ORDER BY id",
            Params::for_connection(conn)?.list(chunk.len())
        );
        let mut query = dynamic(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let channel: String = row.try_get("channel")?;
            let Some(channel) = Channel::parse(&channel) else {
                continue;
            };
            let outcome: String = row.try_get("outcome")?;
            let entry = facts
                .entry((channel, row.try_get("vendor_message_id")?))
                .or_default();
            let contact_id: Option<i64> = row.try_get("contact_id")?;
            entry.contact_id = entry.contact_id.or(contact_id);
            if Outcome::parse(&outcome).is_some_and(Outcome::starts_a_message) {
                let at: i64 = row.try_get("occurred_at")?;
                entry.started_at = Some(entry.started_at.map_or(at, |s| s.min(at)));
            }
        }
    }
    Ok(facts)
}

/// Every interaction of a contact, newest first.
pub async fn of_contact(store: &Store, contact_id: i64) -> Result<Vec<Interaction>, StoreError> {
    let sql = format!(
        "SELECT id, {COLUMNS} FROM interaction_log WHERE contact_id = $1 ORDER BY occurred_at DESC, id DESC"
    );
    let rows = dynamic(sql)
        .bind(contact_id)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(interaction_from_row).collect()
}

/// Which of a contact's interactions to read.
#[derive(Debug, Clone, Default)]
pub struct TimelineFilter {
    pub channels: Vec<Channel>,
    pub kinds: Vec<String>,
    /// From this time on (inclusive), ms.
    pub since: Option<i64>,
    /// Before this time (exclusive), ms.
    pub until: Option<i64>,
    /// Rows older than this `(occurred_at, id)`, the previous page's last.
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// A page of a contact's timeline, newest first.
pub async fn timeline(
    conn: &mut AnyConnection,
    contact_id: i64,
    filter: &TimelineFilter,
) -> Result<Vec<Interaction>, StoreError> {
    let sql = timeline_sql(Params::for_connection(conn)?, filter);
    let mut query = dynamic(sql).bind(contact_id);
    for channel in &filter.channels {
        query = query.bind(channel.as_str());
    }
    for kind in &filter.kinds {
        query = query.bind(kind.clone());
    }
    if let Some(since) = filter.since {
        query = query.bind(since);
    }
    if let Some(until) = filter.until {
        query = query.bind(until);
    }
    if let Some((at, id)) = filter.before {
        query = query.bind(at).bind(at).bind(id);
    }
    let rows = query.bind(filter.limit).fetch_all(conn).await?;
    rows.iter().map(interaction_from_row).collect()
}

/// The statement of a timeline page: parameters the contact, the filter's values in
/// [`TimelineFilter`]'s order, then the limit.
fn timeline_sql(mut params: Params, filter: &TimelineFilter) -> String {
    let mut sql = format!(
        "SELECT id, {COLUMNS} FROM interaction_log WHERE contact_id = {}",
        params.one()
    );
    if !filter.channels.is_empty() {
        // `channel || ''` keeps the channel index (every contact's rows of a channel) out of
        // the plan: the contact's own rows, newest first, are the short way to a page.
        sql.push_str(&format!(
            " AND channel || '' IN ({})",
            params.list(filter.channels.len())
        ));
    }
    if !filter.kinds.is_empty() {
        sql.push_str(&format!(
            " AND kind IN ({})",
            params.list(filter.kinds.len())
        ));
    }
    if filter.since.is_some() {
        sql.push_str(&format!(" AND occurred_at >= {}", params.one()));
    }
    if filter.until.is_some() {
        sql.push_str(&format!(" AND occurred_at < {}", params.one()));
    }
    if filter.before.is_some() {
        let (at, at_again, id) = (params.one(), params.one(), params.one());
        sql.push_str(&format!(
            " AND (occurred_at < {at} OR (occurred_at = {at_again} AND id < {id}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY occurred_at DESC, id DESC LIMIT {}",
        params.one()
    ));
    sql
}

/// Per channel, a contact's interactions counted by outcome, with the latest time.
pub async fn outcome_counts(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<(Channel, Outcome, i64, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT channel, outcome, COUNT(*) AS n, MAX(occurred_at) AS latest FROM interaction_log
         WHERE contact_id = $1 GROUP BY channel, outcome",
    )
    .bind(contact_id)
    .fetch_all(conn)
    .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in &rows {
        let channel: String = row.try_get("channel")?;
        let outcome: String = row.try_get("outcome")?;
        let (Some(channel), Some(outcome)) = (Channel::parse(&channel), Outcome::parse(&outcome))
        else {
            return Err(StoreError::Corrupt(format!(
                "channel {channel:?} outcome {outcome:?}"
            )));
        };
        counts.push((channel, outcome, row.try_get("n")?, row.try_get("latest")?));
    }
    Ok(counts)
}

/// Every interaction recorded from one raw webhook, in insertion order.
pub async fn of_raw_webhook(
    store: &Store,
    raw_webhook_id: i64,
) -> Result<Vec<Interaction>, StoreError> {
    let sql =
        format!("SELECT id, {COLUMNS} FROM interaction_log WHERE raw_webhook_id = $1 ORDER BY id");
    let rows = dynamic(sql)
        .bind(raw_webhook_id)
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(interaction_from_row).collect()
}

/// What a page of the log in a period holds.
#[derive(Debug, Clone, Default)]
pub struct PeriodFilter {
    /// From this time on (inclusive), ms.
    pub since: i64,
    /// Before this time (exclusive), ms.
    pub until: i64,
    pub channel: Option<Channel>,
    pub plugin_id: Option<String>,
    /// Rows after this id (the previous page's last).
    pub after_id: i64,
    pub limit: i64,
}

/// A page of the log's rows in a period, in id order (the order they were logged).
pub async fn in_period(
    conn: &mut AnyConnection,
    filter: &PeriodFilter,
) -> Result<Vec<Interaction>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let mut sql = format!(
        "SELECT id, {COLUMNS} FROM interaction_log
         WHERE occurred_at >= {} AND occurred_at < {} AND id > {}",
        params.one(),
        params.one(),
        params.one()
    );
    if filter.channel.is_some() {
        sql.push_str(&format!(" AND channel = {}", params.one()));
    }
    if filter.plugin_id.is_some() {
        sql.push_str(&format!(" AND plugin_id = {}", params.one()));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", params.one()));
    let mut query = dynamic(sql)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.after_id);
    if let Some(channel) = filter.channel {
        query = query.bind(channel.as_str());
    }
    if let Some(plugin) = &filter.plugin_id {
        query = query.bind(plugin.clone());
    }
    let rows = query.bind(filter.limit).fetch_all(conn).await?;
    rows.iter().map(interaction_from_row).collect()
}

fn interaction_from_row(row: &sqlx::any::AnyRow) -> Result<Interaction, StoreError> {
    let word = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let corrupt = |column: &str, value: &str| StoreError::Corrupt(format!("{column} {value:?}"));
    let channel = word("channel")?;
    let direction = word("direction")?;
    let outcome = word("outcome")?;
    Ok(Interaction {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        occurred_at: row.try_get("occurred_at")?,
        received_at: row.try_get("received_at")?,
        kind: row.try_get("kind")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        direction: Direction::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
        vendor_status: row.try_get("vendor_status")?,
        plugin_id: row.try_get("plugin_id")?,
        vendor: row.try_get("vendor")?,
        vendor_message_id: row.try_get("vendor_message_id")?,
        vendor_event_id: row.try_get("vendor_event_id")?,
        raw_webhook_id: row.try_get("raw_webhook_id")?,
        time_to_action_ms: row.try_get("time_to_action_ms")?,
        summary: row.try_get("summary")?,
        metadata: row.try_get("metadata")?,
        created_by: row.try_get("created_by")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts;
    use crate::testing::{self, event};

    #[tokio::test]
    async fn a_timeline_page_reads_the_contacts_own_rows_whatever_its_filter() {
        let (store, _dir) = testing::store().await;
        let mut conn = store.reader().await.unwrap();
        let filters = [
            TimelineFilter::default(),
            TimelineFilter {
                channels: vec![Channel::Sms, Channel::Email],
                kinds: vec!["sms_replied".into()],
                since: Some(1),
                until: Some(2),
                before: Some((2, 9)),
                limit: 50,
            },
        ];
        for filter in &filters {
            let sql = timeline_sql(Params::for_connection(&conn).unwrap(), filter);
            let plan: Vec<String> = dynamic(format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String, _>("detail").unwrap())
                .collect();
            assert!(
                plan.iter()
                    .any(|step| step.contains("USING INDEX interaction_log_timeline")),
                "{filter:?}: {plan:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_event_is_stored_once_per_vendor() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let rows = [
            event("email_delivered", Outcome::Delivered, 10, "m1", "e1"),
            event("email_delivered", Outcome::Delivered, 10, "m1", "e1"),
        ];
        assert_eq!(insert_new(tx.conn(), &rows).await.unwrap().total(), 1);
        let mut other_vendor = event("email_delivered", Outcome::Delivered, 10, "m1", "e1");
        other_vendor.vendor = Some("mailgun".into());
        assert_eq!(
            insert_new(tx.conn(), &[other_vendor])
                .await
                .unwrap()
                .total(),
            1
        );
        let known = known_event_ids(tx.conn(), "sendgrid", &["e1", "e2"])
            .await
            .unwrap();
        assert_eq!(known.keys().collect::<Vec<_>>(), ["e1"]);
        tx.commit().await.unwrap();
    }

    /// The id of the logged row of `event_id`, and the ids the unsubscribes among `inserted`'s
    /// events carry.
    async fn ids_and_unsubscribes(
        conn: &mut AnyConnection,
        event_id: &str,
        inserted: &Inserted,
    ) -> (i64, Vec<i64>) {
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM interaction_log WHERE vendor_event_id = $1")
                .bind(event_id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let carried = inserted
            .events()
            .iter()
            .filter(|e| e.outcome == Outcome::Unsubscribed)
            .map(|e| e.id)
            .collect();
        (id, carried)
    }

    /// The ids of a contact's rows, in log order.
    async fn ids_of(conn: &mut AnyConnection, contact: i64) -> Vec<i64> {
        sqlx::query_scalar("SELECT id FROM interaction_log WHERE contact_id = $1 ORDER BY id")
            .bind(contact)
            .fetch_all(conn)
            .await
            .unwrap()
    }

    /// A batch whose third row is an unsubscribe by `contact`, the rest deliveries to them.
    fn batch_with_unsubscribe(contact: i64, prefix: &str) -> Vec<NewInteraction> {
        (0..5)
            .map(|i| {
                let (kind, outcome) = if i == 2 {
                    ("email_unsubscribed", Outcome::Unsubscribed)
                } else {
                    ("email_delivered", Outcome::Delivered)
                };
                let mut row = event(kind, outcome, 100 + i, "m1", &format!("{prefix}{i}"));
                row.contact_id = Some(contact);
                row
            })
            .collect()
    }

    #[tokio::test]
    async fn every_added_row_is_counted_under_its_own_id() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        // Something logged first, so the new ids do not start at 1.
        insert_new(
            tx.conn(),
            &[event("email_processed", Outcome::Queued, 1, "m0", "x")],
        )
        .await
        .unwrap();

        let rows = batch_with_unsubscribe(contact, "a");
        let inserted = insert_new(tx.conn(), &rows).await.unwrap();
        assert_eq!(inserted.total(), 5);
        let (id, carried) = ids_and_unsubscribes(tx.conn(), "a2", &inserted).await;
        assert_eq!(
            carried,
            vec![id],
            "the unsubscribe's event carries its row's id"
        );
        let event_ids: Vec<i64> = inserted.events().iter().map(|e| e.id).collect();
        assert_eq!(event_ids, ids_of(tx.conn(), contact).await);
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_with_repeats_is_counted_under_the_ids_of_the_rows_that_went_in() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        insert_new(
            tx.conn(),
            &[event("email_delivered", Outcome::Delivered, 1, "m1", "b0")],
        )
        .await
        .unwrap();

        // b0 is already logged and b3 comes twice: two of six rows are repeats.
        let mut rows = batch_with_unsubscribe(contact, "b");
        rows.push(rows[3].clone());
        let inserted = insert_new(tx.conn(), &rows).await.unwrap();
        assert_eq!(inserted.total(), 4);
        let (id, carried) = ids_and_unsubscribes(tx.conn(), "b2", &inserted).await;
        assert_eq!(carried, vec![id]);
        let event_ids: Vec<i64> = inserted.events().iter().map(|e| e.id).collect();
        assert_eq!(event_ids, ids_of(tx.conn(), contact).await);
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM interaction_log")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(logged, 5);
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn message_facts_give_the_contact_and_the_send_time() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        let mut processed = event("email_processed", Outcome::Queued, 100, "m1", "e1");
        processed.contact_id = Some(contact);
        let rows = [
            event("email_delivered", Outcome::Delivered, 150, "m1", "e2"),
            processed,
            event("email_processed", Outcome::Queued, 90, "m1", "e3"),
        ];
        insert_new(tx.conn(), &rows).await.unwrap();
        let facts = message_facts(tx.conn(), &[(Channel::Email, "m1"), (Channel::Email, "m2")])
            .await
            .unwrap();
        assert_eq!(
            facts[&(Channel::Email, "m1".to_string())],
            MessageFacts {
                contact_id: Some(contact),
                started_at: Some(90)
            }
        );
        assert!(!facts.contains_key(&(Channel::Email, "m2".to_string())));
        tx.commit().await.unwrap();
    }
}
