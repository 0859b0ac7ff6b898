//! Export and erasure through the real binary: everything about a person comes out, then goes,
//! and a vendor's late webhook about them does not bring them back.

use serde_json::json;
use switchboard_e2e::api::Api;
use switchboard_e2e::server::Setup;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_twilio, twilio_inbound, twilio_plugin,
    twilio_status,
};

#[tokio::test]
async fn erasure_removes_everything_and_a_late_webhook_recreates_no_one() {
    let setup = Setup::new(&[twilio_plugin()]).env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let staff = setup.key("desk", &["staff"]);
    let privacy = setup.key("dpo", &["privacy"]);
    let admin = setup.key("ops", &["admin"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);

    for (sid, status) in [("SM1", "sent"), ("SM1", "delivered")] {
        let params = twilio_status(sid, status, "+14155550142");
        assert_eq!(
            post_twilio(&server, "", &borrowed(&params)).await.status,
            200
        );
    }
    let stop = twilio_inbound("SM2", "+14155550142", "STOP");
    assert_eq!(post_twilio(&server, "", &borrowed(&stop)).await.status, 200);
    // Someone else, in the same log.
    let other = twilio_status("SM3", "delivered", "+14155550999");
    assert_eq!(
        post_twilio(&server, "", &borrowed(&other)).await.status,
        200
    );

    let found = api.get_ok("/api/contacts?phone=%2B14155550142").await;
    let person = found["contacts"][0]["id"].as_i64().unwrap();
    api.post_ok(
        &format!("/api/contacts/{person}/identities"),
        &json!({ "kind": "email", "value": "p@example.org" }),
        201,
    )
    .await;
    api.post_ok(
        &format!("/api/contacts/{person}/intents"),
        &json!({ "intent": "move_out", "channel": "sms" }),
        201,
    )
    .await;
    api.post_ok(
        "/api/conversions",
        &json!({ "contact_id": person, "goal": "paid", "value": 40, "idempotency_key": "inv-7" }),
        201,
    )
    .await;

    let export = Api::new(&server, &privacy)
        .get_ok(&format!("/api/contacts/{person}/export"))
        .await;
    assert_eq!(export["contact"]["id"], person);
    assert_eq!(export["interactions"].as_array().unwrap().len(), 3);
    assert_eq!(export["consent"][0]["outcome"], "opted_out");
    assert_eq!(export["consent_ledger"][0]["status"], "opted_out");
    assert!(export["consent_ledger"][0]["interaction_id"].is_i64());
    assert_eq!(export["intents"][0]["intent"], "move_out");
    assert_eq!(export["conversions"][0]["goal"], "paid");
    let webhooks = export["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 3, "the raw webhooks that name them");
    assert!(
        webhooks
            .iter()
            .all(|w| w["body"].as_str().unwrap().contains("4155550142"))
    );

    let erased = Api::new(&server, &privacy)
        .delete(&format!("/api/contacts/{person}"))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text());
    let erased = erased.json();
    assert_eq!(erased["interactions"], 3);
    assert_eq!(erased["identities"], 2);
    assert_eq!(erased["webhooks"], 3);
    assert_eq!(
        api.get(&format!("/api/contacts/{person}")).await.status,
        404
    );

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 1, "only the other person's event is left");
    assert_eq!(db.raw_webhooks().await.len(), 1);
    assert!(
        db.identities()
            .await
            .iter()
            .all(|(_, _, v)| !v.contains("4155550142") && v != "p@example.org")
    );

    // The vendor reports a late event about them: accepted, attributed to no one, not stored.
    let late = twilio_status("SM1", "read", "+14155550142");
    assert_eq!(post_twilio(&server, "", &borrowed(&late)).await.status, 200);
    assert_eq!(db.contact_count().await, 1);
    assert_eq!(db.interactions().await.len(), 1);
    let kept = db.raw_webhooks().await;
    let late = kept.last().unwrap();
    assert!(
        late.body.is_empty(),
        "a webhook naming only erased people keeps no body"
    );
    assert_eq!(
        late.error.as_deref(),
        Some("body removed: it named only erased people")
    );
    let found = api.get_ok("/api/contacts?phone=%2B14155550142").await;
    assert!(found["contacts"].as_array().unwrap().is_empty());

    // Staff may knowingly take the number back for a new contact.
    let back = api
        .post(
            "/api/contacts",
            &json!({ "identities": [{ "kind": "phone", "value": "+14155550142" }] }),
        )
        .await;
    assert_eq!(back.status, 201);

    let audit = Api::new(&server, &admin)
        .get_ok(&format!("/api/audit?contact_id={person}"))
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["contact.erase", "contact.export"]);
    assert!(
        !audit.to_string().contains("4155550142"),
        "the audit log names no identifier"
    );
}
