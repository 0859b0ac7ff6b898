//! `switchboard replay`: webhooks a broken plugin failed are reprocessed once it is fixed, and a
//! second replay changes nothing.

use switchboard_e2e::manifest::PluginConfig;
use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

#[tokio::test]
async fn a_replay_after_a_plugin_fix_records_the_events_once() {
    let key = SendGridKey::fixed();
    // A broken release of the SendGrid plugin: it traps on every webhook.
    let mut broken =
        PluginConfig::new("email-sendgrid", "misbehave", &["email"]).config("mode", "trap");
    broken.config.extend(sendgrid_plugin(&key).config);
    let setup = Setup::new(&[broken]);
    let server = setup.start();

    let t0 = switchboard_e2e::now_ms() / 1000 - 120;
    let events = [
        sendgrid_event("processed", "ana@example.org", t0, "msgA", "ev-1"),
        sendgrid_event("delivered", "ana@example.org", t0 + 3, "msgA", "ev-2"),
        sendgrid_event("open", "ana@example.org", t0 + 40, "msgA", "ev-3"),
    ];
    let reply = post_sendgrid(&server, &key, &events).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.error_code(), "plugin_trap");
    // The vendor retries while the plugin is still broken.
    assert_eq!(post_sendgrid(&server, &key, &events).await.status, 503);
    drop(server);

    // The operator installs the fixed plugin by editing plugins.toml, then replays.
    setup.write_plugins(&[sendgrid_plugin(&key)]);
    let first = setup.cli(&["replay"]);
    assert!(first.success, "{}", first.stderr);
    let report = first.json();
    assert_eq!(report["examined"], 2);
    assert_eq!(report["processed"], 2);
    assert_eq!(report["interactions"], 3);
    assert_eq!(
        report["duplicates"], 3,
        "the retry's events are the same events"
    );

    let db = setup.db().await;
    let log = db.interactions().await;
    assert_eq!(log.len(), 3);
    let ttas: Vec<Option<i64>> = log.iter().map(|i| i.time_to_action_ms).collect();
    assert_eq!(ttas, [None, Some(3_000), Some(40_000)]);
    let raw = db.raw_webhooks().await;
    assert!(
        raw.iter()
            .all(|r| r.status == "processed" && r.attempts == 2),
        "{raw:?}"
    );

    let second = setup.cli(&["replay"]);
    assert!(second.success, "{}", second.stderr);
    assert_eq!(second.json()["examined"], 0);
    assert_eq!(setup.db().await.interactions().await.len(), 3);
}

#[tokio::test]
async fn a_replay_judges_signature_freshness_by_the_original_arrival() {
    let key = SendGridKey::fixed();
    let mut broken =
        PluginConfig::new("email-sendgrid", "misbehave", &["email"]).config("mode", "trap");
    broken.config.extend(sendgrid_plugin(&key).config);
    let setup = Setup::new(&[broken]);
    let server = setup.start();
    let events = [sendgrid_event(
        "open",
        "ana@example.org",
        1_700_000_000,
        "msgA",
        "ev-1",
    )];
    assert_eq!(post_sendgrid(&server, &key, &events).await.status, 503);
    drop(server);

    // A tolerance of one second: long gone by the time of the replay, but the signature was fresh
    // when the webhook arrived, and that is what counts.
    setup.write_plugins(&[sendgrid_plugin(&key).config("timestamp_tolerance_secs", 1)]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let replay = setup.cli(&["replay", "--plugin", "email-sendgrid"]);
    assert!(replay.success, "{}", replay.stderr);
    assert_eq!(replay.json()["processed"], 1, "{}", replay.stdout);
}
