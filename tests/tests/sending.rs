//! Sending through the outbox with the real binary and plugins, against the vendors' own API
//! contracts (Prism, behind a recording relay): selection picks the channel, the dispatcher sends,
//! retries and falls back, webhooks settle, and phone and portal are carried by the staff call
//! queue and the portal inbox.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::outbox::{attempt, contact, history, send, status, wait_for};
use switchboard_e2e::relay::{Relay, Script};
use switchboard_e2e::server::{Server, Setup};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendor_mock;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_sendgrid, post_twilio, sendgrid_event,
    sendgrid_plugin, twilio_plugin, twilio_status,
};

const EMAIL: &str = "ana.martinez@example.org";
const PHONE: &str = "+14155550123";

/// A running server whose SendGrid plugin sends through a relay in front of the Mail Send
/// contract mock, and whose Twilio plugin sends to the Messages contract mock.
struct Office {
    _setup: Setup,
    server: Server,
    key: SendGridKey,
    relay: Relay,
    staff: String,
    sender: String,
    portal: String,
}

impl Office {
    async fn open(script: Script) -> Self {
        Office::with_sender_address(script, "office@example.org").await
    }

    async fn with_sender_address(script: Script, from_email: &str) -> Self {
        Office::build(script, from_email, |plugins, setup| (plugins, setup)).await
    }

    /// An office with a single plugin instance slot, a looping plugin (`spinner`, serving SMS in
    /// place of Twilio) that holds it for 3 s per webhook, and SendGrid's send budget cut to
    /// half a second.
    async fn crowded() -> Self {
        Office::build(
            Script::default(),
            "office@example.org",
            |mut plugins, setup| {
                plugins[0] = plugins[0].clone().limit("send_timeout_ms", 500);
                plugins[1] = PluginConfig::new("spinner", "misbehave", &["sms"])
                    .config("mode", "loop")
                    .limit("webhook_timeout_ms", 3_000);
                (plugins, setup.env("SWITCHBOARD_INSTANCE_SLOTS", "1"))
            },
        )
        .await
    }

    /// Builds the office; `adjust` may change its plugins (SendGrid, then Twilio) and setup.
    async fn build(
        script: Script,
        from_email: &str,
        adjust: impl FnOnce(Vec<PluginConfig>, Setup) -> (Vec<PluginConfig>, Setup),
    ) -> Self {
        let relay = Relay::start(Script {
            upstream: Some(vendor_mock("PRISM_SENDGRID_URL")),
            stamp_message_ids: true,
            ..script
        })
        .await;
        let twilio = vendor_mock("PRISM_TWILIO_URL");
        let key = SendGridKey::fixed();
        let sendgrid = sendgrid_plugin(&key)
            .config("api_base", &relay.base)
            .config("from_email", from_email)
            .allow_host(&relay.host)
            .private_network();
        let twilio = twilio_plugin()
            .config("api_base", &twilio)
            .allow_host(twilio.trim_start_matches("http://").trim_end_matches('/'))
            .private_network();
        let (plugins, setup) = adjust(vec![sendgrid, twilio], Setup::new(&[]));
        setup.write_plugins(&plugins);
        let setup = setup
            .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
            .env("E2E_SENDGRID_API_KEY", "SG.test-key")
            .env("SWITCHBOARD_SEND_RETRY_BASE_MS", "200");
        let staff = setup.key("maria", &["staff"]);
        let sender = setup.key("notifier", &["sender"]);
        let portal = setup.key("portal-app", &["portal"]);
        let server = setup.start();
        Office {
            _setup: setup,
            server,
            key,
            relay,
            staff,
            sender,
            portal,
        }
    }

