//! What the analytics read of the log: every outbound message of a period with the milestones
//! its events reached (and what the outbox knows of it: kind, urgency, template), and the inbound
//! messages that may answer them. The folding into reports is `switchboard-app`'s `analytics`.

use serde::Deserialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use crate::sql::{Params, dynamic, fetch_packed, packed};
use crate::{Backend, StoreError};
use switchboard_core::domain::{Channel, Outcome};

/// One outbound message: the events of one vendor message id on one channel, or one logged
/// outbound interaction without an id (a call staff logged). Times are ms since the epoch, each
/// the first event that showed the milestone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    pub channel: Channel,
    pub vendor_message_id: Option<String>,
    pub contact_id: Option<i64>,
    pub plugin_id: Option<String>,
    /// Its first event: when it left us.
    pub sent_at: i64,
    pub delivered_at: Option<i64>,
    /// Opened or viewed.
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub replied_at: Option<i64>,
    /// Answered (a call), completed or attended (a visit).
    pub answered_at: Option<i64>,
    /// The vendor's failing outcome (`bounced`, `dropped`, `failed`, `no_answer`, `busy`).
    pub failure: Option<Outcome>,
    pub bounced_at: Option<i64>,
    /// Unsubscribed, reported as spam or opted out, reported about this message.
    pub opted_out_at: Option<i64>,
    /// From the outbox, when Switchboard sent it.
    pub kind: Option<String>,
    pub urgency: Option<String>,
    /// The vendor template of an email, when it named one.
    pub template: Option<String>,
}

/// Whose messages to read: everyone's, or one contact's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Everyone,
    Contact(i64),
}

impl Whose {
    /// The condition on `contact_id` for this choice, with its placeholder from `params`.
    fn condition(self, params: &mut Params) -> String {
        match self {
            Whose::Everyone => String::new(),
            Whose::Contact(_) => format!(" AND contact_id = {}", params.one()),
        }
    }

    fn bind(self, query: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments> {
        match self {
            Whose::Everyone => query,
            Whose::Contact(id) => query.bind(id),
        }
    }
}

/// One inbound interaction of a known contact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Inbound {
    pub contact_id: i64,
    pub channel: Channel,
    pub outcome: Outcome,
    pub occurred_at: i64,
}

const FAILURES: &str = "'bounced', 'dropped', 'failed', 'no_answer', 'busy'";
const OPT_OUTS: &str = "'unsubscribed', 'spam_reported', 'opted_out'";
/// Outcomes that change consent or say nothing: never a message of their own.
const NOT_A_MESSAGE: &str =
    "'unsubscribed', 'resubscribed', 'spam_reported', 'opted_out', 'opted_in', 'unknown'";

/// The outbound messages whose first event lies in `[since, until)`, in no particular order.
/// A message whose first event came before `since` is not one of them, even if later events of it
/// fall inside.
pub async fn sent_messages(
    conn: &mut AnyConnection,
    whose: Whose,
    since: i64,
    until: i64,
) -> Result<Vec<SentMessage>, StoreError> {
    let backend = Backend::of_connection(conn)?;
    let template = backend.json_text("o.content", &["email", "template", "id"]);
    let mut params = Params::for_connection(conn)?;
    let since_1 = params.one();
    let contact = whose.condition(&mut params);
    let (until_1, since_2) = (params.one(), params.one());
    let select = format!(
        "SELECT m.channel, m.vendor_message_id, m.contact_id, m.plugin_id, m.sent_at,
                m.delivered_at, m.opened_at, m.clicked_at, m.replied_at, m.answered_at, m.failure,
                m.bounced_at, m.opted_out_at, o.kind, o.urgency, {template} AS template
         FROM (
            SELECT channel, vendor_message_id, MIN(contact_id) AS contact_id,
                   MIN(plugin_id) AS plugin_id, MIN(occurred_at) AS sent_at,
                   {delivered} AS delivered_at, {opened} AS opened_at, {clicked} AS clicked_at,
                   {replied} AS replied_at, {answered} AS answered_at,
                   MAX(CASE WHEN outcome IN ({FAILURES}) THEN outcome END) AS failure,
                   {bounced} AS bounced_at, {opted_out} AS opted_out_at
            FROM interaction_log
            WHERE direction = 'outbound' AND channel <> 'system' AND occurred_at >= {since_1}{contact}
              AND (vendor_message_id IS NOT NULL OR outcome NOT IN ({NOT_A_MESSAGE}))
            GROUP BY channel, vendor_message_id, CASE WHEN vendor_message_id IS NULL THEN id END
         ) m
         LEFT JOIN message_attempts a
            ON a.vendor_message_id = m.vendor_message_id AND a.channel = m.channel
         LEFT JOIN messages o ON o.id = a.message_id
         WHERE m.sent_at < {until_1}
           AND (m.vendor_message_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM interaction_log e
                WHERE e.vendor_message_id = m.vendor_message_id AND e.channel = m.channel
                  AND e.occurred_at < {since_2}))",
        delivered = first_at("'delivered'"),
        opened = first_at("'opened', 'viewed'"),
        clicked = first_at("'clicked'"),
        replied = first_at("'replied'"),
        answered = first_at("'answered', 'completed', 'attended'"),
        bounced = first_at("'bounced'"),
        opted_out = first_at(OPT_OUTS),
    );
    let columns = "channel, vendor_message_id, contact_id, plugin_id, sent_at, delivered_at, \
                   opened_at, clicked_at, replied_at, answered_at, failure, bounced_at, \
                   opted_out_at, kind, urgency, template";
    let sql = packed(conn, columns, &select)?;
    let query = whose.bind(dynamic(sql).bind(since));
    fetch_packed(query.bind(until).bind(since), conn).await
}

