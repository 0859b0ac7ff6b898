//! API keys, stored by the hash of their token.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::StoreError;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    /// Space-separated scope words.
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, name, prefix, scopes, created_at, revoked_at, last_used_at";

/// Adds a key; `None` when its name is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    key: &KeyRow,
    token_hash: &str,
) -> Result<Option<i64>, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO api_keys (name, prefix, token_hash, scopes, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(token_hash)
    .bind(&key.scopes)
    .bind(key.created_at)
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// Every key, oldest first.
pub async fn all(pool: &AnyPool) -> Result<Vec<KeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY id");
    let rows = super::sql::dynamic(sql).fetch_all(pool).await?;
    rows.iter().map(key_from_row).collect()
}

/// The key whose token hashes to `token_hash`.
pub async fn by_hash(pool: &AnyPool, token_hash: &str) -> Result<Option<KeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE token_hash = $1");
    let row = super::sql::dynamic(sql)
        .bind(token_hash)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

/// Revokes a key, keeping the first revocation time. Returns the key, or `None` if there is
/// none.
pub async fn revoke(
    conn: &mut AnyConnection,
    key: &KeyRef,
    now: i64,
) -> Result<Option<KeyRow>, StoreError> {
    let update = |column: &str| {
        format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE {column} = $2
             RETURNING {COLUMNS}"
        )
    };
    let row = match key {
        KeyRef::Id(id) => {
            super::sql::dynamic(update("id"))
                .bind(now)
                .bind(*id)
                .fetch_optional(conn)
                .await?
        }
        KeyRef::Name(name) => {
            super::sql::dynamic(update("name"))
                .bind(now)
                .bind(name.as_str())
                .fetch_optional(conn)
                .await?
        }
    };
    row.as_ref().map(key_from_row).transpose()
}

/// A key named by its id or by its name — never guessed from text, since a key may be named "7".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(i64),
    Name(String),
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => write!(f, "id {id}"),
            KeyRef::Name(name) => write!(f, "name {name:?}"),
        }
    }
}

/// Records that a key was used.
pub async fn touch(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

fn key_from_row(row: &AnyRow) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}
