//! A channel plugin written in Python (plugins-py/sms-example, built with componentize-py by
//! `cargo xtask test`), loaded by the same host through the same contract as the Rust ones: the
//! contract is language-neutral.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use switchboard_e2e::interface_version;
use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::repo_root;
use switchboard_e2e::server::{Setup, post};

const SECRET: &str = "python-plugin-test-secret";
const SECRET_VAR: &str = "E2E_PYTHON_SIGNING_SECRET";

fn python_plugin() -> PluginConfig {
    let wasm = repo_root().join("plugins-py/target/sms_example_py.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: cargo xtask test builds it (plugins-py/build.sh)",
        wasm.display()
    );
    PluginConfig::at("sms-python", wasm, &["sms"]).secret("signing_secret", SECRET_VAR)
}

/// The example vendor's signature: hex HMAC-SHA256 of the body.
fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_python_plugin_serves_webhooks_like_a_rust_one() {
    let setup = Setup::new(&[python_plugin()]).env(SECRET_VAR, SECRET);
    let listed = setup.cli(&["plugins", "list", "--json"]);
    assert!(listed.success, "{}", listed.stderr);
    let describe = &listed.json()[0]["describe"];
    assert_eq!(describe["name"], "sms-example-py");
    assert_eq!(describe["interface_version"], interface_version());

    let server = setup.start();
    let now = switchboard_e2e::now_ms();
    let body = json!({"events": [
        {"id": "py-1", "status": "delivered", "to": "+14155550100", "message_id": "m1", "occurred_at": now - 2_000},
        {"id": "py-2", "status": "replied", "to": "+14155550100", "occurred_at": now - 1_000}
    ]})
    .to_string();
    let headers = |signature: String| {
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("x-example-signature".to_string(), signature),
        ]
    };
    let url = server.url("/webhooks/sms-python");

    let reply = post(&url, &headers(sign(body.as_bytes(), SECRET)), body.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let log = setup.db().await.interactions().await;
    let kinds: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|i| (i.kind.as_str(), i.outcome.as_str(), i.direction.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("sms_delivered", "delivered", "outbound"),
            ("sms_replied", "replied", "inbound")
        ]
    );
    assert_eq!(log[0].contact_id, log[1].contact_id, "one person, by phone");
    assert_eq!(log[0].plugin_id.as_deref(), Some("sms-python"));

    // The same delivery again adds nothing; a forged one is refused.
    let again = post(&url, &headers(sign(body.as_bytes(), SECRET)), body.clone()).await;
    assert_eq!(again.status, 200);
    assert_eq!(setup.db().await.interaction_count().await, 2);
    let forged = post(&url, &headers(sign(body.as_bytes(), "wrong")), body).await;
    assert_eq!(forged.status, 401, "{}", forged.text());
    assert_eq!(forged.error_code(), "bad_signature", "{}", forged.text());
    assert_eq!(setup.db().await.interaction_count().await, 2);
}
