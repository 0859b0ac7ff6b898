//! The server's edge through the real binary: slow clients are cut off (headers and bodies),
//! each surface's in-flight cap answers 503 with Retry-After, every response carries a request id
//! that the request's log lines carry too, and `/healthz` reports the database and the committer.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A raw connection to the server, for clients that misbehave.
async fn connect(server: &Server) -> TcpStream {
    let base = server.url("");
    let address = base.strip_prefix("http://").expect("an http URL");
    TcpStream::connect(address).await.expect("connect")
}

/// Reads until the server closes the connection (or `limit` passes), returning what came.
async fn read_until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Writes `bytes` one at a time, `gap` apart, stopping quietly once the server has hung up.
async fn drip(mut writer: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, gap: Duration) {
    for byte in bytes {
        if writer.write_all(&[byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(gap).await;
    }
}

#[tokio::test]
async fn a_client_sending_its_headers_slower_than_the_header_timeout_is_disconnected() {
    let setup = Setup::new(&[]).env("SWITCHBOARD_HEADER_TIMEOUT_MS", "500");
    let server = setup.start();

    // A prompt client is served.
    let reply = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(reply.status(), 200);

    // 60 bytes of headers at one per 100 ms would take 6 s.
    let (mut reader, writer) = connect(&server).await.into_split();
    let headers = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\n\r\n";
    let started = Instant::now();
    let dripping = tokio::spawn(drip(writer, headers.to_vec(), Duration::from_millis(100)));
    let received = read_until_closed(&mut reader, Duration::from_secs(4)).await;
    let took = started.elapsed();

    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "disconnected after {took:?}"
    );
    assert!(!received.contains("200 OK"), "served anyway: {received}");
    dripping.abort();
}

#[tokio::test]
async fn a_body_dripped_past_the_body_timeout_is_answered_408_and_the_connection_closed() {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]).env("SWITCHBOARD_BODY_TIMEOUT_MS", "500");
    let server = setup.start();

    let (mut reader, mut writer) = connect(&server).await.into_split();
    let head = "POST /webhooks/email-sendgrid HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    writer.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let dripping = tokio::spawn(drip(writer, vec![b' '; 100], Duration::from_millis(100)));
    let received = read_until_closed(&mut reader, Duration::from_secs(5)).await;
    let took = started.elapsed();

    assert!(
        received.starts_with("HTTP/1.1 408"),
        "after {took:?}: {received}"
    );
    assert!(
        received.to_ascii_lowercase().contains("connection: close"),
        "{received}"
    );
    assert!(received.contains(r#""code":"body_timeout""#), "{received}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    dripping.abort();
    // Nothing reached the plugin, so nothing was stored.
    assert_eq!(setup.db().await.interactions().await.len(), 0);
}

/// Opens a request whose body never finishes, holding one slot of its surface until dropped.
async fn hold_slot(server: &Server, path: &str, token: Option<&str>) -> TcpStream {
    let mut stream = connect(server).await;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Waits until `/metrics` shows exactly one request in flight on `surface`: the held request has
/// taken the surface's only slot.
///
/// Probing before that races the held request: a probe that reaches the slot first gets the held
/// request itself refused 503 (the cap never queues), and then nothing holds the slot at all —
/// under load every later probe was served ("never refused").
async fn until_held(server: &Server, scraper: &str, surface: &str) {
    let sample = format!("switchboard_http_inflight{{surface=\"{surface}\"}} 1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exposition = Api::new(server, scraper).get("/metrics").await;
        assert_eq!(exposition.status, 200, "{}", exposition.text());
        let text = exposition.text();
        if text.lines().any(|line| line == sample) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the held request never took its slot; /metrics has no {sample:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts the reply is the surface's refusal: 503 `overloaded`, retry after a second.
async fn assert_overloaded(reply: reqwest::Response) {
    assert_eq!(reply.status(), 503);
    assert_eq!(reply.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(body["error"]["retry_after_secs"], 1);
}

#[tokio::test]
async fn requests_beyond_a_surfaces_cap_get_503_with_retry_after_while_the_other_surface_serves() {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)])
        .env("SWITCHBOARD_MAX_INFLIGHT_WEBHOOKS", "1")
        .env("SWITCHBOARD_MAX_INFLIGHT_API", "1");
    let staff = setup.key("front-desk", &["staff"]);
    let scraper = setup.key("prometheus", &["metrics"]);
    let server = setup.start();
    let api = Api::new(&server, &staff);

    let held = hold_slot(&server, "/webhooks/email-sendgrid", None).await;
    until_held(&server, &scraper, "webhooks").await;
    let refused = client()
        .post(server.url("/webhooks/email-sendgrid"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_overloaded(refused).await;
    // The API has slots of its own.
    let search = api.get("/api/contacts?name=ana").await;
    assert_eq!(search.status, 200, "{}", search.text());

    // Once the held request goes, webhooks are served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let at = switchboard_e2e::now_ms() / 1000;
        let event = sendgrid_event("delivered", "ana@example.org", at, "m1", "e1");
        let reply = post_sendgrid(&server, &key, &[event]).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let held = hold_slot(&server, "/api/contacts", Some(&staff)).await;
    until_held(&server, &scraper, "api").await;
    let refused = client()
        .get(server.url("/api/contacts?name=ana"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_overloaded(refused).await;
    drop(held);
}

/// The log without ANSI colour sequences (`ESC [ ... m`), which the server writes around fields.
fn without_colours(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_requests_log_lines_carry_too() {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let server = setup.start();

    let fresh = client().get(server.url("/healthz")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    let kept = client()
        .get(server.url("/healthz"))
        .header("X-Request-Id", "lb-7f3a.42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a.42");

    let replaced = client()
        .get(server.url("/healthz"))
        .header("X-Request-Id", "two words")
        .send()
        .await
        .unwrap();
    let replacement = replaced.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(replacement.len(), 32, "{replacement}");

    let events = [sendgrid_event(
        "delivered",
        "ana@example.org",
        switchboard_e2e::now_ms() / 1000,
        "msgAna",
        "ev-1",
    )];
    let body = serde_json::to_vec(&events).unwrap();
    let mut request = client()
        .post(server.url("/webhooks/email-sendgrid"))
        .header("content-type", "application/json")
        .header("X-Request-Id", "vendor-delivery-0001");
    for (name, value) in key.headers(switchboard_e2e::now_ms() / 1000, &body) {
        request = request.header(name, value);
    }
    let reply = request.body(body).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-request-id"], "vendor-delivery-0001");

    let log = without_colours(&server.log());
    let processed = log
        .lines()
        .find(|line| line.contains("webhook processed"))
        .unwrap_or_else(|| panic!("no `webhook processed` line in:\n{log}"));
    assert!(
        processed.contains("request_id=vendor-delivery-0001"),
        "{processed}"
    );
}

#[tokio::test]
async fn healthz_reports_the_database_and_the_committer() {
    let setup = Setup::new(&[]);
    let server = setup.start();
    let reply = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "database": "ok", "committer": "ok"})
    );
}
