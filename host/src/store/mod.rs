//! Storage: sqlx over SQLite (the embedded default) with portable SQL, so that a PostgreSQL
//! backend is a connection string and a migration set away.
//!
//! Portability rules for every query here: `$1`-style placeholders (statements built at run time
//! take theirs from [`sql::Params`]), `ON CONFLICT ... DO NOTHING`, `RETURNING`, integers for
//! times (ms since the epoch) and ids, text for JSON.
//!
//! SQLite allows one writer at a time. Writers in this process queue on a mutex and then take
//! the write lock up front (`BEGIN IMMEDIATE`), so they never fail with "database is locked" half
//! way through; another process (a `replay` beside the server) waits on SQLite's busy timeout.

pub mod api_keys;
pub mod audit;
pub mod call_tasks;
pub mod consent;
pub mod contacts;
pub mod engagement;
pub mod intents;
pub mod interactions;
mod migrations;
pub mod outbox;
pub mod portal_inbox;
pub mod preferences;
pub mod raw_webhooks;
mod sql;
pub mod suppressions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is not supported: use a SQLite file path or sqlite:// URL")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Arc<Mutex<()>>,
    _checkpointer: Arc<Checkpointer>,
}

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the write-ahead log into the database file in the background. Left to SQLite, the
/// writer whose commit crosses the threshold does it, inside that commit, while every other
/// writer waits: a third of the ingest path's time under load. A passive checkpoint runs beside
/// the writer instead, on an otherwise idle connection.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    fn start(pool: AnyPool) -> Self {
        Checkpointer(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                    tracing::warn!(%error, "background checkpoint failed; commits will checkpoint");
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A write transaction: holds the process's writer slot until committed or dropped.
pub struct WriteTx<'a> {
    tx: Transaction<'static, Any>,
    _writer: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the database at `location` — a file path or a `sqlite://` URL
    /// — and brings its schema up to date.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        let url = sqlite_url(location)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers work while one writer commits; NORMAL sync in WAL mode
                    // survives a process crash (a power loss may lose the last commits).
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // 16 MiB of page cache per connection (SQLite's default is 2 MiB): the
                    // interior pages of the log's and the counters' indexes stay in memory.
                    conn.execute("PRAGMA cache_size = -16384").await?;
                    // Pages outside that cache are read through a memory map rather than a
                    // read() call and a copy each, and the statement journals of the multi-row
                    // upserts stay in memory: together +8-9% ingest throughput (BENCHMARKS.md §2).
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                    // Checkpoints are the checkpointer's job (below); a writer checkpoints itself
                    // only as a backstop, should the log reach 16,000 pages (64 MiB) regardless.
                    conn.execute("PRAGMA wal_autocheckpoint = 16000").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrations::sqlite().run(&pool).await?;
        let checkpointer = Arc::new(Checkpointer::start(pool.clone()));
        Ok(Store {
            pool,
            writer: Arc::new(Mutex::new(())),
            _checkpointer: checkpointer,
        })
    }

    /// Copies the whole write-ahead log into the database and truncates it (after a bulk
    /// write); waits for readers and writers of other processes as SQLite's busy timeout allows.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        self.pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        Ok(())
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection for reading: any number at once, beside the writer.
    pub async fn reader(&self) -> Result<sqlx::pool::PoolConnection<Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Starts a write transaction, waiting for this process's other writers first.
    pub async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let writer = self.writer.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            _writer: writer,
        })
    }
}

/// The sqlx URL for a SQLite location, creating the file's directory.
fn sqlite_url(location: &str) -> Result<String, StoreError> {
    if location == "sqlite::memory:" {
        return Ok(location.to_string());
    }
    let path = match location.strip_prefix("sqlite://") {
        Some(rest) => rest.split('?').next().unwrap_or(rest),
        None if location.contains("://") => {
            return Err(StoreError::UnsupportedUrl(location.to_string()));
        }
        None => location,
    };
    let path = Path::new(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Store;

    /// A fresh database in a temporary directory (kept alive by the returned guard).
    pub async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("test.db");
        let store = Store::open(path.to_str().expect("utf-8 path"))
            .await
            .expect("open test database");
        (store, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_sqlite_urls() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/sb.db");
        let url = sqlite_url(file.to_str().unwrap()).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", file.display()));
        assert!(file.parent().unwrap().is_dir());
        assert!(matches!(
            sqlite_url("mysql://x/y"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[tokio::test]
    async fn opening_twice_migrates_once() {
        let (store, dir) = testing::store().await;
        drop(store);
        let again = Store::open(dir.path().join("test.db").to_str().unwrap()).await;
        assert!(again.is_ok());
    }
}
