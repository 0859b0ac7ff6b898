//! The schema, versioned. Migrations are embedded in the binary and applied at start-up.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) for SQLite, oldest first.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "staff",
        include_str!("../migrations/sqlite/0002_staff.sql"),
    ),
    (
        3,
        "preferences",
        include_str!("../migrations/sqlite/0003_preferences.sql"),
    ),
    (
        4,
        "outbox",
        include_str!("../migrations/sqlite/0004_outbox.sql"),
    ),
    (
        5,
        "hardening",
        include_str!("../migrations/sqlite/0005_hardening.sql"),
    ),
];

/// The SQLite migrator.
pub fn sqlite() -> Migrator {
    Migrator::with_migrations(
        SQLITE
            .iter()
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
