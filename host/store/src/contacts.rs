//! Contacts and the identities that point to them.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;
use sqlx::Row;

use super::StoreError;
use super::sql::{Params, dynamic, fetch_packed, packed};
use switchboard_core::domain::{IdentityKey, IdentityKind};
pub use switchboard_core::records::{Contact, Identity, Moved};

/// Which of `ids` are contacts.
pub async fn existing(conn: &mut AnyConnection, ids: &[i64]) -> Result<HashSet<i64>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let select = format!(
        "SELECT id FROM contacts WHERE id IN ({})",
        Params::for_connection(conn)?.list(ids.len())
    );
    let mut query = dynamic(packed(conn, "id", &select)?);
    for id in ids {
        query = query.bind(*id);
    }
    let rows: Vec<(i64,)> = fetch_packed(query, conn).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
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

/// Creates `count` empty contacts, in one statement per 500; returns their ids, ascending (the
/// order they were created in).
pub async fn create_many(
    conn: &mut AnyConnection,
    count: usize,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let chunk = left.min(500);
        let sql = format!(
            "INSERT INTO contacts (created_at, updated_at) VALUES {} RETURNING id",
            Params::for_connection(conn)?.rows(chunk, 2)
        );
        let mut query = dynamic(sql);
        for _ in 0..chunk {
            query = query.bind(now).bind(now);
        }
        let mut created: Vec<i64> = query
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        // The rows are alike: which id is which matters only as their order of creation.
        created.sort_unstable();
        ids.extend(created);
        left -= chunk;
    }
    Ok(ids)
}

/// Links identities to contacts, each unless it already belongs to a contact, in one statement
/// per 200 links.
pub async fn link_identities(
    conn: &mut AnyConnection,
    links: &[(i64, &IdentityKey)],
    source: &str,
    now: i64,
) -> Result<(), StoreError> {
    for chunk in links.chunks(200) {
        let sql = format!(
            "INSERT INTO identities (contact_id, kind, value, source, created_at) VALUES {}
             ON CONFLICT DO NOTHING",
            Params::for_connection(conn)?.rows(chunk.len(), 5)
        );
        let mut query = dynamic(sql);
        for (contact_id, key) in chunk {
            query = query
                .bind(*contact_id)
                .bind(key.kind.as_str())
                .bind(key.value.as_str())
                .bind(source)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
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
        let mut params = Params::for_connection(conn)?;
        let select = format!(
            "SELECT value, contact_id FROM identities WHERE kind = {} AND value IN ({})",
            params.one(),
            params.list(values.len())
        );
        let mut query = dynamic(packed(conn, "value, contact_id", &select)?).bind(kind.as_str());
        for value in &values {
            query = query.bind(*value);
        }
        let rows: Vec<(String, i64)> = fetch_packed(query, &mut *conn).await?;
        owners.extend(
            rows.into_iter()
                .map(|(value, contact)| (IdentityKey { kind, value }, contact)),
        );
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

/// Creates a contact with its fields.
pub async fn create_named(
    conn: &mut AnyConnection,
    display_name: Option<&str>,
    timezone: Option<&str>,
    now: i64,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO contacts (display_name, timezone, created_at, updated_at)
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(display_name)
    .bind(timezone)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

const CONTACT_COLUMNS: &str = "id, display_name, timezone, created_at, updated_at";

/// One contact.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Contact>, StoreError> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
    let row = dynamic(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(contact_from_row).transpose()
}

/// Sets a contact's fields (`None` leaves one as it is; `Some(None)` clears it).
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    display_name: Option<Option<&str>>,
    timezone: Option<Option<&str>>,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE contacts SET
            display_name = CASE WHEN $1 = 1 THEN $2 ELSE display_name END,
            timezone = CASE WHEN $3 = 1 THEN $4 ELSE timezone END,
            updated_at = $5
         WHERE id = $6",
    )
    .bind(i64::from(display_name.is_some()))
    .bind(display_name.flatten())
    .bind(i64::from(timezone.is_some()))
    .bind(timezone.flatten())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// What to look for; every given criterion must match.
#[derive(Debug, Clone, Default)]
pub struct Search<'a> {
    /// Part of the display name, case-insensitively.
    pub name: Option<&'a str>,
    /// Normalized identities the contact must hold.
    pub identities: Vec<IdentityKey>,
    /// Contacts with ids above this (the cursor).
    pub after_id: i64,
    pub limit: i64,
}

/// Contacts matching a search, by id.
pub async fn search(
    conn: &mut AnyConnection,
    search: &Search<'_>,
) -> Result<Vec<Contact>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let mut sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.id > {}",
        params.one()
    );
    if search.name.is_some() {
        sql.push_str(&format!(
            " AND LOWER(c.display_name) LIKE {} ESCAPE '\\'",
            params.one()
        ));
    }
    for _ in &search.identities {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM identities i WHERE i.contact_id = c.id AND i.kind = {} AND i.value = {})",
            params.one(),
            params.one()
        ));
    }
    sql.push_str(&format!(" ORDER BY c.id LIMIT {}", params.one()));
    let mut query = dynamic(sql).bind(search.after_id);
    if let Some(name) = search.name {
        query = query.bind(format!("%{}%", escape_like(&name.to_lowercase())));
    }
    for key in &search.identities {
        query = query.bind(key.kind.as_str()).bind(key.value.clone());
    }
    let rows = query.bind(search.limit).fetch_all(conn).await?;
    rows.iter().map(contact_from_row).collect()
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A contact's identities, with their ids, in the order they were linked.
pub async fn identity_rows(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<Identity>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, contact_id, kind, value, source, created_at, unreachable_at,
                unreachable_reason, unreachable_interaction_id
         FROM identities WHERE contact_id = $1 ORDER BY id",
    )
    .bind(contact_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(Identity {
                id: row.try_get("id")?,
                contact_id: row.try_get("contact_id")?,
                kind: IdentityKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("identity kind {kind:?}")))?,
                value: row.try_get("value")?,
                source: row.try_get("source")?,
                created_at: row.try_get("created_at")?,
                unreachable_at: row.try_get("unreachable_at")?,
                unreachable_reason: row.try_get("unreachable_reason")?,
                unreachable_interaction_id: row.try_get("unreachable_interaction_id")?,
            })
        })
        .collect()
}

