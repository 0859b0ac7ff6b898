//! Values a webhook may use only once (Mailgun's signed token), shared by every process through
//! the database: the first request to commit one owns it until it expires.

use sqlx::{AnyConnection, Row};

use super::StoreError;

/// A value a plugin registered for its request, and when the signature it belongs to goes stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    pub value: String,
    pub expires_at: i64,
}

/// The first of `nonces` that a request other than `own` (a stored webhook being replayed) holds
/// and that has not expired by `now`, with the stored webhook holding it.
pub async fn used_elsewhere(
    conn: &mut AnyConnection,
    plugin_id: &str,
    nonces: &[Nonce],
    own: Option<i64>,
    now: i64,
) -> Result<Option<(String, Option<i64>)>, StoreError> {
    for nonce in nonces {
        let holder = sqlx::query(
            "SELECT raw_webhook_id FROM webhook_nonces
             WHERE plugin_id = $1 AND nonce = $2 AND expires_at >= $3",
        )
        .bind(plugin_id)
        .bind(&nonce.value)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = holder {
            let holder: Option<i64> = row.try_get("raw_webhook_id")?;
            if own.is_none() || holder != own {
                return Ok(Some((nonce.value.clone(), holder)));
            }
        }
    }
    Ok(None)
}

/// Registers `nonces` for the stored webhook `raw_webhook_id`. Returns the first nonce that
/// another request already used (the request is then a replay and must be refused); `None` when
/// all are this request's. Expired entries are dropped first; a stored webhook being replayed
/// finds its own entries and passes.
pub async fn claim(
    conn: &mut AnyConnection,
    plugin_id: &str,
    nonces: &[Nonce],
    raw_webhook_id: i64,
    now: i64,
) -> Result<Option<String>, StoreError> {
    if nonces.is_empty() {
        return Ok(None);
    }
    sqlx::query("DELETE FROM webhook_nonces WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for nonce in nonces {
        let inserted = sqlx::query(
            "INSERT INTO webhook_nonces (plugin_id, nonce, expires_at, raw_webhook_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(plugin_id)
        .bind(&nonce.value)
        .bind(nonce.expires_at)
        .bind(raw_webhook_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            continue;
        }
        let owner: Option<i64> = sqlx::query(
            "SELECT raw_webhook_id FROM webhook_nonces WHERE plugin_id = $1 AND nonce = $2",
        )
        .bind(plugin_id)
        .bind(&nonce.value)
        .fetch_one(&mut *conn)
        .await?
        .try_get("raw_webhook_id")?;
        if owner != Some(raw_webhook_id) {
            return Ok(Some(nonce.value.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_webhooks::tests::stored_request;
    use crate::testing;

    fn token(value: &str, expires_at: i64) -> Nonce {
        Nonce {
            value: value.into(),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_token_is_owned_by_the_first_request_until_it_expires() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let first = stored_request(tx.conn()).await;
        let second = stored_request(tx.conn()).await;
        let conn = tx.conn();
        let t = [token("tok-1", 1_000)];

        assert_eq!(claim(conn, "mg", &t, first, 500).await.unwrap(), None);
        assert_eq!(
            claim(conn, "mg", &t, first, 600).await.unwrap(),
            None,
            "a replay of the same request"
        );
        assert_eq!(
            claim(conn, "mg", &t, second, 700).await.unwrap(),
            Some("tok-1".to_string()),
            "another request with the same token is a replay"
        );
        assert_eq!(
            claim(conn, "other", &t, second, 700).await.unwrap(),
            None,
            "per plugin"
        );
        assert_eq!(
            used_elsewhere(conn, "mg", &t, None, 800).await.unwrap(),
            Some(("tok-1".into(), Some(first)))
        );
        assert_eq!(
            used_elsewhere(conn, "mg", &t, Some(first), 800)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            used_elsewhere(conn, "mg", &t, None, 1_001).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            claim(conn, "mg", &[token("tok-1", 5_000)], second, 1_001)
                .await
                .unwrap(),
            None,
            "after it expired the token is free again (its signature is stale anyway)"
        );
    }
}