    fn staff(&self) -> Api<'_> {
        Api::new(&self.server, &self.staff)
    }

    fn sender(&self) -> Api<'_> {
        Api::new(&self.server, &self.sender)
    }

    fn portal(&self) -> Api<'_> {
        Api::new(&self.server, &self.portal)
    }

    /// Ana, who told staff she prefers email, then SMS: without history, that orders her
    /// channels.
    async fn ana(&self) -> i64 {
        let ana = contact(&self.staff(), &[("email", EMAIL), ("phone", PHONE)]).await;
        self.staff()
            .send(
                "PUT",
                &format!("/api/contacts/{ana}/preferences"),
                Some(&json!({ "preferred_channels": ["email", "sms"] })),
            )
            .await;
        ana
    }

    /// The Mail Send requests the relay took.
    fn mail_sends(&self) -> Vec<switchboard_e2e::relay::Seen> {
        self.relay
            .seen()
            .into_iter()
            .filter(|s| s.request.path == "/mail/send")
            .collect()
    }
}

fn email_and_sms(contact: i64, key: &str) -> Value {
    json!({
        "contact_id": contact,
        "idempotency_key": key,
        "urgency": "normal",
        "kind": "renewal",
        "content": {
            "email": { "subject": "Your renewal", "text": "Hello Ana, your renewal is due." },
            "sms": { "text": "Your renewal is due. Reply with questions." }
        }
    })
}

fn is_settled(message: &Value) -> bool {
    matches!(status(message), "sent" | "delivered" | "failed")
}

#[tokio::test]
async fn an_email_meets_the_mail_send_contract_and_its_delivery_settles_the_message() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let sender = office.sender();
    // She prefers email, so it goes first.
    let accepted = send(&sender, &email_and_sms(ana, "renewal-ana-1")).await;
    assert_eq!(accepted["status"], "pending");
    assert_eq!(accepted["plan"][0]["channel"], "email", "{accepted}");
    let id = accepted["message_id"].as_str().unwrap();

    let sent = wait_for(&sender, id, "sent", |m| status(m) == "sent").await;
    let first = attempt(&sent, 1);
    assert_eq!(first["carrier"], "email-sendgrid");
    assert_eq!(first["address"], EMAIL);
    assert_eq!(first["tries"], 1);
    let vendor_id = first["vendor_message_id"].as_str().unwrap().to_string();

    // Prism took the request as the contract demands, with our ids in custom_args.
    let sends = office.mail_sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].status, 202);
    let body: Value = serde_json::from_slice(&sends[0].request.body).unwrap();
    let custom = &body["personalizations"][0]["custom_args"];
    assert_eq!(custom["switchboard_message_id"], id);
    assert_eq!(custom["switchboard_contact_id"], ana.to_string());

    // The send is in the log, and SendGrid's "delivered" for it settles the message.
    assert_eq!(office.staff().timeline_kinds(ana).await, ["email_sent"]);
    let now = switchboard_e2e::now_ms() / 1000;
    let delivered = sendgrid_event("delivered", EMAIL, now, &vendor_id, "ev-delivered-1");
    assert_eq!(
        post_sendgrid(&office.server, &office.key, &[delivered])
            .await
            .status,
        200
    );
    let done = wait_for(&sender, id, "delivered", |m| status(m) == "delivered").await;
    assert_eq!(attempt(&done, 1)["status"], "delivered");
    assert_eq!(history(&done), ["accepted", "sent", "delivered"]);
}

#[tokio::test]
async fn an_sms_only_message_meets_the_twilio_messages_contract() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let sender = office.sender();
    let accepted = send(
        &sender,
        &json!({
            "contact_id": ana, "idempotency_key": "sms-1", "urgency": "high", "kind": "reminder",
            "content": { "sms": { "text": "Your appointment is tomorrow at 10:00." } }
        }),
    )
    .await;
    let id = accepted["message_id"].as_str().unwrap();
    let sent = wait_for(&sender, id, "sent", is_settled).await;
    assert_eq!(status(&sent), "sent", "{sent:#}");
    let first = attempt(&sent, 1);
    assert_eq!(
        (first["channel"].as_str(), first["carrier"].as_str()),
        (Some("sms"), Some("sms-twilio"))
    );
    assert!(
        first["vendor_message_id"]
            .as_str()
            .unwrap()
            .starts_with("SM"),
        "{first}"
    );
    // The other channels were left out with a reason each.
    assert_eq!(
        accepted["skipped"],
        json!([
            { "channel": "email", "reason": "email: the message has no content for it" },
            { "channel": "phone", "reason": "phone: the message has no content for it" },
            { "channel": "portal", "reason": "portal: the message has no content for it" },
        ]),
        "{accepted}"
    );
}

