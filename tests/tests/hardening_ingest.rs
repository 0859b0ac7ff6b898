//! What a webhook may cost and change (issue 16 §1.1, §1.2, §1.4, §1.9), through the real binary
//! and the real plugins: storage only for requests that proved they are the vendor's, or that our
//! own configuration kept from being checked (bounded, counted, replayable); only the headers a
//! replay needs; a Mailgun signature usable once, vendor events that never link a new address to a
//! contact, clamped future dates; and a dedupe key for every SendGrid event. What every vendor
//! plugin promises here (an unsigned request stores nothing, a webhook our unset secret kept from
//! verifying is kept unverified, counted and replayed) is in `every_vendor_webhooks.rs`.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::mailgun::{self, Loopback, SENT_MESSAGE_ID, WEBHOOK_SIGNING_KEY};
use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::outbox::{self, status, wait_for};
use switchboard_e2e::repo_root;
use switchboard_e2e::server::{Reply, Server, Setup, post, request};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::standard_webhooks::{STANDARD_SECRET, STANDARD_SECRET_VAR, standard_plugin};
use switchboard_e2e::vendors::{
    PORTAL_SIGNING_SECRET, portal_event, portal_plugin, post_portal_body, post_sendgrid,
    post_sendgrid_body, sendgrid_event, sendgrid_plugin,
};

fn now_secs() -> i64 {
    switchboard_e2e::now_ms() / 1000
}

/// Sends `method` to `/webhooks/<plugin_id>` with no signature and reads the whole reply.
async fn unsigned(server: &Server, method: &str, plugin_id: &str, body: Vec<u8>) -> Reply {
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let url = server.url(&format!("/webhooks/{plugin_id}"));
    request(method, &url, &headers, body).await
}

/// The Python example plugin (plugins-py/sms-example), built by `cargo xtask test`.
fn python_plugin() -> PluginConfig {
    let wasm = repo_root().join("plugins-py/target/sms_example_py.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: cargo xtask test builds it (plugins-py/build.sh)",
        wasm.display()
    );
    PluginConfig::at("sms-python", wasm, &["sms"]).secret("signing_secret", "E2E_EXAMPLE_SECRET")
}

#[tokio::test]
async fn unsigned_requests_store_nothing_whatever_their_method_or_body() {
    // On main 8528e0f the plugin answered a PUT (or GET) `malformed` before checking the
    // signature, and the host stored the whole 1 MiB body as a rejected webhook.
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let server = setup.start();
    let db = setup.db().await;

    let big = vec![b'x'; 1024 * 1024];
    let put = unsigned(&server, "PUT", "email-sendgrid", big.clone()).await;
    assert_eq!(put.status, 405, "{}", put.text());
    let delete = unsigned(&server, "DELETE", "email-sendgrid", big).await;
    assert_eq!(delete.status, 405, "{}", delete.text());
    let get = unsigned(&server, "GET", "email-sendgrid", Vec::new()).await;
    get.assert_refused(401, "bad_signature", "missing");
    // Malformed and unsigned: the signature is checked first, so it is refused as unsigned.
    let junk = unsigned(&server, "POST", "email-sendgrid", b"{not json".to_vec()).await;
    junk.assert_refused(401, "bad_signature", "missing");
    db.assert_nothing_stored().await;

    // The same malformed body, signed: the vendor hears 400 and why, and it is kept as rejected.
    let signed = post_sendgrid_body(&server, &key, now_secs(), b"{not json".to_vec()).await;
    assert_eq!(signed.status, 400, "{}", signed.text());
    assert_eq!(signed.error_code(), "malformed_webhook");
    let kept = signed.json()["error"]["raw_webhook_id"]
        .as_i64()
        .expect("the kept request's id");
    let raw = db.raw_webhooks().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        (raw[0].id, raw[0].status.as_str(), raw[0].verified),
        (kept, "rejected", true)
    );
    assert_eq!(raw[0].body, b"{not json");
    assert!(db.interactions().await.is_empty());
}

