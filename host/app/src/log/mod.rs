//! The interaction log as the application adds to it. [`append`] is the one way in: every path
//! that records an interaction (a webhook, a send, a call staff logged, a portal read, a merge)
//! goes through it. It inserts the new rows and, in the same transaction, runs every reaction to
//! them, listed in one place in `log/reactions.rs`: the engagement counters, the consent ledger, the
//! outbox, and unreachable identities.

mod reactions;

use sqlx::AnyConnection;

use switchboard_core::domain::{IdentityKey, LoggedInteraction};
use switchboard_store::StoreError;
use switchboard_store::interactions::{self, Inserted, NewInteraction};

/// An interaction to append, with what its source said beyond the row.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub row: NewInteraction,
    /// The person's identifiers the interaction names, as its source reported them (a webhook's
    /// hints): a hard bounce marks those of its channel unreachable. Empty when it names none.
    pub identities: &'a [IdentityKey],
}

impl From<NewInteraction> for Entry<'static> {
    fn from(row: NewInteraction) -> Self {
        Entry {
            row,
            identities: &[],
        }
    }
}

/// What an append added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    inserted: Inserted,
}

impl Appended {
    /// How many rows were added in all.
    pub fn total(&self) -> u64 {
        self.inserted.total()
    }

    /// How many of the added rows came in raw webhook `raw_webhook_id`.
    pub fn from_webhook(&self, raw_webhook_id: i64) -> u64 {
        self.inserted.from_webhook(raw_webhook_id)
    }

    /// The added rows about someone, in log order.
    pub fn events(&self) -> &[LoggedInteraction] {
        self.inserted.events()
    }

    /// The log ids of the added rows about someone, in log order.
    pub fn ids(&self) -> Vec<i64> {
        self.events().iter().map(|e| e.id).collect()
    }
}

