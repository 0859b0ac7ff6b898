//! Every staff route, found by walking the served OpenAPI document, refuses a request without a
//! key (401), with an unknown or revoked key (401) and with a key lacking the route's scope (403),
//! always as a JSON error of one shape; the right scope gets past the check.

use serde_json::Value;
use switchboard_e2e::api::{ALL_SCOPES, Api};
use switchboard_e2e::server::Setup;

/// Each documented operation: method, path with its parameters filled in, and required scope.
fn operations(document: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let paths = document["paths"].as_object().expect("paths");
    for (template, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let scope = operation["security"][0]["bearer"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template} documents no scope"))
                .to_string();
            let path = template
                .split('/')
                .map(|part| if part.starts_with('{') { "1" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            found.push((method.to_uppercase(), path, scope));
        }
    }
    found
}

fn assert_error(reply: &switchboard_e2e::server::Reply, status: u16, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    assert_eq!(reply.error_code(), code, "{what}");
    assert!(
        !reply.error_message().is_empty(),
        "{what}: a message for people"
    );
}

#[tokio::test]
async fn every_documented_route_checks_the_key_and_its_scope() {
    let setup = Setup::new(&[]);
    let everything = setup.key("everything", ALL_SCOPES);
    let revoked = setup.key("revoked", ALL_SCOPES);
    assert!(setup.cli(&["keys", "revoke", "revoked"]).success);
    let server = setup.start();

    let reply = Api::anonymous(&server).get("/api/openapi.json").await;
    assert_error(&reply, 401, "unauthenticated", "the OpenAPI document");
    let analyst = setup.key("reader", &["analyst"]);
    let document = Api::new(&server, &analyst)
        .get_ok("/api/openapi.json")
        .await;
    let operations = operations(&document);
    assert!(
        operations.len() >= 20,
        "only {} operations documented",
        operations.len()
    );
    let body = serde_json::json!({});
    for (i, (method, path, scope)) in operations.iter().enumerate() {
        let what = format!("{method} {path} (needs {scope})");
        let body = (method != "GET" && method != "DELETE").then_some(&body);

        let reply = Api::anonymous(&server).send(method, path, body).await;
        assert_error(&reply, 401, "unauthenticated", &what);
        let reply = Api::new(&server, "sb_not-a-key")
            .send(method, path, body)
            .await;
        assert_error(&reply, 401, "unauthenticated", &what);
        let reply = Api::new(&server, &revoked).send(method, path, body).await;
        assert_error(&reply, 401, "unauthenticated", &what);

        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| s != scope).collect();
        let wrong = setup.key(&format!("all-but-{scope}-{i}"), &others);
        let reply = Api::new(&server, &wrong).send(method, path, body).await;
        assert_error(&reply, 403, "forbidden", &what);
        assert_eq!(reply.json()["error"]["required_scope"], scope.as_str());

        let only = setup.key(&format!("only-{scope}-{i}"), &[scope]);
        let reply = Api::new(&server, &only).send(method, path, body).await;
        assert!(
            reply.status != 401 && reply.status != 403,
            "{what} refused its own scope: {}",
            reply.text()
        );
        let reply = Api::new(&server, &everything)
            .send(method, path, body)
            .await;
        assert!(reply.status < 500, "{what}: {}", reply.text());
    }
}

#[tokio::test]
async fn keys_are_made_listed_and_revoked_from_the_cli_and_the_admin_api() {
    let setup = Setup::new(&[]);
    let admin = setup.key("ops", &["admin"]);
    let listed = setup.cli(&["keys", "list", "--json"]).json();
    assert_eq!(listed[0]["name"], "ops");
    assert!(listed[0].get("token").is_none(), "tokens are never listed");
    let mut stored = std::fs::read(setup.database_path()).unwrap();
    stored
        .extend(std::fs::read(setup.database_path().with_extension("db-wal")).unwrap_or_default());
    let secret_part = &admin.as_bytes()[12..];
    assert!(
        !stored.windows(secret_part.len()).any(|w| w == secret_part),
        "the token itself is not stored"
    );

    let refused = setup.cli(&["keys", "create", "--name", "x", "--scope", "root"]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("unknown scope \"root\""),
        "{}",
        refused.stderr
    );

    let server = setup.start();
    let api = Api::new(&server, &admin);
    let made = api
        .post_ok(
            "/api/keys",
            &serde_json::json!({ "name": "desk", "scopes": ["staff"] }),
            201,
        )
        .await;
    let desk = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        Api::new(&server, &desk).get("/api/contacts").await.status,
        200
    );
    let taken = api
        .post(
            "/api/keys",
            &serde_json::json!({ "name": "desk", "scopes": ["staff"] }),
        )
        .await;
    assert_eq!(taken.status, 409);
    let id = made["id"].as_i64().unwrap();
    assert_eq!(api.delete(&format!("/api/keys/{id}")).await.status, 200);
    assert_eq!(
        Api::new(&server, &desk).get("/api/contacts").await.status,
        401
    );

    let audit = api.get_ok("/api/audit").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.create", "key.create"]);
}

#[tokio::test]
async fn bad_bodies_are_refused_with_the_reason() {
    let setup = Setup::new(&[]);
    let staff = setup.key("desk", &["staff"]);
    let server = setup.start();
    let reply = switchboard_e2e::server::client()
        .post(server.url("/api/contacts"))
        .bearer_auth(&staff)
        .header("content-type", "application/json")
        .body("{\"display_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let reply = switchboard_e2e::server::client()
        .post(server.url("/api/contacts"))
        .bearer_auth(&staff)
        .body("display_name=Ana")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 415);

    let api = Api::new(&server, &staff);
    let reply = api
        .post("/api/contacts", &serde_json::json!({ "nickname": "Ana" }))
        .await;
    assert_eq!(reply.status, 422);
    assert!(
        reply.error_message().contains("nickname"),
        "{}",
        reply.text()
    );
    let reply = api
        .post("/api/contacts", &serde_json::json!([null, null]))
        .await;
    assert_eq!(reply.status, 422);
    let reply = api.get("/api/contacts/not-a-number").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");
}
