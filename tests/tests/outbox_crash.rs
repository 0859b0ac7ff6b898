//! Crash safety of the outbox: the server is killed with SIGKILL while it is sending, then
//! started again on the same database. No accepted message is lost, no attempt is sent twice
//! unless its outcome was unknown at the kill (and then the attempt says so and kept its
//! idempotency key), and the log holds one send per message. A graceful stop (SIGTERM) instead
//! lets the sends in flight finish, so nothing is left unknown.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::outbox::{attempt, contact, history, send, status};
use switchboard_e2e::relay::{Relay, Script};
use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendor_mock;
use switchboard_e2e::vendors::sendgrid_plugin;

const MESSAGES: usize = 40;

/// A server whose SendGrid plugin sends through a relay that holds each send for `hold` before
/// Prism's contract mock answers it; a staff key and a sender key.
struct Held {
    relay: Relay,
    setup: Setup,
    staff_key: String,
    sender_key: String,
}

async fn held_sends(hold: Duration, send_timeout_ms: i64) -> Held {
    let relay = Relay::start(Script {
        upstream: Some(vendor_mock("PRISM_SENDGRID_URL")),
        stamp_message_ids: true,
        hold,
        ..Script::default()
    })
    .await;
    let plugin = sendgrid_plugin(&SendGridKey::fixed())
        .config("api_base", &relay.base)
        .allow_host(&relay.host)
        .private_network()
        .limit("send_timeout_ms", send_timeout_ms);
    let setup = Setup::new(&[plugin]).env("E2E_SENDGRID_API_KEY", "SG.test-key");
    let (staff_key, sender_key) = (
        setup.key("maria", &["staff"]),
        setup.key("notifier", &["sender"]),
    );
    Held {
        relay,
        setup,
        staff_key,
        sender_key,
    }
}

/// Accepts an email-only notice for `contact` under `key`; returns its message id.
async fn notice(sender: &Api<'_>, contact: i64, key: &str) -> String {
    let accepted = send(
        sender,
        &json!({
            "contact_id": contact, "idempotency_key": key, "urgency": "normal", "kind": "notice",
            "content": { "email": { "subject": "Notice", "text": "Hello" } }
        }),
    )
    .await;
    accepted["message_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_kill_mid_dispatch_loses_nothing_and_sends_no_attempt_twice_knowingly() {
    // Each send is held at the vendor for a while, so the kill lands with sends in flight; a
    // short send budget makes a short lease, so the restarted server recovers sooner.
    let Held {
        relay,
        setup,
        staff_key,
        sender_key,
    } = held_sends(Duration::from_millis(300), 2_000).await;
    let mut server = setup.start();
    let ana = contact(
        &Api::new(&server, &staff_key),
        &[("email", "ana@example.org")],
    )
    .await;
    let mut ids = Vec::new();
    {
        let sender = Api::new(&server, &sender_key);
        for n in 0..MESSAGES {
            ids.push(notice(&sender, ana, &format!("crash-{n}")).await);
        }
    }
    // Kill it once sending is well under way but not done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relay.seen().len() < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sending never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let at_kill = relay.seen().len();
    assert!(
        at_kill < MESSAGES,
        "everything was sent before the kill ({at_kill})"
    );

    let server = setup.start();
    let sender = Api::new(&server, &sender_key);
    let mut messages: Vec<Value> = Vec::new();
    for id in &ids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let message = loop {
            let message = sender.get_ok(&format!("/api/messages/{id}")).await;
            if status(&message) != "pending" {
                break message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} still pending: {message:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        messages.push(message);
    }

    // Nothing lost: every message went out, on its one attempt.
    for message in &messages {
        assert_eq!(status(message), "sent", "{message:#}");
        assert_eq!(message["attempts"].as_array().unwrap().len(), 1);
    }
    // Vendor requests per message: one, or two where the kill left the outcome unknown.
    let mut requests: HashMap<String, usize> = HashMap::new();
    for seen in relay.seen() {
        let body: Value = serde_json::from_slice(&seen.request.body).unwrap();
        let id = body["personalizations"][0]["custom_args"]["switchboard_message_id"]
            .as_str()
            .unwrap()
            .to_string();
        *requests.entry(id).or_default() += 1;
    }
    let mut unknown = 0;
    for message in &messages {
        let id = message["id"].as_str().unwrap();
        let first = attempt(message, 1);
        let outcome_unknown = first["outcome_unknown"].as_bool().unwrap();
        unknown += usize::from(outcome_unknown);
        match requests.get(id).copied().unwrap_or(0) {
            1 => {}
            2 if outcome_unknown => {
                assert_eq!(first["idempotency_key"], format!("{id}-1"));
                assert_eq!(
                    history(message),
                    ["accepted", "outcome_unknown", "sent"],
                    "{message:#}"
                );
            }
            n => panic!("{id} reached the vendor {n} times: {message:#}"),
        }
    }
    eprintln!(
        "{} vendor requests for {MESSAGES} messages; {unknown} attempts in flight at the kill",
        relay.seen().len()
    );

    // The log has one send per message (a retried unknown attempt logs its one answer).
    let sends = setup
        .db()
        .await
        .interactions()
        .await
        .into_iter()
        .filter(|row| row.kind == "email_sent")
        .count();
    assert_eq!(sends, MESSAGES);
}

#[tokio::test]
async fn a_graceful_stop_finishes_the_sends_in_flight() {
    let Held {
        relay,
        setup,
        staff_key,
        sender_key,
    } = held_sends(Duration::from_millis(800), 15_000).await;
    let mut server = setup.start();
    let ana = contact(
        &Api::new(&server, &staff_key),
        &[("email", "ana@example.org")],
    )
    .await;
    let sender = Api::new(&server, &sender_key);
    for n in 0..4 {
        notice(&sender, ana, &format!("stop-{n}")).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relay.arrived() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sending never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        relay.seen().is_empty(),
        "the stop comes while sends are held at the vendor"
    );
    let exit = server.terminate().await;
    assert!(exit.success(), "switchboard exited with {exit}");

    // Every send that had started was answered and recorded before the process ended.
    let statuses = setup.db().await.attempt_statuses().await;
    assert!(
        statuses
            .iter()
            .all(|(status, _)| status == "sent" || status == "queued"),
        "{statuses:?}"
    );
    let sent: i64 = statuses
        .iter()
        .filter(|(s, _)| s == "sent")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(sent, relay.seen().len() as i64);
    assert!(sent >= 1);
}
