//! Building statements whose number of parameters depends on the data (`IN (...)` lists,
//! multi-row `VALUES`), with `$n` placeholders that SQLite and PostgreSQL both accept.

use sqlx::Any;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// `$first, $first+1, …` for `count` parameters.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `columns` parameters.
pub fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(1 + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A query over SQL built by the helpers above: only placeholders are interpolated, never data.
pub fn dynamic(sql: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_given_start() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(value_rows(2, 2), "($1, $2), ($3, $4)");
    }
}
