//! Staff authentication: API keys with scopes.
//!
//! A key is a random token shown once at creation (`sb_` + 43 characters of base64url, 256 bits);
//! the database keeps only its SHA-256. A fast hash is enough here: the token is random and long,
//! so there is nothing to guess from the hash, and every request must check one.

use std::collections::BTreeSet;

use serde::Serialize;

use switchboard_core::domain::Scope;
pub use switchboard_store::api_keys::KeyRef;
use switchboard_store::api_keys::{self, KeyRow};
use switchboard_store::{Store, StoreError};

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "unknown scope {0:?}; scopes are admin, staff, sender, analyst, privacy, portal, metrics"
    )]
    UnknownScope(String),
    #[error("a key needs at least one scope")]
    NoScope,
    #[error("a key needs a name of 1 to 100 characters")]
    BadName,
    #[error("a key named {0:?} already exists")]
    NameTaken(String),
    #[error("no key with {0}")]
    NoSuchKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caller of a staff route, once its key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: i64,
    pub key_name: String,
    pub scopes: BTreeSet<Scope>,
}

impl Caller {
    /// How the caller is named in `created_by` and the audit log.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.key_name)
    }
}

/// A key as listed (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    /// The token's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A key just made: the only time its token is known.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    #[serde(flatten)]
    pub info: KeyInfo,
    /// The token, for `Authorization: Bearer <token>`. Shown once; only its hash is kept.
    pub token: String,
}

/// API keys as a service: the one way the HTTP layer and the CLI make, list, revoke and check
/// keys.
#[derive(Clone)]
pub struct Keys {
    store: Store,
}

impl Keys {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Makes a key; its token is in the answer and nowhere else.
    pub async fn create(
        &self,
        name: &str,
        scopes: &BTreeSet<Scope>,
        actor: &str,
        now: i64,
    ) -> Result<NewKey, AuthError> {
        create_key(&self.store, name, scopes, actor, now).await
    }

    /// Every key, oldest first (never their tokens).
    pub async fn list(&self) -> Result<Vec<KeyInfo>, AuthError> {
        list_keys(&self.store).await
    }

    /// Revokes a key, with its audit entry; revoking twice is harmless. Returns the key.
    pub async fn revoke(&self, key: &KeyRef, actor: &str, now: i64) -> Result<KeyInfo, AuthError> {
        revoke_key(&self.store, key, actor, now).await
    }

    /// The caller a token belongs to, if it is a live key.
    pub async fn authenticate(&self, token: &str, now: i64) -> Result<Option<Caller>, AuthError> {
        authenticate(&self.store, token, now).await
    }
}

/// Parses scope words.
pub fn parse_scopes<S: AsRef<str>>(words: &[S]) -> Result<BTreeSet<Scope>, AuthError> {
    let scopes = words
        .iter()
        .map(|w| {
            Scope::parse(w.as_ref().trim())
                .ok_or_else(|| AuthError::UnknownScope(w.as_ref().into()))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    if scopes.is_empty() {
        return Err(AuthError::NoScope);
    }
    Ok(scopes)
}

/// Makes a key.
async fn create_key(
    store: &Store,
    name: &str,
    scopes: &BTreeSet<Scope>,
    actor: &str,
    now: i64,
) -> Result<NewKey, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::BadName);
    }
    if scopes.is_empty() {
        return Err(AuthError::NoScope);
    }
    let token = new_token();
    let prefix: String = token.chars().take(10).collect();
    let row = KeyRow {
        id: 0,
        name: name.to_string(),
        prefix,
        scopes: join_scopes(scopes),
        created_at: now,
        revoked_at: None,
        last_used_at: None,
    };
    // The key and its audit entry in one transaction: no key exists that the trail misses.
    let mut tx = store.begin_write().await?;
    let Some(id) = api_keys::insert(tx.conn(), &row, &token_hash(&token)).await? else {
        return Err(AuthError::NameTaken(name.to_string()));
    };
    let info = key_info(KeyRow { id, ..row })?;
    audit_key(tx.conn(), actor, "key.create", &info, now).await?;
    tx.commit().await?;
    Ok(NewKey { info, token })
}

/// Writes a key change to the audit log (never the token).
async fn audit_key(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    action: &str,
    key: &KeyInfo,
    now: i64,
) -> Result<(), AuthError> {
    let detail = serde_json::json!({ "key_id": key.id, "name": key.name, "scopes": key.scopes });
    switchboard_store::audit::record(conn, now, actor, action, None, &detail).await?;
    Ok(())
}

/// Every key, oldest first.
async fn list_keys(store: &Store) -> Result<Vec<KeyInfo>, AuthError> {
    api_keys::all(store.pool())
        .await?
        .into_iter()
        .map(key_info)
        .collect()
}

