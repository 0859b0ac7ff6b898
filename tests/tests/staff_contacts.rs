//! Contacts, identities, merges and identity resolution through the real binary.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, twilio_plugin, twilio_status,
};

fn id(value: &Value) -> i64 {
    value["id"].as_i64().expect("an id")
}

#[tokio::test]
async fn contacts_are_created_validated_searched_and_updated() {
    let setup = Setup::new(&[]);
    let staff = setup.key("desk", &["staff"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);

    let ana = api
        .post_ok(
            "/api/contacts",
            &json!({
                "display_name": "Ana Martinez",
                "timezone": "America/Chicago",
                "identities": [
                    { "kind": "email", "value": " Ana.Martinez@Example.org " },
                    { "kind": "phone", "value": "+1 (415) 555-0100" },
                    { "kind": "external", "system": "crm", "value": "CUST-1" }
                ]
            }),
            201,
        )
        .await;
    let values: Vec<&str> = ana["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["ana.martinez@example.org", "+14155550100", "crm:CUST-1"]
    );
    assert_eq!(ana["identities"][0]["source"], "staff:desk");

    for (identity, field) in [
        (
            json!({ "kind": "email", "value": "not-an-address" }),
            "identities[0].value",
        ),
        (
            json!({ "kind": "phone", "value": "555-0100" }),
            "identities[0].value",
        ),
        (json!({ "kind": "fax", "value": "1" }), "identities[0].kind"),
        (
            json!({ "kind": "external", "value": "x" }),
            "identities[0].system",
        ),
    ] {
        let reply = api
            .post("/api/contacts", &json!({ "identities": [identity] }))
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert_eq!(reply.json()["error"]["field"], field);
    }
    let reply = api
        .post("/api/contacts", &json!({ "timezone": "Mars/Olympus Mons" }))
        .await;
    assert_eq!(reply.json()["error"]["field"], "timezone");

    let luis = api
        .post_ok(
            "/api/contacts",
            &json!({ "display_name": "Luis Martinez" }),
            201,
        )
        .await;
    let taken = api
        .post(
            &format!("/api/contacts/{}/identities", id(&luis)),
            &json!({ "kind": "phone", "value": "+14155550100" }),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    assert!(
        taken
            .error_message()
            .contains(&format!("contact {}", id(&ana)))
    );

    let by_name = api.get_ok("/api/contacts?name=martinez&limit=1").await;
    assert_eq!(by_name["contacts"].as_array().unwrap().len(), 1);
    let next = by_name["next_cursor"].as_i64().expect("a second page");
    let page2 = api
        .get_ok(&format!(
            "/api/contacts?name=martinez&limit=1&cursor={next}"
        ))
        .await;
    assert_eq!(page2["contacts"][0]["display_name"], "Luis Martinez");
    assert!(page2["next_cursor"].is_null());
    for query in [
        "email=ANA.MARTINEZ%40example.org",
        "phone=%2B1%20415%20555%200100",
        "external_id=crm:CUST-1",
    ] {
        let found = api.get_ok(&format!("/api/contacts?{query}")).await;
        assert_eq!(found["contacts"][0]["id"], ana["id"], "{query}");
    }
    let reply = api.get("/api/contacts?phone=12").await;
    assert_eq!(reply.json()["error"]["field"], "phone");

    let patched = api
        .patch(
            &format!("/api/contacts/{}", id(&luis)),
            &json!({ "timezone": "Europe/Madrid" }),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["timezone"], "Europe/Madrid");
    assert_eq!(patched.json()["display_name"], "Luis Martinez");

    let added = api
        .post_ok(
            &format!("/api/contacts/{}/identities", id(&luis)),
            &json!({ "kind": "email", "value": "luis@example.org" }),
            201,
        )
        .await;
    let identity_id = added["identities"][0]["id"].as_i64().unwrap();
    let removed = api
        .delete(&format!(
            "/api/contacts/{}/identities/{identity_id}",
            id(&luis)
        ))
        .await;
    assert_eq!(removed.status, 200);
    assert!(removed.json()["identities"].as_array().unwrap().is_empty());
    assert_eq!(api.get("/api/contacts/999999").await.status, 404);
}

#[tokio::test]
async fn a_merge_moves_all_history_and_the_old_id_still_finds_the_person() {
    let setup = Setup::new(&[twilio_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let staff = setup.key("desk", &["staff"]);
    let admin = setup.key("ops", &["admin"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);
    let plugins = Api::new(&server, &admin).get_ok("/api/plugins").await;
    assert_eq!(plugins[0]["id"], "sms-twilio");
    assert_eq!(plugins[0]["describe"]["vendor"], "twilio");

    // The SMS vendor made one record of the person, the front desk another.
    let params = twilio_status("SM100", "delivered", "+14155550111");
    assert_eq!(
        post_twilio(&server, "", &borrowed(&params)).await.status,
        200
    );
    let found = api.get_ok("/api/contacts?phone=%2B14155550111").await;
    let by_sms = found["contacts"][0]["id"].as_i64().unwrap();
    let desk = api
        .post_ok(
            "/api/contacts",
            &json!({ "display_name": "Rosa Diaz", "identities": [{ "kind": "email", "value": "rosa@example.org" }] }),
            201,
        )
        .await;
    api.post_ok(
        "/api/calls",
        &json!({ "contact_id": id(&desk), "outcome": "answered", "intent": "billing" }),
        201,
    )
    .await;
    api.post_ok(
        &format!("/api/contacts/{by_sms}/intents"),
        &json!({ "intent": "billing", "channel": "sms" }),
        201,
    )
    .await;

    let report = api
        .post_ok(
            &format!("/api/contacts/{}/merge", id(&desk)),
            &json!({ "merge_id": by_sms }),
            200,
        )
        .await;
    assert_eq!(report["moved"]["interactions"], 1);
    assert_eq!(report["moved"]["identities"], 1);
    assert_eq!(report["moved"]["intents"], 1);
    assert_eq!(
        report["survivor"]["identities"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        api.get(&format!("/api/contacts/{by_sms}")).await.status,
        404
    );
    let itself = api
        .post(
            &format!("/api/contacts/{}/merge", id(&desk)),
            &json!({ "merge_id": id(&desk) }),
        )
        .await;
    assert_eq!(itself.status, 422);

    let timeline = api
        .get_ok(&format!("/api/contacts/{}/timeline", id(&desk)))
        .await;
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["contact_merged", "phone_answered", "sms_delivered"]);

    // A vendor echoing the merged contact's id lands on the survivor.
    let params = twilio_status("SM101", "delivered", "+14155550199");
    let query = format!("switchboard_contact_id={by_sms}");
    assert_eq!(
        post_twilio(&server, &query, &borrowed(&params))
            .await
            .status,
        200
    );
    let log = setup.db().await.interactions().await;
    let echoed = log
        .iter()
        .find(|i| i.vendor_message_id.as_deref() == Some("SM101"))
        .unwrap();
    assert_eq!(echoed.contact_id, Some(id(&desk)));

    let intents = api
        .get_ok(&format!("/api/contacts/{}/intents?status=all", id(&desk)))
        .await;
    assert_eq!(
        intents.as_array().unwrap().len(),
        2,
        "both open intents moved: {intents}"
    );
}

#[tokio::test]
async fn identify_scores_callers_and_explains_why() {
    let setup = Setup::new(&[]);
    let staff = setup.key("desk", &["staff"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);
    let ana = api
        .post_ok(
            "/api/contacts",
            &json!({
                "display_name": "Ana Martinez",
                "identities": [
                    { "kind": "phone", "value": "+14155550100" },
                    { "kind": "email", "value": "ana@example.org" },
                    { "kind": "external", "system": "crm", "value": "CUST-12345" }
                ]
            }),
            201,
        )
        .await;

    // Each case: the hints, the verdict, the sources it names, and the evidence of the best
    // candidate as (field, comparison).
    let cases = [
        (
            json!({ "ani": "+14155550100", "email": "ana@example.org" }),
            ("very_high", "reuse"),
            json!(["phone", "email"]),
            vec![("phone", "match"), ("email", "match")],
        ),
        (
            json!({ "ani": "+1 415 555 0100", "external_ids": { "crm": "CUST-12345" } }),
            ("very_high", "reuse"),
            json!(["phone", "external_id:crm"]),
            vec![("phone", "match"), ("external_id:crm", "match")],
        ),
        (
            json!({ "ani": "+14155550100" }),
            ("high", "reuse"),
            json!(["phone"]),
            vec![("phone", "match")],
        ),
        (
            json!({ "ani": "+14155550100", "name": "Ana Martinez", "last_seen_days": { "phone": 720 } }),
            ("high", "reuse"),
            json!(["phone", "name", "recency:phone:720d"]),
            vec![("phone", "match"), ("name", "match")],
        ),
        (
            json!({ "ani": "+14155550100", "last_seen_days": { "phone": 400 } }),
            ("medium", "confirm"),
            json!(["phone", "recency:phone:400d"]),
            vec![("phone", "match")],
        ),
        (
            json!({ "ani": "+14155550100", "email": "luis@example.org" }),
            ("low", "create"),
            json!(["phone"]),
            vec![("phone", "match"), ("email", "mismatch")],
        ),
        (
            json!({ "ani": "+14155550999" }),
            ("low", "create"),
            json!([]),
            vec![],
        ),
    ];
    for (hints, (level, recommendation), sources, evidence) in cases {
        let answer = api.post_ok("/api/identify", &hints, 200).await;
        assert_eq!(answer["level"], level, "{hints}: {answer}");
        assert_eq!(
            answer["recommendation"], recommendation,
            "{hints}: {answer}"
        );
        assert_eq!(answer["sources"], sources, "{hints}: {answer}");
        let confidence = answer["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
        let weighed: Vec<(&str, &str)> = answer["candidates"][0]["evidence"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| {
                        let field = e["field"].as_str().unwrap_or_default();
                        (field, e["comparison"].as_str().unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(weighed, evidence, "{hints}: {answer}");
        if evidence.is_empty() {
            assert!(answer["contact_id"].is_null(), "{hints}: {answer}");
            assert_eq!(answer["candidates"], json!([]), "{hints}: {answer}");
        } else {
            assert_eq!(answer["contact_id"], ana["id"], "{hints}: {answer}");
        }
    }
    let answer = api
        .post_ok(
            "/api/identify",
            &json!({ "ani": "+14155550100", "last_seen_days": { "phone": 2 } }),
            200,
        )
        .await;
    assert_eq!(
        answer["sources"],
        json!(["phone", "recency:phone:2d"]),
        "{answer}"
    );

    let reply = api
        .post("/api/identify", &json!({ "ani": "call me" }))
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["error"]["field"], "phone");
    let reply = api.post("/api/identify", &json!({})).await;
    assert_eq!(reply.status, 422);
}