/// The inbound interactions of known contacts in `[since, until)`, oldest first.
pub async fn inbound(
    conn: &mut AnyConnection,
    whose: Whose,
    since: i64,
    until: i64,
) -> Result<Vec<Inbound>, StoreError> {
    let mut params = Params::for_connection(conn)?;
    let (since_p, until_p) = (params.one(), params.one());
    let contact = whose.condition(&mut params);
    let select = format!(
        "SELECT contact_id, channel, outcome, occurred_at FROM interaction_log
         WHERE direction = 'inbound' AND contact_id IS NOT NULL AND channel <> 'system'
           AND occurred_at >= {since_p} AND occurred_at < {until_p}{contact}
         ORDER BY occurred_at, id"
    );
    let sql = packed(conn, "contact_id, channel, outcome, occurred_at", &select)?;
    fetch_packed(whose.bind(dynamic(sql).bind(since).bind(until)), conn).await
}

/// A logged interaction of a known contact, as a touch of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KindTouch {
    pub contact_id: i64,
    pub channel: Channel,
    pub plugin_id: Option<String>,
    pub occurred_at: i64,
}

/// The interactions of known contacts in `[since, until)` whose kind is one of `kinds`, oldest
/// first.
pub async fn of_kinds(
    conn: &mut AnyConnection,
    kinds: &[String],
    since: i64,
    until: i64,
) -> Result<Vec<KindTouch>, StoreError> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = Params::for_connection(conn)?;
    let (since_p, until_p) = (params.one(), params.one());
    let select = format!(
        "SELECT contact_id, channel, plugin_id, occurred_at FROM interaction_log
         WHERE contact_id IS NOT NULL AND occurred_at >= {since_p} AND occurred_at < {until_p}
           AND kind IN ({})
         ORDER BY occurred_at, id",
        params.list(kinds.len())
    );
    let sql = packed(conn, "contact_id, channel, plugin_id, occurred_at", &select)?;
    let mut query = dynamic(sql).bind(since).bind(until);
    for kind in kinds {
        query = query.bind(kind.clone());
    }
    fetch_packed(query, conn).await
}

