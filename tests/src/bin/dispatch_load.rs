//! Outbox throughput and latency: the real `switchboard` binary (release) on SQLite sending email
//! through the SendGrid plugin to a loopback vendor that answers 202 at once.
//!
//! Two phases. Latency: messages posted one at a time, each waited for at the vendor: the time
//! from `POST /api/messages` to the vendor receiving the send is what the outbox adds in front of
//! the plugin call (dispatcher wake-up, claim, re-check of consent and quiet hours, instance,
//! HTTP). Throughput: messages posted by concurrent clients, the rate at which the vendor
//! receives them, and the server's CPU time per message (`/proc/<pid>/stat`). A run where a
//! message is missing or sent twice is a failure, not a figure.
//! Run with `cargo xtask bench`; figures are recorded in BENCHMARKS.md.
//!
//! `dispatch_load [--messages N] [--concurrency C] [--probe P]`
//!
//! `BENCH_SERVER_LOG=<filter>` keeps the server's log at that filter as
//! `target/dispatch_load-server.log` (see `bench/statement_profile.py`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::bench::{
    Usage, keep_server_log, numeric_flags, on_one_thread, with_server_log,
};
use switchboard_e2e::outbox::contact;
use switchboard_e2e::relay::{Relay, Script, Seen};
use switchboard_e2e::server::{Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::sendgrid_plugin;

fn main() -> Result<(), String> {
    let flags = numeric_flags(&["messages", "concurrency", "probe"])?;
    let flag = |name, default: usize| flags.get(name).map_or(default, |v| *v as usize);
    on_one_thread(run(
        flag("messages", 2_000),
        flag("concurrency", 16).max(1),
        flag("probe", 200),
    ))
}

async fn run(messages: usize, concurrency: usize, probe: usize) -> Result<(), String> {
    let vendor = Relay::start(Script {
        stamp_message_ids: true,
        ..Script::default()
    })
    .await;
    let plugin = sendgrid_plugin(&SendGridKey::fixed())
        .config("api_base", &vendor.base)
        .allow_host(&vendor.host)
        .private_network();
    let setup = with_server_log(Setup::new(&[plugin]).env("E2E_SENDGRID_API_KEY", "SG.bench-key"));
    let (staff, sender) = (
        setup.key("bench", &["staff"]),
        setup.key("bench-sender", &["sender"]),
    );
    let server = setup.start();
    let ana = contact(&Api::new(&server, &staff), &[("email", "ana@example.org")]).await;
    let poster = Poster {
        http: client(),
        url: server.url("/api/messages"),
        token: sender,
        contact: ana,
    };

    // Latency at light load.
    let mut latencies = Vec::with_capacity(probe);
    for n in 0..probe {
        let posted = switchboard_e2e::now_ms();
        let started = Instant::now();
        poster.post(&format!("probe-{n}")).await?;
        while vendor.seen().len() <= n {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("probe message {n} never reached the vendor"));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(vendor.seen()[n].at_ms - posted);
    }

    // Throughput under concurrent submission.
    let next = Arc::new(AtomicUsize::new(0));
    let before = Usage::of(server.pid())?;
    let started = Instant::now();
    let first_post = switchboard_e2e::now_ms();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, poster) = (next.clone(), poster.clone());
        clients.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= messages {
                    return Ok::<(), String>(());
                }
                poster.post(&format!("load-{n}")).await?;
            }
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined.map_err(|e| e.to_string())??;
    }
    let accepted_in = started.elapsed();
    let total = probe + messages;
    while vendor.seen().len() < total {
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!(
                "only {} of {total} sends arrived",
                vendor.seen().len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let used = Usage::of(server.pid())?.since(&before);
    let seen = vendor.seen();
    check_once_each(&seen, total)?;
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(first_post);
    let dispatch_secs = (last - first_post) as f64 / 1000.0;

    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "latency, one message at a time ({probe} messages): POST to vendor p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    println!(
        "throughput, {messages} messages from {concurrency} clients: accepted {:.0}/s; dispatched {:.0}/s ({dispatch_secs:.2} s from first POST to last send at the vendor); server CPU {:.2} ms/message",
        messages as f64 / accepted_in.as_secs_f64(),
        messages as f64 / dispatch_secs,
        used.cpu.as_secs_f64() * 1e3 / messages as f64
    );
    keep_server_log(&server, "dispatch_load")
}

/// Posts messages to one contact with a sender key.
#[derive(Clone)]
struct Poster {
    http: reqwest::Client,
    url: String,
    token: String,
    contact: i64,
}

impl Poster {
    async fn post(&self, key: &str) -> Result<(), String> {
        let body = json!({
            "contact_id": self.contact, "idempotency_key": key, "urgency": "normal",
            "kind": "bench", "content": { "email": { "subject": "Bench", "text": "Hello" } }
        });
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.as_u16() != 202 {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("POST /api/messages answered {status}: {text}"));
        }
        Ok(())
    }
}

/// Every message reached the vendor exactly once.
fn check_once_each(seen: &[Seen], total: usize) -> Result<(), String> {
    let mut ids = HashSet::new();
    for send in seen {
        let body: Value = serde_json::from_slice(&send.request.body).map_err(|e| e.to_string())?;
        let id = body["personalizations"][0]["custom_args"]["switchboard_message_id"].to_string();
        if !ids.insert(id.clone()) {
            return Err(format!("message {id} was sent twice"));
        }
    }
    if ids.len() != total {
        return Err(format!(
            "{} distinct messages sent, expected {total}",
            ids.len()
        ));
    }
    Ok(())
}
