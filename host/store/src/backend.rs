//! The seam between the portable store and the database under it: everything that differs from
//! one database to another is asked of the [`Backend`], which hands it to that database's own
//! module (`sqlite/`). The queries in the store's other modules are the same for every backend.
//! How to add one: the crate documentation.

use std::future::Future;
use std::path::{Path, PathBuf};

use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool};

use crate::interactions::{Inserted, NewInteraction};
use crate::migrations;
use crate::{StoreError, sqlite};

/// A database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded: a file (or `sqlite::memory:`), one writer at a time.
    Sqlite,
}

impl Backend {
    /// The backend a database location names: a `sqlite://` URL, `sqlite::memory:` or a plain
    /// file path is SQLite.
    pub fn of_location(location: &str) -> Result<Self, StoreError> {
        if sqlite::names(location) {
            return Ok(Backend::Sqlite);
        }
        Err(StoreError::UnsupportedUrl(location.to_string()))
    }

    /// The backend of a connection from a store's pool, for the statements that differ.
    pub(crate) fn of_connection(conn: &AnyConnection) -> Result<Self, StoreError> {
        match conn.backend_name() {
            sqlite::BACKEND_NAME => Ok(Backend::Sqlite),
            other => Err(StoreError::UnknownBackend(other.to_string())),
        }
    }

    /// Opens a pool on the database at `location`, each connection set up for this backend,
    /// creating the database if the backend can.
    pub(crate) async fn connect(self, location: &str) -> Result<AnyPool, StoreError> {
        match self {
            Backend::Sqlite => sqlite::connect(location).await,
        }
    }

    /// This backend's migrations (`migrations/<backend>/`).
    pub(crate) fn migrator(self) -> Migrator {
        match self {
            Backend::Sqlite => migrations::migrator(sqlite::MIGRATIONS),
        }
    }

    /// The file the server key of the database at `location` is kept in (`given` if the backend
    /// keeps it in a file); `None` when the key lives only as long as the process.
    pub(crate) fn server_key_file(self, location: &str, given: Option<&Path>) -> Option<PathBuf> {
        match self {
            Backend::Sqlite => sqlite::server_key_file(location, given),
        }
    }

    /// Starts the backend's background work, if it has any, for as long as the store is open.
    pub(crate) fn start_maintenance(self, pool: &AnyPool) -> Option<Maintenance> {
        match self {
            Backend::Sqlite => Some(sqlite::start_checkpointer(pool.clone())),
        }
    }

    /// Makes everything written so far durable in the database's own files, after a bulk
    /// write.
    pub(crate) async fn checkpoint(self, pool: &AnyPool) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite => sqlite::checkpoint(pool).await,
        }
    }

    /// The statement that starts a write transaction.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => sqlite::BEGIN_WRITE,
        }
    }

    /// Whether statements number their placeholders (`$1, $2, …`) rather than write plain `?`
    /// (see [`crate::sql::Params`]).
    pub(crate) fn numbers_placeholders(self) -> bool {
        match self {
            Backend::Sqlite => false,
        }
    }

    /// A statement returning every row of `select` as one JSON array of arrays of `columns`
    /// (see [`crate::sql::packed`]).
    pub(crate) fn packed_rows(self, columns: &str, select: &str) -> String {
        match self {
            Backend::Sqlite => sqlite::packed_rows(columns, select),
        }
    }

    /// An expression reading the text at `path` (object keys, outermost first) of the JSON text in
    /// `column`, NULL where there is none. The path comes from code, never from input.
    pub(crate) fn json_text(self, column: &str, path: &[&str]) -> String {
        match self {
            Backend::Sqlite => sqlite::json_text(column, path),
        }
    }

    /// Adds rows to the interaction log and finds which went in (their order is sorted out by
    /// the caller): the portable way is `interactions::insert_returning`.
    pub(crate) async fn insert_interactions(
        self,
        conn: &mut AnyConnection,
        rows: &[NewInteraction],
    ) -> Result<Inserted, StoreError> {
        match self {
            Backend::Sqlite => sqlite::interactions::insert(conn, rows).await,
        }
    }

    /// Whether a database error means the database refused for now (locked, full, read-only,
    /// out of connections), so that trying again later may succeed. Each backend recognises its
    /// own errors.
    pub(crate) fn refuses_for_now(error: &(dyn DatabaseError + 'static)) -> bool {
        sqlite::refuses_for_now(error)
    }
}

/// A backend's background work (SQLite: the checkpointer), stopped when the store is dropped.
pub(crate) struct Maintenance(tokio::task::JoinHandle<()>);

impl Maintenance {
    pub(crate) fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Maintenance(tokio::spawn(work))
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_names_its_backend() {
        for sqlite in [
            "sqlite::memory:",
            "sqlite:///data/sb.db?mode=rwc",
            "data/sb.db",
        ] {
            assert_eq!(
                Backend::of_location(sqlite).unwrap(),
                Backend::Sqlite,
                "{sqlite}"
            );
        }
        assert!(matches!(
            Backend::of_location("mysql://db/sb"),
            Err(StoreError::UnsupportedUrl(url)) if url == "mysql://db/sb"
        ));
    }

    #[tokio::test]
    async fn a_connection_of_the_store_knows_its_backend() {
        let (store, _dir) = crate::testing::store().await;
        let conn = store.reader().await.unwrap();
        assert_eq!(Backend::of_connection(&conn).unwrap(), store.backend());
        assert_eq!(store.backend(), Backend::Sqlite);
    }
}
