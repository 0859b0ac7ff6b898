//! How good is channel selection? A population with known, latent channel preferences, driven
//! into the real `switchboard` binary only through signed vendor webhooks (SendGrid events,
//! Twilio status callbacks and inbound SMS) and staff call logs; then, per person, whether
//! `POST /api/select` ranks their truly best channel first — beside the seed's rule (the highest
//! raw rate) computed on the same data, from the raw rates the preferences route returns.
//!
//! Each person has a true engagement probability per channel (email open, SMS reply, phone
//! answer) drawn from channel-specific Beta distributions; their truly best channel is the
//! highest. Every send is a Bernoulli draw from it. Ties in the seed rule (two channels at 1/1,
//! say) are split evenly: the rule gets 1/k credit when the best channel is among k tied.
//! Selection runs with all urgency weights at 1, so it is judged on what it learned alone.
//!
//! `preference_sim [--people N] [--min-sends A] [--max-sends B] [--seed S] [--concurrency C]`
//! Run by `cargo xtask bench` for sparse (1–5 sends per channel) and rich (30–50) data.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::bench::{numeric_flags, on_one_thread};
use switchboard_e2e::server::{Server, Setup};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{
    TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR, borrowed, post_sendgrid, post_twilio, sendgrid_event,
    sendgrid_plugin, twilio_inbound, twilio_plugin, twilio_status,
};

const CHANNELS: [&str; 3] = ["email", "sms", "phone"];
/// The population's latent Beta(a, b) per channel: email opens are common, phone answers rarer,
/// and people differ a lot.
const LATENT: [(u32, u32); 3] = [(3, 6), (2, 6), (2, 7)];

struct Options {
    people: usize,
    min_sends: u32,
    max_sends: u32,
    seed: u64,
    concurrency: usize,
}

/// One simulated person.
#[derive(Debug, Clone)]
struct Person {
    index: usize,
    truth: [f64; 3],
    sends: [u32; 3],
}

impl Person {
    fn best(&self) -> usize {
        (0..3)
            .max_by(|a, b| self.truth[*a].total_cmp(&self.truth[*b]))
            .unwrap_or(0)
    }
}

fn main() -> Result<(), String> {
    let flags = numeric_flags(&["people", "min-sends", "max-sends", "seed", "concurrency"])?;
    let flag = |name, default: u64| flags.get(name).copied().unwrap_or(default);
    let min_sends = flag("min-sends", 1).max(1) as u32;
    on_one_thread(run(Options {
        people: flag("people", 300).max(1) as usize,
        min_sends,
        max_sends: (flag("max-sends", 5) as u32).max(min_sends),
        seed: flag("seed", 20261123),
        concurrency: flag("concurrency", 8).max(1) as usize,
    }))
}

async fn run(options: Options) -> Result<(), String> {
    let settings_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let settings = settings_dir.path().join("preferences.toml");
    std::fs::write(
        &settings,
        "[urgency_weights.normal]\nemail = 1.0\nsms = 1.0\nphone = 1.0\nportal = 1.0\n",
    )
    .map_err(|e| e.to_string())?;
    let key = SendGridKey::fixed();
    let setup = Setup::new(&[sendgrid_plugin(&key), twilio_plugin()])
        .env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
        .env(
            "SWITCHBOARD_PREFERENCE_SETTINGS",
            settings.to_str().unwrap_or_default(),
        );
    let token = setup.key("simulator", &["staff", "sender", "analyst"]);
    let server = Arc::new(setup.start());

    let mut rng = Rng(options.seed);
    let people: Vec<Person> = (0..options.people)
        .map(|index| Person {
            index,
            truth: LATENT.map(|(a, b)| rng.beta(a, b)),
            sends: [0; 3].map(|_| rng.between(options.min_sends, options.max_sends)),
        })
        .collect();
    println!(
        "{} people, {}–{} sends per channel, seed {}",
        options.people, options.min_sends, options.max_sends, options.seed
    );

    let started = Instant::now();
    let contacts = drive_population(&server, &token, &people, &options).await?;
    let driving = started.elapsed();
    let api = Api::new(&server, &token);
    let priors = api
        .post_ok("/api/preferences/priors/refit", &json!({}), 200)
        .await;
    for (rate, fit) in priors["rates"].as_object().into_iter().flatten() {
        println!(
            "prior {rate}: alpha {:.2} beta {:.2} ({} people)",
            fit["prior"]["alpha"].as_f64().unwrap_or(0.0),
            fit["prior"]["beta"].as_f64().unwrap_or(0.0),
            fit["contacts"]
        );
    }

    let noon = (switchboard_e2e::now_ms() / 86_400_000) * 86_400_000 + 12 * 3_600_000;
    let (mut engine_hits, mut seed_hits) = (0.0, 0.0);
    for (person, contact) in people.iter().zip(&contacts) {
        let selection = api
            .post_ok(
                "/api/select",
                &json!({ "contact_id": contact, "urgency": "normal", "kind": "sim", "at": noon }),
                200,
            )
            .await;
        let prefs = api
            .get_ok(&format!("/api/contacts/{contact}/preferences"))
            .await;
        if engine_choice(&selection) == Some(CHANNELS[person.best()]) {
            engine_hits += 1.0;
        }
        seed_hits += seed_rule_credit(&prefs, person.best());
    }
    let n = people.len() as f64;
    println!(
        "drove {} people in {:.1} s; truly best channel ranked first: engine {:.1} %, seed rule {:.1} %",
        people.len(),
        driving.as_secs_f64(),
        100.0 * engine_hits / n,
        100.0 * seed_hits / n
    );
    Ok(())
}

