//! The channel report's pre-aggregates: every message's fate folded from the log as it grows
//! ([`fold`]), and the counts of those fates per UTC day and group (channel, plugin, kind,
//! urgency, template) ([`counts`]), and per provider (channel and plugin) by day and by hour. A
//! report over whole days adds up a few rows per day instead of folding millions of events; the
//! parts of its period that are not whole days are added from hours' rows, or counted from the
//! folded messages themselves.
//!
//! The log stays the truth: `switchboard analytics rebuild` folds it again from nothing, and the
//! result equals what folding it as it grew gave (tested). A report first folds whatever the log
//! gained since the last fold, so it reflects every interaction logged before it was asked for.

pub mod counts;
pub mod fold;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::Mutex;

use counts::Counts;
use fold::{Folded, contribution};
use switchboard_core::domain::Channel;
use switchboard_store::rollup::{self, CountsTable, DAY_MS, DailyKey, HOUR_MS, TotalKey};
use switchboard_store::{Store, StoreError};

/// Interactions folded per write transaction: small enough not to hold the writer long.
const BATCH: i64 = 2_000;
/// Per transaction when folding the whole log again: a batch of history touches groups all over
/// the calendar, and each group's row is read and written once per batch.
const REBUILD_BATCH: i64 = 50_000;

/// One group's counts over a report's period (its day is the day its messages were sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub key: DailyKey,
    pub counts: Counts,
}

/// What a report's period adds up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodCounts {
    pub cells: Vec<Cell>,
    /// Inbound messages of known contacts per channel.
    pub inbound: BTreeMap<Channel, u64>,
}

/// The rollup over the store; clones share one folder.
#[derive(Clone)]
pub struct Rollup {
    store: Store,
    /// One fold at a time in this process.
    folding: Arc<Mutex<()>>,
}

impl Rollup {
    pub fn new(store: Store) -> Self {
        Rollup {
            store,
            folding: Arc::new(Mutex::new(())),
        }
    }

    /// Folds everything the log gained since the last fold.
    pub async fn catch_up(&self) -> Result<Folded, StoreError> {
        self.fold_pending(BATCH).await
    }

    async fn fold_pending(&self, batch: i64) -> Result<Folded, StoreError> {
        let _folding = self.folding.lock().await;
        let mut total = Folded::default();
        loop {
            if !self.pending().await? {
                return Ok(total);
            }
            let mut tx = self.store.begin_write().await?;
            let folded = fold::fold_next(tx.conn(), batch).await?;
            tx.commit().await?;
            total.events += folded.events;
            total.messages += folded.messages;
            if folded.events == 0 {
                return Ok(total);
            }
        }
    }

    /// Whether the log has interactions not folded yet, or contacts wait for a refold.
    async fn pending(&self) -> Result<bool, StoreError> {
        let mut conn = self.store.reader().await?;
        let through = rollup::folded_through(&mut conn).await?;
        Ok(rollup::newest_interaction(&mut conn).await? > through
            || rollup::refolds_waiting(&mut conn).await?)
    }

    /// Empties the rollup and folds the whole log again.
    pub async fn rebuild(&self) -> Result<Folded, StoreError> {
        {
            let _folding = self.folding.lock().await;
            let mut tx = self.store.begin_write().await?;
            rollup::clear(tx.conn()).await?;
            tx.commit().await?;
        }
        self.fold_pending(REBUILD_BATCH).await
    }

    /// Folds in the background every `every`, so that a report has little left to fold.
    pub fn keep_folding(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = self.catch_up().await {
                    tracing::warn!(%error, "folding the log into the analytics rollup failed");
                }
            }
        })
    }

    /// The counts of the messages sent in `[since, until)` and the inbound volume, after folding
    /// what is pending, in as much `detail` as the report needs.
    pub async fn period(
        &self,
        since: i64,
        until: i64,
        detail: Detail,
    ) -> Result<PeriodCounts, StoreError> {
        self.catch_up().await?;
        let mut conn = self.store.reader().await?;
        // One snapshot: a fold committing between the reads would count a message twice.
        let mut snapshot = sqlx::Connection::begin(&mut *conn).await?;
        let counted = read_period(&mut snapshot, since, until, detail).await?;
        snapshot.commit().await?;
        Ok(counted)
    }
}

/// How finely a period's cells are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Per day, channel, plugin, kind, urgency and template.
    Groups,
    /// Per day, channel and plugin (kind, urgency and template `''`): a few rows per day, and
    /// the edges of the period by the hour.
    Providers,
}

/// Whole days from the daily rows. A partial day at either end: by provider, from its whole
/// hours' rows and the folded messages of the partial hours; by group, from the folded messages
/// of its part in the period or, when that is more than half the day, from the day's rows less
/// the messages of its part outside. Inbound volume from whole days, whole hours, and the log
/// for the partial hours.
async fn read_period(
    conn: &mut AnyConnection,
    since: i64,
    until: i64,
    detail: Detail,
) -> Result<PeriodCounts, StoreError> {
    let through = rollup::folded_through(conn).await?;
    let mut adder = Adder {
        conn,
        detail,
        cells: HashMap::new(),
        inbound: BTreeMap::new(),
    };
    let (days, partial) = split(since, until, DAY_MS);
    if let Some((first_day, end_day)) = days {
        adder.days(first_day, end_day).await?;
        adder
            .inbound_of(rollup::INBOUND_DAILY, first_day, end_day)
            .await?;
    }
    for (from, to) in partial.into_iter().filter(|(from, to)| from < to) {
        match detail {
            Detail::Providers => adder.part_by_hours(from, to).await?,
            Detail::Groups => adder.part_of_day(from, to).await?,
        }
        adder.inbound_by_hours(from, to, through).await?;
    }
    let cells = std::mem::take(&mut adder.cells);
    let mut cells: Vec<Cell> = cells
        .into_iter()
        .filter(|(_, counts)| !counts.is_empty())
        .map(|(key, counts)| Cell { key, counts })
        .collect();
    cells.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(PeriodCounts {
        cells,
        inbound: adder.inbound,
    })
}

