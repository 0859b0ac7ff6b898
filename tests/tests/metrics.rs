//! Prometheus metrics through the real binary: `GET /metrics` needs a key with the `metrics` or
//! `admin` scope, counts webhooks and plugin calls per plugin without ever taking a label value
//! from a URL, and is also served without a key on `--metrics-listen`.

use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup, client, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

/// The exposition as a key sees it, checked to be served as the text format.
async fn scrape(server: &Server, token: &str) -> String {
    let reply = client()
        .get(server.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    reply.text().await.unwrap()
}

/// Asserts that the exposition has exactly this sample line.
fn assert_sample(exposition: &str, line: &str) {
    assert!(
        exposition.lines().any(|l| l == line),
        "no line {line:?} in:\n{exposition}"
    );
}

#[tokio::test]
async fn metrics_need_a_key_with_the_metrics_or_the_admin_scope() {
    let setup = Setup::new(&[]);
    let staff = setup.key("front-desk", &["staff"]);
    let scraper = setup.key("prometheus", &["metrics"]);
    let admin = setup.key("operator", &["admin"]);
    let server = setup.start();

    let anonymous = Api::anonymous(&server).get("/metrics").await;
    anonymous.assert_refused(401, "unauthenticated", "API key");
    let wrong = Api::new(&server, &staff).get("/metrics").await;
    wrong.assert_refused(403, "forbidden", "`metrics` or the `admin` scope");

    for token in [&scraper, &admin] {
        let exposition = scrape(&server, token).await;
        assert!(
            exposition.contains("# TYPE switchboard_webhooks_total counter\n"),
            "{exposition}"
        );
    }
}

#[tokio::test]
async fn a_signed_webhook_shows_in_the_webhook_counter_and_the_call_histogram_of_its_plugin() {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let scraper = setup.key("prometheus", &["metrics"]);
    let server = setup.start();

    let at = switchboard_e2e::now_ms() / 1000 - 60;
    let events = [sendgrid_event(
        "delivered",
        "ana@example.org",
        at,
        "msgAna",
        "ev-1",
    )];
    let reply = post_sendgrid(&server, &key, &events).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let forged = post_sendgrid(&server, &SendGridKey::other(), &events).await;
    assert_eq!(forged.status, 401, "{}", forged.text());
    let unknown = post(&server.url("/webhooks/made-up-plugin"), &[], "[]").await;
    assert_eq!(unknown.status, 404);

    let exposition = scrape(&server, &scraper).await;
    for line in [
        r#"switchboard_webhooks_total{plugin="email-sendgrid",status="accepted"} 1"#,
        r#"switchboard_webhooks_total{plugin="email-sendgrid",status="bad_signature"} 1"#,
        r#"switchboard_webhooks_total{plugin="",status="unknown_plugin"} 1"#,
        r#"switchboard_plugin_call_seconds_bucket{plugin="email-sendgrid",call="handle_webhook",le="+Inf"} 2"#,
        r#"switchboard_plugin_call_seconds_count{plugin="email-sendgrid",call="handle_webhook"} 2"#,
        r#"switchboard_http_requests_total{route="/webhooks/{plugin_id}",status="200"} 1"#,
        r#"switchboard_outbox_attempts{status="queued"} 0"#,
        r#"switchboard_outbox_attempts{status="in_flight"} 0"#,
        "switchboard_committer_queue_depth 0",
        "switchboard_committer_up 1",
    ] {
        assert_sample(&exposition, line);
    }
    for family in [
        "# TYPE switchboard_plugin_call_seconds histogram",
        "# TYPE switchboard_plugin_call_failures_total counter",
        "# TYPE switchboard_webhooks_stored_unverified_total counter",
        "# TYPE switchboard_send_attempts_total counter",
        "# TYPE switchboard_selection_seconds histogram",
        "# TYPE switchboard_outbox_attempts gauge",
    ] {
        assert_sample(&exposition, family);
    }
    // A made-up id from a URL never becomes a label value.
    assert!(!exposition.contains("made-up-plugin"), "{exposition}");
}

#[tokio::test]
async fn the_metrics_address_serves_metrics_without_a_key_and_nothing_else() {
    // A free port for the metrics address (the harness reads only the main address's line).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let setup = Setup::new(&[]).env("SWITCHBOARD_METRICS_LISTEN", &format!("127.0.0.1:{port}"));
    let server = setup.start();

    let reply = client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let exposition = reply.text().await.unwrap();
    assert_sample(&exposition, "switchboard_committer_up 1");
    let other = client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    // The main address still wants a key.
    let anonymous = Api::anonymous(&server).get("/metrics").await;
    assert_eq!(anonymous.status, 401);
}