#[tokio::test]
async fn the_example_plugins_refuse_an_unsigned_request_with_401_and_store_nothing() {
    // On main 8528e0f each plugin answered a GET `malformed` (400) before its signature check,
    // and the host stored it as a rejected webhook. The vendor plugins are held to this, with the
    // exact refusal, in every_vendor_webhooks.rs; these are the two examples a plugin author
    // starts from.
    let plugins = [
        PluginConfig::new("template", "channel_template", &["sms"])
            .secret("signing_secret", "E2E_EXAMPLE_SECRET"),
        python_plugin(),
    ];
    let setup = Setup::new(&plugins).env("E2E_EXAMPLE_SECRET", "example-secret");
    let server = setup.start();
    for plugin in ["template", "sms-python"] {
        for method in ["POST", "GET"] {
            let body = br#"[{"event":"delivered"}]"#.to_vec();
            let reply = unsigned(&server, method, plugin, body).await;
            assert_eq!(
                (reply.status, reply.error_code().as_str()),
                (401, "bad_signature"),
                "{method} {plugin}: {}",
                reply.text()
            );
        }
    }
    setup.db().await.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_bad_vendor_name_does_not_make_unsigned_requests_storable() {
    // On main 8528e0f webhook-standard checked its vendor name before the signature and answered
    // `misconfigured`: the host kept the unsigned request as failed. (Every vendor plugin missing
    // its key or secret is held to the same in every_vendor_webhooks.rs.)
    let bad_vendor = standard_plugin("crm", "not a vendor name!");
    let setup = Setup::new(&[bad_vendor]).env(STANDARD_SECRET_VAR, STANDARD_SECRET);
    let server = setup.start();
    let reply = unsigned(&server, "POST", "crm", br#"{"type":"sms.sent"}"#.to_vec()).await;
    reply.assert_refused(401, "bad_signature", "missing webhook-id header");
    setup.db().await.assert_nothing_stored().await;
}

/// A small batch of portal events, padded so that its size is known: about `bytes` bytes.
fn portal_batch(id: &str, bytes: usize) -> Vec<u8> {
    let mut view = portal_event(id, "page_view", "u-42", switchboard_e2e::now_ms() - 60_000);
    view["page"] = "/billing".into();
    let mut body = serde_json::to_vec(&json!({ "events": [view] })).unwrap();
    let pad = bytes.saturating_sub(body.len());
    view["page"] = format!("/billing/{}", "p".repeat(pad)).into();
    body = serde_json::to_vec(&json!({ "events": [view] })).unwrap();
    body
}

async fn post_portal_signed(server: &Server, body: Vec<u8>) -> Reply {
    post_portal_body(server, &[PORTAL_SIGNING_SECRET], now_secs(), body).await
}

#[tokio::test]
async fn beyond_its_budget_an_unverified_webhook_is_refused_503_and_not_stored() {
    // On main 8528e0f every such request was kept, so an unset secret let anyone fill the disk.
    let setup = Setup::new(&[portal_plugin().limit("unverified_kept_bytes", 1_000)]);
    let server = setup.start();

    let first = post_portal_signed(&server, portal_batch("evt_1", 600)).await;
    assert_eq!(first.status, 503, "{}", first.text());
    assert!(first.json()["error"]["raw_webhook_id"].is_i64());
    for n in 2..=3 {
        let more = post_portal_signed(&server, portal_batch(&format!("evt_{n}"), 600)).await;
        assert_eq!(more.status, 503, "{}", more.text());
        assert!(more.headers.contains_key("retry-after"));
        assert!(
            more.json()["error"]["raw_webhook_id"].is_null(),
            "{}",
            more.text()
        );
        assert!(more.error_message().contains("budget"), "{}", more.text());
    }
    let raw = setup.db().await.raw_webhooks().await;
    assert_eq!(raw.len(), 1, "only the first fits the budget");
}

#[tokio::test]
async fn only_the_headers_a_replay_needs_are_stored_or_exported() {
    // On main 8528e0f every header was stored and exported, credentials and cookies included.
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let privacy = setup.key("dpo", &["privacy"]);
    let server = setup.start();

    let body = serde_json::to_vec(&[sendgrid_event(
        "open",
        "ana@example.org",
        now_secs() - 60,
        "msgAna",
        "ev-1",
    )])
    .unwrap();
    let mut headers = key.headers(now_secs(), &body);
    headers.extend([
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "Authorization".to_string(),
            "Bearer proxy-credential-s3cr3t".to_string(),
        ),
        ("Cookie".to_string(), "session=cookie-s3cr3t".to_string()),
        ("X-Forwarded-For".to_string(), "198.51.100.23".to_string()),
    ]);
    let reply = post(&server.url("/webhooks/email-sendgrid"), &headers, body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let db = setup.db().await;
    let raw = db.raw_webhooks().await;
    let mut names: Vec<&str> = raw[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "content-type",
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp"
        ]
    );

    let ana = db.interactions().await[0].contact_id.expect("Ana");
    let export = Api::new(&server, &privacy)
        .get_ok(&format!("/api/contacts/{ana}/export"))
        .await;
    let exported: Vec<&str> = export["webhooks"][0]["headers"]
        .as_array()
        .expect("the exported webhook's headers")
        .iter()
        .filter_map(|pair| pair[0].as_str())
        .collect();
    assert_eq!(
        exported,
        [
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp",
            "content-type"
        ],
        "{export:#}"
    );
    let text = export["webhooks"].to_string();
    for secret in ["s3cr3t", "198.51.100.23", "authorization", "cookie"] {
        assert!(!text.to_lowercase().contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn a_sendgrid_event_without_ids_posted_twice_is_logged_once() {
    // On main 8528e0f an event with neither sg_event_id nor sg_message_id had no dedupe key, so
    // the vendor's retry logged it a second time.
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let server = setup.start();
    let mut event = sendgrid_event("open", "ana@example.org", now_secs() - 60, "m", "e");
    let fields = event.as_object_mut().unwrap();
    fields.remove("sg_event_id");
    fields.remove("sg_message_id");
    fields.remove("smtp-id");
    for _ in 0..2 {
        let reply = post_sendgrid(&server, &key, std::slice::from_ref(&event)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert!(
        log[0]
            .vendor_event_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sha256:")),
        "{:?}",
        log[0].vendor_event_id
    );
    let raw = db.raw_webhooks().await;
    let counts: Vec<(i64, i64)> = raw.iter().map(|r| (r.interactions, r.duplicates)).collect();
    assert_eq!(counts, [(1, 0), (0, 1)]);
}

const MAILGUN: &str = "email-mailgun";

/// A Mailgun webhook body: `event_data` under the signature object `signature`.
fn mailgun_body(signature: &Value, event_data: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "signature": signature, "event-data": event_data })).unwrap()
}

#[tokio::test]
async fn a_captured_mailgun_signature_cannot_carry_another_body() {
    // On main 8528e0f the signature covered only timestamp + token, so the glued body was
    // accepted and logged.
    let setup = mailgun::with_secrets(Setup::new(&[mailgun::plugin(MAILGUN)]));
    let server = setup.start();
    let at = now_secs();
    let signature = mailgun::signature(WEBHOOK_SIGNING_KEY, at, &mailgun::token());
    let delivered = mailgun::event("delivered", "ana@example.org", at as f64, "m@mg", "ev-1");
    let reply = mailgun::post_body(&server, MAILGUN, mailgun_body(&signature, &delivered)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let forged = mailgun::event("unsubscribed", "ana@example.org", at as f64, "m@mg", "ev-2");
    let glued = mailgun::post_body(&server, MAILGUN, mailgun_body(&signature, &forged)).await;
    glued.assert_refused(401, "bad_signature", "already used");
    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "email_delivered");
    assert_eq!(db.raw_webhooks().await.len(), 1);
}

#[tokio::test]
async fn a_vendor_event_naming_a_contact_id_does_not_link_its_address_to_that_contact() {
    // On main 8528e0f the forged event linked attacker@evil.example to Ana, and the next email to
    // Ana went to the newest reachable address: the attacker's.
    let api = Loopback::start(
        200,
        &[("Content-Type", "application/json")],
        &format!(r#"{{"id": "{SENT_MESSAGE_ID}", "message": "Queued. Thank you."}}"#),
    )
    .await;
    let setup = mailgun::with_secrets(Setup::new(&[mailgun::plugin_at(MAILGUN, &api)]));
    let (staff_key, sender_key) = (setup.key("desk", &["staff"]), setup.key("app", &["sender"]));
    let server = setup.start();
    let staff = Api::new(&server, &staff_key);
    let ana = outbox::contact(&staff, &[("email", "ana@example.org")]).await;

    let mut forged = mailgun::event(
        "opened",
        "attacker@evil.example",
        now_secs() as f64,
        "m@mg",
        "ev-forged",
    );
    forged["user-variables"] = json!({ "switchboard_contact_id": ana.to_string() });
    let reply = mailgun::post_event(&server, MAILGUN, &forged).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let contact = staff.get_ok(&format!("/api/contacts/{ana}")).await;
    let addresses: Vec<&str> = contact["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert_eq!(addresses, ["ana@example.org"], "{contact:#}");

    let sender = Api::new(&server, &sender_key);
    let accepted = outbox::send(
        &sender,
        &json!({
            "contact_id": ana, "idempotency_key": "forged-1", "urgency": "normal",
            "kind": "notice",
            "content": { "email": { "subject": "Your invoice", "text": "Hello Ana" } }
        }),
    )
    .await;
    let id = accepted["message_id"].as_str().unwrap();
    let message = wait_for(&sender, id, "sent", |m| status(m) != "pending").await;
    assert_eq!(status(&message), "sent", "{message:#}");
    let request = api.request().await;
    assert_eq!(request.field("to").as_deref(), Some("ana@example.org"));
}

#[tokio::test]
async fn a_future_dated_mailgun_opt_out_is_logged_at_its_receipt_and_cannot_outrank_later_consent()
{
    // On main 8528e0f an event up to a day ahead was logged at its own date, so a forged opt-out
    // dated tonight outranked the consent Ana gave meanwhile.
    let setup = mailgun::with_secrets(Setup::new(&[mailgun::plugin(MAILGUN)]));
    let (staff_key, sender_key) = (setup.key("desk", &["staff"]), setup.key("app", &["sender"]));
    let server = setup.start();
    let staff = Api::new(&server, &staff_key);
    let ana = outbox::contact(&staff, &[("email", "ana@example.org")]).await;

    // A year ahead is past the plugin's own limit: refused, nothing logged.
    let next_year = (now_secs() + 365 * 86_400) as f64;
    let far = mailgun::event("unsubscribed", "ana@example.org", next_year, "m@mg", "ev-0");
    let reply = mailgun::post_event(&server, MAILGUN, &far).await;
    reply.assert_refused(400, "malformed_webhook", "after the request was received");
    assert!(setup.db().await.interactions().await.is_empty());

    let tonight = (now_secs() + 12 * 3_600) as f64;
    let before = switchboard_e2e::now_ms();
    let opt_out = mailgun::event("unsubscribed", "ana@example.org", tonight, "m@mg", "ev-1");
    let reply = mailgun::post_event(&server, MAILGUN, &opt_out).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let after = switchboard_e2e::now_ms();
    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].contact_id, Some(ana));
    assert!(
        (before..=after).contains(&log[0].occurred_at),
        "occurred_at {} is not the receipt time ({before}..={after})",
        log[0].occurred_at
    );

    // Ana opts back in a moment later: that is the newest word, and it counts.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    staff
        .post_ok(
            &format!("/api/contacts/{ana}/consent"),
            &json!({ "channel": "email", "status": "opted_in", "note": "asked on the phone" }),
            201,
        )
        .await;
    let selection = Api::new(&server, &sender_key)
        .post_ok(
            "/api/select",
            &json!({ "contact_id": ana, "urgency": "normal", "kind": "reminder" }),
            200,
        )
        .await;
    let email = selection["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == "email")
        .unwrap_or_else(|| panic!("email not ranked: {selection}"));
    assert_eq!(email["status"], "eligible", "{selection:#}");
}

#[tokio::test]
async fn a_sendgrid_event_dated_next_year_is_logged_at_its_receipt() {
    // On main 8528e0f the host refused it as not a plausible time (503, kept as failed), and the
    // vendor retried it until it gave up; the vendor's date is no evidence, its arrival is.
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let server = setup.start();
    let next_year = now_secs() + 365 * 86_400;
    let before = switchboard_e2e::now_ms();
    let events = [sendgrid_event(
        "unsubscribe",
        "ana@example.org",
        next_year,
        "m1",
        "ev-1",
    )];
    let reply = post_sendgrid(&server, &key, &events).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let after = switchboard_e2e::now_ms();
    let log = setup.db().await.interactions().await;
    assert_eq!(log.len(), 1);
    assert!(
        (before..=after).contains(&log[0].occurred_at),
        "occurred_at {} is not the receipt time ({before}..={after})",
        log[0].occurred_at
    );
}
