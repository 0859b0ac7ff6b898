//! `plugins.toml` and `switchboard plugins list`: what a plugin says about itself, and start-up
//! errors that name the plugin and the key at fault.

use switchboard_e2e::interface_version;
use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{sendgrid_plugin, twilio_plugin};

#[test]
fn plugins_list_prints_what_each_plugin_describes() {
    let setup = Setup::new(&[sendgrid_plugin(&SendGridKey::fixed()), twilio_plugin()]);
    let text = setup.cli(&["plugins", "list"]);
    assert!(text.success, "{}", text.stderr);
    assert!(
        text.stdout
            .contains("email-sendgrid\n  plugin     email-sendgrid 1.0.0"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!(
            "interface  switchboard:channel@{}",
            interface_version()
        )),
        "{}",
        text.stdout
    );

    let json = setup.cli(&["plugins", "list", "--json"]).json();
    let twilio = &json[1];
    assert_eq!(twilio["id"], "sms-twilio");
    assert_eq!(twilio["describe"]["vendor"], "twilio");
    assert_eq!(twilio["describe"]["channels"], serde_json::json!(["sms"]));
    assert_eq!(twilio["describe"]["interface_version"], interface_version());
    assert_eq!(twilio["unset_secrets"], serde_json::json!(["auth_token"]));
    assert_eq!(twilio["sha256"].as_str().unwrap().len(), 64);
}

/// `switchboard serve` refuses to start, and says why.
fn start_error(plugins: &[PluginConfig]) -> String {
    let setup = Setup::new(plugins);
    let output = setup.cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!output.success, "serve should refuse this plugins.toml");
    output.stderr
}

#[test]
fn a_wrong_digest_stops_start_up_naming_the_plugin() {
    let mut tampered = twilio_plugin();
    tampered.sha256 = Some("0".repeat(64));
    let error = start_error(&[tampered]);
    assert!(
        error.contains("plugin `sms-twilio`: sha256: plugins.toml pins 0000"),
        "{error}"
    );
}

#[test]
fn an_unknown_key_stops_start_up_naming_the_plugin_and_key() {
    let error = start_error(&[twilio_plugin().extra_line("alowed_hosts = [\"x\"]")]);
    assert!(error.contains("plugin `sms-twilio`"), "{error}");
    assert!(error.contains("unknown field `alowed_hosts`"), "{error}");
}

#[test]
fn a_missing_file_stops_start_up_naming_the_plugin_and_path() {
    let mut gone = twilio_plugin();
    gone.wasm = "/nonexistent/sms_twilio.wasm".into();
    let error = start_error(&[gone]);
    assert!(
        error.contains("plugin `sms-twilio`: path: no such file: /nonexistent/sms_twilio.wasm"),
        "{error}"
    );
}

#[test]
fn a_missing_digest_is_refused_unless_the_operator_opts_out() {
    let mut unpinned = twilio_plugin();
    unpinned.sha256 = None;
    let error = start_error(std::slice::from_ref(&unpinned));
    assert!(
        error.contains("plugin `sms-twilio`: sha256: missing"),
        "{error}"
    );
}

#[test]
fn a_channel_the_plugin_does_not_serve_stops_start_up() {
    let mut wrong = twilio_plugin();
    wrong.channels = vec!["email".into()];
    let error = start_error(&[wrong]);
    assert!(
        error.contains("plugin `sms-twilio`: channels: email is assigned in plugins.toml but the plugin serves only sms"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_a_component_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let mut plugin = twilio_plugin();
    plugin.wasm = junk.clone();
    plugin.sha256 = Some(switchboard_e2e::sha256_hex(&junk));
    let error = start_error(&[plugin]);
    assert!(error.contains("plugin `sms-twilio`"), "{error}");
    assert!(error.contains("is not a loadable component"), "{error}");
}

/// `cargo xtask serve` starts from the repository's own plugins.toml: it must stay valid and its
/// enabled plugins must load.
#[test]
fn the_repositorys_plugins_toml_loads() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args(["plugins", "list", "--json", "--plugins"])
        .arg(switchboard_e2e::repo_root().join("plugins.toml"))
        .arg("--database")
        .arg(dir.path().join("db.sqlite"))
        .arg("--cache-dir")
        .arg(switchboard_e2e::repo_root().join("target/e2e-plugin-cache"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let enabled: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == true)
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(enabled, ["email-sendgrid", "portal", "sms-twilio"]);
}