#[tokio::test]
async fn a_permanent_email_failure_falls_back_to_sms_under_one_message() {
    // The contract refuses this sender address, so Mail Send answers 400: not retryable.
    let office = Office::with_sender_address(Script::default(), "not-an-address").await;
    let ana = office.ana().await;
    let sender = office.sender();
    let accepted = send(&sender, &email_and_sms(ana, "fallback-1")).await;
    let id = accepted["message_id"].as_str().unwrap();
    let done = wait_for(&sender, id, "sent by SMS", |m| {
        m["attempts"].as_array().is_some_and(|a| a.len() == 2) && status(m) == "sent"
    })
    .await;
    let (email, sms) = (attempt(&done, 1), attempt(&done, 2));
    assert_eq!(
        (email["channel"].as_str(), email["status"].as_str()),
        (Some("email"), Some("failed"))
    );
    assert_eq!(email["tries"], 1, "a permanent failure is not retried");
    assert_eq!(email["last_error"]["kind"], "content_rejected");
    assert!(
        email["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("vendor answered 400")
    );
    assert_eq!(
        (sms["channel"].as_str(), sms["status"].as_str()),
        (Some("sms"), Some("sent"))
    );
    assert_eq!(history(&done), ["accepted", "failed", "fallback", "sent"]);
    assert_eq!(office.mail_sends().len(), 1);
    // Both attempts are in the log under the one message id.
    assert_eq!(
        office.staff().timeline_kinds(ana).await,
        ["sms_sent", "email_failed"]
    );
}

#[tokio::test]
async fn a_rate_limit_answer_holds_the_retry_until_retry_after() {
    let office = Office::open(Script {
        rate_limit_first: 1,
        retry_after_secs: 2,
        ..Script::default()
    })
    .await;
    let ana = office.ana().await;
    let sender = office.sender();
    let accepted = send(&sender, &email_and_sms(ana, "limited-1")).await;
    let id = accepted["message_id"].as_str().unwrap();
    let sent = wait_for(&sender, id, "sent", |m| status(m) == "sent").await;
    let first = attempt(&sent, 1);
    assert_eq!(
        (first["channel"].as_str(), first["tries"].as_i64()),
        (Some("email"), Some(2))
    );
    let sends = office.mail_sends();
    assert_eq!(
        sends.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 202]
    );
    let waited = sends[1].at_ms - sends[0].at_ms;
    assert!(
        waited >= 2_000,
        "retried after {waited} ms, before Retry-After: 2"
    );
    let retry = sent["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "retry_scheduled")
        .expect("a retry was scheduled");
    assert_eq!(retry["detail"]["failure"]["kind"], "rate_limited");
    assert_eq!(retry["detail"]["failure"]["retry_after_ms"], 2000);
}

#[tokio::test]
async fn a_send_that_finds_no_free_plugin_slot_waits_without_using_up_a_try() {
    let office = Office::crowded().await;
    let ana = contact(&office.staff(), &[("email", EMAIL)]).await;
    let sender = office.sender();
    let spinner = office.server.url("/webhooks/spinner");
    let (held, sent) = tokio::join!(
        switchboard_e2e::server::post(&spinner, &[], b"{}".to_vec()),
        async {
            // The spinner takes the only slot first; the email waits for it, in vain, until the
            // spinner's budget runs out.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let body = json!({
                "contact_id": ana,
                "idempotency_key": "crowded-1",
                "urgency": "normal",
                "kind": "renewal",
                "content": { "email": { "subject": "Your renewal", "text": "Hello Ana." } }
            });
            let accepted = send(&sender, &body).await;
            let id = accepted["message_id"].as_str().unwrap().to_string();
            wait_for(&sender, &id, "sent", |m| status(m) == "sent").await
        }
    );
    assert_eq!(held.status, 503, "{}", held.text());
    let first = attempt(&sent, 1);
    assert_eq!(
        (first["channel"].as_str(), first["tries"].as_i64()),
        (Some("email"), Some(1)),
        "waiting for a slot is not a try: {sent:#}"
    );
    let events = history(&sent);
    assert!(events.iter().any(|e| e == "plugin_busy"), "{events:?}");
    assert!(!events.iter().any(|e| e == "retry_scheduled"), "{events:?}");
    assert_eq!(office.mail_sends().len(), 1, "one request reached SendGrid");
}

