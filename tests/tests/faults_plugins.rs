//! Hostile plugins (`plugins/testing/misbehave`): an aliased-string bomb, a log flood, a deep
//! recursion, a million interactions. Each fails (or is contained in) its own call only: the
//! server answers it with a clear code, keeps serving another plugin's webhooks meanwhile and
//! after, and its memory stays bounded: the peak resident size of the whole server process
//! (`VmHWM`) stays under a stated bound, where copying what the bomb claims would take hundreds
//! of GB. Each test prints the peak it measured (`--nocapture`), for `docs/reliability.md`.

use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::rss::{memory, server_pid};
use switchboard_e2e::server::{Reply, Server, Setup, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

/// The most the server process (a debug build, about 50 MiB resident when idle) may ever hold
/// resident while a hostile plugin runs, where the plugin's own linear memory is small.
const PEAK_RSS_BOUND_MIB: f64 = 200.0;
/// The same where the plugin may use 512 MiB of linear memory (`many-interactions` touches about
/// 250 MiB of it, all of which counts in the host process's resident size).
const PEAK_RSS_BOUND_LARGE_GUEST_MIB: f64 = 450.0;

fn hostile(mode: &str) -> PluginConfig {
    PluginConfig::new(mode, "misbehave", &["email"]).config("mode", mode)
}

#[tokio::test]
async fn an_aliased_string_bomb_is_refused_before_the_host_copies_it() {
    // 10,000 interactions whose metadata all alias one 32 MiB buffer: 320 GB if lifted whole.
    let (reply, _) = contained(hostile("alias-bomb"), PEAK_RSS_BOUND_MIB).await;
    expect_failure(&reply, "plugin_output_too_large", "transfer budget");
}

#[tokio::test]
async fn a_log_flood_is_cut_to_the_entries_and_fields_the_host_keeps() {
    // 1,000 entries of 10,000 fields aliasing one 1 MiB buffer: tens of GB if copied.
    let (reply, log) = contained(hostile("log-flood"), PEAK_RSS_BOUND_MIB).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let entries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("misbehave: log flood"))
        .collect();
    assert_eq!(entries.len(), 100, "entries kept of one call");
    for entry in entries {
        assert!(entry.contains("(+10000 more fields)"), "{entry}");
        assert!(entry.len() < 2048, "an entry of {} bytes", entry.len());
    }
}

#[tokio::test]
async fn a_deep_recursion_traps_its_own_call_only() {
    let (reply, _) = contained(hostile("deep-recursion"), PEAK_RSS_BOUND_MIB).await;
    // The frames overflow the guest's shadow stack (in its linear memory) or the wasm call stack,
    // whichever first: a trap either way.
    expect_failure(&reply, "plugin_trap", "plugin `deep-recursion` trapped");
}

#[tokio::test]
async fn a_million_interactions_are_refused_without_exhausting_the_host() {
    let plugin = hostile("many-interactions").limit("memory_mib", 512);
    let (reply, _) = contained(plugin, PEAK_RSS_BOUND_LARGE_GUEST_MIB).await;
    expect_failure(&reply, "plugin_output_too_large", "transfer budget");
}

/// Runs one webhook through `plugin` beside a well-behaved SendGrid plugin whose webhooks must
/// land before, during and after it; asserts the server's peak memory stays under `bound_mib`;
/// returns the hostile call's reply and the server's log.
async fn contained(plugin: PluginConfig, bound_mib: f64) -> (Reply, String) {
    let key = SendGridKey::fixed();
    let mode = plugin.id.clone();
    let setup = Setup::new(&[sendgrid_plugin(&key), plugin]);
    let server = setup.start();
    let pid = server_pid(&setup);
    let before = memory(pid);
    let now = switchboard_e2e::now_ms() / 1000;
    let good = |n: i64| {
        [sendgrid_event(
            "delivered",
            "ana@example.org",
            now + n,
            "msgA",
            &format!("ev-{n}"),
        )]
    };

    assert_eq!(post_sendgrid(&server, &key, &good(0)).await.status, 200);
    let started = std::time::Instant::now();
    let (hostile, beside) = tokio::join!(hostile_call(&server, &mode), async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        post_sendgrid(&server, &key, &good(1)).await
    });
    let took = started.elapsed();
    assert_eq!(beside.status, 200, "{}", beside.text());
    assert_eq!(post_sendgrid(&server, &key, &good(2)).await.status, 200);

    let after = memory(pid);
    println!(
        "{mode}: {} in {} ms; server peak RSS {:.0} MiB (resident {:.0} MiB before, {:.0} MiB after)",
        hostile.status,
        took.as_millis(),
        after.peak_mib(),
        before.resident_kib as f64 / 1024.0,
        after.resident_kib as f64 / 1024.0,
    );
    assert!(
        after.peak_mib() < bound_mib,
        "{mode}: the server's peak resident memory reached {:.0} MiB (bound {bound_mib} MiB)",
        after.peak_mib()
    );
    let logged = setup.db().await.interactions().await;
    assert_eq!(
        logged.len(),
        3,
        "only the good plugin's webhooks are logged"
    );
    (hostile, server.log())
}

async fn hostile_call(server: &Server, id: &str) -> Reply {
    post(&server.url(&format!("/webhooks/{id}")), &[], b"{}".to_vec()).await
}

fn expect_failure(reply: &Reply, code: &str, message: &str) {
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.error_code(), code, "{}", reply.text());
    assert!(reply.error_message().contains(message), "{}", reply.text());
    assert!(
        reply.headers.contains_key("retry-after"),
        "{:?}",
        reply.headers
    );
}
