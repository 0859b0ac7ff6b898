//! Conversions recorded through the API, and the conversion points attribution reads: those rows
//! and the logged interactions of the kinds that stand for a goal.

use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use crate::StoreError;
use crate::sql::{Params, dynamic, fetch_packed, packed};

/// A recorded conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub id: i64,
    pub contact_id: i64,
    pub goal: String,
    pub value: f64,
    pub occurred_at: i64,
    pub idempotency_key: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A conversion to record.
#[derive(Debug, Clone, Copy)]
pub struct NewConversion<'a> {
    pub contact_id: i64,
    pub goal: &'a str,
    pub value: f64,
    pub occurred_at: i64,
    pub idempotency_key: &'a str,
    pub request_digest: &'a str,
    pub created_by: &'a str,
    pub now: i64,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    New(Conversion),
    /// The same request again: the conversion it recorded the first time.
    Repeat(Conversion),
    /// The key was used before for a different request.
    KeyReused,
}

const COLUMNS: &str =
    "id, contact_id, goal, value, occurred_at, idempotency_key, created_by, created_at";

/// Records a conversion once per idempotency key.
pub async fn record(
    conn: &mut AnyConnection,
    new: &NewConversion<'_>,
) -> Result<Recorded, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO conversions (contact_id, goal, value, occurred_at, idempotency_key,
                                  request_digest, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(new.contact_id)
    .bind(new.goal)
    .bind(new.value)
    .bind(new.occurred_at)
    .bind(new.idempotency_key)
    .bind(new.request_digest)
    .bind(new.created_by)
    .bind(new.now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, request_digest FROM conversions WHERE idempotency_key = $1"
    )))
    .bind(new.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    let digest: String = row.try_get("request_digest")?;
    let conversion = conversion_of(&row)?;
    Ok(if inserted {
        Recorded::New(conversion)
    } else if digest == new.request_digest {
        Recorded::Repeat(conversion)
    } else {
        Recorded::KeyReused
    })
}

/// A contact's recorded conversions, oldest first.
pub async fn of_contact(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<Conversion>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM conversions WHERE contact_id = $1 ORDER BY occurred_at, id"
    )))
    .bind(contact_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(conversion_of).collect()
}

fn conversion_of(row: &sqlx::any::AnyRow) -> Result<Conversion, StoreError> {
    Ok(Conversion {
        id: row.try_get("id")?,
        contact_id: row.try_get("contact_id")?,
        goal: row.try_get("goal")?,
        value: row.try_get("value")?,
        occurred_at: row.try_get("occurred_at")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A moment a person reached a goal, as attribution reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversionPoint {
    pub contact_id: i64,
    pub occurred_at: i64,
    pub value: f64,
}

/// The conversions of `goal` in `[since, until)`: the recorded ones, and the logged interactions
/// of known contacts whose kind is one of `kinds` (value 0), oldest first.
pub async fn points(
    conn: &mut AnyConnection,
    goal: &str,
    kinds: &[String],
    since: i64,
    until: i64,
) -> Result<Vec<ConversionPoint>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let (goal_p, since_1, until_1) = (params.one(), params.one(), params.one());
    let mut select = format!(
        "SELECT contact_id, occurred_at, value FROM conversions
         WHERE goal = {goal_p} AND occurred_at >= {since_1} AND occurred_at < {until_1}"
    );
    if !kinds.is_empty() {
        let (since_2, until_2) = (params.one(), params.one());
        select.push_str(&format!(
            " UNION ALL SELECT contact_id, occurred_at, 0.0 FROM interaction_log
              WHERE contact_id IS NOT NULL AND occurred_at >= {since_2} AND occurred_at < {until_2}
                AND kind IN ({})",
            params.list(kinds.len())
        ));
    }
    let sql = packed(
        conn,
        "contact_id, occurred_at, value",
        &format!("{select} ORDER BY occurred_at"),
    )?;
    let mut query = dynamic(sql).bind(goal).bind(since).bind(until);
    if !kinds.is_empty() {
        query = query.bind(since).bind(until);
        for kind in kinds {
            query = query.bind(kind.clone());
        }
    }
    fetch_packed(query, conn).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    fn new<'a>(contact_id: i64, key: &'a str, digest: &'a str) -> NewConversion<'a> {
        NewConversion {
            contact_id,
            goal: "enrolled",
            value: 120.5,
            occurred_at: 1_000,
            idempotency_key: key,
            request_digest: digest,
            created_by: "staff:test",
            now: 2_000,
        }
    }

    #[tokio::test]
    async fn a_key_records_once_and_a_reused_key_is_told_apart() {
        let (store, _dir) = store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = crate::contacts::create(tx.conn(), 0).await.unwrap();
        let first = record(tx.conn(), &new(contact, "k1", "d1")).await.unwrap();
        let Recorded::New(conversion) = first else {
            panic!("{first:?}")
        };
        assert_eq!(conversion.value, 120.5);
        assert_eq!(
            record(tx.conn(), &new(contact, "k1", "d1")).await.unwrap(),
            Recorded::Repeat(conversion)
        );
        assert_eq!(
            record(tx.conn(), &new(contact, "k1", "d2")).await.unwrap(),
            Recorded::KeyReused
        );
        tx.commit().await.unwrap();

        let mut conn = store.reader().await.unwrap();
        let points = points(&mut conn, "enrolled", &[], 0, 5_000).await.unwrap();
        assert_eq!(
            points,
            [ConversionPoint {
                contact_id: contact,
                occurred_at: 1_000,
                value: 120.5
            }]
        );
        assert!(points_of_other_goal(&mut conn).await.is_empty());
    }

    async fn points_of_other_goal(conn: &mut AnyConnection) -> Vec<ConversionPoint> {
        points(conn, "paid", &["portal_payment_completed".into()], 0, 5_000)
            .await
            .unwrap()
    }
}
