//! Building statements whose number of parameters depends on the data (`IN (...)` lists,
//! multi-row `VALUES`), with placeholders in the connected database's own style.

use sqlx::Any;
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::Row;
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
/// A statement built at run time, with its parameters bound so far.
pub type DynamicQuery = Query<'static, Any, AnyArguments>;

pub fn dynamic(sql: String) -> DynamicQuery {
    sqlx::query(AssertSqlSafe(sql))
}

/// A statement that hands back every row of `select` at once, packed into one value: a JSON
/// array holding one array per row, of `columns` in order. Read it with [`fetch_packed`].
///
/// For the reads of the write path that return a row per item of a batch (the owners of a
/// batch's addresses, say): sqlx's SQLite driver hands every result row from its database thread
/// to ours, with a conversion to `Any` and an allocation or two each, and a packed result crosses
/// once (BENCHMARKS.md §2).
pub fn packed(conn: &AnyConnection, columns: &str, select: &str) -> Result<String, StoreError> {
    Ok(Backend::of_connection(conn)?.packed_rows(columns, select))
}

/// Runs a [`packed`] statement and reads its rows as `T`s (tuples of the columns' types:
/// integers, text, `Option`s of them for nullable columns).
pub async fn fetch_packed<T: serde::de::DeserializeOwned>(
    query: DynamicQuery,
    conn: &mut AnyConnection,
) -> Result<Vec<T>, StoreError> {
    let text: String = query.fetch_one(conn).await?.try_get(0)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("a packed result does not read back: {e}")))
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

    #[tokio::test]
    async fn packed_rows_read_back_as_the_rows_themselves() {
        let (store, _dir) = crate::testing::store().await;
        let mut conn = store.reader().await.unwrap();
        let select = "SELECT 1 AS n, 'a\"b' AS t, NULL AS x UNION ALL SELECT 2, 'ü', 7 ORDER BY n";
        let sql = packed(&conn, "n, t, x", select).unwrap();
        let rows: Vec<(i64, String, Option<i64>)> =
            fetch_packed(dynamic(sql), &mut conn).await.unwrap();
        assert_eq!(rows, [(1, "a\"b".into(), None), (2, "ü".into(), Some(7))]);

        let none = packed(&conn, "n", "SELECT 1 AS n WHERE 0").unwrap();
        let rows: Vec<(i64,)> = fetch_packed(dynamic(none), &mut conn).await.unwrap();
        assert!(rows.is_empty());
    }

    #[test]
    fn sqlite_placeholders_are_positional() {
        let mut params = Params::new(false);
        assert_eq!(params.one(), "?");
        assert_eq!(params.rows(2, 2), "(?, ?), (?, ?)");
    }
}
