//! What the analytics cost at scale: a SQLite database with N contacts and M interactions
//! (defaults 100,000 and 10,000,000, a year of history), the outbox rows of the messages
//! Switchboard sent (kinds, urgencies, templates) and C conversions (default 100,000); then
//! `switchboard analytics rebuild` over it, and through the real server over loopback the
//! latency of 90-day channel reports (whole days, and the default period ending now, which has
//! partial days at both ends), with breakdowns, and of attribution over the conversions.
//!
//! The log is written straight into the database, as in `preference_scale`: pushing ten million
//! events through webhooks would measure ingest, which has its own benchmark (`ingest_load
//! --analytics-ab` measures what folding costs ingest).
//!
//! `analytics_scale [--contacts N] [--per-contact K] [--conversions C] [--reports R]`

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::api::Api;
use switchboard_e2e::bench::{numeric_flags, on_one_thread};
use switchboard_e2e::db::{Db, SeedInteraction};
use switchboard_e2e::server::Setup;
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, sendgrid_plugin, twilio_plugin,
};

const DAY_MS: i64 = 86_400_000;

struct Options {
    contacts: i64,
    per_contact: i64,
    conversions: i64,
    reports: usize,
}

fn main() -> Result<(), String> {
    let flags = numeric_flags(&["contacts", "per-contact", "conversions", "reports"])?;
    let flag = |name, default: u64| flags.get(name).copied().unwrap_or(default).max(1);
    on_one_thread(run(Options {
        contacts: flag("contacts", 100_000) as i64,
        per_contact: flag("per-contact", 100) as i64,
        conversions: flag("conversions", 100_000) as i64,
        reports: flag("reports", 200) as usize,
    }))
}

async fn run(options: Options) -> Result<(), String> {
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key), twilio_plugin()])
        .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN);
    let token = setup.key("bench", &["staff", "analyst"]);
    let db = setup.db().await;
    let now = switchboard_e2e::now_ms();

    let started = Instant::now();
    let rows = db
        .bulk_load(options.contacts, history(&options, now))
        .await
        .map_err(|e| e.to_string())?;
    let sent = outbox_rows(&db).await?;
    let conversions = conversion_rows(&db, &options, now).await?;
    println!(
        "wrote {} contacts, {rows} interactions, {sent} outbox messages and {conversions} \
         conversions in {:.1} s",
        options.contacts,
        started.elapsed().as_secs_f64()
    );
    db.close().await;

    let rebuild = setup.cli(&["analytics", "rebuild"]).json();
    println!(
        "analytics rebuild: {} interactions, {} messages in {:.1} s",
        rebuild["interactions"],
        rebuild["messages"],
        rebuild["seconds"].as_f64().unwrap_or(0.0)
    );

    let server = setup.start();
    let api = Api::new(&server, &token);
    let midnight = now.div_euclid(DAY_MS) * DAY_MS;
    let whole_days = format!("since={}&until={midnight}", midnight - 90 * DAY_MS);
    let ending_now = format!("since={}&until={now}", now - 90 * DAY_MS);
    let reports = [
        (
            "90 whole days",
            format!("/api/analytics/channels?{whole_days}"),
        ),
        (
            "90 days ending now",
            format!("/api/analytics/channels?{ending_now}"),
        ),
        (
            "90 days ending now, by=day",
            format!("/api/analytics/channels?{ending_now}&by=day"),
        ),
        (
            "90 days ending now, by=template",
            format!("/api/analytics/channels?{ending_now}&by=template"),
        ),
    ];
    for (what, path) in &reports {
        let first = api.get(path).await;
        if first.status != 200 {
            return Err(format!("{what}: {} {}", first.status, first.text()));
        }
        let body = first.json();
        println!("{what}: {} messages in the report", body["messages"]);
        let mut latencies = Vec::with_capacity(options.reports);
        for _ in 0..options.reports {
            let started = Instant::now();
            let reply = api.get(path).await;
            latencies.push(started.elapsed());
            if reply.status != 200 {
                return Err(format!("{what}: {}", reply.status));
            }
        }
        report(&format!("GET channels, {what}"), &mut latencies);
    }

    for model in ["last_touch", "markov"] {
        let path = format!("/api/analytics/attribution?goal=enrolled&model={model}&{ending_now}");
        let mut latencies = Vec::new();
        let mut converted = Value::Null;
        for _ in 0..5 {
            let started = Instant::now();
            let reply = api.get(&path).await;
            latencies.push(started.elapsed());
            if reply.status != 200 {
                return Err(format!(
                    "attribution {model}: {} {}",
                    reply.status,
                    reply.text()
                ));
            }
            converted = reply.json()["attributed"].clone();
        }
        println!("attribution ({model}): {converted} conversions attributed");
        report(&format!("GET attribution, {model}"), &mut latencies);
    }
    Ok(())
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "{what}: {} requests, mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        mean.as_secs_f64() * 1e3,
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

