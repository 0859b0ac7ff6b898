//! The organisation's own portal: signed activity batches through the real binary and plugin, each
//! event type, portal accounts and addresses, and a secret being rotated.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use serde_json::{Value, json};
use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    PORTAL_SIGNING_SECRET, PORTAL_SIGNING_SECRET_VAR, portal_event, portal_plugin, post_portal,
    post_portal_body,
};

fn setup() -> Setup {
    Setup::new(&[portal_plugin()]).env(PORTAL_SIGNING_SECRET_VAR, PORTAL_SIGNING_SECRET)
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

/// One event of each type by portal user `u-42`, a minute apart, starting at `t0` (ms).
fn one_of_each(t0: i64) -> Vec<Value> {
    let mut login = portal_event("evt_1", "login", "u-42", t0);
    login["user"]["email"] = "Ana.Martinez@Example.org".into();
    login["ip"] = "203.0.113.9".into();
    let mut view = portal_event("evt_2", "page_view", "u-42", t0 + 60_000);
    view["page"] = "/billing".into();
    let mut download = portal_event("evt_3", "document_download", "u-42", t0 + 120_000);
    download["document"] = json!({"id": "d1", "title": "Lease.pdf"});
    let mut read = portal_event("evt_4", "message_read", "u-42", t0 + 180_000);
    read["message"] = json!({"id": "m1", "subject": "Your lease renewal"});
    vec![login, view, download, read]
}

#[tokio::test]
async fn a_signed_batch_of_each_event_type_lands_on_one_contact() {
    let setup = setup();
    let server = setup.start();
    let t0 = switchboard_e2e::now_ms() - 600_000;
    let reply = post_portal(&server, &one_of_each(t0)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.json(), json!({"accepted": 4}));

    let db = setup.db().await;
    let log = db.interactions().await;
    let rows: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str(), i.summary.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("portal_login", "viewed", Some("Logged in")),
            ("portal_page_view", "viewed", Some("Viewed /billing")),
            (
                "portal_document_download",
                "viewed",
                Some("Downloaded Lease.pdf")
            ),
            (
                "portal_message_read",
                "opened",
                Some("Read message: Your lease renewal")
            ),
        ]
    );
    for (n, i) in log.iter().enumerate() {
        assert_eq!(i.channel, "portal");
        assert_eq!(i.direction, "inbound");
        assert_eq!(i.plugin_id.as_deref(), Some("portal"));
        assert_eq!(i.vendor.as_deref(), Some("portal"));
        assert_eq!(i.created_by, "plugin:portal");
        assert_eq!(i.vendor_event_id, Some(format!("evt_{}", n + 1)));
        assert_eq!(i.occurred_at, t0 + 60_000 * n as i64);
    }
    let statuses: Vec<Option<&str>> = log.iter().map(|i| i.vendor_status.as_deref()).collect();
    assert_eq!(
        statuses,
        [
            Some("login"),
            Some("page_view"),
            Some("document_download"),
            Some("message_read")
        ]
    );
    let message_ids: Vec<Option<&str>> =
        log.iter().map(|i| i.vendor_message_id.as_deref()).collect();
    assert_eq!(message_ids, [None, None, None, Some("m1")]);
    assert_eq!(log[0].metadata["ip"], "203.0.113.9", "the event's own JSON");
    assert_eq!(log[2].metadata["document"]["title"], "Lease.pdf");

    let ana = log[0].contact_id.expect("the portal user is resolved");
    assert!(log.iter().all(|i| i.contact_id == Some(ana)), "{log:#?}");
    assert_eq!(db.contact_count().await, 1);
    let identities = db.identities().await;
    assert!(identities.contains(&(ana, "external".into(), "portal:u-42".into())));
    assert!(identities.contains(&(ana, "email".into(), "ana.martinez@example.org".into())));

    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        (raw[0].status.as_str(), raw[0].interactions),
        ("processed", 4)
    );

    // A later batch: the same portal user without an address, another portal account with Ana's
    // address, and an event that names Ana by our contact id with an address we did not know.
    let t1 = t0 + 300_000;
    let mut by_email = portal_event("evt_6", "login", "u-99", t1 + 1_000);
    by_email["user"]["email"] = "ANA.MARTINEZ@example.org".into();
    let mut by_contact_id = portal_event("evt_7", "login", "u-100", t1 + 2_000);
    by_contact_id["user"]["contact_id"] = ana.into();
    by_contact_id["user"]["email"] = "ana.work@example.com".into();
    let second = [
        portal_event("evt_5", "login", "u-42", t1),
        by_email,
        by_contact_id,
    ];
    let reply = post_portal(&server, &second).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"accepted": 3}));

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 7);
    assert!(log.iter().all(|i| i.contact_id == Some(ana)), "{log:#?}");
    assert_eq!(db.contact_count().await, 1);
    // The events are Ana's, but they link nothing new to her: a webhook adds identities only to
    // a contact it creates (staff link the others knowingly).
    let identities = db.identities().await;
    assert_eq!(
        identities,
        [
            (ana, "external".into(), "portal:u-42".into()),
            (ana, "email".into(), "ana.martinez@example.org".into()),
        ]
    );
}

#[tokio::test]
async fn a_batch_signed_with_the_old_and_the_new_secret_is_accepted() {
    let setup = setup();
    let server = setup.start();
    let events = [portal_event(
        "evt_1",
        "login",
        "u-42",
        switchboard_e2e::now_ms(),
    )];
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let reply = post_portal_body(
        &server,
        &["the-secret-being-retired", PORTAL_SIGNING_SECRET],
        now_secs(),
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(setup.db().await.interaction_count().await, 1);
}
