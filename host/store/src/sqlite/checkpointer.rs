//! SQLite's background checkpointer: copies the write-ahead log into the database file beside
//! the writer, instead of inside a writer's commit.

use std::time::Duration;

use sqlx::{AnyPool, Executor};

use crate::backend::Maintenance;

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Starts the checkpointer. Left to SQLite, the writer whose commit crosses the threshold
/// checkpoints, inside that commit, while every other writer waits: a third of the ingest path's
/// time under load. A passive checkpoint runs beside the writer instead, on an otherwise idle
/// connection.
pub(crate) fn start(pool: AnyPool) -> Maintenance {
    Maintenance::spawn(async move {
        let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(%error, "background checkpoint failed; commits will checkpoint");
            }
        }
    })
}
