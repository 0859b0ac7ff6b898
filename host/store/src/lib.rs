//! `switchboard-store`: rows and queries, nothing more — no policy (what an interaction sets off
//! is `switchboard-app`'s `log`), no API types. Storage: sqlx's `Any` driver over a [`Backend`],
//! SQLite (embedded) today; a module per database holds what only that database does, and every
//! query above it is portable.
//!
//! Portability rules for every query here: `$1`-style placeholders (statements built at run time
//! take theirs from `sql::Params`, in the backend's own style), `ON CONFLICT ... DO NOTHING`,
//! `RETURNING`, integers for times (ms since the epoch), ids and booleans, text for JSON. A
//! statement that cannot be written portably goes behind the [`Backend`] (as adding rows to the
//! interaction log does), never behind a test of the backend's name in a query.
//!
//! Writers in this process queue on one mutex ([`Store::begin_write`]) and start their
//! transaction as the backend says (SQLite takes its one write lock up front, see `sqlite/`).
//!
//! # Adding a backend (PostgreSQL)
//!
//! A module beside `sqlite/` (`postgres/`), a migration set beside `migrations/sqlite/`
//! (`migrations/postgres/`, the same versions and tables), sqlx's driver feature in the workspace
//! manifest, and one arm in each method of [`Backend`]; nothing else in the store or above it
//! changes. The module provides:
//!
//! - which locations are its own (`postgres://…`) and `connect`: the pool and its per-connection
//!   settings;
//! - `BACKEND_NAME`, the name sqlx's `Any` driver gives its connections, so that a connection's
//!   backend is known (`Backend::of_connection`);
//! - `MIGRATIONS`, its migration set;
//! - where the server key is kept when no file is given (SQLite keeps it beside the database
//!   file; a server database has no such place, so it will have to require one);
//! - the statement starting a write transaction (`BEGIN` where there is no up-front lock to take);
//! - `checkpoint` after a bulk write (a no-op where the server manages its own log) and any
//!   background work while the store is open (none, unlike SQLite's checkpointer);
//! - its placeholder style (numbered);
//! - how rows are added to the interaction log: the portable `interactions::insert_returning`
//!   serves unless the database has a faster way (SQLite's is `sqlite/interactions.rs`);
//! - which of its errors mean "refused for now" (SQLSTATE classes 08, 53, 57P03, 40001/40P01),
//!   recognised by downcasting to its driver's error type.

pub mod analytics;
pub mod api_keys;
pub mod audit;
mod backend;
pub mod call_tasks;
pub mod consent;
pub mod contacts;
pub mod conversions;
pub mod engagement;
pub mod intents;
pub mod interactions;
mod migrations;
pub mod nonces;
pub mod outbox;
pub mod portal_inbox;
pub mod preferences;
pub mod raw_webhooks;
pub mod rollup;
pub mod server_key;
mod sql;
mod sqlite;
pub mod suppressions;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

pub use backend::Backend;
pub use server_key::ServerKey;

use backend::Maintenance;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is not supported: use a SQLite file path or sqlite:// URL")]
    UnsupportedUrl(String),
    /// A connection of a database no backend module is for (sqlx's name for it).
    #[error("no backend for a {0} database")]
    UnknownBackend(String),
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
                Backend::refuses_for_now(error.as_ref())
            }
            StoreError::Unavailable(_) => true,
            _ => false,
        }
    }
}

/// The database.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    pool: AnyPool,
    writer: Arc<Mutex<()>>,
    key: Arc<ServerKey>,
    _maintenance: Option<Arc<Maintenance>>,
}

/// A write transaction: holds the process's writer slot until committed or dropped.
///
/// It runs `BEGIN` (as the backend starts a write: `BEGIN IMMEDIATE` on SQLite) / `COMMIT` itself
/// rather than through sqlx's `Transaction`: when a commit fails (a full disk, a file turned
/// read-only) SQLite has already rolled back, but sqlx would still count the connection as inside
/// a transaction, and every later `begin` on it would fail until a restart. A transaction that did
/// not commit discards its connection instead, and the pool opens a fresh one — which also picks
/// up a database file that became writable again.
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
            // Closing a connection rolls back what it left open.
            self.conn.close_on_drop();
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `location` — for SQLite a file path, a
    /// `sqlite://` URL or `sqlite::memory:` — and brings its schema up to date.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_with_key(location, None).await
    }

    /// Opens the database at `location` with the server key at `key_file` (by default where
    /// the backend keeps it: for SQLite beside the database file, see [`server_key`]).
    pub async fn open_with_key(
        location: &str,
        key_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let backend = Backend::of_location(location)?;
        sqlx::any::install_default_drivers();
        let pool = backend.connect(location).await?;
        backend.migrator().run(&pool).await?;
        let key = {
            let mut conn = pool.acquire().await?;
            let key = open_key(&mut conn, backend.server_key_file(location, key_file)).await?;
            suppressions::rekey_legacy(&mut conn, &key).await?;
            key
        };
        let maintenance = backend.start_maintenance(&pool).map(Arc::new);
        Ok(Store {
            backend,
            pool,
            writer: Arc::new(Mutex::new(())),
            key: Arc::new(key),
            _maintenance: maintenance,
        })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The server key (for the suppression list's hashes).
    pub fn key(&self) -> &ServerKey {
        &self.key
    }

    /// Makes everything written so far durable in the database's own files (after a bulk
    /// write): SQLite copies its whole write-ahead log into the database and truncates it,
    /// waiting for readers and writers of other processes as its busy timeout allows.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        self.backend.checkpoint(&self.pool).await
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
        if let Err(error) = conn.execute(self.backend.begin_write()).await {
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

/// The server key of a database: the one in `file` (created on the first start), or, with no
/// file, one that lives as long as the process, recorded in the database if it has none.
async fn open_key(
    conn: &mut AnyConnection,
    file: Option<PathBuf>,
) -> Result<ServerKey, StoreError> {
    match file {
        Some(path) => ServerKey::open(conn, &path).await,
        None => {
            let key = ServerKey::ephemeral()?;
            key.adopt(conn).await?;
            Ok(key)
        }
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod testing;