/// The outbox's record of every email and SMS the log has events of: a kind (four), an urgency
/// (three) and, for email, a template (three), spread by the message's time.
async fn outbox_rows(db: &Db) -> Result<u64, String> {
    let messages = "SELECT vendor_message_id AS id, channel, MIN(contact_id) AS contact_id,
                           MIN(occurred_at) AS at
                    FROM interaction_log
                    WHERE vendor_message_id IS NOT NULL AND direction = 'outbound'
                    GROUP BY vendor_message_id, channel";
    let written = db
        .execute(format!(
            "INSERT INTO messages (id, idempotency_key, request_digest, contact_id, urgency, kind,
                 content, allow_fallback, plan, accepted, status, created_by, created_at,
                 updated_at)
             SELECT id, id, 'bench', contact_id,
                    CASE (at / 7) % 3 WHEN 0 THEN 'low' WHEN 1 THEN 'normal' ELSE 'high' END,
                    CASE at % 4 WHEN 0 THEN 'reminder' WHEN 1 THEN 'receipt'
                                WHEN 2 THEN 'newsletter' ELSE 'alert' END,
                    CASE WHEN channel = 'email'
                         THEN json_object('email', json_object('template',
                                json_object('id', 'template-' || ((at / 11) % 3))))
                         ELSE '{{}}' END,
                    1, '[]', '{{}}', 'sent', 'bench', at, at
             FROM ({messages})"
        ))
        .await
        .map_err(|e| e.to_string())?;
    db.execute(format!(
        "INSERT INTO message_attempts (message_id, seq, channel, status, due_at,
             idempotency_key, vendor_message_id, created_at, updated_at)
         SELECT id, 1, channel, 'sent', at, id, id, at, at FROM ({messages})"
    ))
    .await
    .map_err(|e| e.to_string())?;
    Ok(written)
}

/// Conversions to goal `enrolled` over the last 90 days, spread over the contacts.
async fn conversion_rows(db: &Db, options: &Options, now: i64) -> Result<u64, String> {
    db.execute(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
         INSERT INTO conversions (contact_id, goal, value, occurred_at, idempotency_key,
             request_digest, created_by, created_at)
         SELECT (i * 7919) % {contacts} + 1, 'enrolled', 100,
                {now} - (i * 104729) % {span}, 'bench-' || i, 'bench', 'bench', {now}
         FROM n",
        count = options.conversions,
        contacts = options.contacts,
        span = 90 * DAY_MS,
    ))
    .await
    .map_err(|e| e.to_string())
}

/// Each contact's year, a mix drawn from a fixed seed: emails through SendGrid or Mailgun
/// delivered and opened or clicked, some bounced; SMS through Twilio delivered, some answered
/// by a reply; calls staff logged, answered or not.
fn history(options: &Options, now: i64) -> impl Iterator<Item = SeedInteraction> + use<> {
    let (contacts, per_contact) = (options.contacts, options.per_contact);
    let mut seed = 4_242u64;
    (1..=contacts).flat_map(move |contact| {
        let mut rows = Vec::with_capacity(per_contact as usize);
        let mut message = 0;
        while (rows.len() as i64) < per_contact {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let roll = (seed >> 33) % 100;
            let at = now - ((seed >> 20) % (365 * 86_400_000)) as i64;
            message += 1;
            let id = format!("c{contact}m{message}");
            let row = |channel, direction, outcome, at, message: Option<String>, plugin| {
                SeedInteraction {
                    contact_id: contact,
                    occurred_at: at,
                    channel,
                    direction,
                    outcome,
                    vendor_message_id: message,
                    plugin_id: plugin,
                }
            };
            let room = |rows: &Vec<SeedInteraction>| (rows.len() as i64) < per_contact;
            match roll % 3 {
                0 => {
                    let plugin = Some(if roll < 70 {
                        "email-sendgrid"
                    } else {
                        "email-mailgun"
                    });
                    let first = if roll % 10 == 3 {
                        "bounced"
                    } else {
                        "delivered"
                    };
                    rows.push(row(
                        "email",
                        "outbound",
                        first,
                        at,
                        Some(id.clone()),
                        plugin,
                    ));
                    if roll < 45 && first == "delivered" && room(&rows) {
                        let later = at + 600_000 + (seed >> 40) as i64 % (30 * 3_600_000);
                        rows.push(row(
                            "email",
                            "outbound",
                            "opened",
                            later,
                            Some(id.clone()),
                            plugin,
                        ));
                    }
                    if roll < 12 && first == "delivered" && room(&rows) {
                        let later = at + 900_000 + (seed >> 44) as i64 % (50 * 3_600_000);
                        rows.push(row("email", "outbound", "clicked", later, Some(id), plugin));
                    }
                }
                1 => {
                    let plugin = Some("sms-twilio");
                    rows.push(row(
                        "sms",
                        "outbound",
                        "delivered",
                        at,
                        Some(id.clone()),
                        plugin,
                    ));
                    if roll < 30 && room(&rows) {
                        let later = at + 120_000 + (seed >> 42) as i64 % (20 * 3_600_000);
                        let reply = Some(format!("{id}r"));
                        rows.push(row("sms", "inbound", "replied", later, reply, plugin));
                    }
                }
                _ => {
                    let outcome = if roll < 35 { "answered" } else { "no_answer" };
                    rows.push(row("phone", "outbound", outcome, at, None, None));
                }
            }
        }
        rows
    })
}
