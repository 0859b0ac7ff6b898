//! The suppression list: keyed hashes of erased people's identifiers. A webhook naming one is
//! attributed to no one and creates no one; the list holds no identifier in the clear, and
//! without the server key (kept outside the database) its entries cannot be matched against a
//! guessed list of phone numbers or addresses.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row};

use super::sql::{Params, dynamic};
use super::{ServerKey, StoreError};
use switchboard_core::domain::IdentityKey;

/// The stored form of an identity: HMAC-SHA256, under the server key, of the SHA-256 (hex) of
/// `kind:value`. The inner SHA-256 is what entries written before keyed hashing held, so they
/// could be rekeyed without knowing the identifiers (see [`rekey_legacy`]).
pub fn hash(key: &ServerKey, identity: &IdentityKey) -> String {
    key.mac_hex(legacy_hash(identity).as_bytes())
}

/// SHA-256 of `kind:value`, hex: the unkeyed form of the first releases.
fn legacy_hash(identity: &IdentityKey) -> String {
    let text = format!("{}:{}", identity.kind.as_str(), identity.value);
    switchboard_core::hashing::sha256_hex(text.as_bytes())
}

/// Rewrites entries still in the unkeyed form (`scheme = 'sha256'`) into the keyed one, in one
/// transaction; returns how many. Runs at start-up.
pub async fn rekey_legacy(conn: &mut AnyConnection, key: &ServerKey) -> Result<u64, StoreError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let legacy: Vec<(String, String)> =
        sqlx::query("SELECT kind, value_hash FROM suppressions WHERE scheme = 'sha256'")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("kind")?, row.try_get("value_hash")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    for (kind, old) in &legacy {
        sqlx::query(
            "UPDATE suppressions SET value_hash = $1, scheme = 'hmac'
             WHERE kind = $2 AND value_hash = $3 AND scheme = 'sha256'",
        )
        .bind(key.mac_hex(old.as_bytes()))
        .bind(kind)
        .bind(old)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if !legacy.is_empty() {
        tracing::info!(
            entries = legacy.len(),
            "suppression list rekeyed with the server key"
        );
    }
    Ok(legacy.len() as u64)
}

/// Adds identities to the list (already listed ones are fine).
pub async fn add(
    conn: &mut AnyConnection,
    server_key: &ServerKey,
    keys: &[IdentityKey],
    now: i64,
) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query(
            "INSERT INTO suppressions (kind, value_hash, created_at, scheme)
             VALUES ($1, $2, $3, 'hmac')
             ON CONFLICT DO NOTHING",
        )
        .bind(key.kind.as_str())
        .bind(hash(server_key, key))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which of `keys` are suppressed.
pub async fn suppressed(
    conn: &mut AnyConnection,
    server_key: &ServerKey,
    keys: &[IdentityKey],
) -> Result<HashSet<IdentityKey>, StoreError> {
    let hashes: Vec<String> = keys.iter().map(|k| hash(server_key, k)).collect();
    let mut found = HashSet::new();
    for chunk in hashes.chunks(500) {
        let sql = format!(
            "SELECT value_hash FROM suppressions WHERE value_hash IN ({})",
            Params::for_connection(conn)?.list(chunk.len())
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
pub async fn remove(
    conn: &mut AnyConnection,
    server_key: &ServerKey,
    keys: &[IdentityKey],
) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query("DELETE FROM suppressions WHERE kind = $1 AND value_hash = $2")
            .bind(key.kind.as_str())
            .bind(hash(server_key, key))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn listed_identities_are_found_by_keyed_hash_only() {
        let (store, _dir) = testing::store().await;
        let key = store.key();
        let mut tx = store.begin_write().await.unwrap();
        let ana = IdentityKey::email("ana@example.org").unwrap();
        let ben = IdentityKey::email("ben@example.org").unwrap();
        add(tx.conn(), key, std::slice::from_ref(&ana), 1)
            .await
            .unwrap();
        add(tx.conn(), key, std::slice::from_ref(&ana), 2)
            .await
            .unwrap();
        let found = suppressed(tx.conn(), key, &[ana.clone(), ben.clone()])
            .await
            .unwrap();
        assert_eq!(found, HashSet::from([ana.clone()]));
        let stored: String = sqlx::query_scalar("SELECT value_hash FROM suppressions")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        // Neither the identifier nor its plain SHA-256 (which anyone can compute from a guess).
        assert!(!stored.contains("ana"));
        assert_ne!(stored, legacy_hash(&ana));
        remove(tx.conn(), key, std::slice::from_ref(&ana))
            .await
            .unwrap();
        assert!(suppressed(tx.conn(), key, &[ana]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn entries_from_before_keyed_hashing_are_rekeyed_and_still_match() {
        let (store, _dir) = testing::store().await;
        let key = store.key();
        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let mut conn = store.reader().await.unwrap();
        sqlx::query(
            "INSERT INTO suppressions (kind, value_hash, created_at, scheme)
             VALUES ('phone', $1, 1, 'sha256')",
        )
        .bind(legacy_hash(&phone))
        .execute(&mut *conn)
        .await
        .unwrap();

        assert_eq!(rekey_legacy(&mut conn, key).await.unwrap(), 1);
        assert_eq!(rekey_legacy(&mut conn, key).await.unwrap(), 0, "once");
        let (stored, scheme): (String, String) =
            sqlx::query_as("SELECT value_hash, scheme FROM suppressions")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(
            (stored.as_str(), scheme.as_str()),
            (hash(key, &phone).as_str(), "hmac")
        );
        let found = suppressed(&mut conn, key, std::slice::from_ref(&phone))
            .await
            .unwrap();
        assert_eq!(found, HashSet::from([phone]));
    }
}
