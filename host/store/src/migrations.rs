//! The schema, versioned. Each backend keeps its own migration set (SQL files under
//! `migrations/<backend>/`, embedded in the binary, listed by its module); this turns a set into
//! sqlx's migrator, which applies at start-up what the database lacks and records each migration
//! applied as one row of `_sqlx_migrations`.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// A migration set: (version, description, SQL), oldest first.
pub(crate) type MigrationSet = &'static [(i64, &'static str, &'static str)];

/// The migrator of a set.
pub(crate) fn migrator(set: MigrationSet) -> Migrator {
    Migrator::with_migrations(
        set.iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
