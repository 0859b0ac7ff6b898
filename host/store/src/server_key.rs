//! The server key: 32 random bytes kept in a file beside the database, never in it, for what must
//! stay unreadable to someone holding only a copy of the database — the suppression list's hashes.
//!
//! It is generated on the first start and must be backed up with the database: a check value in
//! `server_meta` (an HMAC of a fixed text, not the key) makes the server refuse to start with a
//! missing or different key instead of silently forgetting who was erased.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// What the check value is computed over.
const CHECK_TEXT: &[u8] = b"switchboard server key check";
const CHECK_NAME: &str = "server_key_check";
const KEY_BYTES: usize = 32;

/// The server key, loaded.
pub struct ServerKey {
    key: hmac::Key,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

/// Where the key lives, by default: beside the database file, named after it.
pub fn default_path(database_file: &Path) -> PathBuf {
    let mut name = database_file.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

impl ServerKey {
    fn from_bytes(bytes: &[u8]) -> Self {
        ServerKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// A key that lives as long as the process (an in-memory database).
    pub fn ephemeral() -> Result<Self, StoreError> {
        Ok(Self::from_bytes(&random_key()?))
    }

    /// HMAC-SHA256 of `data`, hex.
    pub fn mac_hex(&self, data: &[u8]) -> String {
        switchboard_core::hashing::hex(hmac::sign(&self.key, data).as_ref())
    }

    /// Loads the key at `path` for the database behind `conn`, creating it if neither exists yet.
    pub async fn open(conn: &mut AnyConnection, path: &Path) -> Result<Self, StoreError> {
        let recorded = recorded_check(conn).await?;
        let key = match read_key_file(path)? {
            Some(bytes) => Self::from_bytes(&bytes),
            None if recorded.is_some() => {
                return Err(StoreError::ServerKey(format!(
                    "the server key file {} is missing, and this database was keyed with it \
                     (the suppression list cannot be read without it): restore it from the \
                     backup taken with the database",
                    path.display()
                )));
            }
            None => {
                let bytes = random_key()?;
                write_key_file(path, &bytes)?;
                tracing::info!(path = %path.display(), "generated the server key; back it up with the database");
                Self::from_bytes(&bytes)
            }
        };
        let check = key.mac_hex(CHECK_TEXT);
        match recorded {
            Some(recorded) if recorded != check => Err(StoreError::ServerKey(format!(
                "the server key in {} is not the one this database was keyed with: restore the \
                 right one from the backup taken with the database",
                path.display()
            ))),
            Some(_) => Ok(key),
            None => {
                record_check(conn, &check).await?;
                Ok(key)
            }
        }
    }

    /// Records this key's check value if the database has none (an in-memory database).
    pub async fn adopt(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if recorded_check(conn).await?.is_none() {
            record_check(conn, &self.mac_hex(CHECK_TEXT)).await?;
        }
        Ok(())
    }
}

fn random_key() -> Result<[u8; KEY_BYTES], StoreError> {
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::ServerKey("the system's random source failed".into()))?;
    Ok(bytes)
}

/// The key file's bytes (hex text), or `None` if there is no file.
fn read_key_file(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StoreError::ServerKey(format!(
                "cannot read the server key file {}: {error}",
                path.display()
            )));
        }
    };
    let bytes = decode_hex(text.trim()).filter(|b| b.len() == KEY_BYTES);
    match bytes {
        Some(bytes) => Ok(Some(bytes)),
        None => Err(StoreError::ServerKey(format!(
            "the server key file {} is not {KEY_BYTES} bytes of hex",
            path.display()
        ))),
    }
}

fn write_key_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let fail = |error: std::io::Error| {
        StoreError::ServerKey(format!(
            "cannot write the server key file {}: {error}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(format!("{}\n", switchboard_core::hashing::hex(bytes)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

async fn recorded_check(conn: &mut AnyConnection) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM server_meta WHERE name = $1")
        .bind(CHECK_NAME)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

async fn record_check(conn: &mut AnyConnection, check: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO server_meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(CHECK_NAME)
        .bind(check)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn a_key_is_generated_once_and_found_again() {
        let (store, dir) = testing::store().await;
        let path = dir.path().join("other.key");
        std::fs::write(&path, "ab".repeat(KEY_BYTES)).unwrap();
        let mut conn = store.reader().await.unwrap();
        // The test store already keyed its database: a different key is refused.
        let refused = ServerKey::open(&mut conn, &path).await.unwrap_err();
        assert!(refused.to_string().contains("not the one"), "{refused}");

        let own = default_path(&dir.path().join("test.db"));
        let first = ServerKey::open(&mut conn, &own).await.unwrap();
        let again = ServerKey::open(&mut conn, &own).await.unwrap();
        assert_eq!(first.mac_hex(b"x"), again.mac_hex(b"x"));
    }

    #[tokio::test]
    async fn a_missing_key_file_for_a_keyed_database_stops_the_start() {
        let (store, dir) = testing::store().await;
        std::fs::remove_file(default_path(&dir.path().join("test.db"))).unwrap();
        let mut conn = store.reader().await.unwrap();
        let own = default_path(&dir.path().join("test.db"));
        let refused = ServerKey::open(&mut conn, &own).await.unwrap_err();
        assert!(refused.to_string().contains("is missing"), "{refused}");
    }

    #[test]
    fn a_key_file_that_is_not_hex_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "not hex").unwrap();
        assert!(read_key_file(&path).is_err());
        std::fs::write(&path, "00".repeat(KEY_BYTES)).unwrap();
        assert_eq!(read_key_file(&path).unwrap().unwrap().len(), KEY_BYTES);
    }
}
