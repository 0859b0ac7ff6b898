//! Group commit of accepted webhooks (see [`crate::group_commit`]): webhooks accepted at the
//! same time share one write transaction, and every step of recording them runs once for the
//! whole group ([`record_group`]), however many webhooks it holds.

use super::ReportedInteraction;
use super::record::{AcceptedWebhook, Committed, RawRow, Source, record_group};
use crate::group_commit::{GroupCommit, Limits, Recorder};
use switchboard_core::clock::now_ms;
use switchboard_store::nonces::Nonce;
use switchboard_store::raw_webhooks::RawRequest;
use switchboard_store::{Store, StoreError};

/// How large groups of webhooks grow: until they hold this many interactions (at least one
/// webhook), with this many webhooks waiting before senders wait to queue.
const LIMITS: Limits = Limits {
    group_weight: 2_000,
    queue_depth: 1_024,
};

/// The committer of accepted webhooks.
pub type Committer = GroupCommit<Webhooks>;

/// Starts the committer of accepted webhooks on a thread of its own.
pub fn start(store: Store) -> std::io::Result<Committer> {
    GroupCommit::start("switchboard-committer", store, Webhooks, LIMITS)
}

/// An accepted webhook waiting to be recorded.
pub struct Accepted {
    pub plugin_id: String,
    pub vendor: String,
    pub raw: RawRequest,
    pub interactions: Vec<ReportedInteraction>,
    pub nonces: Vec<Nonce>,
}

impl Accepted {
    fn source(&self) -> Source<'_> {
        Source {
            plugin_id: &self.plugin_id,
            vendor: &self.vendor,
        }
    }

    fn webhook(&self) -> AcceptedWebhook<'_> {
        AcceptedWebhook {
            raw: RawRow::New(&self.raw),
            received_at: self.raw.received_at,
            interactions: &self.interactions,
            nonces: &self.nonces,
        }
    }
}

/// Records accepted webhooks: in arrival order, each run of consecutive webhooks from one plugin
/// together.
pub struct Webhooks;

impl Recorder for Webhooks {
    type Item = Accepted;
    type Output = Committed;

    async fn record(
        &self,
        conn: &mut sqlx::AnyConnection,
        store: &Store,
        group: &[Accepted],
    ) -> Result<Vec<Committed>, StoreError> {
        let now = now_ms();
        let mut results = Vec::with_capacity(group.len());
        for run in group.chunk_by(|a, b| a.plugin_id == b.plugin_id && a.vendor == b.vendor) {
            let webhooks: Vec<AcceptedWebhook<'_>> = run.iter().map(Accepted::webhook).collect();
            results.extend(record_group(conn, store.key(), run[0].source(), &webhooks, now).await?);
        }
        Ok(results)
    }

    fn weight(webhook: &Accepted) -> usize {
        webhook.interactions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_commit::record_together;
    use crate::ingest::record::Recorded;
    use switchboard_core::domain::{Channel, Direction, Hints, IdentityKey, Outcome};
    use switchboard_store::testing;

    /// What was recorded of a webhook that used no once-only value.
    fn recorded_of(committed: Committed) -> Recorded {
        match committed {
            Committed::Recorded(recorded) => recorded,
            other => panic!("not recorded: {other:?}"),
        }
    }

    const SOURCE: Source<'static> = Source {
        plugin_id: "email-sendgrid",
        vendor: "sendgrid",
    };

    /// A webhook of `plugin_id` carrying `interactions`, accepted.
    fn accepted(plugin_id: &str, interactions: Vec<ReportedInteraction>) -> Accepted {
        Accepted {
            plugin_id: plugin_id.to_string(),
            vendor: "sendgrid".into(),
            raw: raw(plugin_id),
            interactions,
            nonces: Vec::new(),
        }
    }

    fn raw(plugin_id: &str) -> RawRequest {
        RawRequest {
            plugin_id: plugin_id.to_string(),
            received_at: 1_700_000_100_000,
            method: "POST".into(),
            path: format!("/webhooks/{plugin_id}"),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"[]".to_vec(),
        }
    }

    /// An email event about message `message` (with the address only if `email` is given).
    fn event(
        event_id: &str,
        message: &str,
        outcome: Outcome,
        email: Option<&str>,
    ) -> ReportedInteraction {
        ReportedInteraction {
            kind: format!("email_{}", outcome.as_str()),
            channel: Channel::Email,
            direction: Direction::Outbound,
            outcome,
            vendor_status: None,
            occurred_at: 1_700_000_000_000,
            vendor_message_id: Some(message.to_string()),
            vendor_event_id: Some(event_id.to_string()),
            hints: Hints {
                contact_id: None,
                identities: email
                    .map(|e| IdentityKey::email(e).expect("valid email"))
                    .into_iter()
                    .collect(),
            },
            summary: None,
            metadata: "{}".into(),
        }
    }

