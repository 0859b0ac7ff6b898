//! Manual channels, the cross-channel timeline and the context for a call, through the real
//! binary: what staff log lands in the same log as the vendors' events.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, twilio_inbound, twilio_plugin,
};

fn kinds(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

const T0: i64 = 1_790_000_000_000;

#[tokio::test]
async fn calls_visits_and_events_join_the_vendors_events_in_one_timeline() {
    let setup = Setup::new(&[twilio_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let staff = setup.key("maria", &["staff"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);

    // An inbound SMS makes the person known by their number.
    let sms = twilio_inbound("SM900", "+14155550123", "Is my refund processed?");
    assert_eq!(post_twilio(&server, "", &borrowed(&sms)).await.status, 200);

    // A call logged by number finds them; one by an unknown number creates a contact.
    let call = api
        .post_ok(
            "/api/calls",
            &json!({
                "phone": "+1 (415) 555-0123",
                "outcome": "answered",
                "duration_seconds": 312,
                "notes": "Asked about the refund; promised a call back Friday",
                "intent": "Refund Status",
                "occurred_at": T0 + 1_000
            }),
            201,
        )
        .await;
    let contact = call["contact_ids"][0].as_i64().unwrap();
    let log = setup.db().await.interactions().await;
    assert_eq!(
        log[0].contact_id,
        Some(contact),
        "the SMS and the call are one person"
    );
    assert_eq!(log[1].created_by, "staff:maria");

    api.post_ok(
        "/api/calls",
        &json!({ "contact_id": contact, "outcome": "voicemail", "occurred_at": T0 + 2_000 }),
        201,
    )
    .await;
    let voip = json!({
        "system": "3CX",
        "records": [
            { "call_id": "c-1", "phone": "+14155550123", "direction": "inbound", "outcome": "no_answer", "occurred_at": T0 + 3_000 },
            { "call_id": "c-2", "phone": "+14155550777", "direction": "outbound", "outcome": "busy", "occurred_at": T0 + 3_500 }
        ]
    });
    let first = api.post_ok("/api/calls/voip", &voip, 201).await;
    assert_eq!(first["interaction_ids"].as_array().unwrap().len(), 2);
    assert_eq!(first["contact_ids"][0], contact);
    let again = api.post_ok("/api/calls/voip", &voip, 201).await;
    assert_eq!(again["duplicates"], 2, "a record sent twice is logged once");

    let other = api
        .post_ok("/api/contacts", &json!({ "display_name": "Ben" }), 201)
        .await;
    let attendance = json!({
        "event_name": "Tenant meeting",
        "event_date": "2026-11-20",
        "occurred_at": T0 + 4_000,
        "attendees": [contact, other["id"]]
    });
    let attended = api
        .post_ok("/api/events/attendance", &attendance, 201)
        .await;
    assert_eq!(attended["interaction_ids"].as_array().unwrap().len(), 2);
    let bad = api
        .post(
            "/api/events/attendance",
            &json!({ "event_name": "x", "event_date": "2026-02-30", "attendees": [contact] }),
        )
        .await;
    assert_eq!(bad.json()["error"]["field"], "event_date");
    let bad = api
        .post("/api/events/attendance", &json!({ "event_name": "x", "event_date": "2026-02-03", "attendees": [contact, 424242] }))
        .await;
    assert_eq!(bad.json()["error"]["field"], "attendees[1]");

    api.post_ok(
        "/api/conversations",
        &json!({
            "contact_id": contact,
            "topic": "concern",
            "notes": "Worried the refund went to the old account",
            "intent": "refund_status",
            "occurred_at": T0 + 5_000
        }),
        201,
    )
    .await;

    let timeline = api
        .get_ok(&format!("/api/contacts/{contact}/timeline"))
        .await;
    // The SMS came in now; the staff records are dated earlier.
    assert_eq!(
        kinds(&timeline),
        [
            "sms_replied",
            "in_person_conversation",
            "in_person_attended",
            "phone_no_answer",
            "phone_voicemail",
            "phone_answered",
        ]
    );
    let entries = timeline["entries"].as_array().unwrap();
    assert_eq!(
        entries[1]["summary"],
        "Concern: Worried the refund went to the old account"
    );
    assert_eq!(
        entries[2]["summary"],
        "Attended Tenant meeting (2026-11-20)"
    );
    assert_eq!(
        entries[5]["summary"],
        "Call answered (5m 12s): Asked about the refund; promised a call back Friday"
    );
    assert_eq!(entries[5]["created_by"], "staff:maria");

    // Filters.
    let calls = api
        .get_ok(&format!("/api/contacts/{contact}/timeline?channel=phone"))
        .await;
    assert_eq!(
        kinds(&calls),
        ["phone_no_answer", "phone_voicemail", "phone_answered"]
    );
    let two_kinds = api
        .get_ok(&format!(
            "/api/contacts/{contact}/timeline?kind=phone_voicemail,in_person_attended"
        ))
        .await;
    assert_eq!(kinds(&two_kinds), ["in_person_attended", "phone_voicemail"]);
    let window = api
        .get_ok(&format!(
            "/api/contacts/{contact}/timeline?since={}&until={}",
            T0 + 2_000,
            T0 + 4_000
        ))
        .await;
    assert_eq!(kinds(&window), ["phone_no_answer", "phone_voicemail"]);

    // Pages of two walk the same rows as one page.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/contacts/{contact}/timeline?limit=2&cursor={c}"),
            None => format!("/api/contacts/{contact}/timeline?limit=2"),
        };
        let page = api.get_ok(&path).await;
        walked.extend(kinds(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, kinds(&timeline));
    let reply = api
        .get(&format!("/api/contacts/{contact}/timeline?cursor=garbage"))
        .await;
    assert_eq!(reply.json()["error"]["field"], "cursor");
    let reply = api
        .get(&format!("/api/contacts/{contact}/timeline?channel=fax"))
        .await;
    assert_eq!(reply.json()["error"]["field"], "channel");

    // The context for the next call: one open intent raised twice on two channels.
    let context = api
        .get_ok(&format!("/api/contacts/{contact}/context"))
        .await;
    let intents = context["open_intents"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "{context}");
    assert_eq!(intents[0]["intent"], "refund_status");
    assert_eq!(intents[0]["attempts"], 2);
    assert_eq!(intents[0]["channels"], json!(["phone", "in_person"]));
    assert_eq!(
        context["last_by_channel"]["phone"]["kind"],
        "phone_no_answer"
    );
    assert_eq!(context["last_by_channel"]["sms"]["channel"], "sms");
    assert_eq!(context["channels"]["phone"]["interactions"], 3);
    assert_eq!(context["channels"]["phone"]["engaged"], 1);
    assert_eq!(context["recent"][1]["kind"], "in_person_conversation");
    assert_eq!(context["contact"]["identities"][0]["value"], "+14155550123");

    // Resolving the intent clears it from the context.
    let intent_id = intents[0]["id"].as_i64().unwrap();
    let resolved = api
        .patch(
            &format!("/api/intents/{intent_id}"),
            &json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(resolved.status, 200);
    assert!(resolved.json()["resolved_at"].is_i64());
    let context = api
        .get_ok(&format!("/api/contacts/{contact}/context"))
        .await;
    assert!(context["open_intents"].as_array().unwrap().is_empty());
    let reply = api
        .patch(
            &format!("/api/intents/{intent_id}"),
            &json!({ "status": "maybe" }),
        )
        .await;
    assert_eq!(reply.json()["error"]["field"], "status");
}