/// Revokes a key, with its audit entry; revoking twice is harmless. Returns the key.
async fn revoke_key(
    store: &Store,
    key: &KeyRef,
    actor: &str,
    now: i64,
) -> Result<KeyInfo, AuthError> {
    let mut tx = store.begin_write().await?;
    let Some(row) = api_keys::revoke(tx.conn(), key, now).await? else {
        return Err(AuthError::NoSuchKey(key.to_string()));
    };
    let info = key_info(row)?;
    audit_key(tx.conn(), actor, "key.revoke", &info, now).await?;
    tx.commit().await?;
    Ok(info)
}

/// The caller a token belongs to, if it is a live key.
async fn authenticate(store: &Store, token: &str, now: i64) -> Result<Option<Caller>, AuthError> {
    let Some(row) = api_keys::by_hash(store.pool(), &token_hash(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    // Last use is a hint for operators, not worth a write per request: minute resolution.
    if row.last_used_at.is_none_or(|at| now - at > 60_000) {
        let mut tx = store.begin_write().await?;
        api_keys::touch(tx.conn(), row.id, now).await?;
        tx.commit().await?;
    }
    let info = key_info(row)?;
    Ok(Some(Caller {
        key_id: info.id,
        key_name: info.name,
        scopes: info.scopes.into_iter().collect(),
    }))
}

fn key_info(row: KeyRow) -> Result<KeyInfo, AuthError> {
    let scopes = row
        .scopes
        .split_whitespace()
        .map(|w| Scope::parse(w).ok_or_else(|| StoreError::Corrupt(format!("key scope {w:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeyInfo {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        scopes,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    })
}

fn join_scopes(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fresh random token.
fn new_token() -> String {
    use base64::Engine as _;
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    // The system's random source failing is not something a caller can recover from.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    format!(
        "sb_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    switchboard_core::hashing::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::testing;

    #[test]
    fn scopes_parse_and_refuse_unknown_words() {
        let scopes = parse_scopes(&["staff", "admin"]).unwrap();
        assert_eq!(join_scopes(&scopes), "admin staff");
        assert!(matches!(
            parse_scopes(&["root"]),
            Err(AuthError::UnknownScope(w)) if w == "root"
        ));
        assert!(matches!(parse_scopes::<&str>(&[]), Err(AuthError::NoScope)));
    }

    #[tokio::test]
    async fn a_key_authenticates_until_revoked() {
        let (store, _dir) = testing::store().await;
        let scopes = parse_scopes(&["staff"]).unwrap();
        let key = create_key(&store, "front desk", &scopes, "test", 1)
            .await
            .unwrap();
        assert!(key.token.starts_with("sb_") && key.token.len() == 46);
        assert!(key.token.starts_with(&key.info.prefix));

        let caller = authenticate(&store, &key.token, 2).await.unwrap().unwrap();
        assert_eq!(caller.key_name, "front desk");
        assert_eq!(caller.scopes, scopes);
        assert_eq!(authenticate(&store, "sb_wrong", 2).await.unwrap(), None);

        assert!(matches!(
            create_key(&store, "front desk", &scopes, "test", 3).await,
            Err(AuthError::NameTaken(_))
        ));
        let by_name = KeyRef::Name("front desk".into());
        let revoked = revoke_key(&store, &by_name, "test", 4).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(4));
        assert_eq!(authenticate(&store, &key.token, 5).await.unwrap(), None);
        assert!(matches!(
            revoke_key(&store, &KeyRef::Name("nobody".into()), "test", 5).await,
            Err(AuthError::NoSuchKey(_))
        ));
    }

    #[tokio::test]
    async fn revoking_by_id_never_takes_a_key_named_like_that_id() {
        let (store, _dir) = testing::store().await;
        let scopes = parse_scopes(&["staff"]).unwrap();
        let first = create_key(&store, "first", &scopes, "test", 1)
            .await
            .unwrap();
        // A key whose name is the other key's id.
        let named = create_key(&store, &first.info.id.to_string(), &scopes, "test", 1)
            .await
            .unwrap();
        let revoked = revoke_key(&store, &KeyRef::Id(first.info.id), "test", 2)
            .await
            .unwrap();
        assert_eq!(revoked.id, first.info.id);
        assert!(
            authenticate(&store, &named.token, 3)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(authenticate(&store, &first.token, 3).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_key_and_its_audit_entry_are_written_together() {
        let (store, _dir) = testing::store().await;
        let scopes = parse_scopes(&["admin"]).unwrap();
        let key = create_key(&store, "ops", &scopes, "staff:root", 7)
            .await
            .unwrap();
        revoke_key(&store, &KeyRef::Id(key.info.id), "staff:root", 8)
            .await
            .unwrap();
        let entries = switchboard_store::audit::recent(store.pool(), None, i64::MAX, 10)
            .await
            .unwrap();
        let actions: Vec<(&str, &str, i64)> = entries
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str(), e.at))
            .collect();
        assert_eq!(
            actions,
            [
                ("key.revoke", "staff:root", 8),
                ("key.create", "staff:root", 7)
            ]
        );
    }
}
