//! Export and erasure of a person with a long history, through the real binary, while the rest of
//! the office keeps working (issue 16 §1.8): the export streams from one read snapshot and holds
//! no write lock however slowly its client reads, so webhooks and staff logs go on meanwhile; an
//! erasure reads and plans outside the single writer, so webhooks arriving during it are accepted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::server::{Server, Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{post_sendgrid, sendgrid_event, sendgrid_plugin};

/// The person with the long history, known by their number.
const PHONE: &str = "+14155550142";
/// Interactions in their history: an export of about 10 MB, which a client that stops reading
/// pauses mid-stream.
const HISTORY: usize = 20_000;
/// The most VoIP records the API takes in one request.
const VOIP_BATCH: usize = 5_000;
/// How long a write may take while an export or erasure is under way, to count as not waiting for
/// it. Uncontended, one takes a few milliseconds.
const PROMPT: Duration = Duration::from_secs(2);

/// An installation with the SendGrid plugin, a staff key and a privacy key, serving.
struct Office {
    setup: Setup,
    key: SendGridKey,
    staff: String,
    privacy: String,
    server: Server,
}

impl Office {
    fn open() -> Self {
        let key = SendGridKey::fixed();
        let setup = Setup::new(&[sendgrid_plugin(&key)]);
        let staff = setup.key("desk", &["staff"]);
        let privacy = setup.key("dpo", &["privacy"]);
        let server = setup.start();
        Office {
            setup,
            key,
            staff,
            privacy,
            server,
        }
    }

    fn staff(&self) -> Api<'_> {
        Api::new(&self.server, &self.staff)
    }

    /// Gives the person [`HISTORY`] calls, imported from a VoIP system, and returns their contact.
    async fn person_with_a_long_history(&self) -> i64 {
        let start = switchboard_e2e::now_ms() - 30 * 86_400_000;
        let mut contact = None;
        for batch in 0..HISTORY / VOIP_BATCH {
            let records: Vec<Value> = (0..VOIP_BATCH)
                .map(|i| {
                    let n = batch * VOIP_BATCH + i;
                    json!({
                        "call_id": format!("call-{n:06}"),
                        "phone": PHONE,
                        "direction": if n.is_multiple_of(2) { "inbound" } else { "outbound" },
                        "outcome": "answered",
                        "duration_seconds": 60 + n % 600,
                        "occurred_at": start + n as i64 * 60_000,
                    })
                })
                .collect();
            let logged = self
                .staff()
                .post_ok(
                    "/api/calls/voip",
                    &json!({ "system": "3cx", "records": records }),
                    201,
                )
                .await;
            assert_eq!(
                logged["interaction_ids"].as_array().map(Vec::len),
                Some(VOIP_BATCH),
                "{logged}"
            );
            contact = logged["contact_ids"][0].as_i64();
        }
        contact.expect("the import names the person's contact")
    }

    /// Starts the export of `contact`, returning the response once its headers are in.
    async fn start_export(&self, contact: i64) -> reqwest::Response {
        let response = client()
            .get(self.server.url(&format!("/api/contacts/{contact}/export")))
            .bearer_auth(&self.privacy)
            .send()
            .await
            .expect("send the export request");
        assert_eq!(response.status(), 200);
        response
    }

    /// Posts a signed SendGrid webhook about someone else, expects it accepted, and returns how
    /// long it took.
    async fn webhook_about(&self, email: &str, event_id: &str) -> Duration {
        let at = switchboard_e2e::now_ms() / 1000;
        let event = sendgrid_event("delivered", email, at, event_id, event_id);
        let started = Instant::now();
        let reply = post_sendgrid(&self.server, &self.key, &[event]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        started.elapsed()
    }
}

/// A passive checkpoint of the installation's write-ahead log: (frames in the log, frames copied
/// into the database file); see [`switchboard_e2e::db::Db::passive_checkpoint`].
async fn checkpoint(setup: &Setup) -> (i64, i64) {
    let db = setup.db().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Busy: the server's own checkpointer was at it; ask again.
        if let Some(frames) = db.passive_checkpoint().await {
            db.close().await;
            return frames;
        }
        assert!(Instant::now() < deadline, "the checkpoint stayed busy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads the rest of a response, appending to `body`; returns how many chunks came.
async fn read_rest(response: &mut reqwest::Response, body: &mut Vec<u8>) -> usize {
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.expect("read the export") {
        body.extend_from_slice(&chunk);
        chunks += 1;
    }
    chunks
}

/// The export document, parsed: a cut-short stream does not parse.
fn parsed(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "the export is not one JSON document ({e}); it ends with {:?}",
            String::from_utf8_lossy(&body[body.len().saturating_sub(200)..])
        )
    })
}

