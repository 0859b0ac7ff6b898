//! Hot swap under traffic: replacing a plugin's file or editing plugins.toml swaps the plugin
//! without a restart and without failing a request; a plugin that fails to load or fails its
//! smoke call leaves the old version serving, and the reload says why.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup, post};
use switchboard_e2e::{plugin_wasm, repo_root, sha256_hex, switchboard_bin};

/// plugins.toml for one `misbehave` plugin at `wasm`, in `mode`, digests not pinned (the file is
/// replaced in place, as an operator deploying a new build would).
fn manifest(wasm: &std::path::Path, mode: &str) -> String {
    format!(
        "require_sha256 = false\n\n[plugins.m]\npath = \"{}\"\nchannels = [\"email\"]\n\n[plugins.m.config]\nmode = \"{mode}\"\n",
        wasm.display()
    )
}

/// Posts webhooks from `clients` loops until stopped; returns every status seen.
fn traffic(
    server: &Server,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<u16>>> {
    (0..clients)
        .map(|_| {
            let url = server.url("/webhooks/m");
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    statuses.push(post(&url, &[], b"{}".to_vec()).await.status);
                }
                statuses
            })
        })
        .collect()
}

async fn serving_digest(api: &Api<'_>) -> String {
    let plugins = api.get_ok("/api/plugins").await;
    plugins[0]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_for_digest(api: &Api<'_>, digest: &str) {
    let start = Instant::now();
    while serving_digest(api).await != digest {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the new file was never swapped in"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plugins_swap_under_traffic_without_a_failed_request() {
    let setup = Setup::new(&[]).env("SWITCHBOARD_WATCH_INTERVAL_MS", "200");
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("m.wasm");
    std::fs::copy(plugin_wasm("misbehave"), &wasm).unwrap();
    setup.write_manifest_text(&manifest(&wasm, "behave"));
    let admin = setup.key("ops", &["admin"]);
    let server = setup.start();
    let api = Api::new(&server, &admin);
    let first = serving_digest(&api).await;
    assert_eq!(first, sha256_hex(&wasm));

    let stop = Arc::new(AtomicBool::new(false));
    let clients = traffic(&server, 4, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A new build dropped in place: the watcher swaps it in.
    let older_build = repo_root().join("tests/fixtures/interface-1.0.0/misbehave.wasm");
    std::fs::copy(&older_build, &wasm).unwrap();
    let second = sha256_hex(&wasm);
    assert_ne!(first, second);
    wait_for_digest(&api, &second).await;

    // A file that is not a component: the reload fails, the running version keeps serving.
    std::fs::write(&wasm, b"not a component").unwrap();
    let reload = std::process::Command::new(switchboard_bin())
        .args(["plugins", "reload", "--url", &server.url("")])
        .env("SWITCHBOARD_API_KEY", &admin)
        .output()
        .unwrap();
    assert!(!reload.status.success(), "a failed reload exits non-zero");
    let report: Value = serde_json::from_slice(&reload.stdout).unwrap();
    assert_eq!(report["failed"][0]["plugin"], "m");
    assert_eq!(report["failed"][0]["still_serving"], second.as_str());
    assert_eq!(serving_digest(&api).await, second);

    // A plugin that loads but fails its smoke call is not swapped in either.
    std::fs::copy(plugin_wasm("misbehave"), &wasm).unwrap();
    setup.write_manifest_text(&manifest(&wasm, "trap"));
    let reply = api
        .post("/api/plugins/reload", &serde_json::json!({}))
        .await;
    let report = reply.json();
    assert!(
        report["failed"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("smoke call"),
        "{report}"
    );
    assert_eq!(serving_digest(&api).await, second);

    // Back to a good configuration: swapped in, and nothing failed along the way.
    setup.write_manifest_text(&manifest(&wasm, "behave"));
    let report = api
        .post("/api/plugins/reload", &serde_json::json!({}))
        .await
        .json();
    assert_eq!(report["loaded"], serde_json::json!(["m"]), "{report}");
    assert_eq!(serving_digest(&api).await, first);
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    assert!(
        statuses.len() > 50,
        "only {} requests were made",
        statuses.len()
    );
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during swaps: {failed:?}",
        failed.len(),
        statuses.len()
    );

    let audit = api.get_ok("/api/audit").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "plugins.reload")
    );
}

#[tokio::test]
async fn a_broken_plugins_toml_is_not_applied() {
    let setup = Setup::new(&[]).env("SWITCHBOARD_WATCH_INTERVAL_MS", "0");
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("m.wasm");
    std::fs::copy(plugin_wasm("misbehave"), &wasm).unwrap();
    setup.write_manifest_text(&manifest(&wasm, "behave"));
    let admin = setup.key("ops", &["admin"]);
    let server = setup.start();
    let api = Api::new(&server, &admin);

    setup.write_manifest_text("[plugins.m]\npaht = \"x\"\n");
    let report = api
        .post("/api/plugins/reload", &serde_json::json!({}))
        .await
        .json();
    assert!(
        report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("paht"),
        "{report}"
    );
    let reply = post(&server.url("/webhooks/m"), &[], b"{}".to_vec()).await;
    assert_eq!(reply.status, 200, "the old plugin keeps serving");
}
