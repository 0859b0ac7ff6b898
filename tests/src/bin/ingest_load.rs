//! End-to-end ingest throughput and latency: the real `switchboard` binary (release) on SQLite,
//! fed signed 50-event SendGrid batches by concurrent clients over loopback.
//!
//! Every batch is signed before the clock starts, so the figures measure the server, not the
//! signing. Afterwards the log is counted: a run where rows went missing is a failure, not a
//! figure. Run with `cargo xtask bench`; figures are recorded in BENCHMARKS.md.
//!
//! `ingest_load [--batches N] [--concurrency C] [--events E] [--people P]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::bench::{numeric_flags, on_one_thread};
use switchboard_e2e::server::{Server, Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{sendgrid_event, sendgrid_plugin};

/// One signed delivery: its headers and body.
type SignedBatch = (Vec<(String, String)>, Vec<u8>);

struct Options {
    batches: usize,
    concurrency: usize,
    events: usize,
    people: usize,
}

fn main() -> Result<(), String> {
    let flags = numeric_flags(&["batches", "concurrency", "events", "people"])?;
    let flag = |name, default: usize| flags.get(name).map_or(default, |v| *v as usize);
    on_one_thread(run(Options {
        batches: flag("batches", 2_000),
        concurrency: flag("concurrency", 16).max(1),
        events: flag("events", 50).max(1),
        people: flag("people", 2_000).max(1),
    }))
}

async fn run(options: Options) -> Result<(), String> {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key)]);
    let server = setup.start();
    let bodies = Arc::new(signed_batches(&key, &options));
    println!(
        "{} batches of {} events, {} concurrent clients, {} people",
        options.batches, options.events, options.concurrency, options.people
    );

    let started = Instant::now();
    let latencies = drive(&server, bodies, options.concurrency).await?;
    let elapsed = started.elapsed();

    let logged = setup.db().await.interaction_count().await;
    let expected = (options.batches * options.events) as i64;
    if logged != expected {
        return Err(format!("the log holds {logged} rows, expected {expected}"));
    }
    report(&options, elapsed, latencies);
    Ok(())
}

/// Realistic traffic: each batch carries the lifecycle of messages to a rotating set of people
/// (processed, delivered, open, click), so contact resolution meets both new and known people.
fn signed_batches(key: &SendGridKey, options: &Options) -> Vec<SignedBatch> {
    const LIFECYCLE: [&str; 4] = ["processed", "delivered", "open", "click"];
    let now_secs = switchboard_e2e::now_ms() / 1000;
    (0..options.batches)
        .map(|batch| {
            let events: Vec<Value> = (0..options.events)
                .map(|i| {
                    let n = batch * options.events + i;
                    let message = n / LIFECYCLE.len();
                    sendgrid_event(
                        LIFECYCLE[n % LIFECYCLE.len()],
                        &format!("person{}@example.org", message % options.people),
                        now_secs,
                        &format!("load{message}"),
                        &format!("load-event-{n}"),
                    )
                })
                .collect();
            let body = serde_json::to_vec(&events).expect("serialize the batch");
            let mut headers = key.headers(now_secs, &body);
            headers.push(("Content-Type".into(), "application/json".into()));
            (headers, body)
        })
        .collect()
}

/// Posts every batch, `concurrency` at a time; returns each request's latency.
async fn drive(
    server: &Server,
    bodies: Arc<Vec<SignedBatch>>,
    concurrency: usize,
) -> Result<Vec<Duration>, String> {
    let url = server.url("/webhooks/email-sendgrid");
    let http = client();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (url, http, next, bodies) = (url.clone(), http.clone(), next.clone(), bodies.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((headers, body)) = bodies.get(index) else {
                    return Ok(latencies);
                };
                let mut request = http.post(&url).body(body.clone());
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let started = Instant::now();
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                let reply = response.bytes().await.map_err(|e| e.to_string())?;
                latencies.push(started.elapsed());
                if !status.is_success() {
                    return Err(format!(
                        "batch {index}: {status}: {}",
                        String::from_utf8_lossy(&reply)
                    ));
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = workers.join_next().await {
        all.extend(joined.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

fn report(options: &Options, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let events = (options.batches * options.events) as f64;
    println!(
        "{:.0} events/s ({:.0} batches/s) over {:.2} s; latency per batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        events / elapsed.as_secs_f64(),
        options.batches as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0)),
    );
}
