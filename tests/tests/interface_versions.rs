//! Interface versions: a plugin built against the first released contract (1.0.0) keeps loading
//! and serving on this host (1.2.0, which added the host's signature checks and once-only
//! nonces), and one built for a version this host does not implement is refused at start-up with
//! both versions named.

use switchboard_e2e::interface_version;
use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::repo_root;
use switchboard_e2e::server::{Setup, post};

/// `misbehave` as built against switchboard:channel@1.0.0, frozen in tests/fixtures.
fn frozen_1_0_plugin() -> PluginConfig {
    let wasm = repo_root().join("tests/fixtures/interface-1.0.0/misbehave.wasm");
    PluginConfig::at("legacy", wasm, &["email"])
}

#[tokio::test]
async fn a_plugin_built_against_1_0_keeps_loading_and_serving() {
    let setup = Setup::new(&[frozen_1_0_plugin()]);
    let listed = setup.cli(&["plugins", "list", "--json"]);
    assert!(listed.success, "{}", listed.stderr);
    assert_eq!(listed.json()[0]["describe"]["interface_version"], "1.0.0");

    let server = setup.start();
    let reply = post(&server.url("/webhooks/legacy"), &[], b"{}".to_vec()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn a_plugin_for_another_version_is_refused_naming_both() {
    let current = interface_version();
    let (major, rest) = current.split_once('.').expect("major.minor.patch");
    let minor: u32 = rest
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("a minor");
    let next_minor = format!("{major}.{}.0", minor + 1);
    for claimed in ["2.0.0", next_minor.as_str()] {
        let plugin = PluginConfig::new("future", "misbehave", &["email"])
            .config("claim_interface_version", claimed);
        let setup = Setup::new(&[plugin]);
        let output = setup.cli(&["serve", "--listen", "127.0.0.1:0"]);
        assert!(!output.success, "a {claimed} plugin must not load");
        assert!(
            output.stderr.contains(&format!(
                "plugin `future` was built against switchboard:channel@{claimed}; this host supports {current} and older 1.x"
            )),
            "{}",
            output.stderr
        );
    }
}