/// An identity to mark unreachable, with why and the interaction that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreachableMark<'a> {
    pub contact_id: i64,
    pub key: &'a IdentityKey,
    pub reason: String,
    pub interaction_id: Option<i64>,
    pub at: i64,
}

/// Marks contacts' identities unreachable (hard bounces, say), in one statement per 100 marks
/// however many the batch holds. An identity already marked keeps its first evidence, and of two
/// marks of one identity the first counts.
pub async fn mark_unreachable(
    conn: &mut AnyConnection,
    marks: &[UnreachableMark<'_>],
) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let firsts: Vec<&UnreachableMark<'_>> = marks
        .iter()
        .filter(|m| seen.insert((m.contact_id, m.key)))
        .collect();
    for chunk in firsts.chunks(100) {
        let mut params = Params::for_connection(conn)?;
        let sql = format!(
            "WITH marks (contact_id, kind, value, reason, interaction_id, at) AS (VALUES {})
             UPDATE identities SET unreachable_at = marks.at,
                 unreachable_reason = marks.reason,
                 unreachable_interaction_id = marks.interaction_id
             FROM marks
             WHERE identities.contact_id = marks.contact_id AND identities.kind = marks.kind
               AND identities.value = marks.value AND identities.unreachable_at IS NULL",
            params.rows(chunk.len(), 6)
        );
        let mut query = dynamic(sql);
        for mark in chunk {
            query = query
                .bind(mark.contact_id)
                .bind(mark.key.kind.as_str())
                .bind(mark.key.value.as_str())
                .bind(mark.reason.as_str())
                .bind(mark.interaction_id)
                .bind(mark.at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Clears an identity's unreachable mark; says whether the identity is the contact's.
pub async fn reverify(
    conn: &mut AnyConnection,
    contact_id: i64,
    identity_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE identities SET unreachable_at = NULL, unreachable_reason = NULL,
             unreachable_interaction_id = NULL
         WHERE id = $1 AND contact_id = $2",
    )
    .bind(identity_id)
    .bind(contact_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Unlinks one identity from a contact; says whether it was the contact's.
pub async fn remove_identity(
    conn: &mut AnyConnection,
    contact_id: i64,
    identity_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM identities WHERE id = $1 AND contact_id = $2")
        .bind(identity_id)
        .bind(contact_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves everything of `merged` to `survivor`, records the merge and deletes `merged`.
pub async fn merge(
    conn: &mut AnyConnection,
    survivor: i64,
    merged: i64,
    merged_by: &str,
    now: i64,
) -> Result<Moved, StoreError> {
    let mut moved = Moved::default();
    for (table, count) in [
        ("interaction_log", &mut moved.interactions),
        ("identities", &mut moved.identities),
        ("intents", &mut moved.intents),
    ] {
        let sql = format!("UPDATE {table} SET contact_id = $1 WHERE contact_id = $2");
        *count = dynamic(sql)
            .bind(survivor)
            .bind(merged)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    // The ledger moves with them: an opt-out given under either record still holds. So do the
    // messages sent to either, their call tasks and portal inbox, and their conversions.
    for table in [
        "consent_events",
        "messages",
        "call_tasks",
        "portal_messages",
        "conversions",
    ] {
        dynamic(format!(
            "UPDATE {table} SET contact_id = $1 WHERE contact_id = $2"
        ))
        .bind(survivor)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    }
    // Their messages are one person's now: which inbound message answers which changes.
    super::rollup::mark_refold(conn, &[survivor, merged]).await?;
    // The webhooks about the merged contact are about the survivor now (export, erasure).
    super::raw_webhooks::move_links(conn, survivor, merged).await?;
    // Stated preferences: the survivor's own win; the merged contact's are kept if it had none.
    sqlx::query(
        "UPDATE contact_preferences SET contact_id = $1 WHERE contact_id = $2
         AND NOT EXISTS (SELECT 1 FROM contact_preferences WHERE contact_id = $1)",
    )
    .bind(survivor)
    .bind(merged)
    .execute(&mut *conn)
    .await?;
    // Earlier merges into the merged contact now lead to the survivor.
    sqlx::query("UPDATE contact_merges SET survivor_id = $1 WHERE survivor_id = $2")
        .bind(survivor)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    let detail = serde_json::to_string(&moved).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO contact_merges (survivor_id, merged_id, merged_at, merged_by, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(survivor)
    .bind(merged)
    .bind(now)
    .bind(merged_by)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    delete(conn, merged).await?;
    Ok(moved)
}

/// Where each of `ids` was merged to, for those that were merged away.
pub async fn merged_into(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT merged_id, survivor_id FROM contact_merges WHERE merged_id IN ({})",
        Params::for_connection(conn)?.list(ids.len())
    );
    let mut query = dynamic(sql);
    for id in ids {
        query = query.bind(*id);
    }
    let mut map = HashMap::new();
    for row in query.fetch_all(conn).await? {
        map.insert(row.try_get("merged_id")?, row.try_get("survivor_id")?);
    }
    Ok(map)
}

/// Deletes a contact; its identities, interactions and intents go with it (foreign keys).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    // The analytics rollup counts its interactions: they leave it with them.
    super::rollup::forget_contact(conn, id).await?;
    let result = sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        timezone: row.try_get("timezone")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn marks_of_a_batch_keep_each_identitys_first_evidence() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let (ana, ben) = (
            create(tx.conn(), 1).await.unwrap(),
            create(tx.conn(), 1).await.unwrap(),
        );
        let ana_mail = IdentityKey::email("ana@example.org").unwrap();
        let ben_mail = IdentityKey::email("ben@example.org").unwrap();
        let ben_phone = IdentityKey::phone("+15550100", None).unwrap();
        for (contact, key) in [(ana, &ana_mail), (ben, &ben_mail), (ben, &ben_phone)] {
            link_identity(tx.conn(), contact, key, "test", 1)
                .await
                .unwrap();
        }
        let mark = |contact_id, key, why: &str, at| UnreachableMark {
            contact_id,
            key,
            reason: why.into(),
            interaction_id: Some(at),
            at,
        };
        mark_unreachable(tx.conn(), &[mark(ben, &ben_phone, "earlier", 5)])
            .await
            .unwrap();
        let batch = [
            mark(ana, &ana_mail, "first", 10),
            mark(ana, &ana_mail, "second", 11),
            mark(ben, &ben_phone, "again", 12),
            // Ana's address is not Ben's to lose.
            mark(ben, &ana_mail, "not his", 13),
        ];
        mark_unreachable(tx.conn(), &batch).await.unwrap();

        let marks_of = |rows: Vec<Identity>| -> Vec<(String, Option<String>, Option<i64>)> {
            rows.into_iter()
                .map(|r| (r.value, r.unreachable_reason, r.unreachable_interaction_id))
                .collect()
        };
        assert_eq!(
            marks_of(identity_rows(tx.conn(), ana).await.unwrap()),
            [("ana@example.org".into(), Some("first".into()), Some(10))]
        );
        let mut ben_marks = marks_of(identity_rows(tx.conn(), ben).await.unwrap());
        ben_marks.sort();
        assert_eq!(
            ben_marks,
            [
                ("+15550100".into(), Some("earlier".into()), Some(5)),
                ("ben@example.org".into(), None, None),
            ]
        );
        tx.commit().await.unwrap();
    }

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
