//! The SQLite backend (embedded, the default): where a location's file is, the connections'
//! settings, the migration set, the write lock taken up front, the background checkpointer, and
//! which errors mean "not now". Everything SQLite-only lives under this folder; the store's
//! queries above it are portable.
//!
//! SQLite allows one writer at a time. The store's writers in this process queue on its mutex
//! and then take the write lock up front ([`BEGIN_WRITE`]), so they never fail with "database is
//! locked" half way through; another process (a `replay` beside the server) waits on the busy
//! timeout.

mod checkpointer;
pub(crate) mod interactions;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteError;
use sqlx::{AnyConnection, AnyPool, Executor};

pub(crate) use checkpointer::start as start_checkpointer;

use crate::StoreError;
use crate::migrations::MigrationSet;
use crate::server_key;

/// What sqlx's `Any` driver calls a SQLite connection (`AnyConnection::backend_name`).
pub(crate) const BACKEND_NAME: &str = "SQLite";

/// The location of a database that lives only in memory, as long as the process.
const MEMORY: &str = "sqlite::memory:";

/// The statement that starts a write transaction: it takes the write lock at once rather than
/// at the first write, so a transaction never fails half way for want of it.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The migration set, oldest first (`migrations/sqlite/`).
pub(crate) const MIGRATIONS: MigrationSet = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "staff",
        include_str!("../../migrations/sqlite/0002_staff.sql"),
    ),
    (
        3,
        "preferences",
        include_str!("../../migrations/sqlite/0003_preferences.sql"),
    ),
    (
        4,
        "outbox",
        include_str!("../../migrations/sqlite/0004_outbox.sql"),
    ),
    (
        5,
        "hardening",
        include_str!("../../migrations/sqlite/0005_hardening.sql"),
    ),
    (
        6,
        "words",
        include_str!("../../migrations/sqlite/0006_words.sql"),
    ),
    (
        7,
        "ingest",
        include_str!("../../migrations/sqlite/0007_ingest.sql"),
    ),
    (
        8,
        "conversions",
        include_str!("../../migrations/sqlite/0008_conversions.sql"),
    ),
    (
        9,
        "analytics rollup",
        include_str!("../../migrations/sqlite/0009_analytics_rollup.sql"),
    ),
    (
        10,
        "analytics_totals",
        include_str!("../../migrations/sqlite/0010_analytics_totals.sql"),
    ),
];

/// Where a SQLite database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location<'a> {
    /// In memory, for as long as the process.
    Memory,
    File(&'a Path),
}

/// The SQLite database a location names — `sqlite::memory:`, a `sqlite://` URL or a plain file
/// path — or `None` if it names another database.
fn location(text: &str) -> Option<Location<'_>> {
    if text == MEMORY {
        return Some(Location::Memory);
    }
    let path = match text.strip_prefix("sqlite://") {
        Some(rest) => rest.split('?').next().unwrap_or(rest),
        None if text.contains("://") => return None,
        None => text,
    };
    Some(Location::File(Path::new(path)))
}

/// Whether a location names a SQLite database.
pub(crate) fn names(text: &str) -> bool {
    location(text).is_some()
}