#[tokio::test]
async fn a_bounce_after_sent_moves_the_message_to_sms() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let sender = office.sender();
    let accepted = send(&sender, &email_and_sms(ana, "bounce-1")).await;
    let id = accepted["message_id"].as_str().unwrap();
    let sent = wait_for(&sender, id, "sent", |m| status(m) == "sent").await;
    let vendor_id = attempt(&sent, 1)["vendor_message_id"]
        .as_str()
        .unwrap()
        .to_string();

    let now = switchboard_e2e::now_ms() / 1000;
    let mut bounce = sendgrid_event("bounce", EMAIL, now, &vendor_id, "ev-bounce-1");
    bounce["reason"] = json!("550 5.1.1 The email account that you tried to reach does not exist");
    bounce["type"] = json!("bounce");
    bounce["status"] = json!("5.1.1");
    assert_eq!(
        post_sendgrid(&office.server, &office.key, &[bounce])
            .await
            .status,
        200
    );

    let moved = moved_on_to(&sender, id, "sms").await;
    assert_eq!(
        history(&moved),
        ["accepted", "sent", "missed", "fallback", "sent"]
    );
    assert_eq!(office.mail_sends().len(), 1, "email was not tried again");
}

#[tokio::test]
async fn an_undelivered_sms_moves_the_message_to_email() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let (sender, staff) = (office.sender(), office.staff());
    staff
        .send(
            "PUT",
            &format!("/api/contacts/{ana}/preferences"),
            Some(&json!({ "preferred_channels": ["sms", "email"] })),
        )
        .await;
    let accepted = send(&sender, &email_and_sms(ana, "undelivered-1")).await;
    assert_eq!(accepted["plan"][0]["channel"], "sms", "{accepted}");
    let id = accepted["message_id"].as_str().unwrap();
    let sent = wait_for(&sender, id, "sent", |m| status(m) == "sent").await;
    let sid = attempt(&sent, 1)["vendor_message_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Twilio's status callback: the carrier could not deliver it (30003, unreachable handset).
    let mut callback = twilio_status(&sid, "undelivered", PHONE);
    callback.push(("ErrorCode", "30003".to_string()));
    assert_eq!(
        post_twilio(&office.server, "", &borrowed(&callback))
            .await
            .status,
        200
    );

    let moved = moved_on_to(&sender, id, "email").await;
    let fallback = moved["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "fallback")
        .unwrap();
    assert_eq!(fallback["detail"]["reason"], "sms: failed");
    assert_eq!(office.mail_sends().len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_never_makes_a_second_message() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let sender = office.sender();
    let body = email_and_sms(ana, "once-only");
    let first = sender.post("/api/messages", &body).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.headers["idempotent-replayed"], "false");
    let again = sender.post("/api/messages", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.json(), first.json(), "the same answer");

    let mut changed = body.clone();
    changed["content"]["sms"]["text"] = json!("Something else");
    sender.post("/api/messages", &changed).await.assert_refused(
        409,
        "conflict",
        "idempotency_key was used for message",
    );

    let id = first.json()["message_id"].as_str().unwrap().to_string();
    wait_for(&sender, &id, "sent", |m| status(m) == "sent").await;
    assert_eq!(office.mail_sends().len(), 1);
}

/// Sends Ana a high-urgency phone-only message and waits until it is in the call queue; returns
/// the message id.
async fn call_ana(sender: &Api<'_>, ana: i64, key: &str, script: &str) -> (String, Value) {
    let accepted = send(
        sender,
        &json!({
            "contact_id": ana, "idempotency_key": key, "urgency": "high", "kind": "overdue",
            "content": { "phone": { "text": script } }
        }),
    )
    .await;
    let id = accepted["message_id"].as_str().unwrap().to_string();
    let queued = wait_for(sender, &id, "handed to the call queue", |m| {
        status(m) == "sent"
    })
    .await;
    (id, queued)
}

#[tokio::test]
async fn a_phone_message_is_a_call_task_staff_claim_and_complete() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let (sender, staff) = (office.sender(), office.staff());
    let (id, queued) = call_ana(&sender, ana, "call-1", "Ask about the overdue invoice.").await;
    let id = id.as_str();
    assert_eq!(attempt(&queued, 1)["carrier"], "call_queue");

    let tasks = staff.get_ok("/api/call-tasks").await;
    let task = &tasks.as_array().unwrap()[0];
    assert_eq!(task["message_id"], id);
    assert_eq!(task["phone"], PHONE);
    assert_eq!(task["script"], "Ask about the overdue invoice.");
    let task_id = task["id"].as_i64().unwrap();

    let claimed = staff
        .post_ok(&format!("/api/call-tasks/{task_id}/claim"), &json!({}), 200)
        .await;
    assert_eq!(claimed["claimed_by"], "staff:maria");
    // Someone else cannot take it.
    let other = office._setup.key("jo", &["staff"]);
    let jo = Api::new(&office.server, &other);
    jo.post(&format!("/api/call-tasks/{task_id}/claim"), &json!({}))
        .await
        .assert_refused(409, "conflict", "claimed by staff:maria");
    jo.post(
        &format!("/api/call-tasks/{task_id}/complete"),
        &json!({ "outcome": "no_answer" }),
    )
    .await
    .assert_refused(409, "conflict", "claimed by staff:maria");

    let completed = staff
        .post_ok(
            &format!("/api/call-tasks/{task_id}/complete"),
            &json!({ "outcome": "answered", "duration_seconds": 95, "notes": "Will pay Friday" }),
            200,
        )
        .await;
    assert_eq!(completed["task"]["status"], "done");
    assert_eq!(completed["task"]["outcome"], "answered");
    let done = wait_for(&sender, id, "delivered", |m| status(m) == "delivered").await;
    assert_eq!(attempt(&done, 1)["status"], "delivered");
    assert!(
        staff
            .get_ok("/api/call-tasks")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A task is completed once.
    staff
        .post(
            &format!("/api/call-tasks/{task_id}/complete"),
            &json!({ "outcome": "busy" }),
        )
        .await
        .assert_refused(409, "conflict", "is done");
}

#[tokio::test]
async fn an_unanswered_call_fails_the_message_when_no_channel_is_left() {
    let office = Office::open(Script::default()).await;
    let ana = office.ana().await;
    let (sender, staff) = (office.sender(), office.staff());
    let (id, _) = call_ana(&sender, ana, "call-2", "Call about the invoice.").await;
    let id = id.as_str();
    let task_id = staff.get_ok("/api/call-tasks").await[0]["id"]
        .as_i64()
        .unwrap();
    staff
        .post_ok(
            &format!("/api/call-tasks/{task_id}/complete"),
            &json!({ "outcome": "no_answer" }),
            200,
        )
        .await;
    let failed = wait_for(&sender, id, "failed", |m| status(m) == "failed").await;
    assert_eq!(attempt(&failed, 1)["status"], "failed");
    assert_eq!(
        failed["status_reason"], "no channel left to try; last: phone: no_answer",
        "{failed:#}"
    );
}

#[tokio::test]
async fn a_portal_message_waits_in_the_inbox_and_reading_it_settles_it() {
    let office = Office::open(Script::default()).await;
    let ana = contact(
        &office.staff(),
        &[("email", EMAIL), ("external", "portal:u-42")],
    )
    .await;
    let (sender, portal) = (office.sender(), office.portal());
    let accepted = send(
        &sender,
        &json!({
            "contact_id": ana, "idempotency_key": "portal-1", "urgency": "low", "kind": "statement",
            "content": { "portal": { "subject": "Your statement", "text": "Your November statement is ready." } }
        }),
    )
    .await;
    let id = accepted["message_id"].as_str().unwrap();
    let posted = wait_for(&sender, id, "posted", |m| status(m) == "sent").await;
    assert_eq!(attempt(&posted, 1)["carrier"], "portal_inbox");

    let inbox = portal
        .get_ok(&format!("/api/portal/contacts/{ana}/messages"))
        .await;
    assert_eq!(inbox[0]["id"], id);
    assert_eq!(inbox[0]["subject"], "Your statement");
    assert!(inbox[0]["read_at"].is_null());
    // The inbox is the portal app's: a staff key is refused.
    office
        .staff()
        .get(&format!("/api/portal/contacts/{ana}/messages"))
        .await
        .assert_refused(403, "forbidden", "portal");

    let read = portal
        .post_ok(
            &format!("/api/portal/contacts/{ana}/messages/{id}/read"),
            &json!({}),
            200,
        )
        .await;
    assert!(read["read_at"].is_i64());
    portal
        .post_ok(
            &format!("/api/portal/contacts/{ana}/messages/{id}/read"),
            &json!({}),
            200,
        )
        .await;
    let done = wait_for(&sender, id, "delivered", |m| status(m) == "delivered").await;
    assert_eq!(attempt(&done, 1)["status"], "delivered");
    // Read twice, logged once.
    assert_eq!(
        office.staff().timeline_kinds(ana).await,
        ["portal_message_read", "portal_sent"]
    );
}

#[tokio::test]
async fn messages_that_cannot_be_sent_say_why() {
    let office = Office::open(Script::default()).await;
    let sender = office.sender();
    let ana = contact(&office.staff(), &[("email", EMAIL)]).await;
    sender
        .post(
            "/api/messages",
            &json!({
                "contact_id": ana, "idempotency_key": "k1", "urgency": "normal", "kind": "x",
                "content": {}
            }),
        )
        .await
        .assert_refused(422, "invalid", "content");
    sender
        .post(
            "/api/messages",
            &json!({
                "contact_id": 999_999, "idempotency_key": "k2", "urgency": "normal", "kind": "x",
                "content": { "sms": { "text": "hi" } }
            }),
        )
        .await
        .assert_refused(404, "not_found", "contact 999999");
    // Only SMS content, and she has no phone number: accepted, and failed with the reason.
    let accepted = send(
        &sender,
        &json!({
            "contact_id": ana, "idempotency_key": "k3", "urgency": "normal", "kind": "x",
            "content": { "sms": { "text": "hi" } }
        }),
    )
    .await;
    assert_eq!(accepted["status"], "failed");
    assert_eq!(
        accepted["status_reason"],
        "no channel can carry it: email: the message has no content for it; sms: no phone \
         number on file; phone: the message has no content for it; portal: the message has no \
         content for it",
        "{accepted}"
    );
    sender
        .get("/api/messages/msg_nope")
        .await
        .assert_refused(404, "not_found", "msg_nope");
}

/// Waits until a message whose first attempt failed after it was sent has been sent again
/// through `channel`, its second attempt; returns the message.
async fn moved_on_to(sender: &Api<'_>, id: &str, channel: &str) -> Value {
    let moved = wait_for(sender, id, &format!("sent by {channel}"), |m| {
        attempt(m, 2)["status"] == "sent"
    })
    .await;
    assert_eq!(attempt(&moved, 1)["status"], "failed");
    assert_eq!(attempt(&moved, 2)["channel"], channel);
    moved
}