    /// Records webhooks carrying `batches` as one group, in one committed transaction.
    async fn record_together_now(
        store: &Store,
        batches: &[Vec<ReportedInteraction>],
    ) -> Vec<Recorded> {
        let request = raw(SOURCE.plugin_id);
        let webhooks: Vec<AcceptedWebhook<'_>> = batches
            .iter()
            .map(|interactions| AcceptedWebhook {
                raw: RawRow::New(&request),
                received_at: request.received_at,
                interactions,
                nonces: &[],
            })
            .collect();
        let mut tx = store.begin_write().await.unwrap();
        let recorded = record_group(tx.conn(), store.key(), SOURCE, &webhooks, now_ms())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        recorded.into_iter().map(recorded_of).collect()
    }

    async fn log_rows(store: &Store) -> Vec<(String, Option<i64>, i64)> {
        sqlx::query_as(
            "SELECT vendor_event_id, contact_id, raw_webhook_id FROM interaction_log ORDER BY id",
        )
        .fetch_all(store.pool())
        .await
        .expect("read the log")
    }

    #[tokio::test]
    async fn a_group_records_as_if_one_webhook_followed_another() {
        let (store, _dir) = testing::store().await;
        let first = vec![
            event("e1", "m1", Outcome::Queued, Some("ana@example.org")),
            event("e2", "m1", Outcome::Delivered, Some("ana@example.org")),
        ];
        // A vendor retry of e2, and an open that names no one but belongs to m1.
        let second = vec![
            event("e2", "m1", Outcome::Delivered, Some("ana@example.org")),
            event("e3", "m1", Outcome::Opened, None),
        ];
        let recorded = record_together_now(&store, &[first, second]).await;

        assert_eq!((recorded[0].interactions, recorded[0].duplicates), (2, 0));
        assert_eq!((recorded[1].interactions, recorded[1].duplicates), (1, 1));
        let rows = log_rows(&store).await;
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        let contact = rows[0].1.expect("ana has a contact");
        assert!(rows.iter().all(|r| r.1 == Some(contact)), "{rows:?}");
        assert_eq!(rows[2].2, recorded[1].raw_webhook_id);
    }