/// The time of a message's first event with one of `outcomes` (quoted, comma-separated).
fn first_at(outcomes: &str) -> String {
    format!("MIN(CASE WHEN outcome IN ({outcomes}) THEN occurred_at END)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::NewInteraction;
    use crate::testing::{event, store};
    use switchboard_core::domain::Direction;

    const H: i64 = 3_600_000;

    async fn log(store: &crate::Store, rows: Vec<NewInteraction>) {
        let mut tx = store.begin_write().await.unwrap();
        crate::interactions::insert_new(tx.conn(), &rows)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    fn without_id(mut row: NewInteraction) -> NewInteraction {
        row.vendor_message_id = None;
        row.vendor_event_id = None;
        row
    }

    #[tokio::test]
    async fn a_message_is_its_events_folded_and_only_messages_begun_in_the_period_count() {
        let (store, _dir) = store().await;
        log(
            &store,
            vec![
                // Sent before the period: its open inside the period does not make it one of it.
                event("email_delivered", Outcome::Delivered, 0, "early", "e1"),
                event("email_opened", Outcome::Opened, 12 * H, "early", "e2"),
                event("email_processed", Outcome::Sent, 10 * H, "m1", "e3"),
                event(
                    "email_delivered",
                    Outcome::Delivered,
                    10 * H + 5,
                    "m1",
                    "e4",
                ),
                event("email_opened", Outcome::Opened, 11 * H, "m1", "e5"),
                event("email_opened", Outcome::Opened, 13 * H, "m1", "e6"),
                event("email_bounce", Outcome::Bounced, 10 * H + 9, "m2", "e7"),
                // After the period.
                event("email_processed", Outcome::Sent, 30 * H, "late", "e8"),
                // An unsubscribe with no message is no message.
                without_id(event(
                    "email_unsubscribe",
                    Outcome::Unsubscribed,
                    11 * H,
                    "x",
                    "",
                )),
            ],
        )
        .await;

        let mut conn = store.reader().await.unwrap();
        let mut sent = sent_messages(&mut conn, Whose::Everyone, 10 * H, 20 * H)
            .await
            .unwrap();
        sent.sort_by(|a, b| a.vendor_message_id.cmp(&b.vendor_message_id));
        let ids: Vec<_> = sent.iter().map(|m| m.vendor_message_id.clone()).collect();
        assert_eq!(ids, [Some("m1".to_string()), Some("m2".to_string())]);
        let m1 = &sent[0];
        assert_eq!(m1.sent_at, 10 * H);
        assert_eq!(m1.delivered_at, Some(10 * H + 5));
        assert_eq!(m1.opened_at, Some(11 * H));
        assert_eq!((m1.failure, m1.bounced_at), (None, None));
        assert_eq!(m1.plugin_id.as_deref(), Some("email-sendgrid"));
        let m2 = &sent[1];
        assert_eq!(m2.failure, Some(Outcome::Bounced));
        assert_eq!(m2.bounced_at, Some(10 * H + 9));
    }

    #[tokio::test]
    async fn a_message_switchboard_sent_carries_its_kind_urgency_and_template() {
        let (store, _dir) = store().await;
        crate::testing::message(&store, "msg-1", &[Channel::Email], false).await;
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query(
            "UPDATE messages SET content = '{\"email\":{\"template\":{\"id\":\"d-welcome\"}}}'",
        )
        .execute(&mut *tx.conn())
        .await
        .unwrap();
        sqlx::query("UPDATE message_attempts SET vendor_message_id = 'vm1'")
            .execute(&mut *tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        log(
            &store,
            vec![
                event("email_processed", Outcome::Sent, H, "vm1", "e1"),
                event("email_processed", Outcome::Sent, H, "elsewhere", "e2"),
            ],
        )
        .await;

        let mut conn = store.reader().await.unwrap();
        let mut sent = sent_messages(&mut conn, Whose::Everyone, 0, 2 * H)
            .await
            .unwrap();
        sent.sort_by(|a, b| a.vendor_message_id.cmp(&b.vendor_message_id));
        let outbox: Vec<_> = sent
            .iter()
            .map(|m| {
                (
                    m.kind.as_deref(),
                    m.urgency.as_deref(),
                    m.template.as_deref(),
                )
            })
            .collect();
        // A message sent through another system has none of them.
        assert_eq!(
            outbox,
            [
                (None, None, None),
                (Some("reminder"), Some("normal"), Some("d-welcome"))
            ]
        );
    }

    #[tokio::test]
    async fn each_logged_call_without_an_id_is_a_message_of_its_own() {
        let (store, _dir) = store().await;
        let call = |at: i64, outcome: Outcome| {
            let mut row = without_id(event("phone_call", outcome, at, "", ""));
            row.channel = Channel::Phone;
            row.plugin_id = None;
            row
        };
        log(
            &store,
            vec![call(H, Outcome::Answered), call(2 * H, Outcome::NoAnswer)],
        )
        .await;
        let mut conn = store.reader().await.unwrap();
        let mut sent = sent_messages(&mut conn, Whose::Everyone, 0, 10 * H)
            .await
            .unwrap();
        sent.sort_by_key(|m| m.sent_at);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].answered_at, Some(H));
        assert_eq!(sent[1].failure, Some(Outcome::NoAnswer));
    }

    #[tokio::test]
    async fn inbound_reads_known_contacts_only_oldest_first() {
        let (store, _dir) = store().await;
        let mut tx = store.begin_write().await.unwrap();
        let contact = crate::contacts::create(tx.conn(), 0).await.unwrap();
        tx.commit().await.unwrap();
        let reply = |at: i64, who: Option<i64>| {
            let mut row = without_id(event("sms_received", Outcome::Replied, at, "", ""));
            row.channel = Channel::Sms;
            row.direction = Direction::Inbound;
            row.contact_id = who;
            row
        };
        log(
            &store,
            vec![
                reply(2 * H, Some(contact)),
                reply(H, Some(contact)),
                reply(H, None),
            ],
        )
        .await;
        let mut conn = store.reader().await.unwrap();
        let rows = inbound(&mut conn, Whose::Everyone, 0, 10 * H)
            .await
            .unwrap();
        let times: Vec<_> = rows.iter().map(|r| r.occurred_at).collect();
        assert_eq!(times, [H, 2 * H]);
        assert!(rows.iter().all(|r| r.contact_id == contact));
    }
}
