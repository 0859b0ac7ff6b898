//! A plugin that misbehaves fails only its own call: loops are stopped by the time budget, hoarding
//! by the memory cap, forbidden requests by the egress guard, panics become traps; meanwhile a
//! well-behaved plugin's webhooks keep landing.

use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::server::{Reply, Setup, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

fn misbehaving(id: &str, mode: &str) -> PluginConfig {
    PluginConfig::new(id, "misbehave", &["email"]).config("mode", mode)
}

#[tokio::test]
async fn each_misbehaving_plugin_fails_alone_while_a_good_webhook_succeeds() {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[
        sendgrid_plugin(&key),
        misbehaving("spinner", "loop").limit("webhook_timeout_ms", 300),
        misbehaving("hoarder", "allocate").limit("memory_mib", 32),
        misbehaving("exfiltrator", "forbidden-http").allow_host("api.sendgrid.com"),
        misbehaving("crasher", "trap"),
    ]);
    let server = setup.start();
    let bad = |id: &str| {
        let url = server.url(&format!("/webhooks/{id}"));
        async move { post(&url, &[], b"{}".to_vec()).await }
    };
    let t0 = switchboard_e2e::now_ms() / 1000;
    let good_events = [sendgrid_event(
        "delivered",
        "ana@example.org",
        t0,
        "msgA",
        "ev-1",
    )];

    let (good, spinner, hoarder, exfiltrator, crasher) = tokio::join!(
        post_sendgrid(&server, &key, &good_events),
        bad("spinner"),
        bad("hoarder"),
        bad("exfiltrator"),
        bad("crasher"),
    );

    assert_eq!(good.status, 200, "{}", good.text());
    expect_failure(
        &spinner,
        "plugin_timeout",
        "plugin `spinner` exceeded its time budget of 300 ms",
    );
    expect_failure(
        &hoarder,
        "plugin_memory_limit",
        "plugin `hoarder` exceeded its memory limit of 32 MiB",
    );
    expect_failure(
        &exfiltrator,
        "plugin_misconfigured",
        "host forbidden.example.com is not on this plugin's allowed_hosts",
    );
    expect_failure(&crasher, "plugin_trap", "misbehave: deliberate trap");

    // The host is unharmed and keeps serving the good plugin.
    let again = [sendgrid_event(
        "open",
        "ana@example.org",
        t0 + 1,
        "msgA",
        "ev-2",
    )];
    assert_eq!(post_sendgrid(&server, &key, &again).await.status, 200);
    let health = switchboard_e2e::server::client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let db = setup.db().await;
    assert_eq!(db.interactions().await.len(), 2);
    let failed: Vec<(String, String)> = db
        .raw_webhooks()
        .await
        .into_iter()
        .filter(|r| r.status == "failed")
        .map(|r| (r.plugin_id, r.error.unwrap_or_default()))
        .collect();
    assert_eq!(
        failed.len(),
        4,
        "each failed webhook is kept for replay: {failed:?}"
    );
}

#[tokio::test]
async fn an_allowed_name_or_address_on_the_private_network_is_still_refused() {
    let setup = Setup::new(&[
        misbehaving("by-name", "forbidden-http")
            // An allow-list entry without a port allows 443 only, so the URL keeps to it.
            .config("url", "https://localhost/metadata")
            .allow_host("localhost"),
        misbehaving("by-address", "forbidden-http")
            .config("url", "https://169.254.169.254/latest/meta-data")
            .allow_host("169.254.169.254"),
        misbehaving("plain-http", "forbidden-http")
            .config("url", "http://api.example.org/")
            .allow_host("api.example.org"),
    ]);
    let server = setup.start();
    let attempt =
        async |id: &str| post(&server.url(&format!("/webhooks/{id}")), &[], b"{}".to_vec()).await;

    expect_failure(
        &attempt("by-name").await,
        "plugin_misconfigured",
        "localhost resolves only to private",
    );
    expect_failure(
        &attempt("by-address").await,
        "plugin_misconfigured",
        "169.254.169.254 is a private, loopback or link-local address",
    );
    expect_failure(
        &attempt("plain-http").await,
        "plugin_misconfigured",
        "plain http:// is not allowed",
    );
}

#[tokio::test]
async fn a_call_that_finds_every_instance_slot_taken_fails_as_busy_and_is_kept() {
    // One slot: a looping plugin holds it for its whole budget, so a call that arrives meanwhile
    // waits its own (shorter) budget for a slot and never runs. The margins are wide (the
    // spinner has had a second to take the slot, and holds it a second and a half past the
    // other's wait) so that a loaded machine cannot reorder them.
    let setup = Setup::new(&[
        misbehaving("spinner", "loop").limit("webhook_timeout_ms", 3_000),
        misbehaving("crasher", "trap").limit("webhook_timeout_ms", 500),
    ])
    .env("SWITCHBOARD_INSTANCE_SLOTS", "1");
    let server = setup.start();
    let attempt =
        async |id: &str| post(&server.url(&format!("/webhooks/{id}")), &[], b"{}".to_vec()).await;

    let (spinner, crasher) = tokio::join!(attempt("spinner"), async {
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        attempt("crasher").await
    });
    expect_failure(
        &spinner,
        "plugin_timeout",
        "exceeded its time budget of 3000 ms",
    );
    expect_failure(
        &crasher,
        "plugin_busy",
        "plugin `crasher` did not start: no instance slot came free within its time budget of 500 ms",
    );

    // The slot is free again: the same plugin now runs (and fails its own way).
    expect_failure(&attempt("crasher").await, "plugin_trap", "deliberate trap");
    let kept = setup.db().await.raw_webhooks().await;
    assert!(
        kept.iter()
            .any(|r| r.status == "failed"
                && r.error.as_deref().unwrap_or("").contains("did not start")),
        "the refused webhook is kept for replay: {kept:?}"
    );
}

fn expect_failure(reply: &Reply, code: &str, message: &str) {
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.error_code(), code, "{}", reply.text());
    assert!(reply.error_message().contains(message), "{}", reply.text());
    assert!(reply.json()["error"]["raw_webhook_id"].is_i64());
}
