//! The suppression list: hashed identifiers of erased people. A webhook naming one is attributed
//! to no one and creates no one; the list holds no identifier in the clear.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row};

use super::StoreError;
use super::sql::{Params, dynamic};
use crate::identity::IdentityKey;

/// The stored form of an identity: SHA-256 of `kind:value`, hex.
pub fn hash(key: &IdentityKey) -> String {
    let text = format!("{}:{}", key.kind.as_str(), key.value);
    crate::runtime::hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// Adds identities to the list (already listed ones are fine).
pub async fn add(
    conn: &mut AnyConnection,
    keys: &[IdentityKey],
    now: i64,
) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query(
            "INSERT INTO suppressions (kind, value_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(key.kind.as_str())
        .bind(hash(key))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which of `keys` are suppressed.
pub async fn suppressed(
    conn: &mut AnyConnection,
    keys: &[IdentityKey],
) -> Result<HashSet<IdentityKey>, StoreError> {
    let hashes: Vec<String> = keys.iter().map(hash).collect();
    let mut found = HashSet::new();
    for chunk in hashes.chunks(500) {
        let sql = format!(
            "SELECT value_hash FROM suppressions WHERE value_hash IN ({})",
            Params::for_connection(conn).list(chunk.len())
        );
        let mut query = dynamic(sql);
        for h in chunk {
            query = query.bind(h.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.insert(row.try_get::<String, _>("value_hash")?);
        }
    }
    Ok(keys
        .iter()
        .zip(&hashes)
        .filter(|(_, h)| found.contains(*h))
        .map(|(k, _)| k.clone())
        .collect())
}

/// Takes identities off the list: staff linked them to someone on purpose.
pub async fn remove(conn: &mut AnyConnection, keys: &[IdentityKey]) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query("DELETE FROM suppressions WHERE kind = $1 AND value_hash = $2")
            .bind(key.kind.as_str())
            .bind(hash(key))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    #[tokio::test]
    async fn listed_identities_are_found_by_hash_only() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = IdentityKey::email("ana@example.org").unwrap();
        let ben = IdentityKey::email("ben@example.org").unwrap();
        add(tx.conn(), std::slice::from_ref(&ana), 1).await.unwrap();
        add(tx.conn(), std::slice::from_ref(&ana), 2).await.unwrap();
        let found = suppressed(tx.conn(), &[ana.clone(), ben.clone()])
            .await
            .unwrap();
        assert_eq!(found, HashSet::from([ana.clone()]));
        let stored: String = sqlx::query_scalar("SELECT value_hash FROM suppressions")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert!(!stored.contains("ana"));
        remove(tx.conn(), std::slice::from_ref(&ana)).await.unwrap();
        assert!(suppressed(tx.conn(), &[ana]).await.unwrap().is_empty());
    }
}
