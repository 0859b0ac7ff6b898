//! SQLite's way of adding rows to the interaction log and finding which went in (the portable
//! way, `RETURNING` every row, is [`insert_returning`]).

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::StoreError;
use crate::engagement::{self, EVENT_COLUMNS};
use crate::interactions::{
    COLUMN_COUNT, COLUMNS, Inserted, NewInteraction, ROWS_PER_STATEMENT, bind_row, insert_returning,
};
use crate::sql::{Params, dynamic};

/// Adds rows and finds which went in: one row comes back from its `INSERT` cheaper than it is
/// accounted for by three more reads ([`insert_then_account`]); more rows do not.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
) -> Result<Inserted, StoreError> {
    if rows.len() > 1 {
        insert_then_account(conn, rows).await
    } else {
        insert_returning(conn, rows).await
    }
}

/// Adds rows, then accounts for them. Every row `RETURNING` hands back crosses from sqlx's
/// database thread to ours, and at ~10 µs a row that was a fifth of a webhook group's write
/// transaction (BENCHMARKS.md §2). Instead: insert, then count what landed. This transaction is
/// the database's only writer (and no trigger adds rows to the log), and SQLite numbers the rows
/// of an insert in `VALUES` order, one past the largest id so far; so if every row landed, they
/// hold the ids after the largest id before, in order, and each one's event is known from the row
/// itself. If any was skipped (it was already in the log), or the order is not as expected, the
/// added rows are read back.
async fn insert_then_account(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
) -> Result<Inserted, StoreError> {
    if rows.is_empty() {
        return Ok(Inserted::default());
    }
    let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM interaction_log")
        .fetch_one(&mut *conn)
        .await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO interaction_log ({COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
            Params::for_connection(conn)?.rows(chunk.len(), COLUMN_COUNT)
        );
        let mut query = dynamic(sql);
        for row in chunk {
            query = bind_row(query, row);
        }
        query.execute(&mut *conn).await?;
    }
    let landed = sqlx::query(
        "SELECT COUNT(*) AS added, COALESCE(MIN(id), 0) AS first, COALESCE(MAX(id), 0) AS last
         FROM interaction_log WHERE id > $1",
    )
    .bind(before)
    .fetch_one(&mut *conn)
    .await?;
    let added: i64 = landed.try_get("added")?;
    let first: i64 = landed.try_get("first")?;
    let last: i64 = landed.try_get("last")?;
    let all_landed =
        usize::try_from(added).is_ok_and(|n| n == rows.len()) && last - first + 1 == added;
    if !all_landed || !in_values_order(conn, rows, first, last).await? {
        return read_back_since(conn, before).await;
    }
    let mut inserted = Inserted::default();
    for (row, id) in rows.iter().zip(first..) {
        inserted.count(row.raw_webhook_id, row.event(id));
    }
    Ok(inserted)
}

/// Whether the rows at ids `first` and `last` are `rows`' first and last: SQLite numbers the rows
/// of a multi-row insert in `VALUES` order, which its documentation does not promise, so the
/// ends are checked (one two-row read) rather than trusted.
async fn in_values_order(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
    first: i64,
    last: i64,
) -> Result<bool, StoreError> {
    let ends = sqlx::query(
        "SELECT kind, occurred_at, vendor_event_id, raw_webhook_id FROM interaction_log
         WHERE id = $1 OR id = $2 ORDER BY id",
    )
    .bind(first)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?;
    let (Some(head), Some(tail)) = (rows.first(), rows.last()) else {
        return Ok(false);
    };
    let wanted = if first == last {
        vec![head]
    } else {
        vec![head, tail]
    };
    if ends.len() != wanted.len() {
        return Ok(false);
    }
    for (row, want) in ends.iter().zip(wanted) {
        let kind: String = row.try_get("kind")?;
        let occurred_at: i64 = row.try_get("occurred_at")?;
        let vendor_event_id: Option<String> = row.try_get("vendor_event_id")?;
        let raw_webhook_id: Option<i64> = row.try_get("raw_webhook_id")?;
        if kind != want.kind
            || occurred_at != want.occurred_at
            || vendor_event_id != want.vendor_event_id
            || raw_webhook_id != want.raw_webhook_id
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The rows added after id `before`, as [`insert_returning`] would have returned them.
async fn read_back_since(conn: &mut AnyConnection, before: i64) -> Result<Inserted, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS}, raw_webhook_id FROM interaction_log WHERE id > $1 ORDER BY id"
    )))
    .bind(before)
    .fetch_all(&mut *conn)
    .await?;
    let mut inserted = Inserted::default();
    for row in &rows {
        inserted.count(
            row.try_get("raw_webhook_id")?,
            engagement::attributed_event(row)?,
        );
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::insert_new;
    use crate::testing::{self, event};
    use switchboard_core::domain::Outcome;

    #[tokio::test]
    async fn a_batch_that_went_in_whole_is_recognised_by_its_ends() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let rows: Vec<_> = (0..3)
            .map(|i| {
                event(
                    "email_delivered",
                    Outcome::Delivered,
                    i,
                    "m1",
                    &format!("c{i}"),
                )
            })
            .collect();
        insert_new(tx.conn(), &rows).await.unwrap();
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM interaction_log ORDER BY id")
            .fetch_all(tx.conn())
            .await
            .unwrap();
        let (first, last) = (ids[0], ids[2]);
        assert!(
            in_values_order(tx.conn(), &rows, first, last)
                .await
                .unwrap()
        );
        assert!(
            in_values_order(tx.conn(), &rows[..1], first, first)
                .await
                .unwrap()
        );
        let reversed: Vec<_> = rows.iter().rev().cloned().collect();
        assert!(
            !in_values_order(tx.conn(), &reversed, first, last)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
    }
}
