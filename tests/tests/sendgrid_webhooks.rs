//! SendGrid's Signed Event Webhook through the real binary and the real plugin: batches, the
//! events of one message, body limits, unknown plugins.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use switchboard_e2e::server::{Setup, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

fn setup() -> (Setup, SendGridKey) {
    let key = SendGridKey::fixed();
    (Setup::new(&[sendgrid_plugin(&key)]), key)
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

#[tokio::test]
async fn a_signed_batch_lands_in_the_log_correlated_with_time_to_action() {
    let (setup, key) = setup();
    let server = setup.start();
    let t0 = now_secs() - 600;
    let mut click = sendgrid_event(
        "click",
        "Ana.Martinez@Example.org",
        t0 + 120,
        "msgAna",
        "ev-4",
    );
    click["url"] = "https://example.org/pay".into();
    let mut bounce = sendgrid_event("bounce", "nobody@example.net", t0 + 5, "msgBen", "ev-6");
    bounce["type"] = "bounce".into();
    bounce["reason"] = "550 5.1.1 The email account does not exist".into();
    let events = [
        sendgrid_event(
            "processed",
            "ana.martinez@example.org",
            t0,
            "msgAna",
            "ev-1",
        ),
        sendgrid_event(
            "delivered",
            "ana.martinez@example.org",
            t0 + 2,
            "msgAna",
            "ev-2",
        ),
        sendgrid_event(
            "open",
            "ana.martinez@example.org",
            t0 + 60,
            "msgAna",
            "ev-3",
        ),
        click,
        sendgrid_event("processed", "nobody@example.net", t0, "msgBen", "ev-5"),
        bounce,
    ];

    let reply = post_sendgrid(&server, &key, &events).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    let log = db.interactions().await;
    let kinds: Vec<(&str, &str)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("email_processed", "queued"),
            ("email_delivered", "delivered"),
            ("email_opened", "opened"),
            ("email_clicked", "clicked"),
            ("email_processed", "queued"),
            ("email_bounced", "bounced"),
        ]
    );
    let ana = log[0].contact_id.expect("Ana is resolved");
    let ben = log[4].contact_id.expect("Ben is resolved");
    assert_ne!(ana, ben);
    assert!(
        log[..4].iter().all(|i| i.contact_id == Some(ana)),
        "one contact for every event of Ana's"
    );
    assert_eq!(log[5].contact_id, Some(ben));

    let ttas: Vec<Option<i64>> = log.iter().map(|i| i.time_to_action_ms).collect();
    assert_eq!(
        ttas,
        [
            None,
            Some(2_000),
            Some(60_000),
            Some(120_000),
            None,
            Some(5_000)
        ]
    );

    let click = &log[3];
    assert_eq!(click.channel, "email");
    assert_eq!(click.direction, "outbound");
    assert_eq!(click.vendor_message_id.as_deref(), Some("msgAna"));
    assert_eq!(click.vendor_event_id.as_deref(), Some("ev-4"));
    assert_eq!(click.vendor.as_deref(), Some("sendgrid"));
    assert_eq!(click.plugin_id.as_deref(), Some("email-sendgrid"));
    assert_eq!(click.created_by, "plugin:email-sendgrid");
    assert_eq!(click.summary.as_deref(), Some("https://example.org/pay"));
    assert_eq!(click.metadata["url"], "https://example.org/pay");
    assert_eq!(click.occurred_at, (t0 + 120) * 1000);
    assert_eq!(
        log[5].summary.as_deref(),
        Some("550 5.1.1 The email account does not exist")
    );

    let identities = db.identities().await;
    assert!(identities.contains(&(ana, "email".into(), "ana.martinez@example.org".into())));
    assert_eq!(db.contact_count().await, 2);

    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        (raw[0].status.as_str(), raw[0].interactions),
        ("processed", 6)
    );
    assert!(log.iter().all(|i| i.raw_webhook_id == Some(raw[0].id)));
}

#[tokio::test]
async fn earlier_events_of_a_message_find_its_contact_whatever_the_address_s_case() {
    let (setup, key) = setup();
    let server = setup.start();
    let t0 = now_secs() - 300;
    let first = [sendgrid_event(
        "processed",
        "ana@example.org",
        t0,
        "msgA",
        "ev-1",
    )];
    assert_eq!(post_sendgrid(&server, &key, &first).await.status, 200);
    let ana = setup.db().await.interactions().await[0]
        .contact_id
        .expect("Ana is resolved");

    // A later batch: an open of the same message reported with the address in another case.
    let second = [sendgrid_event(
        "open",
        "ANA@EXAMPLE.ORG",
        t0 + 90,
        "msgA",
        "ev-2",
    )];
    assert_eq!(post_sendgrid(&server, &key, &second).await.status, 200);

    let db = setup.db().await;
    let log = db.interactions().await;
    let rows: Vec<(&str, Option<i64>, Option<i64>)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.contact_id, i.time_to_action_ms))
        .collect();
    assert_eq!(
        rows,
        [
            ("email_processed", Some(ana), None),
            ("email_opened", Some(ana), Some(90_000)),
        ]
    );
    assert_eq!(db.contact_count().await, 1);
    assert_eq!(
        db.identities_of(ana).await,
        [("email".into(), "ana@example.org".into())]
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let key = SendGridKey::fixed();
    let small_limit = sendgrid_plugin(&key).limit("max_body_bytes", 4096);
    let mut sms = small_limit.clone();
    sms.id = "email-sendgrid-default".into();
    sms.limits.clear();
    let setup = Setup::new(&[small_limit, sms]);
    let server = setup.start();

    let over_default = vec![b' '; 1024 * 1024 + 1];
    let reply = post(
        &server.url("/webhooks/email-sendgrid-default"),
        &[],
        over_default,
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error_code(), "body_too_large");
    assert_eq!(reply.json()["error"]["limit_bytes"], 1024 * 1024);

    let over_plugin_limit = vec![b' '; 4097];
    let reply = post(
        &server.url("/webhooks/email-sendgrid"),
        &[],
        over_plugin_limit,
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"]["limit_bytes"], 4096);

    assert!(setup.db().await.raw_webhooks().await.is_empty());
}

#[tokio::test]
async fn an_unknown_or_disabled_plugin_is_404() {
    let key = SendGridKey::fixed();
    let mut disabled = sendgrid_plugin(&key);
    disabled.id = "email-old".into();
    disabled.enabled = false;
    let setup = Setup::new(&[sendgrid_plugin(&key), disabled]);
    let server = setup.start();

    let unknown = post(&server.url("/webhooks/fax-gateway"), &[], b"{}".to_vec()).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unknown_plugin");
    assert_eq!(
        unknown.error_message(),
        "plugin `fax-gateway` is not installed"
    );

    let off = post(&server.url("/webhooks/email-old"), &[], b"{}".to_vec()).await;
    assert_eq!(off.status, 404);
    assert_eq!(off.error_message(), "plugin `email-old` is disabled");
}
