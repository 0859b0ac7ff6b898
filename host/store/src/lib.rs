//! `switchboard-store`: rows and queries, nothing more — no policy (what an interaction sets off
//! is `switchboard-app`'s `log`), no API types. Storage: sqlx over SQLite (the embedded default) with portable SQL, so that a PostgreSQL
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
pub mod nonces;
pub mod outbox;
pub mod portal_inbox;
pub mod preferences;
pub mod raw_webhooks;
pub mod server_key;
mod sql;
pub mod suppressions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

pub use server_key::ServerKey;

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
    #[error("server key: {0}")]
    ServerKey(String),
    /// A concurrent writer got there first (e.g. took a once-only value); try again alone.
    #[error("conflict with a concurrent write: {0}")]
    Conflict(String),
}

impl StoreError {
    /// Whether the database refused for now — locked by another process beyond the busy timeout,
    /// its disk full, read-only, or its connections exhausted — so that the request may succeed
    /// if tried again later: the HTTP layer answers 503 with `Retry-After`, not 500.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => true,
            StoreError::Sql(sqlx::Error::Io(_)) => true,
            StoreError::Sql(sqlx::Error::Database(error)) => {
                // SQLite's primary result codes: BUSY 5, LOCKED 6, NOMEM 7, READONLY 8, IOERR 10,
                // FULL 13, CANTOPEN 14 (extended codes carry them in the low byte).
                let code = error
                    .code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .map(|c| c & 0xff);
                matches!(code, Some(5 | 6 | 7 | 8 | 10 | 13 | 14))
            }
            StoreError::Unavailable(_) => true,
            _ => false,
        }
    }
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Arc<Mutex<()>>,
    key: Arc<ServerKey>,
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
///
/// It runs `BEGIN IMMEDIATE` / `COMMIT` itself rather than through sqlx's `Transaction`: when a
/// commit fails (a full disk, a file turned read-only) SQLite has already rolled back, but sqlx
/// would still count the connection as inside a transaction, and every later `begin` on it would
/// fail until a restart. A transaction that did not commit discards its connection instead, and
/// the pool opens a fresh one — which also picks up a database file that became writable again.
pub struct WriteTx<'a> {
    conn: PoolConnection<Any>,
    committed: bool,
    _writer: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        match self.conn.execute("COMMIT").await {
            Ok(_) => {
                self.committed = true;
                Ok(())
            }
            Err(error) => {
                // Usually rolled back already; if not, closing the connection does it.
                let _ = self.conn.execute("ROLLBACK").await;
                Err(error.into())
            }
        }
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Closing a SQLite connection rolls back what it left open.
            self.conn.close_on_drop();
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `location` — a file path or a `sqlite://` URL
    /// — and brings its schema up to date.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_with_key(location, None).await
    }

    /// Opens the database at `location` with the server key at `key_file` (by default beside
    /// the database file, see [`server_key`]).
    pub async fn open_with_key(
        location: &str,
        key_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let url = sqlite_url(location)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers work while one writer commits. FULL sync makes every
                    // commit durable before it returns, so a vendor that heard 200 keeps its
                    // webhook through a power loss too (group commit pays for the fsync; cost in
                    // BENCHMARKS.md). Erased data is overwritten, not left in free pages.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA secure_delete = ON").await?;
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
        let key = {
            let mut conn = pool.acquire().await?;
            let key = match sqlite_file(location) {
                Some(file) => {
                    let path =
                        key_file.map_or_else(|| server_key::default_path(file), Path::to_path_buf);
                    ServerKey::open(&mut conn, &path).await?
                }
                None => {
                    let key = ServerKey::ephemeral()?;
                    key.adopt(&mut conn).await?;
                    key
                }
            };
            suppressions::rekey_legacy(&mut conn, &key).await?;
            key
        };
        let checkpointer = Arc::new(Checkpointer::start(pool.clone()));
        Ok(Store {
            pool,
            writer: Arc::new(Mutex::new(())),
            key: Arc::new(key),
            _checkpointer: checkpointer,
        })
    }

    /// The server key (for the suppression list's hashes).
    pub fn key(&self) -> &ServerKey {
        &self.key
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
        let mut conn = self.pool.acquire().await?;
        if let Err(error) = conn.execute("BEGIN IMMEDIATE").await {
            conn.close_on_drop();
            return Err(error.into());
        }
        Ok(WriteTx {
            conn,
            committed: false,
            _writer: writer,
        })
    }
}

/// The database file a SQLite location names; `None` for an in-memory database or another URL.
fn sqlite_file(location: &str) -> Option<&Path> {
    if location == "sqlite::memory:" {
        return None;
    }
    let path = match location.strip_prefix("sqlite://") {
        Some(rest) => rest.split('?').next().unwrap_or(rest),
        None if location.contains("://") => return None,
        None => location,
    };
    Some(Path::new(path))
}

/// The sqlx URL for a SQLite location, creating the file's directory.
fn sqlite_url(location: &str) -> Result<String, StoreError> {
    if location == "sqlite::memory:" {
        return Ok(location.to_string());
    }
    let Some(path) = sqlite_file(location) else {
        return Err(StoreError::UnsupportedUrl(location.to_string()));
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

#[cfg(any(test, feature = "testing"))]
pub mod testing;

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
