//! Mailgun's signed event webhooks through the real binary and the real plugin: its event
//! vocabulary mapped onto the log's kinds and outcomes.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use serde_json::json;
use switchboard_e2e::mailgun::{event, failed, plugin, post_event, with_secrets};
use switchboard_e2e::server::Setup;

const ID: &str = "email-mailgun";

fn setup() -> Setup {
    with_secrets(Setup::new(&[plugin(ID)]))
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

#[tokio::test]
async fn signed_events_land_with_sendgrids_kinds_and_outcomes() {
    let setup = setup();
    let server = setup.start();
    let t0 = (now_secs() - 600) as f64;
    let ana = "Ana.Martinez@Example.org";
    let msg_ana = "20240101120000.ana@mg.example.org";
    let msg_ben = "20240101120000.ben@mg.example.org";
    let msg_cara = "20240101120000.cara@mg.example.org";
    let mut click = event("clicked", ana, t0 + 120.25, msg_ana, "ev-4");
    click["url"] = "https://example.org/pay".into();
    let events = [
        event("accepted", ana, t0, msg_ana, "ev-1"),
        event("delivered", ana, t0 + 2.0, msg_ana, "ev-2"),
        event("opened", ana, t0 + 60.0, msg_ana, "ev-3"),
        click,
        event("unsubscribed", ana, t0 + 180.0, msg_ana, "ev-5"),
        event("complained", ana, t0 + 240.0, msg_ana, "ev-6"),
        event("accepted", "nobody@example.net", t0, msg_ben, "ev-7"),
        failed(
            "permanent",
            "nobody@example.net",
            t0 + 5.0,
            msg_ben,
            "ev-8",
            550,
            "5.1.1 The email account does not exist",
        ),
        failed(
            "temporary",
            "cara@example.com",
            t0 + 9.0,
            msg_cara,
            "ev-9",
            421,
            "4.7.0 Try again later",
        ),
    ];
    for event in &events {
        let reply = post_event(&server, ID, event).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    let db = setup.db().await;
    let log = db.interactions().await;
    let rows: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|i| {
            (
                i.kind.as_str(),
                i.outcome.as_str(),
                i.vendor_status.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("email_processed", "queued", Some("accepted")),
            ("email_delivered", "delivered", Some("delivered")),
            ("email_opened", "opened", Some("opened")),
            ("email_clicked", "clicked", Some("clicked")),
            ("email_unsubscribed", "unsubscribed", Some("unsubscribed")),
            ("email_spam_reported", "spam_reported", Some("complained")),
            ("email_processed", "queued", Some("accepted")),
            ("email_bounced", "bounced", Some("failed:permanent")),
            ("email_deferred", "deferred", Some("failed:temporary")),
        ]
    );
    for (n, i) in log.iter().enumerate() {
        assert_eq!(i.channel, "email");
        assert_eq!(i.direction, "outbound");
        assert_eq!(i.plugin_id.as_deref(), Some(ID));
        assert_eq!(i.vendor.as_deref(), Some("mailgun"));
        assert_eq!(i.created_by, "plugin:email-mailgun");
        assert_eq!(i.vendor_event_id, Some(format!("ev-{}", n + 1)));
    }

    let ana_id = log[0].contact_id.expect("Ana is resolved");
    let ben_id = log[6].contact_id.expect("Ben is resolved");
    assert_ne!(ana_id, ben_id);
    assert!(log[..6].iter().all(|i| i.contact_id == Some(ana_id)));
    assert_eq!(log[7].contact_id, Some(ben_id));
    assert_eq!(db.contact_count().await, 3);

    let ttas: Vec<Option<i64>> = log.iter().map(|i| i.time_to_action_ms).collect();
    assert_eq!(
        ttas,
        [
            None,
            Some(2_000),
            Some(60_000),
            Some(120_250),
            Some(180_000),
            Some(240_000),
            None,
            Some(5_000),
            None,
        ]
    );

    let click = &log[3];
    assert_eq!(click.vendor_message_id.as_deref(), Some(msg_ana));
    assert_eq!(click.occurred_at, (t0 * 1000.0) as i64 + 120_250);
    assert_eq!(click.summary.as_deref(), Some("https://example.org/pay"));
    assert_eq!(click.metadata["url"], "https://example.org/pay");
    assert_eq!(
        click.metadata["tags"],
        json!(["reminders"]),
        "the event-data"
    );
    assert_eq!(
        log[7].summary.as_deref(),
        Some("550 5.1.1 The email account does not exist")
    );
    assert_eq!(log[8].summary.as_deref(), Some("421 4.7.0 Try again later"));

    let identities = db.identities().await;
    assert!(identities.contains(&(ana_id, "email".into(), "ana.martinez@example.org".into())));

    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), events.len(), "one webhook per event");
    assert!(
        raw.iter()
            .all(|r| r.status == "processed" && r.interactions == 1)
    );
}
