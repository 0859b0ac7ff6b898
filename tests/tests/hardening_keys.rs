//! API keys and what each scope may do (issue 16 §1.9), through the real binary: a key is revoked
//! by its id and nothing else, key changes are audited, and the portal app records the
//! preference centre's consent with its own `portal` key and nothing more.

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::outbox;
use switchboard_e2e::server::Setup;

/// `(id, name, revoked)` of every key, as `GET /api/keys` lists them.
fn listed(keys: &Value) -> Vec<(i64, String, bool)> {
    keys.as_array()
        .expect("a list of keys")
        .iter()
        .map(|k| {
            (
                k["id"].as_i64().unwrap(),
                k["name"].as_str().unwrap().to_string(),
                !k["revoked_at"].is_null(),
            )
        })
        .collect()
}

#[tokio::test]
async fn revoking_by_id_revokes_the_key_with_that_id_not_one_named_like_it() {
    // On main 8528e0f `DELETE /api/keys/{id}` matched the id as text against names first: the key
    // *named* "2" was revoked and key 2 kept working.
    let setup = Setup::new(&[]);
    let admin = setup.key("ops", &["admin"]);
    let victim = setup.key("front-desk", &["staff"]);
    let server = setup.start();
    let api = Api::new(&server, &admin);
    let keys = listed(&api.get_ok("/api/keys").await);
    let victim_id = keys
        .iter()
        .find(|(_, name, _)| name == "front-desk")
        .map(|(id, _, _)| *id)
        .expect("the desk's key is listed");

    let namesake = api
        .post_ok(
            "/api/keys",
            &json!({ "name": victim_id.to_string(), "scopes": ["staff"] }),
            201,
        )
        .await;
    let namesake_id = namesake["id"].as_i64().unwrap();
    let namesake_token = namesake["token"].as_str().unwrap().to_string();
    assert_ne!(namesake_id, victim_id);

    let revoked = api.delete(&format!("/api/keys/{victim_id}")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["id"], victim_id);
    assert_eq!(revoked.json()["name"], "front-desk");
    let keys = listed(&api.get_ok("/api/keys").await);
    let state = |id: i64| keys.iter().find(|k| k.0 == id).map(|k| k.2);
    assert_eq!(state(victim_id), Some(true), "{keys:?}");
    assert_eq!(state(namesake_id), Some(false), "{keys:?}");
    assert_eq!(
        Api::new(&server, &victim).get("/api/contacts").await.status,
        401
    );
    assert_eq!(
        Api::new(&server, &namesake_token)
            .get("/api/contacts")
            .await
            .status,
        200
    );

    let audit = api.get_ok("/api/audit").await;
    let entries: Vec<(&str, &Value)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), &e["detail"]))
        .collect();
    let actions: Vec<&str> = entries.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        actions[..2],
        ["key.revoke", "key.create"],
        "newest first: {audit:#}"
    );
    assert_eq!(entries[0].1["key_id"], victim_id, "{audit:#}");
    assert_eq!(entries[1].1["key_id"], namesake_id, "{audit:#}");
}

#[tokio::test]
async fn the_portal_key_records_preference_centre_consent_and_nothing_else() {
    // On main 8528e0f there was no portal route for consent: the portal app needed a staff key
    // to record what a person chose in the preference centre.
    let setup = Setup::new(&[]);
    let staff_key = setup.key("desk", &["staff"]);
    let portal_key = setup.key("portal-app", &["portal"]);
    let server = setup.start();
    let staff = Api::new(&server, &staff_key);
    let portal = Api::new(&server, &portal_key);
    let ana = outbox::contact(&staff, &[("email", "ana@example.org")]).await;
    let route = format!("/api/portal/contacts/{ana}/consent");

    let entry = portal
        .post_ok(
            &route,
            &json!({ "channel": "sms", "status": "opted_out" }),
            201,
        )
        .await;
    assert_eq!(entry["contact_id"], ana);
    assert_eq!(entry["source"], "preference_centre");
    assert_eq!(entry["status"], "opted_out");
    let ledger = staff.get_ok(&format!("/api/contacts/{ana}/consent")).await;
    let ledger = ledger.as_array().unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["source"], "preference_centre");
    assert_eq!(ledger[0]["id"], entry["id"]);

    let as_staff = portal
        .post(
            &route,
            &json!({ "channel": "sms", "status": "opted_in", "source": "staff" }),
        )
        .await;
    as_staff.assert_refused(422, "invalid", "source");
    let wrong_scope = staff
        .post(&route, &json!({ "channel": "sms", "status": "opted_in" }))
        .await;
    assert_eq!(wrong_scope.status, 403, "{}", wrong_scope.text());
    assert_eq!(
        staff
            .get_ok(&format!("/api/contacts/{ana}/consent"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused requests recorded nothing"
    );
}
