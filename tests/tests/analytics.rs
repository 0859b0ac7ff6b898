//! Analytics through the real binary: signed SendGrid and Twilio webhooks and staff call logs in,
//! the channel effectiveness report out.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_sendgrid, post_twilio, sendgrid_event,
    sendgrid_plugin, twilio_inbound, twilio_plugin, twilio_status,
};

const HOUR_SECS: i64 = 3_600;

struct Office {
    /// Holds the server's directory (its database) for as long as the office is open.
    _setup: Setup,
    key: SendGridKey,
    server: Server,
    staff: String,
    analyst: String,
}

impl Office {
    fn open() -> Self {
        let key = SendGridKey::fixed();
        let setup = Setup::new(&[sendgrid_plugin(&key), twilio_plugin()])
            .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
        let staff = setup.key("maria", &["staff"]);
        let analyst = setup.key("ada", &["analyst"]);
        let server = setup.start();
        Office {
            _setup: setup,
            key,
            server,
            staff,
            analyst,
        }
    }

    fn staff(&self) -> Api<'_> {
        Api::new(&self.server, &self.staff)
    }

    fn analyst(&self) -> Api<'_> {
        Api::new(&self.server, &self.analyst)
    }
}

async fn contact(api: &Api<'_>, name: &str, email: &str, phone: &str) -> i64 {
    let created = api
        .post_ok(
            "/api/contacts",
            &json!({
                "display_name": name,
                "identities": [{ "kind": "email", "value": email }, { "kind": "phone", "value": phone }]
            }),
            201,
        )
        .await;
    created["id"].as_i64().unwrap()
}

fn channel<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// A SendGrid event about `message`, with an event id of its own.
fn email(event: &str, to: &str, at_secs: i64, message: &str) -> Value {
    sendgrid_event(event, to, at_secs, message, &format!("{message}-{event}"))
}

/// Logs a call staff made (or took, with `"direction": "inbound"` among `fields`).
async fn log_call(staff: &Api<'_>, contact: i64, outcome: &str, fields: Value) {
    let mut call = json!({ "contact_id": contact, "outcome": outcome });
    if let (Some(call), Some(fields)) = (call.as_object_mut(), fields.as_object()) {
        call.extend(fields.clone());
    }
    staff.post_ok("/api/calls", &call, 201).await;
}

/// The report of `path` for the period from `since` to a minute from now.
async fn report(office: &Office, path: &str, since: i64, extra: &str) -> Value {
    let until = switchboard_e2e::now_ms() + 60_000;
    office
        .analyst()
        .get_ok(&format!("{path}?since={since}&until={until}{extra}"))
        .await
}

/// `(count, of)` of a rate.
fn counted(rate: &Value) -> (i64, i64) {
    (
        rate["count"].as_i64().unwrap(),
        rate["of"].as_i64().unwrap(),
    )
}