/// A span of time, `[from, to)` in ms, or of whole units `[first, end)`.
type Span = (i64, i64);

/// `[from, to)` as the whole days or hours (`unit_ms`) in it, if any, and the parts before and
/// after them (either may be empty), each within one unit.
fn split(from: i64, to: i64, unit_ms: i64) -> (Option<Span>, [Span; 2]) {
    let first = from.div_euclid(unit_ms) + i64::from(from.rem_euclid(unit_ms) != 0);
    let end = to.div_euclid(unit_ms);
    if first < end {
        (
            Some((first, end)),
            [(from, first * unit_ms), (end * unit_ms, to)],
        )
    } else {
        // Less than a whole unit, perhaps across one boundary.
        let boundary = (end * unit_ms).max(from).min(to);
        (None, [(from, boundary), (boundary, to)])
    }
}

/// Adds rows and messages up into cells, and the inbound volume.
struct Adder<'c> {
    conn: &'c mut AnyConnection,
    detail: Detail,
    cells: HashMap<DailyKey, Counts>,
    inbound: BTreeMap<Channel, u64>,
}

impl Adder<'_> {
    /// Adds the rows of days `[from_day, until_day)`.
    async fn days(&mut self, from_day: i64, until_day: i64) -> Result<(), StoreError> {
        match self.detail {
            Detail::Groups => {
                let rows = rollup::DAILY
                    .between::<DailyKey, Counts>(self.conn, from_day, until_day)
                    .await?;
                for row in rows {
                    self.cells.entry(row.key).or_default().add(&row.counts, 1);
                }
            }
            Detail::Providers => {
                self.totals(rollup::DAILY_TOTALS, from_day, until_day, DAY_MS)
                    .await?
            }
        }
        Ok(())
    }

    /// Adds the provider totals of `table` over `[from, until)` (in units of `unit_ms`).
    async fn totals(
        &mut self,
        table: CountsTable,
        from: i64,
        until: i64,
        unit_ms: i64,
    ) -> Result<(), StoreError> {
        for row in table
            .between::<TotalKey, Counts>(self.conn, from, until)
            .await?
        {
            let day = (row.key.start * unit_ms).div_euclid(DAY_MS);
            let key = DailyKey::of_provider(day, row.key.channel, row.key.plugin);
            self.cells.entry(key).or_default().add(&row.counts, 1);
        }
        Ok(())
    }

    /// Adds `[from, to)`, part of one day, from its whole hours and the messages of the rest.
    async fn part_by_hours(&mut self, from: i64, to: i64) -> Result<(), StoreError> {
        let (hours, rest) = split(from, to, HOUR_MS);
        if let Some((first_hour, end_hour)) = hours {
            self.totals(rollup::HOURLY_TOTALS, first_hour, end_hour, HOUR_MS)
                .await?;
        }
        for (from, to) in rest {
            self.messages(from, to, 1).await?;
        }
        Ok(())
    }

    /// Adds the inbound volume of `[from, to)`: its whole hours, and the rest counted in the
    /// log up to interaction `through`.
    async fn inbound_by_hours(
        &mut self,
        from: i64,
        to: i64,
        through: i64,
    ) -> Result<(), StoreError> {
        let (hours, rest) = split(from, to, HOUR_MS);
        if let Some((first_hour, end_hour)) = hours {
            self.inbound_of(rollup::INBOUND_HOURLY, first_hour, end_hour)
                .await?;
        }
        for (from, to) in rest.into_iter().filter(|(from, to)| from < to) {
            let counted = rollup::inbound_counted(self.conn, from, to, through).await?;
            self.add_inbound(counted);
        }
        Ok(())
    }

    /// Adds the inbound volume of days or hours `[from, until)`.
    async fn inbound_of(
        &mut self,
        table: rollup::InboundTable,
        from: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        let volume = table.between(self.conn, from, until).await?;
        self.add_inbound(volume);
        Ok(())
    }

    fn add_inbound(&mut self, volume: Vec<(Channel, i64)>) {
        for (channel, count) in volume {
            *self.inbound.entry(channel).or_default() += count.max(0) as u64;
        }
    }

    /// Adds `[from, to)`, part of one day, from the smaller side: its messages, or the day's
    /// rows less the messages outside it.
    async fn part_of_day(&mut self, from: i64, to: i64) -> Result<(), StoreError> {
        let day = from.div_euclid(DAY_MS);
        if (to - from) * 2 <= DAY_MS {
            return self.messages(from, to, 1).await;
        }
        self.days(day, day + 1).await?;
        self.messages(day * DAY_MS, from, -1).await?;
        self.messages(to, (day + 1) * DAY_MS, -1).await
    }

    /// Adds (`sign` 1) or takes away (-1) the counts of the messages sent in `[from, to)`.
    async fn messages(&mut self, from: i64, to: i64, sign: i64) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        for message in rollup::messages_sent_between(self.conn, from, to).await? {
            let (key, counts) = contribution(&message);
            let key = match self.detail {
                Detail::Groups => key,
                Detail::Providers => DailyKey::of_provider(key.day, key.channel, key.plugin),
            };
            self.cells.entry(key).or_default().add(&counts, sign);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