/// Adds interactions to the log inside the caller's transaction, skipping any whose
/// `(vendor, vendor_event_id)` the log already holds (or that came earlier in
/// `entries`), and runs every reaction to the added ones in the same transaction.
pub async fn append(
    conn: &mut AnyConnection,
    entries: Vec<Entry<'_>>,
) -> Result<Appended, StoreError> {
    let (rows, identities): (Vec<NewInteraction>, Vec<&[IdentityKey]>) = entries
        .into_iter()
        .map(|entry| (entry.row, entry.identities))
        .unzip();
    let inserted = interactions::insert_new(conn, &rows).await?;
    reactions::run(conn, &rows, &identities, inserted.events()).await?;
    Ok(Appended { inserted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::Outcome;
    use switchboard_store::testing::event;
    use switchboard_store::{contacts, testing};

    /// A batch whose third row is an unsubscribe by `contact`, the rest deliveries to them.
    fn batch_with_unsubscribe(contact: i64, prefix: &str) -> Vec<NewInteraction> {
        (0..5)
            .map(|i| {
                let (kind, outcome) = if i == 2 {
                    ("email_unsubscribed", Outcome::Unsubscribed)
                } else {
                    ("email_delivered", Outcome::Delivered)
                };
                let mut row = event(kind, outcome, 100 + i, "m1", &format!("{prefix}{i}"));
                row.contact_id = Some(contact);
                row
            })
            .collect()
    }

    fn entries(rows: &[NewInteraction]) -> Vec<Entry<'static>> {
        rows.iter().cloned().map(Entry::from).collect()
    }

    /// The id of the logged row of `event_id`, and the interaction each consent entry points at.
    async fn id_and_consent(conn: &mut AnyConnection, event_id: &str) -> (i64, Vec<i64>) {
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM interaction_log WHERE vendor_event_id = $1")
                .bind(event_id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let pointed: Vec<i64> =
            sqlx::query_scalar("SELECT interaction_id FROM consent_events ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        (id, pointed)
    }

    #[tokio::test]
    async fn a_consent_change_in_a_batch_points_at_its_own_row() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        // Something logged first, so the new ids do not start at 1.
        let first = event("email_processed", Outcome::Queued, 1, "m0", "x");
        append(tx.conn(), vec![first.into()]).await.unwrap();

        let rows = batch_with_unsubscribe(contact, "a");
        assert_eq!(append(tx.conn(), entries(&rows)).await.unwrap().total(), 5);
        let (id, pointed) = id_and_consent(tx.conn(), "a2").await;
        assert_eq!(
            pointed,
            vec![id],
            "the ledger entry points at the unsubscribe's row"
        );
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_with_repeats_records_consent_once_for_the_row_that_went_in() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = contacts::create(tx.conn(), 0).await.unwrap();
        let mut rows = batch_with_unsubscribe(contact, "b");
        append(tx.conn(), entries(&rows[2..3])).await.unwrap();

        // b2 (the unsubscribe) is already logged and b3 comes twice.
        rows.push(rows[3].clone());
        let appended = append(tx.conn(), entries(&rows)).await.unwrap();
        assert_eq!(appended.total(), 4);
        let (id, pointed) = id_and_consent(tx.conn(), "b2").await;
        assert_eq!(pointed, vec![id], "the repeat recorded nothing more");
        tx.commit().await.unwrap();
    }

    /// A hard bounce of `message` to `contact`, as Sendgrid reports it.
    fn bounce(contact: i64, at: i64, message: &str, event_id: &str) -> NewInteraction {
        let mut row = event("email_bounced", Outcome::Bounced, at, message, event_id);
        row.contact_id = Some(contact);
        row.vendor_status = Some("bounce".into());
        row
    }

    /// A contact with one email address.
    async fn with_address(conn: &mut AnyConnection, email: &IdentityKey) -> i64 {
        let contact = contacts::create(conn, 0).await.unwrap();
        contacts::link_identity(conn, contact, email, "test", 0)
            .await
            .unwrap();
        contact
    }

    /// The address's unreachable mark: since when, why, and the evidence.
    async fn mark_of(
        conn: &mut AnyConnection,
        contact: i64,
    ) -> (Option<i64>, Option<String>, Option<i64>) {
        let identity = contacts::identity_rows(conn, contact)
            .await
            .unwrap()
            .remove(0);
        (
            identity.unreachable_at,
            identity.unreachable_reason,
            identity.unreachable_interaction_id,
        )
    }

    #[tokio::test]
    async fn a_hard_bounce_marks_the_address_it_names_unreachable_with_itself_as_evidence() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let email = IdentityKey::email("ana@example.org").unwrap();
        let contact = with_address(tx.conn(), &email).await;
        let named = [email];
        let sent = Entry::from(event("email_processed", Outcome::Queued, 5, "m1", "p1"));
        let bounced = Entry {
            row: bounce(contact, 10, "m1", "b1"),
            identities: &named,
        };
        let appended = append(tx.conn(), vec![sent, bounced]).await.unwrap();
        let evidence = appended.ids().last().copied();
        assert_eq!(
            mark_of(tx.conn(), contact).await,
            (
                Some(10),
                Some("email_bounced (sendgrid: bounce)".into()),
                evidence
            )
        );
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_bounce_naming_no_address_or_already_logged_marks_nothing() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let email = IdentityKey::email("ben@example.org").unwrap();
        let contact = with_address(tx.conn(), &email).await;
        append(tx.conn(), vec![bounce(contact, 10, "m1", "b1").into()])
            .await
            .unwrap();
        assert_eq!(mark_of(tx.conn(), contact).await, (None, None, None));

        // The same event again, now naming the address: a repeat sets off nothing.
        let named = [email];
        let again = Entry {
            row: bounce(contact, 10, "m1", "b1"),
            identities: &named,
        };
        assert_eq!(append(tx.conn(), vec![again]).await.unwrap().total(), 0);
        assert_eq!(mark_of(tx.conn(), contact).await, (None, None, None));
        tx.commit().await.unwrap();
    }
}