/// The engine's first channel by score, whether it may be used now or after quiet hours.
fn engine_choice(selection: &Value) -> Option<&str> {
    selection["ranked"]
        .as_array()?
        .iter()
        .find(|r| r["status"] != "excluded")?["channel"]
        .as_str()
}

/// The seed's rule: the channel with the highest raw rate; a tie shares the credit.
fn seed_rule_credit(prefs: &Value, best: usize) -> f64 {
    let rates = ["email_open", "sms_response", "phone_answer"]
        .map(|rate| prefs["rates"][rate]["raw"].as_f64().unwrap_or(0.0));
    let top = rates.iter().copied().fold(f64::MIN, f64::max);
    let tied: Vec<usize> = (0..3).filter(|i| rates[*i] == top).collect();
    if tied.contains(&best) {
        1.0 / tied.len() as f64
    } else {
        0.0
    }
}

/// Creates every person and plays their history in, `concurrency` people at a time. Returns
/// their contact ids in order.
async fn drive_population(
    server: &Arc<Server>,
    token: &str,
    people: &[Person],
    options: &Options,
) -> Result<Vec<i64>, String> {
    let mut contacts = vec![0i64; people.len()];
    for chunk in people.chunks(options.concurrency) {
        let mut tasks = tokio::task::JoinSet::new();
        for person in chunk {
            let (server, token, person) = (server.clone(), token.to_string(), person.clone());
            let seed = options.seed ^ (person.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            tasks.spawn(async move {
                let contact = play(&server, &token, &person, Rng(seed)).await?;
                Ok::<_, String>((person.index, contact))
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (index, contact) = done.map_err(|e| e.to_string())??;
            contacts[index] = contact;
        }
    }
    Ok(contacts)
}

/// One person's history: emails delivered and maybe opened, SMS sent and maybe answered, calls
/// answered or not.
async fn play(server: &Server, token: &str, person: &Person, mut rng: Rng) -> Result<i64, String> {
    let key = &SendGridKey::fixed();
    let api = Api::new(server, token);
    let email = format!("sim{}@example.org", person.index);
    let phone = format!("+1415{:07}", 5_000_000 + person.index);
    let created = api
        .post_ok(
            "/api/contacts",
            &json!({ "identities": [
                { "kind": "email", "value": email }, { "kind": "phone", "value": phone } ] }),
            201,
        )
        .await;
    let contact = created["id"].as_i64().ok_or("no contact id")?;

    let now = switchboard_e2e::now_ms() / 1000 - 86_400;
    let mut events = Vec::new();
    for send in 0..person.sends[0] {
        let message = format!("sim{}-e{send}", person.index);
        let at = now + i64::from(send) * 600;
        events.push(sendgrid_event(
            "delivered",
            &email,
            at,
            &message,
            &format!("{message}-d"),
        ));
        if rng.chance(person.truth[0]) {
            events.push(sendgrid_event(
                "open",
                &email,
                at + 300,
                &message,
                &format!("{message}-o"),
            ));
        }
    }
    let reply = post_sendgrid(server, key, &events).await;
    if reply.status != 200 {
        return Err(format!(
            "SendGrid batch refused: {} {}",
            reply.status,
            reply.text()
        ));
    }
    for send in 0..person.sends[1] {
        let sid = format!("SMsim{}x{send}", person.index);
        let status = twilio_status(&sid, "delivered", &phone);
        expect_ok(
            post_twilio(server, "", &borrowed(&status)).await.status,
            "status",
        )?;
        if rng.chance(person.truth[1]) {
            let inbound = twilio_inbound(&format!("{sid}r"), &phone, "Thanks, got it");
            expect_ok(
                post_twilio(server, "", &borrowed(&inbound)).await.status,
                "reply",
            )?;
        }
    }
    for _ in 0..person.sends[2] {
        let outcome = if rng.chance(person.truth[2]) {
            "answered"
        } else {
            "no_answer"
        };
        let reply = api
            .post(
                "/api/calls",
                &json!({ "contact_id": contact, "outcome": outcome }),
            )
            .await;
        expect_ok(reply.status, "call")?;
    }
    Ok(contact)
}

fn expect_ok(status: u16, what: &str) -> Result<(), String> {
    match status {
        200 | 201 => Ok(()),
        other => Err(format!("{what} refused with {other}")),
    }
}

/// SplitMix64: enough randomness for a simulation, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    fn between(&mut self, low: u32, high: u32) -> u32 {
        low + (self.next() % u64::from(high - low + 1)) as u32
    }

    /// Beta(a, b) for whole a and b: the a-th smallest of a + b − 1 uniforms.
    fn beta(&mut self, a: u32, b: u32) -> f64 {
        let mut draws: Vec<f64> = (0..a + b - 1).map(|_| self.uniform()).collect();
        draws.sort_by(f64::total_cmp);
        draws[a as usize - 1]
    }
}
