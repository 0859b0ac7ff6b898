//! `switchboard plugin check` and `plugin test`: a plugin author's tools, run as the real binary
//! on the real components, with no server and no database.

use std::process::Command;

use serde_json::{Value, json};
use switchboard_e2e::interface_version;
use switchboard_e2e::sign::{form_body, twilio_signature};
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, TWILIO_WEBHOOK_URL, borrowed, twilio_status,
};
use switchboard_e2e::{plugin_wasm, repo_root, switchboard_bin};

/// `switchboard plugin new …`.
fn scaffold(args: &[&str]) -> Command {
    let mut command = Command::new(switchboard_bin());
    command.args(["plugin", "new"]).args(args);
    command
}

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
    assert_eq!(report["describe"]["interface_version"], interface_version());
    assert_eq!(
        report["exports"],
        json!([format!(
            "switchboard:channel/plugin@{}",
            interface_version()
        )])
    );
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.contains(&format!("switchboard:channel/secrets@{}", interface_version()).as_str()),
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

/// `cargo` for a scaffolded crate, sharing the guests' target directory (and lockfile) so that
/// dependencies already built for the repository's plugins are reused.
fn cargo_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo_root().join("plugins/target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo")
}

#[test]
fn new_scaffolds_a_plugin_that_builds_passes_its_tests_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = scaffold(&[
        "acme-mail",
        "--channel",
        "email",
        "--dir",
        dir.path().to_str().unwrap(),
        "--sdk",
        repo_root().join("plugins/sdk").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crate_dir = dir.path().join("acme-mail");
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("Channel::Email") && lib.contains("\"acme-mail\""));
    // The repository's lockfile pins the versions its plugins were built with.
    std::fs::copy(
        repo_root().join("plugins/Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();

    let tested = cargo_in(&crate_dir, &["test", "--quiet"]);
    assert!(
        tested.status.success(),
        "{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    let built = cargo_in(
        &crate_dir,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let wasm = repo_root().join("plugins/target/wasm32-wasip2/release/acme_mail.wasm");
    let out = plugin_command(&["check", "--json", wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["describe"]["name"], "acme-mail");
    assert_eq!(report["describe"]["channels"], json!(["email"]));

    let sdk = repo_root().join("plugins/sdk");
    let again = scaffold(&[
        "acme-mail",
        "--channel",
        "email",
        "--dir",
        dir.path().to_str().unwrap(),
        "--sdk",
        sdk.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        !again.status.success(),
        "an existing plugin is never overwritten"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
