//! Building statements whose number of parameters depends on the data (`IN (...)` lists,
//! multi-row `VALUES`), with placeholders in the connected database's own style.

use sqlx::Any;
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::{Backend, StoreError};

/// Writes a statement's placeholders in order, in the connected database's style (its
/// [`Backend`]'s): `$1, $2, …` for PostgreSQL and plain `?` for SQLite. SQLite would accept `$n`
/// too, but then binding each parameter searches the statement's list of parameter names, which
/// makes a multi-row insert quadratic in its parameter count (it was most of the ingest path's
/// database time).
///
/// Every placeholder of a statement must come from one `Params`, in the order of the binds.
#[derive(Debug)]
pub struct Params {
    numbered: bool,
    next: usize,
}

impl Params {
    pub fn for_connection(conn: &AnyConnection) -> Result<Self, StoreError> {
        Ok(Params::new(
            Backend::of_connection(conn)?.numbers_placeholders(),
        ))
    }

    fn new(numbered: bool) -> Self {
        Params { numbered, next: 1 }
    }

    /// The next placeholder.
    pub fn one(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.numbered {
            format!("${n}")
        } else {
            "?".to_string()
        }
    }

    /// `count` placeholders separated by commas.
    pub fn list(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| self.one())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `(…), (…)`: `rows` rows of `columns` placeholders.
    pub fn rows(&mut self, rows: usize, columns: usize) -> String {
        (0..rows)
            .map(|_| format!("({})", self.list(columns)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A query over SQL built with [`Params`]: only placeholders are interpolated, never data.
pub fn dynamic(sql: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered_in_order() {
        let mut params = Params::new(true);
        assert_eq!(params.one(), "$1");
        assert_eq!(params.list(2), "$2, $3");
        assert_eq!(params.rows(2, 2), "($4, $5), ($6, $7)");
    }

    #[test]
    fn sqlite_placeholders_are_positional() {
        let mut params = Params::new(false);
        assert_eq!(params.one(), "?");
        assert_eq!(params.rows(2, 2), "(?, ?), (?, ?)");
    }
}
