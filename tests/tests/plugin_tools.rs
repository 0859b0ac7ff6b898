//! `switchboard plugin check` and `plugin test`: a plugin author's tools, run as the real binary
//! on the real components, with no server and no database.

use std::process::Command;

use serde_json::{Value, json};
use switchboard_e2e::sign::{form_body, twilio_signature};
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, TWILIO_WEBHOOK_URL, borrowed, twilio_status,
};
use switchboard_e2e::{plugin_wasm, repo_root, switchboard_bin};

fn plugin_command(args: &[&str]) -> Command {
    let mut command = Command::new(switchboard_bin());
    command
        .arg("plugin")
        .args(args)
        .arg("--cache-dir")
        .arg(repo_root().join("target/e2e-plugin-cache"))
        .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    command
}

#[test]
fn check_reports_the_contract_a_component_implements() {
    let wasm = plugin_wasm("sms_twilio");
    let out = plugin_command(&["check", "--json", wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["loads"], true);
    assert_eq!(report["interface_supported"], true);
    assert_eq!(report["describe"]["name"], "sms-twilio");
    assert_eq!(report["describe"]["interface_version"], "1.0.0");
    assert_eq!(
        report["exports"],
        json!(["switchboard:channel/plugin@1.0.0"])
    );
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.contains(&"switchboard:channel/secrets@1.0.0"),
        "{imports:?}"
    );
}

#[test]
fn check_refuses_what_is_not_a_channel_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let out = plugin_command(&["check", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("junk.wasm"), "{stderr}");
}

#[test]
fn test_runs_recorded_requests_and_prints_what_would_be_logged() {
    let params = twilio_status("SM42", "delivered", "+14155550100");
    let params = borrowed(&params);
    let good = json!({
        "method": "POST",
        "path": "/webhooks/sms-twilio",
        "headers": [
            ["content-type", "application/x-www-form-urlencoded"],
            ["x-twilio-signature", twilio_signature(TWILIO_AUTH_TOKEN, TWILIO_WEBHOOK_URL, &params)]
        ],
        "body": form_body(&params),
        "received_at": 1_763_900_000_000i64
    });
    let mut forged = good.clone();
    forged["headers"][1][1] = json!("bm90IGEgc2lnbmF0dXJl");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("requests.json");

    let run = |requests: &Value| {
        std::fs::write(&file, requests.to_string()).unwrap();
        let wasm = plugin_wasm("sms_twilio");
        plugin_command(&[
            "test",
            wasm.to_str().unwrap(),
            "--request",
            file.to_str().unwrap(),
            "--config",
            &format!("webhook_url={TWILIO_WEBHOOK_URL}"),
            "--secret",
            &format!("auth_token={TWILIO_AUTH_TOKEN_VAR}"),
        ])
        .output()
        .unwrap()
    };

    let out = run(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["verdict"], "accepted");
    let interaction = &verdict["interactions"][0];
    assert_eq!(interaction["kind"], "sms_delivered");
    assert_eq!(interaction["outcome"], "delivered");
    assert_eq!(interaction["vendor_message_id"], "SM42");
    assert_eq!(
        interaction["hints"]["identities"][0]["value"],
        "+14155550100"
    );

    let out = run(&json!([good, forged]));
    assert!(!out.status.success(), "a refused request fails the run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"bad_signature\""), "{stdout}");
}