    #[tokio::test]
    async fn an_erased_persons_event_is_cut_from_a_shared_body_and_the_others_stay() {
        let (store, _dir) = testing::store().await;
        let erased = IdentityKey::email("gone@example.org").unwrap();
        let mut tx = store.begin_write().await.unwrap();
        switchboard_store::suppressions::add(tx.conn(), store.key(), &[erased], now_ms())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ana_text = r#"{"email":"ana@example.org","sg_event_id":"e1","ip":"1.1.1.1"}"#;
        let gone_text = r#"{"email":"gone@example.org","sg_event_id":"e9","ip":"9.9.9.9"}"#;
        let with_text = |mut i: ReportedInteraction, text: &str| {
            i.metadata = text.to_string();
            i
        };
        let first = vec![with_text(
            event("e1", "m1", Outcome::Queued, Some("ana@example.org")),
            ana_text,
        )];
        // A repeat of e1, and an event about the erased person, in one batch.
        let second = vec![
            with_text(
                event("e1", "m1", Outcome::Queued, Some("ana@example.org")),
                ana_text,
            ),
            with_text(
                event("e9", "m9", Outcome::Opened, Some("gone@example.org")),
                gone_text,
            ),
        ];
        let mut request = raw(SOURCE.plugin_id);
        request.body = format!("[{ana_text}, {gone_text}]").into_bytes();
        let webhooks = [&first, &second].map(|interactions| AcceptedWebhook {
            raw: RawRow::New(&request),
            received_at: request.received_at,
            interactions,
            nonces: &[],
        });
        let mut tx = store.begin_write().await.unwrap();
        let recorded = record_group(tx.conn(), store.key(), SOURCE, &webhooks, now_ms())
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let second = recorded_of(recorded[1].clone());
        assert_eq!(
            (second.interactions, second.duplicates, second.suppressed),
            (0, 1, 1)
        );
        let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM raw_webhooks WHERE id = $1")
            .bind(second.raw_webhook_id)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), format!("[{ana_text}]"));
    }

    #[tokio::test]
    async fn a_webhook_about_only_an_erased_person_keeps_no_body() {
        let (store, _dir) = testing::store().await;
        let erased = IdentityKey::email("gone@example.org").unwrap();
        let mut tx = store.begin_write().await.unwrap();
        switchboard_store::suppressions::add(tx.conn(), store.key(), &[erased], now_ms())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let only = vec![event("e9", "m9", Outcome::Opened, Some("gone@example.org"))];
        let recorded = record_together_now(&store, &[only]).await;
        let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM raw_webhooks WHERE id = $1")
            .bind(recorded[0].raw_webhook_id)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(
            body.is_empty(),
            "the body naming only an erased person was kept"
        );
    }

    #[tokio::test]
    async fn a_second_request_with_a_used_token_is_refused_and_stores_nothing() {
        let (store, _dir) = testing::store().await;
        let token = [Nonce {
            value: "tok".into(),
            expires_at: i64::MAX,
        }];
        let events = vec![event(
            "e1",
            "m1",
            Outcome::Delivered,
            Some("ana@example.org"),
        )];
        let forged = vec![event(
            "e2",
            "m2",
            Outcome::Delivered,
            Some("eve@example.org"),
        )];
        let request = raw(SOURCE.plugin_id);
        let webhooks = [&events, &forged].map(|interactions| AcceptedWebhook {
            raw: RawRow::New(&request),
            received_at: request.received_at,
            interactions,
            nonces: &token,
        });
        let mut tx = store.begin_write().await.unwrap();
        let results = record_group(tx.conn(), store.key(), SOURCE, &webhooks, now_ms())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(matches!(results[0], Committed::Recorded(_)));
        assert_eq!(
            results[1],
            Committed::Replayed {
                nonce: "tok".into()
            }
        );
        let ids: Vec<String> = log_rows(&store).await.into_iter().map(|r| r.0).collect();
        assert_eq!(ids, ["e1"]);
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_webhooks")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stored, 1);
    }

    #[tokio::test]
    async fn webhooks_sent_together_are_each_answered_with_their_own_result() {
        let (store, _dir) = testing::store().await;
        let committer = start(store.clone()).unwrap();
        let sends = (0..24).map(|n| {
            let committer = committer.clone();
            tokio::spawn(async move {
                let events = vec![
                    event(
                        &format!("a{n}"),
                        &format!("m{n}"),
                        Outcome::Queued,
                        Some("bo@example.org"),
                    ),
                    event(
                        &format!("b{}", n / 2),
                        "shared",
                        Outcome::Opened,
                        Some("bo@example.org"),
                    ),
                ];
                committer
                    .record(accepted(SOURCE.plugin_id, events))
                    .await
                    .map(recorded_of)
            })
        });
        let mut added = 0;
        for send in sends.collect::<Vec<_>>() {
            let recorded = send.await.unwrap().expect("recorded");
            assert_eq!(recorded.interactions + recorded.duplicates, 2);
            added += recorded.interactions;
        }
        // 24 distinct `a` events, 12 distinct `b` events (each sent twice).
        assert_eq!(added, 36);
        assert_eq!(log_rows(&store).await.len(), 36);
    }

    #[tokio::test]
    async fn a_failing_webhook_does_not_fail_the_others_in_its_group() {
        let (store, _dir) = testing::store().await;
        // A real database refusal for one plugin's webhooks only.
        sqlx::query(
            "CREATE TRIGGER refuse_broken BEFORE INSERT ON raw_webhooks
             WHEN NEW.plugin_id = 'broken'
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let webhook = |plugin_id: &str, event_id: &str| {
            let events = vec![event(
                event_id,
                event_id,
                Outcome::Queued,
                Some("cy@example.org"),
            )];
            accepted(plugin_id, events)
        };
        let group = [
            webhook("email-sendgrid", "g1"),
            webhook("broken", "x1"),
            webhook("email-sendgrid", "g2"),
        ];

        let mut results = record_together(&store, &Webhooks, &group).await.into_iter();
        let mut next = || results.next().unwrap();

        assert_eq!(recorded_of(next().unwrap()).interactions, 1);
        let error = next().unwrap_err();
        assert!(
            error.to_string().contains("refused for the test"),
            "{error}"
        );
        assert_eq!(recorded_of(next().unwrap()).interactions, 1);
        let ids: Vec<String> = log_rows(&store).await.into_iter().map(|r| r.0).collect();
        assert_eq!(ids, ["g1", "g2"]);
    }
}