/// A day of email, SMS and calls to three people, then the report: each channel's funnel with
/// the rates it can show and "no data" for the ones it cannot.
#[tokio::test]
async fn the_channel_report_tells_each_channel_s_funnel_from_the_log() {
    let office = Office::open();
    let (server, key, staff) = (&office.server, &office.key, office.staff());
    let ana = contact(&staff, "Ana", "ana@example.org", "+14155550101").await;
    let ben = contact(&staff, "Ben", "ben@example.org", "+14155550102").await;
    contact(&staff, "Cleo", "cleo@example.org", "+14155550103").await;

    let now = switchboard_e2e::now_ms() / 1000;
    let t0 = now - 30 * HOUR_SECS;
    let batch = vec![
        // m1: delivered, opened two hours later, clicked.
        email("processed", "ana@example.org", t0, "m1"),
        email("delivered", "ana@example.org", t0 + 5, "m1"),
        email("open", "ana@example.org", t0 + 2 * HOUR_SECS, "m1"),
        email("click", "ana@example.org", t0 + 3 * HOUR_SECS, "m1"),
        // m2: bounced.
        email("processed", "ben@example.org", t0, "m2"),
        email("bounce", "ben@example.org", t0 + 10, "m2"),
        // m3: delivered, nothing more.
        email("processed", "cleo@example.org", t0, "m3"),
        email("delivered", "cleo@example.org", t0 + 5, "m3"),
        // m4, a day later: opened within half an hour.
        email("processed", "ana@example.org", t0 + 24 * HOUR_SECS, "m4"),
        email(
            "delivered",
            "ana@example.org",
            t0 + 24 * HOUR_SECS + 5,
            "m4",
        ),
        email("open", "ana@example.org", t0 + 24 * HOUR_SECS + 1_800, "m4"),
    ];
    assert_eq!(post_sendgrid(server, key, &batch).await.status, 200);

    // SMS: Ana's is delivered and answered; Ben answers his with STOP.
    for params in [
        twilio_status("SM1", "sent", "+14155550101"),
        twilio_status("SM1", "delivered", "+14155550101"),
        twilio_status("SM2", "sent", "+14155550102"),
        twilio_inbound("SM3", "+14155550101", "Yes, see you then"),
        twilio_inbound("SM4", "+14155550102", "STOP"),
    ] {
        assert_eq!(
            post_twilio(server, "", &borrowed(&params)).await.status,
            200
        );
    }
    // Calls staff made: one answered, one not.
    log_call(&staff, ana, "answered", json!({})).await;
    log_call(&staff, ben, "no_answer", json!({})).await;

    let since = (t0 - HOUR_SECS) * 1000;
    let channels = "/api/analytics/channels";
    let report = report(&office, channels, since, "").await;
    assert_eq!(report["messages"], 8, "{report}");
    assert_eq!(report["inbound"], 2, "{report}");

    let email = channel(&report, "email");
    assert_eq!(email["share"], 0.5);
    let stats = &email["effectiveness"];
    assert_eq!(stats["sent"], 4);
    assert_eq!(counted(&stats["delivered"]), (3, 4));
    assert_eq!(counted(&stats["engaged"]), (2, 4));
    assert_eq!(counted(&stats["opened"]), (2, 4));
    assert_eq!(counted(&stats["clicked"]), (1, 4));
    assert_eq!(counted(&stats["responded"]), (1, 4));
    assert_eq!(stats["delivered"]["rate"], 0.75);
    let (low, high) = (
        stats["delivered"]["low"].as_f64().unwrap(),
        stats["delivered"]["high"].as_f64().unwrap(),
    );
    assert!(
        low < 0.75 && 0.75 < high && low > 0.0 && high <= 1.0,
        "{stats}"
    );
    assert_eq!(
        stats["failures"],
        json!([{ "reason": "bounced", "count": 1 }])
    );
    assert_eq!(stats["bounces"], 1);
    let tta = &stats["time_to_action"];
    assert_eq!(tta["count"], 2);
    assert_eq!(tta["buckets"][0], json!({ "label": "<1h", "count": 1 }));
    assert_eq!(tta["buckets"][1], json!({ "label": "1-4h", "count": 1 }));
    assert_eq!(tta["p50_ms"], 1_800_000);
    assert_eq!(tta["p90_ms"], 2 * HOUR_SECS * 1000);
    assert_eq!(email["providers"][0]["plugin"], "email-sendgrid");

    let sms = &channel(&report, "sms")["effectiveness"];
    assert_eq!(sms["sent"], 2);
    assert_eq!(sms["opened"]["rate"], Value::Null, "{sms}");
    assert_eq!(sms["opened"]["no_data"], "sms carries no opens");
    assert_eq!(counted(&sms["delivered"]), (1, 2));
    assert_eq!(counted(&sms["responded"]), (1, 2));
    assert_eq!(sms["opt_outs"], 1);
    assert_eq!(channel(&report, "sms")["inbound"], 2);

    let phone = &channel(&report, "phone")["effectiveness"];
    assert_eq!(phone["sent"], 2);
    assert_eq!(counted(&phone["answered"]), (1, 2));
    assert_eq!(phone["delivered"]["rate"], Value::Null, "{phone}");
    assert_eq!(
        phone["failures"],
        json!([{ "reason": "no_answer", "count": 1 }])
    );

    // The report reads pre-aggregates folded as the webhooks came in: folding the whole log
    // again from nothing (beside the running server) gives the same report.
    let rebuilt = office._setup.cli(&["analytics", "rebuild"]).json();
    assert!(rebuilt["interactions"].as_i64().unwrap() >= 10, "{rebuilt}");
    let again = self::report(&office, channels, since, "").await;
    assert_eq!(again["channels"], report["channels"]);

    // A daily series: email's first three messages on the first day, the rest on the second.
    let daily = self::report(&office, channels, since, "&by=day").await;
    let groups = daily["breakdown"]["groups"].as_array().unwrap();
    let total: i64 = groups.iter().map(|g| g["messages"].as_i64().unwrap()).sum();
    assert_eq!(total, 8, "{daily}");
    assert!(groups.len() >= 2, "{daily}");
    assert_eq!(daily["breakdown"]["by"], "day");

    // Only SendGrid's messages.
    let sendgrid = self::report(&office, channels, since, "&plugin=email-sendgrid").await;
    assert_eq!(sendgrid["messages"], 4, "{sendgrid}");

    // Each number opens into the messages behind it, a page at a time.
    let drill = "/api/analytics/channels/messages";
    let opened = self::report(
        &office,
        drill,
        since,
        "&channel=email&reached=opened&limit=1",
    )
    .await;
    assert_eq!(opened["total"], 2, "{opened}");
    assert_eq!(opened["messages"][0]["vendor_message_id"], "m1");
    let cursor = opened["next_cursor"].as_str().unwrap().to_string();
    let next = self::report(
        &office,
        drill,
        since,
        &format!("&channel=email&reached=opened&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(next["messages"][0]["vendor_message_id"], "m4", "{next}");
    assert_eq!(next["next_cursor"], Value::Null);
    let bounced = self::report(&office, drill, since, "&reached=failed&failure=bounced").await;
    assert_eq!(bounced["total"], 1);
    assert_eq!(bounced["messages"][0]["contact_id"], ben);

    // And the rows themselves, as CSV.
    let until = switchboard_e2e::now_ms() + 60_000;
    let csv = office
        .analyst()
        .get(&format!(
            "/api/analytics/interactions.csv?since={since}&until={until}&channel=sms"
        ))
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(
        csv.headers["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,occurred_at,"), "{text}");
    assert_eq!(
        lines.len(),
        1 + 5,
        "SM1 twice, SM2, Ana's reply, Ben's STOP: {text}"
    );
    assert!(lines[1..].iter().all(|l| l.contains(",sms,")), "{text}");
}

#[tokio::test]
async fn the_report_needs_the_analyst_scope_and_a_sane_query() {
    let office = Office::open();
    let anonymous = Api::anonymous(&office.server);
    assert_eq!(anonymous.get("/api/analytics/channels").await.status, 401);
    assert_eq!(
        office.staff().get("/api/analytics/channels").await.status,
        403
    );

    let analyst = office.analyst();
    let empty = analyst.get_ok("/api/analytics/channels").await;
    assert_eq!(empty["messages"], 0);
    assert_eq!(empty["channels"], json!([]));

    for (query, field) in [
        ("by=hour", "by"),
        ("since=10&until=5", "since"),
        ("since=0&until=99999999999999", "until"),
        ("urgency=panic", "urgency"),
    ] {
        let reply = analyst
            .get(&format!("/api/analytics/channels?{query}"))
            .await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.text());
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let unknown = analyst.get("/api/analytics/channels?colour=red").await;
    assert_eq!(unknown.status, 422, "{}", unknown.text());
}

/// Ana engaged once by email, then let three emails, three texts and three calls go unanswered:
/// she is disengaging. Ben clicked an email, got another, and called us instead of answering it:
/// a channel switch.
#[tokio::test]
async fn journeys_show_switches_touches_and_who_is_disengaging() {
    let office = Office::open();
    let (server, key, staff) = (&office.server, &office.key, office.staff());
    let ana = contact(&staff, "Ana", "ana@example.org", "+14155550101").await;
    let ben = contact(&staff, "Ben", "ben@example.org", "+14155550102").await;

    let t0 = switchboard_e2e::now_ms() / 1000 - 5 * 24 * HOUR_SECS;
    let mut batch = vec![
        email("processed", "ana@example.org", t0, "a1"),
        email("open", "ana@example.org", t0 + HOUR_SECS, "a1"),
        email("processed", "ben@example.org", t0, "b1"),
        email("click", "ben@example.org", t0 + 2 * HOUR_SECS, "b1"),
        email("processed", "ben@example.org", t0 + 24 * HOUR_SECS, "b2"),
    ];
    for day in 1..=3 {
        batch.push(email(
            "processed",
            "ana@example.org",
            t0 + day * 24 * HOUR_SECS,
            &format!("a{}", day + 1),
        ));
    }
    assert_eq!(post_sendgrid(server, key, &batch).await.status, 200);
    for sid in ["SM1", "SM2", "SM3"] {
        let sent = twilio_status(sid, "sent", "+14155550101");
        assert_eq!(post_twilio(server, "", &borrowed(&sent)).await.status, 200);
    }
    for _ in 0..3 {
        log_call(&staff, ana, "no_answer", json!({})).await;
    }
    let when = (t0 + 25 * HOUR_SECS) * 1000;
    let inbound = json!({ "direction": "inbound", "occurred_at": when });
    log_call(&staff, ben, "answered", inbound).await;

    let since = (t0 - HOUR_SECS) * 1000;
    let report = report(&office, "/api/analytics/journeys", since, "").await;

    let touches = &report["touches_before_response"];
    assert_eq!(touches["responses"], 1, "{report}");
    assert_eq!(
        touches["distribution"][0],
        json!({ "label": "1", "count": 1 })
    );
    let switches = &report["channel_switches"];
    assert_eq!(
        (
            switches["prompted"].as_i64(),
            switches["unprompted"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(counted(&switches["switched"]), (1, 1));
    assert_eq!(
        switches["routes"],
        json!([{ "from": "email", "to": "phone", "count": 1 }])
    );
    let used: Vec<i64> = report["channels_used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(
        used,
        [1, 1, 0],
        "Ana used email, Ben email and phone: {report}"
    );

    assert_eq!(report["disengaging_total"], 1, "{report}");
    let silent = &report["disengaging"][0];
    assert_eq!(silent["contact_id"], ana);
    assert_eq!(silent["last_engaged_at"], (t0 + HOUR_SECS) * 1000);
    let channels: Vec<&str> = silent["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["email", "sms", "phone"]);
    assert!(
        silent["reason"].as_str().unwrap().contains("every channel"),
        "{silent}"
    );

    // The same, in each person's context.
    let context = staff.get_ok(&format!("/api/contacts/{ana}/context")).await;
    assert_eq!(
        context["journey"]["disengaging"]["contact_id"], ana,
        "{context}"
    );
    let context = staff.get_ok(&format!("/api/contacts/{ben}/context")).await;
    assert_eq!(context["journey"]["disengaging"], Value::Null, "{context}");
    assert_eq!(
        context["journey"]["touches_before_response"]["responses"],
        1
    );
    assert_eq!(
        context["journey"]["channel_switches"]["routes"][0]["to"],
        "phone"
    );
}

/// Ana got an email and a text and enrolled; Ben got an email and did not; Cleo enrolled
/// without any touch. Conversions are recorded once per key, and credited by each model.
#[tokio::test]
async fn conversions_are_recorded_once_and_credited_to_the_touches_before_them() {
    let office = Office::open();
    let (server, key, staff) = (&office.server, &office.key, office.staff());
    let ana = contact(&staff, "Ana", "ana@example.org", "+14155550101").await;
    contact(&staff, "Ben", "ben@example.org", "+14155550102").await;
    let cleo = contact(&staff, "Cleo", "cleo@example.org", "+14155550103").await;

    let t0 = switchboard_e2e::now_ms() / 1000 - 2 * 24 * HOUR_SECS;
    let batch = vec![
        email("processed", "ana@example.org", t0, "a1"),
        email("processed", "ben@example.org", t0, "b1"),
    ];
    assert_eq!(post_sendgrid(server, key, &batch).await.status, 200);
    let sent = twilio_status("SM1", "sent", "+14155550101");
    assert_eq!(post_twilio(server, "", &borrowed(&sent)).await.status, 200);

    let enrolled = |who: i64, key: &str| json!({ "contact_id": who, "goal": "enrolled", "value": 100.0, "idempotency_key": key });
    let first = staff
        .post_ok("/api/conversions", &enrolled(ana, "ana-1"), 201)
        .await;
    assert_eq!(first["goal"], "enrolled");
    assert_eq!(first["created_by"], "staff:maria");
    let again = staff
        .post_ok("/api/conversions", &enrolled(ana, "ana-1"), 200)
        .await;
    assert_eq!(again["id"], first["id"], "a repeat records nothing more");
    let reused = staff
        .post("/api/conversions", &enrolled(cleo, "ana-1"))
        .await;
    assert_eq!(reused.status, 409, "{}", reused.text());
    staff
        .post_ok("/api/conversions", &enrolled(cleo, "cleo-1"), 201)
        .await;
    for (body, field) in [
        (
            json!({ "contact_id": ana, "goal": "won_lottery", "idempotency_key": "x" }),
            "goal",
        ),
        (
            json!({ "contact_id": 999_999, "goal": "paid", "idempotency_key": "x" }),
            "contact_id",
        ),
        (
            json!({ "contact_id": ana, "goal": "paid", "value": -1, "idempotency_key": "x" }),
            "value",
        ),
        (
            json!({ "contact_id": ana, "goal": "paid", "idempotency_key": "" }),
            "idempotency_key",
        ),
    ] {
        let reply = staff.post("/api/conversions", &body).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        let error: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(error["error"]["field"], field, "{body}");
    }

    let since = (t0 - HOUR_SECS) * 1000;
    let attribution = "/api/analytics/attribution";
    let linear = report(&office, attribution, since, "&goal=enrolled&model=linear").await;
    assert_eq!(linear["attributed"], 1, "{linear}");
    assert_eq!(linear["untouched"], 1, "Cleo had no touch: {linear}");
    assert_eq!(linear["journeys"], 2.0, "Ana's and Ben's: {linear}");
    assert_eq!(linear["value"], 100.0);
    let shares: Vec<(String, f64, f64)> = linear["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap().to_string(),
                c["share"].as_f64().unwrap(),
                c["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shares,
        [("email".into(), 0.5, 50.0), ("sms".into(), 0.5, 50.0)],
        "{linear}"
    );

    // The journeys behind the credit.
    let behind = "/api/analytics/attribution/journeys";
    let converted = report(&office, behind, since, "&goal=enrolled&converted=true").await;
    assert_eq!(converted["total"], 1, "{converted}");
    assert_eq!(converted["journeys"][0]["contact_id"], ana);
    let touched: Vec<&str> = converted["journeys"][0]["touches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["channel"].as_str().unwrap())
        .collect();
    assert_eq!(touched, ["email", "sms"]);
    let by_email = report(
        &office,
        behind,
        since,
        "&goal=enrolled&channel=email&limit=1",
    )
    .await;
    assert_eq!(by_email["total"], 2, "Ana's and Ben's: {by_email}");
    let cursor = by_email["next_cursor"].as_str().unwrap().to_string();
    let rest = report(
        &office,
        behind,
        since,
        &format!("&goal=enrolled&channel=email&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["journeys"][0]["converted_at"], Value::Null, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null);

    let first_touch = report(
        &office,
        attribution,
        since,
        "&goal=enrolled&model=first_touch",
    )
    .await;
    assert_eq!(first_touch["channels"][0]["channel"], "email");
    assert_eq!(first_touch["channels"][0]["share"], 1.0);

    let markov = report(&office, attribution, since, "&goal=enrolled&by=plugin").await;
    assert_eq!(markov["model"], "markov");
    let plugins: Vec<&str> = markov["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert!(
        plugins.contains(&"email-sendgrid") && plugins.contains(&"sms-twilio"),
        "{markov}"
    );
    assert!(markov["channels"][0]["low"].is_number(), "{markov}");

    let analyst = office.analyst();
    for (query, field) in [
        ("goal=won_lottery", "goal"),
        ("goal=enrolled&model=magic", "model"),
        ("goal=enrolled&order=4", "order"),
        ("goal=enrolled&by=colour", "by"),
    ] {
        let reply = analyst.get(&format!("{attribution}?{query}")).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.text());
        let error: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(error["error"]["field"], field, "{query}");
    }
    assert_eq!(
        staff
            .get(&format!("{attribution}?goal=enrolled"))
            .await
            .status,
        403
    );
}