/// The sqlx URL for a SQLite location, creating the file's directory.
fn url(text: &str) -> Result<String, StoreError> {
    let path = match location(text) {
        Some(Location::Memory) => return Ok(text.to_string()),
        Some(Location::File(path)) => path,
        None => return Err(StoreError::UnsupportedUrl(text.to_string())),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

/// Opens (creating if needed) the database at a location, every connection set up by
/// [`configure`].
pub(crate) async fn connect(text: &str) -> Result<AnyPool, StoreError> {
    let url = url(text)?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| Box::pin(configure(conn)))
        .connect(&url)
        .await?;
    Ok(pool)
}

/// Sets up a new connection.
async fn configure(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers work while one writer commits. FULL sync makes every commit durable
    // before it returns, so a vendor that heard 200 keeps its webhook through a power loss too
    // (group commit pays for the fsync; cost in BENCHMARKS.md). Erased data is overwritten, not
    // left in free pages.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA secure_delete = ON").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    // 16 MiB of page cache per connection (SQLite's default is 2 MiB): the interior pages of the
    // log's and the counters' indexes stay in memory.
    conn.execute("PRAGMA cache_size = -16384").await?;
    // Pages outside that cache are read through a memory map rather than a read() call and a
    // copy each, and the statement journals of the multi-row upserts stay in memory: together
    // +8-9% ingest throughput (BENCHMARKS.md §2).
    conn.execute("PRAGMA mmap_size = 268435456").await?;
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    // Checkpoints are the checkpointer's job; a writer checkpoints itself only as a backstop,
    // should the log reach 16,000 pages (64 MiB) regardless.
    conn.execute("PRAGMA wal_autocheckpoint = 16000").await?;
    Ok(())
}

/// Where the server key of the database at a location lives: `given`, or beside the database
/// file (see [`server_key::default_path`]); `None` for an in-memory database, whose key lives
/// as long as it does.
pub(crate) fn server_key_file(text: &str, given: Option<&Path>) -> Option<PathBuf> {
    match location(text)? {
        Location::Memory => None,
        Location::File(file) => {
            Some(given.map_or_else(|| server_key::default_path(file), Path::to_path_buf))
        }
    }
}

/// Copies the whole write-ahead log into the database and truncates it (after a bulk write);
/// waits for readers and writers of other processes as the busy timeout allows.
pub(crate) async fn checkpoint(pool: &AnyPool) -> Result<(), StoreError> {
    pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    Ok(())
}

/// SQLite's way of packing a result into one value (see [`crate::sql::packed`]); an empty
/// result is `[]`.
pub(crate) fn packed_rows(columns: &str, select: &str) -> String {
    format!("SELECT COALESCE(json_group_array(json_array({columns})), '[]') FROM ({select})")
}

pub(crate) fn json_text(column: &str, path: &[&str]) -> String {
    format!("json_extract({column}, '$.{}')", path.join("."))
}

/// Whether SQLite refused for now: the database locked by another process beyond the busy
/// timeout, out of memory, read-only, an I/O error, a full disk, a file it cannot open. False for
/// an error of another database.
pub(crate) fn refuses_for_now(error: &(dyn DatabaseError + 'static)) -> bool {
    let Some(error) = error.try_downcast_ref::<SqliteError>() else {
        return false;
    };
    // Primary result codes: BUSY 5, LOCKED 6, NOMEM 7, READONLY 8, IOERR 10, FULL 13,
    // CANTOPEN 14 (extended codes carry them in the low byte).
    let code = error
        .code()
        .and_then(|c| c.parse::<i64>().ok())
        .map(|c| c & 0xff);
    matches!(code, Some(5 | 6 | 7 | 8 | 10 | 13 | 14))
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::{Store, testing};

    #[test]
    fn locations_become_sqlite_urls() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/sb.db");
        let url = url(file.to_str().unwrap()).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", file.display()));
        assert!(file.parent().unwrap().is_dir());
        assert_eq!(super::url(MEMORY).unwrap(), MEMORY);
        assert!(matches!(
            super::url("mysql://x/y"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn the_server_key_lives_beside_the_file_unless_given() {
        let given = Path::new("/keys/sb.key");
        assert_eq!(
            server_key_file("sqlite:///data/sb.db?mode=rwc", None),
            Some(PathBuf::from("/data/sb.db.key"))
        );
        assert_eq!(
            server_key_file("/data/sb.db", Some(given)),
            Some(given.to_path_buf())
        );
        assert_eq!(server_key_file(MEMORY, Some(given)), None);
    }

    /// A row of the migrations table: version, description, success (1), checksum (hex) and when
    /// it was applied.
    type Applied = (i64, String, i64, String, String);

    /// Every row of the migrations table, in version order.
    async fn applied_migrations(store: &Store) -> Vec<Applied> {
        sqlx::query_as(
            "SELECT version, description, CAST(success AS INTEGER), hex(checksum),
                    CAST(installed_on AS TEXT)
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
    }

    /// Every table, index and trigger with the SQL that made it.
    async fn schema(store: &Store) -> Vec<(String, String, Option<String>)> {
        sqlx::query_as("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn opening_twice_migrates_once() {
        let (store, dir) = testing::store().await;
        let migrations = applied_migrations(&store).await;
        let tables = schema(&store).await;
        let mac = store.key().mac_hex(b"who was erased");
        drop(store);

        let again = Store::open(dir.path().join("test.db").to_str().unwrap())
            .await
            .unwrap();
        let wanted: Vec<(i64, String, i64)> = MIGRATIONS
            .iter()
            .map(|(version, description, _)| (*version, description.to_string(), 1))
            .collect();
        let applied: Vec<(i64, String, i64)> = migrations
            .iter()
            .map(|(version, description, success, _, _)| (*version, description.clone(), *success))
            .collect();
        assert_eq!(applied, wanted, "one row per migration, each applied");
        assert_eq!(
            applied_migrations(&again).await,
            migrations,
            "nothing applied again"
        );
        assert_eq!(schema(&again).await, tables, "the schema is unchanged");
        assert_eq!(
            again.key().mac_hex(b"who was erased"),
            mac,
            "the same server key"
        );
    }

    #[tokio::test]
    async fn a_read_only_database_refuses_for_now_and_a_broken_constraint_does_not() {
        let (store, dir) = testing::store().await;
        let file = dir.path().join("test.db");
        let name_taken = sqlx::query("INSERT INTO server_meta (name, value) VALUES ($1, $2)")
            .bind("server_key_check")
            .bind("x")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(!StoreError::from(name_taken).is_transient());

        let mut read_only = AnyConnection::connect(&format!("sqlite://{}?mode=ro", file.display()))
            .await
            .unwrap();
        let refused = sqlx::query("INSERT INTO server_meta (name, value) VALUES ($1, $2)")
            .bind("another")
            .bind("x")
            .execute(&mut read_only)
            .await
            .unwrap_err();
        assert!(StoreError::from(refused).is_transient());
    }
}
