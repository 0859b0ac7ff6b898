//! The outbox when the vendor took a send but Switchboard could not record it (issue 16 §1.7),
//! through the real binary: a trigger the test installs on the server's database makes recording
//! the send fail, persistently or once. The vendor hears about the message exactly once either
//! way: a send that cannot be recorded stops as `unknown` instead of being sent again every lease.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::outbox::{self, attempt, history, status, wait_for};
use switchboard_e2e::relay::{Relay, Script};
use switchboard_e2e::server::{Server, Setup};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::sendgrid_plugin;

/// The plugin's send budget; with the dispatcher's 5 s margin a lease is 6 s.
const SEND_TIMEOUT_MS: i64 = 1_000;
const LEASE: Duration = Duration::from_millis(SEND_TIMEOUT_MS as u64 + 5_000);

/// A server sending email through a relay that answers every send itself (202, a fresh message
/// id) and counts them; a staff key and a sender key.
struct Office {
    relay: Relay,
    setup: Setup,
    staff: String,
    sender: String,
}

impl Office {
    async fn open() -> Self {
        let relay = Relay::start(Script {
            stamp_message_ids: true,
            ..Script::default()
        })
        .await;
        let plugin = sendgrid_plugin(&SendGridKey::fixed())
            .config("api_base", &relay.base)
            .allow_host(&relay.host)
            .private_network()
            .limit("send_timeout_ms", SEND_TIMEOUT_MS);
        let setup = Setup::new(&[plugin]).env("E2E_SENDGRID_API_KEY", "SG.test-key");
        let staff = setup.key("maria", &["staff"]);
        let sender = setup.key("notifier", &["sender"]);
        Office {
            relay,
            setup,
            staff,
            sender,
        }
    }

    /// Posts an email-only notice to a new contact; returns its message id.
    async fn notice(&self, server: &Server) -> String {
        let ana = outbox::contact(
            &Api::new(server, &self.staff),
            &[("email", "ana@example.org")],
        )
        .await;
        let accepted = outbox::send(
            &Api::new(server, &self.sender),
            &json!({
                "contact_id": ana, "idempotency_key": "invoice-1", "urgency": "normal",
                "kind": "notice", "content": { "email": { "subject": "Invoice", "text": "Hello" } }
            }),
        )
        .await;
        accepted["message_id"].as_str().unwrap().to_string()
    }
}

async fn message(office: &Office, server: &Server, id: &str) -> Value {
    Api::new(server, &office.sender)
        .get_ok(&format!("/api/messages/{id}"))
        .await
}

#[tokio::test]
async fn a_send_that_can_never_be_recorded_is_sent_once_and_stops_as_unknown() {
    // On main 8528e0f the attempt stayed leased; each time the lease ran out it was sent again,
    // every lease period, for as long as recording failed.
    let office = Office::open().await;
    let server = office.setup.start();
    let db = office.setup.db().await;
    db.fail_inserts_of_kind("email_sent").await;

    let id = office.notice(&server).await;
    let sender = Api::new(&server, &office.sender);
    let stopped = wait_for(&sender, &id, "unknown", |m| status(m) != "pending").await;
    assert_eq!(status(&stopped), "unknown", "{stopped:#}");
    assert_eq!(attempt(&stopped, 1)["status"], "unknown", "{stopped:#}");
    assert_eq!(
        history(&stopped),
        ["accepted", "outcome_unknown"],
        "{stopped:#}"
    );
    assert_eq!(office.relay.arrived(), 1);

    // Two leases later nothing more has gone out, and the message still says unknown.
    tokio::time::sleep(2 * LEASE + Duration::from_secs(1)).await;
    assert_eq!(office.relay.arrived(), 1, "the message was sent again");
    let later = message(&office, &server, &id).await;
    assert_eq!(status(&later), "unknown", "{later:#}");
    assert_eq!(later["attempts"].as_array().unwrap().len(), 1, "{later:#}");
    assert_eq!(db.interaction_count().await, 0);
}

#[tokio::test]
async fn a_send_whose_recording_fails_once_is_sent_once_and_recorded() {
    // On main 8528e0f one failed recording left the attempt leased, and it was sent a second
    // time when the lease ran out.
    let office = Office::open().await;
    let server = office.setup.start();
    let db = office.setup.db().await;
    db.fail_inserts_of_kind("email_sent").await;

    let id = office.notice(&server).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !server
        .log()
        .contains("recording a send failed; trying again")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "recording never failed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    db.allow_inserts_of_kind("email_sent").await;

    let sender = Api::new(&server, &office.sender);
    let sent = wait_for(&sender, &id, "sent", |m| status(m) != "pending").await;
    assert_eq!(status(&sent), "sent", "{sent:#}");
    // A lease later it has still gone out once.
    tokio::time::sleep(LEASE + Duration::from_secs(1)).await;
    assert_eq!(office.relay.arrived(), 1, "the message was sent again");
    let later = message(&office, &server, &id).await;
    assert_eq!(status(&later), "sent", "{later:#}");
    let log = db.interactions().await;
    let kinds: Vec<&str> = log.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["email_sent"]);
}