#[tokio::test]
async fn an_export_paused_mid_stream_holds_no_write_lock_so_webhooks_and_staff_logs_go_on() {
    let office = Office::open();
    let person = office.person_with_a_long_history().await;

    let mut export = office.start_export(person).await;
    let first = export
        .chunk()
        .await
        .expect("read the export")
        .expect("a first chunk");
    let mut body = first.to_vec();

    // The client has stopped reading. Ingestion and staff writes must not wait for it.
    let webhook_took = office.webhook_about("ben@example.net", "ev-paused").await;
    let started = Instant::now();
    let call = office
        .staff()
        .post_ok(
            "/api/calls",
            &json!({ "phone": PHONE, "outcome": "answered", "notes": "called during the export" }),
            201,
        )
        .await;
    let call_took = started.elapsed();
    assert!(
        webhook_took < PROMPT,
        "a webhook took {webhook_took:?} while the export was paused"
    );
    assert!(
        call_took < PROMPT,
        "a staff call log took {call_took:?} while the export was paused"
    );
    assert_eq!(call["contact_ids"][0], person, "{call}");
    let (log, copied) = checkpoint(&office.setup).await;
    assert!(
        copied < log,
        "the export's read snapshot is still open (it is mid-stream): the {log} frames of the \
         log, the two writes' included, cannot all be checkpointed, yet {copied} were"
    );

    read_rest(&mut export, &mut body).await;
    eprintln!(
        "export of {HISTORY} interactions ({} bytes) paused after {} bytes: a webhook took \
         {webhook_took:?}, a staff call log {call_took:?}",
        body.len(),
        first.len()
    );
    let document = parsed(&body);
    let interactions = document["interactions"]
        .as_array()
        .expect("an interactions array");
    assert_eq!(
        interactions.len(),
        HISTORY,
        "every interaction of the snapshot, and not the call logged after it began"
    );
    let mut call_ids: Vec<&str> = interactions
        .iter()
        .map(|i| i["vendor_event_id"].as_str().unwrap_or_default())
        .collect();
    call_ids.sort_unstable();
    call_ids.dedup();
    assert_eq!(call_ids.len(), HISTORY, "each interaction once");

    // Its snapshot ended with the stream: nothing holds the log back any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (log, copied) = checkpoint(&office.setup).await;
        if copied == log {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{copied} of {log} frames checkpointed after the export ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Both writes landed.
    let log = office.setup.db().await.interactions().await;
    assert_eq!(log.len(), HISTORY + 2);
}

#[tokio::test]
async fn the_export_is_streamed_its_first_bytes_arriving_before_the_document_is_complete() {
    let office = Office::open();
    let person = office.person_with_a_long_history().await;

    let started = Instant::now();
    let mut export = office.start_export(person).await;
    assert!(
        export.headers().get("content-length").is_none(),
        "a streamed document has no length up front: {:?}",
        export.headers()
    );
    assert_eq!(export.headers()["transfer-encoding"], "chunked");
    assert_eq!(export.headers()["content-type"], "application/json");

    let first = export
        .chunk()
        .await
        .expect("read the export")
        .expect("a first chunk");
    let first_after = started.elapsed();
    let mut body = first.to_vec();
    let chunks = 1 + read_rest(&mut export, &mut body).await;
    let last_after = started.elapsed();
    eprintln!(
        "export of {HISTORY} interactions: {} bytes in {chunks} chunks, the first after \
         {first_after:?}, the last after {last_after:?}",
        body.len()
    );

    assert!(
        body.starts_with(b"{\"exported_at\":"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    assert!(
        first.len() < body.len() / 100,
        "the first chunk ({} bytes) is a small part of the document ({} bytes)",
        first.len(),
        body.len()
    );
    assert!(chunks > 100, "the document came in {chunks} chunks");
    assert!(
        first_after < last_after / 2,
        "the first bytes came after {first_after:?}, the last after {last_after:?}"
    );
    assert_eq!(
        parsed(&body)["interactions"].as_array().map(Vec::len),
        Some(HISTORY)
    );
}

/// Posts webhooks about other people, one after another, until `stop` turns true; returns when
/// each was sent and how long it took.
async fn send_until(
    office: &Office,
    sender: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(Instant, Duration)> {
    let mut sent = Vec::new();
    while !*stop.borrow_and_update() {
        let n = sent.len();
        let at = Instant::now();
        let took = office
            .webhook_about(
                &format!("guest{sender}-{n}@example.net"),
                &format!("ev-{sender}-{n}"),
            )
            .await;
        sent.push((at, took));
    }
    sent
}

#[tokio::test]
async fn webhooks_arriving_while_a_large_contact_is_erased_are_accepted() {
    let office = Office::open();
    let person = office.person_with_a_long_history().await;

    // Four senders beside the erasure.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let senders = async {
        let (a, b, c, d) = tokio::join!(
            send_until(&office, 0, stopped.clone()),
            send_until(&office, 1, stopped.clone()),
            send_until(&office, 2, stopped.clone()),
            send_until(&office, 3, stopped.clone()),
        );
        [a, b, c, d].concat()
    };
    let erasure = async {
        let started = Instant::now();
        let reply = Api::new(&office.server, &office.privacy)
            .delete(&format!("/api/contacts/{person}"))
            .await;
        let _ = stop.send(true);
        (reply, started, started.elapsed())
    };
    let (sent, (erased, started, took)) = tokio::join!(senders, erasure);

    assert_eq!(erased.status, 200, "{}", erased.text());
    let erased = erased.json();
    assert_eq!(erased["interactions"], HISTORY as u64, "{erased}");
    // Each webhook was asserted accepted as it was sent; those below were sent while the
    // erasure ran.
    let during: Vec<Duration> = sent
        .iter()
        .filter(|(at, _)| *at < started + took)
        .map(|(_, took)| *took)
        .collect();
    assert!(during.len() >= 4, "{} sent during", during.len());
    eprintln!(
        "erasure of {HISTORY} interactions took {took:?}; {} webhooks sent meanwhile were all \
         accepted, the slowest in {:?}",
        during.len(),
        during.iter().max().copied().unwrap_or_default()
    );

    // Every webhook accepted is in the log; nothing of the person is.
    let log = office.setup.db().await.interactions().await;
    assert_eq!(log.len(), sent.len());
    assert!(log.iter().all(|i| i.contact_id != Some(person)));
}
