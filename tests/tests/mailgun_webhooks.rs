//! Mailgun's signed event webhooks through the real binary and the real plugin.

use serde_json::{Value, json};
use switchboard_e2e::interface_version;
use switchboard_e2e::mailgun::{
    WEBHOOK_SIGNING_KEY, WEBHOOK_SIGNING_KEY_VAR, event, failed, plugin, post_body, post_event,
    signature, signed_body, with_secrets,
};
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
        assert_eq!(i.external_system.as_deref(), Some("mailgun"));
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

#[tokio::test]
async fn our_contact_id_in_user_variables_wins() {
    let setup = setup();
    let server = setup.start();
    let t0 = (now_secs() - 300) as f64;
    for first in [
        event("accepted", "ana@example.org", t0, "m-ana@mg", "ev-1"),
        event("accepted", "ben@example.net", t0, "m-ben@mg", "ev-2"),
    ] {
        assert_eq!(post_event(&server, ID, &first).await.status, 200);
    }
    let log = setup.db().await.interactions().await;
    let (ana, ben) = (log[0].contact_id.unwrap(), log[1].contact_id.unwrap());
    assert_ne!(ana, ben);

    // A message we sent to Ben's address on Ana's behalf names Ana in its user variables, and
    // another sent to an address we did not know names her too.
    let mut to_bens_address = event("delivered", "ben@example.net", t0 + 30.0, "m-x@mg", "ev-3");
    to_bens_address["user-variables"] = json!({"switchboard_contact_id": ana.to_string()});
    let mut to_a_new_address = event(
        "opened",
        "ana.work@example.com",
        t0 + 60.0,
        "m-y@mg",
        "ev-4",
    );
    to_a_new_address["user-variables"] = json!({"switchboard_contact_id": ana});
    for later in [to_bens_address, to_a_new_address] {
        let reply = post_event(&server, ID, &later).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log[2].contact_id, Some(ana), "{log:#?}");
    assert_eq!(log[3].contact_id, Some(ana), "{log:#?}");
    assert_eq!(db.contact_count().await, 2);
    // The contact id attributes the events; it links no address to Ana (a forged event could
    // name any contact id): the new address stays unknown, Ben's stays Ben's.
    let identities = db.identities().await;
    assert_eq!(
        identities,
        [
            (ana, "email".into(), "ana@example.org".into()),
            (ben, "email".into(), "ben@example.net".into()),
        ]
    );
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_stored() {
    let setup = setup();
    let server = setup.start();
    let opened = event(
        "opened",
        "ana@example.org",
        now_secs() as f64,
        "m@mg",
        "ev-1",
    );

    let forged = signed_body("not-the-signing-key", now_secs(), &opened);
    let reply = post_body(&server, ID, forged).await;
    reply.assert_refused(401, "bad_signature", "does not match");

    // A signature lifted from another delivery: right key, other token.
    let mut lifted = signature(WEBHOOK_SIGNING_KEY, now_secs(), "token-one");
    lifted["token"] = "token-two".into();
    let body = json!({"signature": lifted, "event-data": opened});
    let reply = post_body(&server, ID, serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(reply.status, 401);

    let unsigned = json!({ "event-data": opened });
    let reply = post_body(&server, ID, serde_json::to_vec(&unsigned).unwrap()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.error_message(), "missing `signature`");

    let not_json = post_body(&server, ID, b"timestamp=1&token=t&signature=s".to_vec()).await;
    assert_eq!(not_json.status, 401);
    assert!(
        not_json.error_message().contains("not a JSON object"),
        "{}",
        not_json.text()
    );

    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_stale_timestamp_is_refused() {
    let setup = setup();
    let server = setup.start();
    let an_hour_ago = now_secs() - 3600;
    let opened = event(
        "opened",
        "ana@example.org",
        an_hour_ago as f64,
        "m@mg",
        "ev-1",
    );
    let body = signed_body(WEBHOOK_SIGNING_KEY, an_hour_ago, &opened);
    let stale = post_body(&server, ID, body).await;
    stale.assert_refused(401, "bad_signature", "tolerance is 300 s");

    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_malformed_event_is_rejected_naming_the_field_and_kept() {
    let setup = setup();
    let server = setup.start();
    let mut no_event = event(
        "opened",
        "ana@example.org",
        now_secs() as f64,
        "m@mg",
        "ev-1",
    );
    no_event.as_object_mut().unwrap().remove("event");
    let body = signed_body(WEBHOOK_SIGNING_KEY, now_secs(), &no_event);
    let reply = post_body(&server, ID, body.clone()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.error_code(), "malformed_webhook");
    assert_eq!(reply.error_message(), "missing `event-data.event`");

    let mut text_time = event("opened", "ana@example.org", 0.0, "m@mg", "ev-2");
    text_time["timestamp"] = "yesterday".into();
    let reply = post_event(&server, ID, &text_time).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.error_message(),
        "`event-data.timestamp` must be a number (Unix seconds)"
    );

    let mut bad_contact = event(
        "opened",
        "ana@example.org",
        now_secs() as f64,
        "m@mg",
        "ev-3",
    );
    bad_contact["user-variables"] = json!({"switchboard_contact_id": ["42"]});
    let reply = post_event(&server, ID, &bad_contact).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply
            .error_message()
            .contains("`event-data.user-variables.switchboard_contact_id`"),
        "{}",
        reply.text()
    );

    let db = setup.db().await;
    assert!(db.interactions().await.is_empty());
    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 3);
    assert!(raw.iter().all(|r| r.status == "rejected"));
    assert_eq!(raw[0].body, body, "the raw body is kept byte for byte");
    assert_eq!(raw[0].error.as_deref(), Some("missing `event-data.event`"));
    assert_eq!(reply.json()["error"]["raw_webhook_id"], raw[2].id);
}

#[tokio::test]
async fn a_duplicate_delivery_adds_nothing() {
    let setup = setup();
    let server = setup.start();
    let delivered = event(
        "delivered",
        "ana@example.org",
        now_secs() as f64,
        "m@mg",
        "ev-1",
    );
    // The same event delivered twice, each time signed afresh.
    let body = signed_body(WEBHOOK_SIGNING_KEY, now_secs(), &delivered);
    let reply = post_body(&server, ID, body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = post_event(&server, ID, &delivered).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The very same request again (Mailgun's retry when our answer was lost) reuses its token
    // byte for byte: a redelivery, accepted as a repeat — unlike the token on another body.
    let redelivered = post_body(&server, ID, body).await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.text());

    let db = setup.db().await;
    assert_eq!(db.interaction_count().await, 1);
    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 3, "every accepted delivery is kept");
    let counts: Vec<(i64, i64)> = raw.iter().map(|r| (r.interactions, r.duplicates)).collect();
    assert_eq!(counts, [(1, 0), (0, 1), (0, 1)]);
}

#[tokio::test]
async fn without_its_signing_key_the_plugin_keeps_webhooks_for_replay() {
    let setup = Setup::new(&[plugin(ID)]);
    let server = setup.start();
    let opened = event(
        "opened",
        "ana@example.org",
        now_secs() as f64,
        "m@mg",
        "ev-1",
    );
    let reply = post_event(&server, ID, &opened).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.error_code(), "plugin_misconfigured");
    assert!(
        reply.error_message().contains("webhook_signing_key"),
        "{}",
        reply.text()
    );
    let raw = setup.db().await.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].status, "failed");

    // Once the key is set, a replay verifies the request as of when it was received.
    drop(server);
    let fixed = setup.env(WEBHOOK_SIGNING_KEY_VAR, WEBHOOK_SIGNING_KEY);
    let report = fixed.cli(&["replay"]);
    assert!(report.success, "{}", report.stderr);
    assert_eq!(report.json()["processed"], 1);
    let log = fixed.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "email_opened");
}

#[test]
fn the_plugin_describes_itself_as_mailgun() {
    let json: Value = setup().cli(&["plugins", "list", "--json"]).json();
    let mailgun = &json[0];
    assert_eq!(mailgun["id"], ID);
    assert_eq!(mailgun["describe"]["name"], "email-mailgun");
    assert_eq!(mailgun["describe"]["vendor"], "mailgun");
    assert_eq!(mailgun["describe"]["channels"], json!(["email"]));
    assert_eq!(
        mailgun["describe"]["interface_version"],
        interface_version()
    );
    assert_eq!(mailgun["unset_secrets"], json!([]));
}
