//! Database faults: the disk fills up under a running server, the filesystem turns read-only under
//! it, the database is read-only when the server starts. Each time a webhook gets 503 with
//! `Retry-After` (never a 500, never a panic), the server keeps answering (`/healthz`), nothing
//! is half-written, and service comes back when the fault is gone: by itself when space returns
//! or the database becomes writable, after a repair and restart when the kernel has taken the
//! filesystem read-only.
//!
//! The database sits on a filesystem of the test's own (see `small_disk`), which needs root; the
//! tests say so and skip where mounting is not possible.

use std::time::{Duration, Instant};

use switchboard_e2e::db::Db;
use switchboard_e2e::load::Batch;
use switchboard_e2e::server::{Reply, Server, Setup, client, post};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::small_disk::SmallDisk;
use switchboard_e2e::vendors::sendgrid_plugin;

const EVENTS_PER_BATCH: usize = 20;

#[tokio::test]
async fn a_full_disk_answers_503_with_retry_after_and_recovers_by_itself_when_space_returns() {
    let Some(disk) = disk_or_skip(SmallDisk::tmpfs("8m")) else {
        return;
    };
    let (setup, server) = serve_on(&disk);
    let mut batches = Batches::default();
    for _ in 0..5 {
        assert_eq!(batches.send_new(&server).await.status, 200);
    }

    let filled = disk.fill();
    // Until the write-ahead log needs a page it does not have, commits may still fit in it.
    let mut accepted_while_full = 0;
    while batches.refused.len() < 5 {
        let reply = batches.send_new(&server).await;
        match reply.status {
            200 => accepted_while_full += 1,
            503 => expect_database_unavailable(&reply),
            _ => panic!("a full disk gave {}: {}", reply.status, reply.text()),
        }
        assert!(
            accepted_while_full < 200,
            "the database never refused on a full disk"
        );
    }
    expect_still_serving(&server).await;

    disk.free();
    let freed = Instant::now();
    loop {
        let reply = batches.send_new(&server).await;
        if reply.status == 200 {
            break;
        }
        expect_database_unavailable(&reply);
        assert!(
            freed.elapsed() < Duration::from_secs(30),
            "still refused 30 s after space returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered_in = freed.elapsed();
    batches.resend_refused(&server).await;

    batches.assert_logged_once(&setup.db().await).await;
    assert_no_panic(&server);
    println!(
        "faults_disk: disk full ({filled} bytes of filler): {accepted_while_full} webhooks still \
         fit, then 503 + Retry-After; accepted again {} ms after the filler was removed, without \
         a restart",
        recovered_in.as_millis()
    );
}

#[tokio::test]
async fn a_filesystem_turned_read_only_under_the_server_answers_503_and_serves_again_once_repaired()
{
    let Some(disk) = disk_or_skip(SmallDisk::ext4(32)) else {
        return;
    };
    let (setup, mut server) = serve_on(&disk);
    let mut batches = Batches::default();
    for _ in 0..3 {
        assert_eq!(batches.send_new(&server).await.status, 200);
    }

    disk.fail_read_only();
    for _ in 0..3 {
        let reply = batches.send_new(&server).await;
        assert_eq!(reply.status, 503, "{}", reply.text());
        expect_database_unavailable(&reply);
    }
    expect_still_serving(&server).await;
    assert_no_panic(&server);

    // Linux keeps such a filesystem read-only until it is checked and mounted again, which needs
    // the server stopped; then the vendors' retries land.
    let stopping = Instant::now();
    let stopped = server.terminate().await;
    assert!(
        stopped.success(),
        "the server did not stop cleanly: {stopped}"
    );
    let stop_took = stopping.elapsed();
    let repairing = Instant::now();
    disk.repair().expect("repair the filesystem");
    let repair_took = repairing.elapsed();
    let starting = Instant::now();
    let server = setup.start();
    let refused = batches.refused.len();
    batches.resend_refused(&server).await;
    let serving_after = starting.elapsed();
    batches.assert_logged_once(&setup.db().await).await;
    assert_no_panic(&server);
    println!(
        "faults_disk: filesystem turned read-only: 503 + Retry-After; stopped in {} ms, checked \
         and mounted again in {} ms, restarted and the {refused} refused webhooks landed {} ms \
         after the start",
        stop_took.as_millis(),
        repair_took.as_millis(),
        serving_after.as_millis()
    );
}

#[tokio::test]
async fn a_database_read_only_at_start_up_answers_503_and_serves_again_once_writable() {
    let Some(disk) = disk_or_skip(SmallDisk::tmpfs("16m")) else {
        return;
    };
    let (setup, mut server) = serve_on(&disk);
    let mut batches = Batches::default();
    assert_eq!(batches.send_new(&server).await.status, 200);
    // Killed, the server leaves its write-ahead log beside the database; with it SQLite opens a
    // database on a read-only filesystem read-only, and the server starts on it.
    server.kill();
    disk.set_read_only(true)
        .expect("remount the test filesystem read-only");
    let server = setup.start();
    for _ in 0..3 {
        let reply = batches.send_new(&server).await;
        expect_database_unavailable(&reply);
    }
    expect_still_serving(&server).await;

    disk.set_read_only(false)
        .expect("remount the test filesystem read-write");
    let writable = Instant::now();
    loop {
        let reply = batches.send_new(&server).await;
        if reply.status == 200 {
            break;
        }
        expect_database_unavailable(&reply);
        assert!(
            writable.elapsed() < Duration::from_secs(15),
            "still refused 15 s after the database became writable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "faults_disk: a server started on a read-only database accepted webhooks {} ms after it \
         became writable, without a restart",
        writable.elapsed().as_millis()
    );
    batches.resend_refused(&server).await;
    batches.assert_logged_once(&setup.db().await).await;
    assert_no_panic(&server);
}

/// The disk, or `None` after saying why the test cannot run here.
fn disk_or_skip(disk: Result<SmallDisk, String>) -> Option<SmallDisk> {
    match disk {
        Ok(disk) => Some(disk),
        Err(why) => {
            eprintln!("SKIPPED: this test needs its own small filesystem: {why}");
            None
        }
    }
}

/// An installation whose database (and its write-ahead log, beside it) lives on `disk`, and its
/// server. The database path is a link into the disk; the server key and logs stay outside it.
fn serve_on(disk: &SmallDisk) -> (Setup, Server) {
    let setup = Setup::new(&[sendgrid_plugin(&SendGridKey::fixed())]);
    std::os::unix::fs::symlink(disk.path().join("switchboard.db"), setup.database_path())
        .expect("link the database into the test filesystem");
    let server = setup.start();
    assert!(
        disk.path().join("switchboard.db-wal").exists(),
        "the write-ahead log is not on the test filesystem"
    );
    (setup, server)
}

/// Batches sent so far: acknowledged, and refused (to be sent again, as the vendor would).
#[derive(Default)]
struct Batches {
    next: usize,
    acknowledged: Vec<Batch>,
    refused: Vec<Batch>,
}

impl Batches {
    async fn send_new(&mut self, server: &Server) -> Reply {
        let batch = Batch::new(self.next, EVENTS_PER_BATCH, 30);
        self.next += 1;
        let reply = send(server, &batch).await;
        if reply.status == 200 {
            self.acknowledged.push(batch);
        } else {
            self.refused.push(batch);
        }
        reply
    }

    async fn resend_refused(&mut self, server: &Server) {
        for batch in std::mem::take(&mut self.refused) {
            let reply = send(server, &batch).await;
            assert_eq!(
                reply.status,
                200,
                "retry of batch {}: {}",
                batch.index,
                reply.text()
            );
            self.acknowledged.push(batch);
        }
    }

    /// Every acknowledged batch whole, each event once; every raw webhook processed and
    /// accounting for its events; nothing else.
    async fn assert_logged_once(&self, db: &Db) {
        let logged: Vec<String> = db
            .interactions()
            .await
            .into_iter()
            .filter_map(|i| i.vendor_event_id)
            .collect();
        let mut expected: Vec<String> = self
            .acknowledged
            .iter()
            .flat_map(|b| b.event_ids.clone())
            .collect();
        let mut logged_sorted = logged.clone();
        logged_sorted.sort();
        expected.sort();
        assert_eq!(
            logged_sorted, expected,
            "the log is not what was acknowledged"
        );
        for raw in db.raw_webhooks().await {
            assert_eq!(raw.status, "processed", "{raw:?}");
            assert_eq!(raw.interactions + raw.duplicates, EVENTS_PER_BATCH as i64);
        }
    }
}

async fn send(server: &Server, batch: &Batch) -> Reply {
    let mut headers = SendGridKey::fixed().headers(switchboard_e2e::now_ms() / 1000, &batch.body);
    headers.push(("Content-Type".into(), "application/json".into()));
    post(
        &server.url("/webhooks/email-sendgrid"),
        &headers,
        batch.body.clone(),
    )
    .await
}

fn expect_database_unavailable(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.error_code(),
        "database_unavailable",
        "{}",
        reply.text()
    );
    let retry_after = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s > 0),
        "no Retry-After in seconds: {:?}",
        reply.headers
    );
}

/// The server still answers and its committer still runs.
async fn expect_still_serving(server: &Server) {
    let health = client()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("/healthz answers");
    let status = health.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_slice(&health.bytes().await.expect("read /healthz")).expect("JSON");
    assert!(matches!(status, 200 | 503), "/healthz gave {status}");
    assert_eq!(body["committer"], "ok", "{body}");
}

fn assert_no_panic(server: &Server) {
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
