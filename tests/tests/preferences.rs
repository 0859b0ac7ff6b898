//! The preference and selection engine through the real binary: signed vendor webhooks and staff
//! call logs in, preferences, the consent ledger and channel selection out.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_sendgrid, post_twilio, sendgrid_event,
    sendgrid_plugin, twilio_inbound, twilio_plugin, twilio_status,
};

const EMAIL: &str = "ana.martinez@example.org";
const PHONE: &str = "+14155550123";

/// A running server with SendGrid and Twilio installed, a staff key and a sender key.
struct Office {
    setup: Setup,
    key: SendGridKey,
    server: Server,
    staff: String,
    sender: String,
}

impl Office {
    fn open() -> Self {
        let key = SendGridKey::fixed();
        let setup = Setup::new(&[sendgrid_plugin(&key), twilio_plugin()])
            .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
        let staff = setup.key("maria", &["staff"]);
        let sender = setup.key("notifier", &["sender"]);
        let server = setup.start();
        Office {
            setup,
            key,
            server,
            staff,
            sender,
        }
    }

    fn staff(&self) -> Api<'_> {
        Api::new(&self.server, &self.staff)
    }

    fn sender(&self) -> Api<'_> {
        Api::new(&self.server, &self.sender)
    }
}

async fn create_ana(api: &Api<'_>) -> i64 {
    let contact = api
        .post_ok(
            "/api/contacts",
            &json!({
                "display_name": "Ana Martínez",
                "timezone": "America/Chicago",
                "identities": [
                    { "kind": "email", "value": EMAIL },
                    { "kind": "phone", "value": PHONE }
                ]
            }),
            201,
        )
        .await;
    contact["id"].as_i64().unwrap()
}

fn ranked<'a>(selection: &'a Value, channel: &str) -> &'a Value {
    selection["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == channel)
        .unwrap_or_else(|| panic!("{channel} not ranked: {selection}"))
}

