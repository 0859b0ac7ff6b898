//! For tests of this crate and the crates above it (feature `testing`): a fresh database in a
//! temporary directory, and builders of the rows tests need most.

use switchboard_core::domain::{Channel, Direction, MessageStatus, Outcome};

use crate::Store;
use crate::contacts;
use crate::interactions::NewInteraction;
use crate::outbox::{
    Claimed, MessageView, NewMessage, add_attempt, claim_due, insert_message, view,
};

/// A fresh database in a temporary directory (kept alive by the returned guard).
pub async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("test.db");
    let store = Store::open(path.to_str().expect("utf-8 path"))
        .await
        .expect("open test database");
    (store, dir)
}

/// A SendGrid email event of message `message`, about no one yet.
pub fn event(kind: &str, outcome: Outcome, at: i64, message: &str, event: &str) -> NewInteraction {
    NewInteraction {
        contact_id: None,
        occurred_at: at,
        received_at: at,
        kind: kind.into(),
        channel: Channel::Email,
        direction: Direction::Outbound,
        outcome,
        vendor_status: None,
        plugin_id: Some("email-sendgrid".into()),
        vendor: Some("sendgrid".into()),
        vendor_message_id: Some(message.into()),
        vendor_event_id: Some(event.into()),
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: None,
        metadata: "{}".into(),
        created_by: "plugin:email-sendgrid".into(),
    }
}

/// Stores a message planned over `plan` with its first attempt due at 0, for a new contact.
pub async fn message(store: &Store, id: &str, plan: &[Channel], allow_fallback: bool) -> i64 {
    let mut tx = store.begin_write().await.unwrap();
    let contact = contacts::create(tx.conn(), 0).await.unwrap();
    // The answer accepting gives, which the message read back takes its plan from.
    let planned: Vec<_> = plan
        .iter()
        .map(|channel| serde_json::json!({ "channel": channel, "reason": "planned by the test" }))
        .collect();
    let accepted = serde_json::json!({ "plan": planned }).to_string();
    insert_message(
        tx.conn(),
        &NewMessage {
            id,
            idempotency_key: id,
            request_digest: "d",
            contact_id: contact,
            urgency: "normal",
            kind: "reminder",
            content: "{}",
            allow_fallback,
            not_before: None,
            plan,
            accepted: &accepted,
            status: MessageStatus::Pending,
            status_reason: None,
            created_by: "staff:test",
            now: 0,
        },
    )
    .await
    .unwrap();
    add_attempt(tx.conn(), id, 1, plan[0], 0, 0).await.unwrap();
    tx.commit().await.unwrap();
    contact
}

pub async fn claim(store: &Store, now: i64) -> Vec<Claimed> {
    let mut tx = store.begin_write().await.unwrap();
    let claimed = claim_due(tx.conn(), now, now + 1_000, 10).await.unwrap();
    tx.commit().await.unwrap();
    claimed
}

pub async fn shown(store: &Store, id: &str) -> MessageView {
    let mut conn = store.pool().acquire().await.unwrap();
    view(&mut conn, id).await.unwrap().unwrap()
}
