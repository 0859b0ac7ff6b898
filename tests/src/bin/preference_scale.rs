//! What the preference engine costs at scale: a SQLite database with N contacts and M
//! interactions (defaults 100,000 and 10,000,000), the full `switchboard prefs rebuild` over it,
//! the population prior fit, and `POST /api/select` latency for one contact at a time through the
//! real server over loopback — end to end, and the engine's own part from the response's
//! `server-timing` header.
//!
//! The log is written straight into the database (a realistic mix: emails delivered and opened
//! or clicked, SMS delivered and answered, calls answered or not, over 120 days) because pushing
//! ten million events through webhooks would measure ingest, which has its own benchmark; the
//! rebuild then counts it exactly as ingest would have.
//!
//! `preference_scale [--contacts N] [--per-contact K] [--selects S]`

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_e2e::api::Api;
use switchboard_e2e::bench::{numeric_flags, on_one_thread};
use switchboard_e2e::db::SeedInteraction;
use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, sendgrid_plugin, twilio_plugin,
};

struct Options {
    contacts: i64,
    per_contact: i64,
    selects: usize,
}

fn main() -> Result<(), String> {
    let flags = numeric_flags(&["contacts", "per-contact", "selects"])?;
    let flag = |name, default: u64| flags.get(name).copied().unwrap_or(default).max(1);
    on_one_thread(run(Options {
        contacts: flag("contacts", 100_000) as i64,
        per_contact: flag("per-contact", 100) as i64,
        selects: flag("selects", 2_000) as usize,
    }))
}

async fn run(options: Options) -> Result<(), String> {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key), twilio_plugin()])
        .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    // Creating a key opens (and so creates and migrates) the database.
    let token = setup.key("bench", &["sender", "staff", "analyst"]);
    let db = setup.db().await;

    let started = Instant::now();
    let rows = db
        .bulk_load(options.contacts, history(&options))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "wrote {} contacts and {rows} interactions in {:.1} s",
        options.contacts,
        started.elapsed().as_secs_f64()
    );
    db.close().await;

    let rebuild = setup.cli(&["prefs", "rebuild"]).json();
    println!(
        "prefs rebuild: {} interactions, {} counters in {:.1} s",
        rebuild["interactions"],
        rebuild["counters"],
        rebuild["seconds"].as_f64().unwrap_or(0.0)
    );

    let server = setup.start();
    let api = Api::new(&server, &token);
    let started = Instant::now();
    api.post_ok("/api/preferences/priors/refit", &json!({}), 200)
        .await;
    println!("prior refit: {:.2} s", started.elapsed().as_secs_f64());

    let noon = (switchboard_e2e::now_ms() / 86_400_000) * 86_400_000 + 12 * 3_600_000;
    // Warm-up, not measured: the server's connections and page caches.
    for id in 1..=200.min(options.contacts) {
        let body = json!({ "contact_id": id, "urgency": "normal", "kind": "bench", "at": noon });
        api.post("/api/select", &body).await;
    }
    let mut latencies = Vec::with_capacity(options.selects);
    let mut engine = Vec::with_capacity(options.selects);
    let mut contact = 7i64;
    for _ in 0..options.selects {
        contact = (contact * 48_271) % 2_147_483_647;
        let id = 1 + contact % options.contacts;
        let body = json!({ "contact_id": id, "urgency": "normal", "kind": "bench", "at": noon });
        let started = Instant::now();
        let reply = api.post("/api/select", &body).await;
        latencies.push(started.elapsed());
        if reply.status != 200 {
            return Err(format!("select refused: {} {}", reply.status, reply.text()));
        }
        engine.push(server_timing(&reply).ok_or("no server-timing header")?);
    }
    report("POST /api/select over HTTP", &mut latencies);
    report("selection in the server (server-timing)", &mut engine);
    Ok(())
}

/// The server's own time for the request, from its `server-timing: select;dur=<ms>` header.
fn server_timing(reply: &switchboard_e2e::server::Reply) -> Option<Duration> {
    let value = reply.headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = value.split("dur=").nth(1)?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1000.0))
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "{what}: {} requests, mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        mean.as_secs_f64() * 1e3,
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

/// Each contact's history, a realistic mix drawn from a fixed seed: emails delivered and opened
/// or clicked, SMS delivered and answered, calls answered or not, over 120 days.
fn history(options: &Options) -> impl Iterator<Item = SeedInteraction> + use<> {
    let (contacts, per_contact) = (options.contacts, options.per_contact);
    let now = switchboard_e2e::now_ms();
    let mut seed = 12_345u64;
    (1..=contacts).flat_map(move |contact| {
        let mut rows = Vec::with_capacity(per_contact as usize);
        let mut message = 0;
        while (rows.len() as i64) < per_contact {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let roll = (seed >> 33) % 100;
            let at = now - ((seed >> 20) % (120 * 86_400_000)) as i64;
            message += 1;
            let id = format!("c{contact}m{message}");
            let row = |channel, direction, outcome, at, message: Option<String>| SeedInteraction {
                contact_id: contact,
                occurred_at: at,
                channel,
                direction,
                outcome,
                plugin_id: match channel {
                    "email" => Some("email-sendgrid"),
                    "sms" => Some("sms-twilio"),
                    _ => None,
                },
                vendor_message_id: message,
            };
            let room = |rows: &Vec<SeedInteraction>| (rows.len() as i64) < per_contact;
            match roll % 3 {
                0 => {
                    rows.push(row("email", "outbound", "delivered", at, Some(id.clone())));
                    if roll < 40 && room(&rows) {
                        let opened = row(
                            "email",
                            "outbound",
                            "opened",
                            at + 600_000,
                            Some(id.clone()),
                        );
                        rows.push(opened);
                    }
                    if roll < 12 && room(&rows) {
                        rows.push(row("email", "outbound", "clicked", at + 700_000, Some(id)));
                    }
                }
                1 => {
                    rows.push(row("sms", "outbound", "delivered", at, Some(id.clone())));
                    if roll < 30 && room(&rows) {
                        rows.push(row(
                            "sms",
                            "inbound",
                            "replied",
                            at + 900_000,
                            Some(format!("{id}r")),
                        ));
                    }
                }
                _ => {
                    let outcome = if roll < 35 { "answered" } else { "no_answer" };
                    rows.push(row("phone", "outbound", outcome, at, None));
                }
            }
        }
        rows
    })
}