fn reason(selection: &Value, channel: &str) -> String {
    ranked(selection, channel)["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

/// 10:00 in Chicago on a weekday, ms since the epoch.
const DAYTIME: i64 = 1_794_326_400_000; // 2026-11-10T16:00:00Z

#[tokio::test]
async fn consent_reachability_and_history_shape_the_selection() {
    let office = Office::open();
    let (server, key) = (&office.server, &office.key);
    let (staff_api, sender_api) = (office.staff(), office.sender());
    let ana = create_ana(&staff_api).await;
    let t0 = switchboard_e2e::now_ms() / 1000 - 3 * 86_400;

    // Three emails delivered, two opened (one of them twice).
    let mut events = Vec::new();
    for (i, message) in ["m1", "m2", "m3"].iter().enumerate() {
        let at = t0 + i as i64 * 3_600;
        events.push(sendgrid_event(
            "processed",
            EMAIL,
            at,
            message,
            &format!("{message}-p"),
        ));
        events.push(sendgrid_event(
            "delivered",
            EMAIL,
            at + 5,
            message,
            &format!("{message}-d"),
        ));
    }
    events.push(sendgrid_event("open", EMAIL, t0 + 600, "m1", "m1-o1"));
    events.push(sendgrid_event("open", EMAIL, t0 + 900, "m1", "m1-o2"));
    events.push(sendgrid_event("open", EMAIL, t0 + 3_900, "m2", "m2-o1"));
    assert_eq!(post_sendgrid(server, key, &events).await.status, 200);
    // An SMS went out and she texted STOP; a staff call reached her.
    let sent = twilio_status("SM100", "delivered", PHONE);
    assert_eq!(post_twilio(server, "", &borrowed(&sent)).await.status, 200);
    let stop = twilio_inbound("SM101", PHONE, "STOP");
    assert_eq!(post_twilio(server, "", &borrowed(&stop)).await.status, 200);
    staff_api
        .post_ok(
            "/api/calls",
            &json!({ "contact_id": ana, "outcome": "answered" }),
            201,
        )
        .await;

    let prefs = staff_api
        .get_ok(&format!("/api/contacts/{ana}/preferences"))
        .await;
    assert_eq!(prefs["rates"]["email_open"]["successes"], 2);
    assert_eq!(prefs["rates"]["email_open"]["trials"], 3);
    assert_eq!(prefs["channels"]["email"]["opened"], 2, "{prefs}");
    assert_eq!(prefs["hours_in"], "America/Chicago");
    assert_eq!(prefs["rates"]["phone_answer"]["successes"], 1);
    let consent = &prefs["consent"][0];
    assert_eq!(consent["channel"], "sms");
    assert_eq!(consent["status"], "opted_out");
    assert_eq!(consent["source"], "inbound_stop");
    assert!(
        consent["raw_webhook_id"].is_i64(),
        "the STOP is the evidence: {consent}"
    );
    assert!(consent["interaction_id"].is_i64());

    let select =
        json!({ "contact_id": ana, "urgency": "normal", "kind": "reminder", "at": DAYTIME });
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert!(
        reason(&selection, "sms").starts_with("sms: opted out via STOP on 20"),
        "{selection}"
    );
    assert_eq!(ranked(&selection, "sms")["status"], "excluded");
    assert!(reason(&selection, "email").starts_with("email: 2/3 opened, smoothed"));
    assert_eq!(
        reason(&selection, "portal"),
        "portal: no portal account on file"
    );
    assert_eq!(selection["timezone"], "America/Chicago");
    assert_eq!(selection["in_quiet_hours"], false);
    assert_eq!(selection["decision"]["action"], "send_now");

    // START lifts the opt-out; at 23:00 her time SMS and phone wait for the morning.
    let start = twilio_inbound("SM102", PHONE, "START");
    assert_eq!(post_twilio(server, "", &borrowed(&start)).await.status, 200);
    let late = json!({ "contact_id": ana, "urgency": "low", "kind": "reminder",
                       "at": DAYTIME + 13 * 3_600_000 });
    let selection = sender_api.post_ok("/api/select", &late, 200).await;
    assert_eq!(selection["in_quiet_hours"], true);
    let sms = ranked(&selection, "sms");
    assert_eq!(sms["status"], "deferred", "{selection}");
    // 08:00 CST on the 11th is 14:00 UTC.
    assert_eq!(sms["available_at"], 1_794_405_600_000i64);
    assert!(
        sms["reason"]
            .as_str()
            .unwrap()
            .contains("quiet hours (21:00–08:00 America/Chicago)")
    );

    // A hard bounce makes her address unreachable until staff re-verify it.
    let bounce = sendgrid_event("bounce", EMAIL, t0 + 7_300, "m4", "m4-b");
    assert_eq!(post_sendgrid(server, key, &[bounce]).await.status, 200);
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert_eq!(ranked(&selection, "email")["status"], "excluded");
    assert!(
        reason(&selection, "email").contains(&format!("{EMAIL} unreachable since")),
        "{selection}"
    );
    let contact = staff_api.get_ok(&format!("/api/contacts/{ana}")).await;
    let email_identity = contact["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "email")
        .unwrap()
        .clone();
    assert!(email_identity["unreachable_interaction_id"].is_i64());
    let id = email_identity["id"].as_i64().unwrap();
    staff_api
        .post_ok(
            &format!("/api/contacts/{ana}/identities/{id}/reverify"),
            &json!({}),
            200,
        )
        .await;
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert_eq!(ranked(&selection, "email")["status"], "eligible");

    // Staff record an opt-out she gave on the phone.
    let entry = staff_api
        .post_ok(
            &format!("/api/contacts/{ana}/consent"),
            &json!({ "channel": "phone", "status": "opted_out", "note": "asked not to be called" }),
            201,
        )
        .await;
    assert_eq!(entry["recorded_by"], "staff:maria");
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert!(reason(&selection, "phone").starts_with("phone: opted out via staff on"));
    // An unsubscribe from an email excludes email; a resubscribe brings it back.
    let unsubscribe = sendgrid_event("unsubscribe", EMAIL, t0 + 7_400, "m1", "m1-u");
    assert_eq!(post_sendgrid(server, key, &[unsubscribe]).await.status, 200);
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert!(
        reason(&selection, "email").starts_with("email: opted out via unsubscribe on"),
        "{selection}"
    );
    let resubscribe = sendgrid_event("group_resubscribe", EMAIL, t0 + 7_500, "m1", "m1-r");
    assert_eq!(post_sendgrid(server, key, &[resubscribe]).await.status, 200);
    let selection = sender_api.post_ok("/api/select", &select, 200).await;
    assert_eq!(ranked(&selection, "email")["status"], "eligible");

    // The ledger keeps every step, in the order they happened.
    let ledger = staff_api
        .get_ok(&format!("/api/contacts/{ana}/consent"))
        .await;
    let steps: Vec<(&str, &str)> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("email", "unsubscribe"),
            ("email", "resubscribe"),
            ("sms", "inbound_stop"),
            ("sms", "inbound_start"),
            ("phone", "staff")
        ]
    );
}

#[tokio::test]
async fn bad_selection_requests_are_refused_with_the_field() {
    let office = Office::open();
    let (api, staff_api) = (office.sender(), office.staff());
    let ana = create_ana(&staff_api).await;

    let reply = api
        .post(
            "/api/select",
            &json!({ "contact_id": ana, "urgency": "urgent", "kind": "x" }),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let reply = api
        .post(
            "/api/select",
            &json!({ "contact_id": ana, "urgency": "low", "kind": " " }),
        )
        .await;
    reply.assert_refused(422, "invalid", "kind");
    let reply = api
        .post(
            "/api/select",
            &json!({ "contact_id": 999, "urgency": "low", "kind": "x" }),
        )
        .await;
    assert_eq!(reply.status, 404);
    let reply = staff_api
        .send(
            "PUT",
            &format!("/api/contacts/{ana}/preferences"),
            Some(&json!({ "preferred_channels": ["sms", "sms"] })),
        )
        .await;
    reply.assert_refused(422, "invalid", "preferred_channels[1]");
    let reply = staff_api
        .post(
            &format!("/api/contacts/{ana}/consent"),
            &json!({ "channel": "sms", "status": "opted_in", "source": "inbound_start" }),
        )
        .await;
    reply.assert_refused(422, "invalid", "source");
    let reply = staff_api
        .patch(
            &format!("/api/contacts/{ana}"),
            &json!({ "timezone": "Mars/Olympus_Mons" }),
        )
        .await;
    reply.assert_refused(422, "invalid", "timezone");
}

#[tokio::test]
async fn stated_preferences_and_exploration_are_honoured() {
    let office = Office::open();
    let (api, staff_api) = (office.sender(), office.staff());
    let ana = create_ana(&staff_api).await;

    let stated = staff_api
        .send(
            "PUT",
            &format!("/api/contacts/{ana}/preferences"),
            Some(&json!({ "preferred_channels": ["sms"],
                          "quiet_hours": { "start": "22:00", "end": "07:00" } })),
        )
        .await;
    assert_eq!(stated.status, 200, "{}", stated.text());
    let select =
        json!({ "contact_id": ana, "urgency": "normal", "kind": "reminder", "at": DAYTIME });
    let selection = api.post_ok("/api/select", &select, 200).await;
    assert_eq!(selection["decision"]["channel"], "sms", "{selection}");
    assert!(reason(&selection, "sms").contains("preference #1 of the contact (+0.15)"));
    // 21:30 her time: inside the organisation's quiet hours but not hers.
    let evening = json!({ "contact_id": ana, "urgency": "normal", "kind": "reminder",
                          "at": DAYTIME + 11 * 3_600_000 + 1_800_000 });
    let selection = api.post_ok("/api/select", &evening, 200).await;
    assert_eq!(selection["in_quiet_hours"], false, "{selection}");

    let explore = json!({ "contact_id": ana, "urgency": "normal", "kind": "reminder",
                          "at": DAYTIME, "explore": true, "seed": 42 });
    let first = api.post_ok("/api/select", &explore, 200).await;
    let again = api.post_ok("/api/select", &explore, 200).await;
    assert_eq!(
        first["ranked"], again["ranked"],
        "the same seed, the same draws"
    );
    assert_eq!(first["seed"], 42);
    assert!(reason(&first, "email").contains("(exploring)"));
}

#[tokio::test]
async fn a_rebuild_from_the_log_matches_the_counts_kept_as_webhooks_arrived() {
    let mut office = Office::open();
    let analyst = office.setup.key("ada", &["analyst"]);
    let (server, key) = (&office.server, &office.key);
    let staff_api = office.staff();
    let ana = create_ana(&staff_api).await;
    let t0 = switchboard_e2e::now_ms() / 1000 - 10 * 86_400;

    // Several batches, people known and new, repeats, replies, calls.
    for day in 0..5i64 {
        let at = t0 + day * 86_400;
        let message = format!("d{day}");
        let other = format!("person{day}@example.org");
        let batch = vec![
            sendgrid_event("delivered", EMAIL, at, &message, &format!("{message}-d")),
            sendgrid_event(
                "open",
                EMAIL,
                at + 60 * (day + 1),
                &message,
                &format!("{message}-o"),
            ),
            sendgrid_event(
                "delivered",
                &other,
                at,
                &format!("x{day}"),
                &format!("x{day}-d"),
            ),
        ];
        assert_eq!(post_sendgrid(server, key, &batch).await.status, 200);
        // The same batch again: nothing counts twice.
        assert_eq!(post_sendgrid(server, key, &batch).await.status, 200);
        let sid = format!("SM2{day:02}");
        let sent = twilio_status(&sid, "sent", PHONE);
        assert_eq!(post_twilio(server, "", &borrowed(&sent)).await.status, 200);
        if day % 2 == 0 {
            let reply = twilio_inbound(&format!("SM3{day:02}"), PHONE, "Yes, thanks");
            assert_eq!(post_twilio(server, "", &borrowed(&reply)).await.status, 200);
        }
        staff_api
            .post_ok(
                "/api/calls",
                &json!({ "contact_id": ana, "outcome": if day == 3 { "answered" } else { "no_answer" } }),
                201,
            )
            .await;
    }
    let priors = Api::new(server, &analyst)
        .post_ok("/api/preferences/priors/refit", &json!({}), 200)
        .await;
    // Email went to Ana and to five others (one a day); SMS and calls to Ana alone.
    let contacts: Vec<(&str, &Value)> = [
        "email_open",
        "email_response",
        "phone_answer",
        "sms_response",
    ]
    .iter()
    .map(|rate| (*rate, &priors["rates"][rate]["contacts"]))
    .collect();
    assert_eq!(
        contacts,
        [
            ("email_open", &json!(6)),
            ("email_response", &json!(6)),
            ("phone_answer", &json!(1)),
            ("sms_response", &json!(1)),
        ],
        "{priors}"
    );

    office.server.kill();
    let setup = &office.setup;
    let counted = setup.db().await.engagement_snapshot().await;
    assert!(counted.len() > 20, "{counted:?}");
    let rebuild = setup.cli(&["prefs", "rebuild"]);
    let report = rebuild.json();
    // Per day: Ana's delivery and open, another person's delivery, an SMS, a call; and three
    // replies on even days.
    assert_eq!(report["interactions"], 5 * 5 + 3, "{report}");
    assert_eq!(setup.db().await.engagement_snapshot().await, counted);
}
