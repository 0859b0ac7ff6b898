//! The per-call cost of a plugin: `handle-webhook` on a signed 50-event SendGrid batch, each call
//! in a fresh instance (instantiate + verify + parse), as the server makes it.
//!
//! For scale, the same for a 1-event batch, and `map-outcome` (the cheapest export: about the
//! cost of instantiation alone). Run with `cargo xtask bench`, which builds the plugins first;
//! figures are recorded in BENCHMARKS.md.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::manifest::manifest;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{sendgrid_event, sendgrid_plugin};
use switchboard_runtime::bindings::{Header, WebhookRequest};
use switchboard_runtime::config;
use switchboard_runtime::{Runtime, RuntimeSettings, verify_ecdsa_p256};

const WARMUP: usize = 200;
const CALLS: usize = 2_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = SendGridKey::fixed();
    let manifest_path = dir.path().join("plugins.toml");
    std::fs::write(&manifest_path, manifest(&[sendgrid_plugin(&key)]))?;
    let loaded = config::load(&manifest_path)?;
    let plugin_runtime = Runtime::new(RuntimeSettings {
        cache_dir: dir.path().join("cache"),
        instance_slots: 16,
    })?;
    let plugin = plugin_runtime.load(&loaded.plugins[0]).await?;

    println!("handle-webhook and map-outcome, email-sendgrid, one fresh instance per call");
    println!("{CALLS} calls after {WARMUP} warm-up calls; times per call\n");
    for events in [50, 1] {
        let request = signed_batch(&key, events);
        let label = format!("handle-webhook, {events}-event batch");
        let timings = measure(|| async {
            let call = plugin.handle_webhook(&request).await;
            assert!(
                matches!(&call, Ok(c) if matches!(&c.answer, Ok(a) if a.interactions.len() == events)),
                "the batch was not accepted: {call:?}"
            );
        })
        .await;
        report(&label, &timings);
    }
    let timings = measure(|| async {
        plugin.map_outcome("delivered").await.expect("map-outcome");
    })
    .await;
    report("map-outcome (instantiation floor)", &timings);

    // The signature check the 50-event call asks the host for, alone and natively.
    let request = signed_batch(&key, 50);
    let public_key = base64_decode(&key.verification_key());
    let header = |name: &str| {
        let found = request.headers.iter().find(|h| h.name == name);
        found.map(|h| h.value.clone()).unwrap_or_default()
    };
    let timestamp = header("x-twilio-email-event-webhook-timestamp");
    let signature = base64_decode(&header("x-twilio-email-event-webhook-signature"));
    let message = [timestamp.as_bytes(), &request.body].concat();
    let timings = measure(|| async {
        let verified = verify_ecdsa_p256(&public_key, &message, &signature);
        assert_eq!(verified, Ok(true));
    })
    .await;
    report("of which ECDSA P-256 verify (native)", &timings);
    Ok(())
}

/// A signed Event Webhook delivery of `events` events, as the ingest path hands it to the plugin.
fn signed_batch(key: &SendGridKey, events: usize) -> WebhookRequest {
    let now_secs = switchboard_e2e::now_ms() / 1000;
    let batch: Vec<Value> = (0..events)
        .map(|i| {
            let kind = ["processed", "delivered", "open", "click", "bounce"][i % 5];
            sendgrid_event(
                kind,
                &format!("person{i}@example.org"),
                now_secs,
                &format!("msg{i}"),
                &format!("evt-{i}"),
            )
        })
        .collect();
    let body = serde_json::to_vec(&batch).expect("serialize the batch");
    let mut headers: Vec<Header> = key
        .headers(now_secs, &body)
        .into_iter()
        .map(|(name, value)| Header {
            name: name.to_ascii_lowercase(),
            value,
        })
        .collect();
    headers.push(Header {
        name: "content-type".into(),
        value: "application/json".into(),
    });
    WebhookRequest {
        method: "POST".into(),
        path: "/webhooks/email-sendgrid".into(),
        query: String::new(),
        headers,
        body,
        received_at: now_secs * 1000,
    }
}

async fn measure<F, Fut>(mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..WARMUP {
        call().await;
    }
    let mut timings = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        call().await;
        timings.push(start.elapsed());
    }
    timings.sort();
    timings
}

fn report(label: &str, sorted: &[Duration]) {
    let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "{label:<40} mean {:>8.1} µs   p50 {:>8.1} µs   p99 {:>8.1} µs",
        micros(mean),
        micros(at(0.50)),
        micros(at(0.99)),
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
