//! Contacts and the identities that point to them.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;
use sqlx::Row;

use super::StoreError;
use super::sql::{Params, dynamic};
use crate::identity::{IdentityKey, IdentityKind};

/// Which of `ids` are contacts.
pub async fn existing(conn: &mut AnyConnection, ids: &[i64]) -> Result<HashSet<i64>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT id FROM contacts WHERE id IN ({})",
        Params::for_connection(conn).list(ids.len())
    );
    let mut query = dynamic(sql);
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|row| row.try_get::<i64, _>("id").map_err(StoreError::from))
        .collect()
}

/// Creates an empty contact.
pub async fn create(conn: &mut AnyConnection, now: i64) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO contacts (created_at, updated_at) VALUES ($1, $1) RETURNING id",
    )
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The contact each of `keys` belongs to, for those that belong to one.
pub async fn owners(
    conn: &mut AnyConnection,
    keys: &[IdentityKey],
) -> Result<HashMap<IdentityKey, i64>, StoreError> {
    let mut owners = HashMap::new();
    for kind in [
        IdentityKind::Email,
        IdentityKind::Phone,
        IdentityKind::External,
    ] {
        let values: Vec<&str> = keys
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| k.value.as_str())
            .collect();
        if values.is_empty() {
            continue;
        }
        let mut params = Params::for_connection(conn);
        let sql = format!(
            "SELECT value, contact_id FROM identities WHERE kind = {} AND value IN ({})",
            params.one(),
            params.list(values.len())
        );
        let mut query = dynamic(sql).bind(kind.as_str());
        for value in &values {
            query = query.bind(*value);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key = IdentityKey {
                kind,
                value: row.try_get("value")?,
            };
            owners.insert(key, row.try_get("contact_id")?);
        }
    }
    Ok(owners)
}

/// Links an identity to a contact unless it already belongs to one; says whether it linked.
pub async fn link_identity(
    conn: &mut AnyConnection,
    contact_id: i64,
    key: &IdentityKey,
    source: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "INSERT INTO identities (contact_id, kind, value, source, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(contact_id)
    .bind(key.kind.as_str())
    .bind(&key.value)
    .bind(source)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A contact's identities, for display and tests.
pub async fn identities_of(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<IdentityKey>, StoreError> {
    let rows = sqlx::query("SELECT kind, value FROM identities WHERE contact_id = $1 ORDER BY id")
        .bind(contact_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(IdentityKey {
                kind: IdentityKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("identity kind {kind:?}")))?,
                value: row.try_get("value")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[tokio::test]
    async fn an_identity_belongs_to_one_contact() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = create(tx.conn(), 1).await.unwrap();
        let ben = create(tx.conn(), 1).await.unwrap();
        let email = IdentityKey::email("ana@example.org").unwrap();
        assert!(
            link_identity(tx.conn(), ana, &email, "test", 1)
                .await
                .unwrap()
        );
        assert!(
            !link_identity(tx.conn(), ben, &email, "test", 1)
                .await
                .unwrap()
        );

        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let found = owners(tx.conn(), &[email.clone(), phone]).await.unwrap();
        assert_eq!(found, HashMap::from([(email.clone(), ana)]));
        assert_eq!(
            existing(tx.conn(), &[ana, 999]).await.unwrap(),
            HashSet::from([ana])
        );
        assert_eq!(identities_of(tx.conn(), ana).await.unwrap(), [email]);
        tx.commit().await.unwrap();
    }
}
