//! Standard Webhooks (`webhook-standard`) through the real binary and plugin: one signed event per
//! delivery into the log, the vendor named by configuration.
//!
//! What every vendor plugin promises (redeliveries logged once, refusals of bad signatures and
//! malformed events, a missing secret, our contact id, sending) is in `every_vendor_webhooks.rs` and
//! `every_vendor_sends.rs`, run for this plugin with the others.

use serde_json::{Value, json};
use switchboard_e2e::interface_version;
use switchboard_e2e::server::Setup;
use switchboard_e2e::standard_webhooks::{
    ALL_CHANNELS, RETIRED_STANDARD_SECRET, STANDARD_SECRET, STANDARD_SECRET_VAR, post_standard,
    post_standard_body, standard_event, standard_plugin,
};

fn setup() -> Setup {
    Setup::new(&[standard_plugin("webhook-standard", "standard")])
        .env(STANDARD_SECRET_VAR, STANDARD_SECRET)
}

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

/// A delivered SMS, about the person with this phone number.
fn delivered(phone: &str, at_ms: i64) -> Value {
    standard_event(
        "sms.delivered",
        "outbound",
        "delivered",
        json!({ "phone": phone }),
        at_ms,
    )
}

#[test]
fn the_plugin_declares_every_channel_and_takes_its_vendor_from_its_configuration() {
    let setup = Setup::new(&[
        standard_plugin("webhook-standard", "standard"),
        standard_plugin("billing-events", "billing"),
    ]);
    let listed = setup.cli(&["plugins", "list", "--json"]);
    assert!(listed.success, "{}", listed.stderr);
    let json = listed.json();
    let vendors: Vec<(&str, &str)> = json
        .as_array()
        .expect("a list of plugins")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default(),
                p["describe"]["vendor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        vendors.contains(&("webhook-standard", "standard")),
        "{json}"
    );
    assert!(vendors.contains(&("billing-events", "billing")), "{json}");
    for plugin in json.as_array().unwrap() {
        assert_eq!(plugin["describe"]["name"], "webhook-standard");
        assert_eq!(plugin["describe"]["channels"], json!(ALL_CHANNELS));
        assert_eq!(plugin["describe"]["interface_version"], interface_version());
        assert_eq!(plugin["unset_secrets"], json!(["signing_secret"]));
    }
}

#[tokio::test]
async fn a_signed_event_lands_on_its_contact() {
    let setup = setup();
    let server = setup.start();
    let at = switchboard_e2e::now_ms() - 60_000;
    let mut event = standard_event(
        "email.opened",
        "outbound",
        "opened",
        json!({
            "email": "Ana.Martinez@Example.org",
            "external_id": {"system": "crm", "id": "CUST-1"},
        }),
        at,
    );
    event["id"] = json!("evt_1");
    event["data"]["message_id"] = json!("newsletter-7");
    event["data"]["summary"] = json!("Opened the November newsletter");
    event["data"]["metadata"] = json!({"campaign": "november"});
    let reply = post_standard(
        &server,
        "webhook-standard",
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        &event,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body.is_empty());

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1);
    let i = &log[0];
    assert_eq!(
        (
            i.kind.as_str(),
            i.channel.as_str(),
            i.direction.as_str(),
            i.outcome.as_str()
        ),
        ("email_opened", "email", "outbound", "opened")
    );
    assert_eq!(i.vendor_status.as_deref(), Some("email.opened"));
    assert_eq!(
        i.vendor_event_id.as_deref(),
        Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    );
    assert_eq!(i.vendor_message_id.as_deref(), Some("newsletter-7"));
    assert_eq!(i.vendor.as_deref(), Some("standard"));
    assert_eq!(i.plugin_id.as_deref(), Some("webhook-standard"));
    assert_eq!(i.occurred_at, at);
    assert_eq!(i.summary.as_deref(), Some("Opened the November newsletter"));
    assert_eq!(
        i.metadata,
        json!({"campaign": "november", "event_id": "evt_1"})
    );
    let ana = i.contact_id.expect("the person is resolved");
    let identities = db.identities().await;
    assert!(identities.contains(&(ana, "email".into(), "ana.martinez@example.org".into())));
    assert!(identities.contains(&(ana, "external".into(), "crm:CUST-1".into())));

    // A later event names Ana by our contact id, on another channel.
    let call = standard_event(
        "phone.call_completed",
        "inbound",
        "answered",
        json!({ "contact_id": ana, "phone": "+14155550100" }),
        at + 1_000,
    );
    let reply = post_standard(&server, "webhook-standard", "msg_2", &call).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let log = setup.db().await.interactions().await;
    assert_eq!(
        (log[1].kind.as_str(), log[1].outcome.as_str()),
        ("phone_call_completed", "answered")
    );
    assert_eq!(log[1].contact_id, Some(ana));
}

#[tokio::test]
async fn a_delivery_signed_with_the_retired_and_the_new_secret_is_accepted() {
    let setup = setup();
    let server = setup.start();
    let body = serde_json::to_vec(&delivered("+14155550100", switchboard_e2e::now_ms())).unwrap();
    let reply = post_standard_body(
        &server,
        "webhook-standard",
        &[RETIRED_STANDARD_SECRET, STANDARD_SECRET],
        "msg_1",
        now_secs(),
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Signed with the retired secret only: refused.
    let retired = post_standard_body(
        &server,
        "webhook-standard",
        &[RETIRED_STANDARD_SECRET],
        "msg_2",
        now_secs(),
        body,
    )
    .await;
    assert_eq!(retired.status, 401);
    assert_eq!(setup.db().await.interaction_count().await, 1);
}

#[tokio::test]
async fn a_redelivered_webhook_id_is_logged_once_per_sending_system() {
    let setup = Setup::new(&[
        standard_plugin("webhook-standard", "standard"),
        standard_plugin("billing-events", "billing"),
    ])
    .env(STANDARD_SECRET_VAR, STANDARD_SECRET);
    let server = setup.start();
    let event = delivered("+14155550100", switchboard_e2e::now_ms());
    for _ in 0..2 {
        let reply = post_standard(&server, "webhook-standard", "msg_1", &event).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // Another system that happens to use the same webhook id: its own event, not a repeat.
    let reply = post_standard(&server, "billing-events", "msg_1", &event).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    let log = db.interactions().await;
    let systems: Vec<Option<&str>> = log.iter().map(|i| i.vendor.as_deref()).collect();
    assert_eq!(systems, [Some("standard"), Some("billing")]);
    let counts: Vec<(i64, i64)> = db
        .raw_webhooks()
        .await
        .iter()
        .map(|r| (r.interactions, r.duplicates))
        .collect();
    assert_eq!(counts, [(1, 0), (0, 1), (1, 0)]);
}

#[tokio::test]
async fn with_a_bad_vendor_name_the_plugin_keeps_signed_webhooks_for_replay() {
    let bad_vendor = Setup::new(&[standard_plugin("webhook-standard", "Billing System")])
        .env(STANDARD_SECRET_VAR, STANDARD_SECRET);
    let server = bad_vendor.start();
    let event = delivered("+14155550100", switchboard_e2e::now_ms());
    let reply = post_standard(&server, "webhook-standard", "msg_1", &event).await;
    reply.assert_refused(503, "plugin_misconfigured", "config key `vendor`");
    let raw = bad_vendor.db().await.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].status, "failed");
}
