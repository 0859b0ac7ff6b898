//! End-to-end ingest throughput, latency and CPU: the real `switchboard` binary (release) on
//! SQLite, fed signed 50-event SendGrid batches by concurrent clients over loopback.
//!
//! Every batch is signed before the clock starts, so the figures measure the server, not the
//! signing. Beside events/s and latency, the server's own CPU time (user + system, all threads,
//! from `/proc/<pid>/stat`) per event: the figure that does not depend on how much of the machine
//! the loader leaves; and the bytes it wrote and read per event (`/proc/<pid>/io`). Afterwards the log is counted: a run where rows went missing is a failure,
//! not a figure. Run with `cargo xtask bench`; figures are recorded in BENCHMARKS.md.
//!
//! `ingest_load [--batches N] [--concurrency C] [--events E] [--people P] [--realistic 1]
//! [--against-seed ROUNDS] [--analytics-ab ROUNDS]`
//!
//! - `--realistic 1`: the mix a real sender sees (see [`realistic_event`]): people known to the
//!   log beforehand, a custom argument naming each one's contact, every event distinct, the
//!   processed → delivered → open lifecycle, some bounces and some unknown addresses.
//! - `--analytics-ab ROUNDS`: the same batches, alternately, with the analytics rollup folding
//!   in the background every second and with it folding only on demand (never, here), ROUNDS
//!   times each: what keeping the channel report's pre-aggregates current costs ingest.
//! - `--against-seed ROUNDS`: the same batches, alternately, to Switchboard and to the seeds'
//!   webhook handler (`bench/seed-handler`: Express + better-sqlite3, one SELECT and one INSERT
//!   per event, no signature check), ROUNDS times each, then the physical floor (the same log
//!   rows inserted by a tight SQLite loop in one transaction, `bench/sqlite_floor.py`). Every
//!   ratio comes from one run.
//!
//! With `BENCH_SERVER_LOG=<filter>` in the environment the server logs at that filter (for
//! example `info,sqlx::query=debug`: every statement with its time) and its log is kept as
//! `target/ingest_load-server.log`, for `bench/statement_profile.py`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_e2e::api::Api;
use switchboard_e2e::bench::{
    Usage, keep_server_log, numeric_flags, on_one_thread, with_server_log,
};
use switchboard_e2e::server::{Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::{sendgrid_event, sendgrid_plugin};

/// One signed delivery: its headers and body.
type SignedBatch = (Vec<(String, String)>, Vec<u8>);

struct Options {
    batches: usize,
    concurrency: usize,
    events: usize,
    people: usize,
    realistic: bool,
    against_seed: usize,
    analytics_ab: usize,
}

/// What one run measured.
struct Figures {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The server process's CPU time over the run.
    cpu: Duration,
    /// Bytes the server process wrote and read through system calls over the run (its database
    /// files, the write-ahead log, sockets).
    written: u64,
    read: u64,
}

fn main() -> Result<(), String> {
    let flags = numeric_flags(&[
        "batches",
        "concurrency",
        "events",
        "people",
        "realistic",
        "against-seed",
        "analytics-ab",
    ])?;
    let flag = |name, default: usize| flags.get(name).map_or(default, |v| *v as usize);
    let realistic = flag("realistic", 0) != 0;
    on_one_thread(run(Options {
        batches: flag("batches", 2_000),
        concurrency: flag("concurrency", 16).max(1),
        events: flag("events", 50).max(1),
        people: flag("people", if realistic { 5_000 } else { 2_000 }).max(1),
        realistic,
        against_seed: flag("against-seed", 0),
        analytics_ab: flag("analytics-ab", 0),
    }))
}

async fn run(options: Options) -> Result<(), String> {
    println!(
        "{} batches of {} events, {} concurrent clients, {} people, {} mix",
        options.batches,
        options.events,
        options.concurrency,
        options.people,
        if options.realistic {
            "realistic"
        } else {
            "lifecycle"
        }
    );
    if options.analytics_ab > 0 {
        return analytics_ab(&options).await;
    }
    if options.against_seed == 0 {
        let (figures, _) = switchboard_round(&options, None).await?;
        report("switchboard", &figures);
        return Ok(());
    }
    let mut ours = Vec::new();
    let mut seeds = Vec::new();
    let mut database = None;
    for round in 1..=options.against_seed {
        let (figures, db) = switchboard_round(&options, None).await?;
        report(&format!("switchboard, round {round}"), &figures);
        ours.push(figures);
        database = Some(db);
        let figures = seed_round(&options).await?;
        report(&format!("seed design, round {round}"), &figures);
        seeds.push(figures);
    }
    compare(&ours, &seeds);
    if let Some((_dir, path)) = &database {
        floor(path, &ours)?;
    }
    Ok(())
}

/// Alternating runs with the analytics rollup folding every second and not at all.
async fn analytics_ab(options: &Options) -> Result<(), String> {
    let mut folding = Vec::new();
    let mut not = Vec::new();
    for round in 1..=options.analytics_ab {
        let (figures, _) = switchboard_round(options, Some(0)).await?;
        report(
            &format!("rollup folded on demand only, round {round}"),
            &figures,
        );
        not.push(figures);
        let (figures, _) = switchboard_round(options, Some(1_000)).await?;
        report(
            &format!("rollup folded every second, round {round}"),
            &figures,
        );
        folding.push(figures);
    }
    for (round, (a, b)) in folding.iter().zip(&not).enumerate() {
        let rate = |f: &Figures| f.events as f64 / f.elapsed.as_secs_f64();
        let cpu = |f: &Figures| f.cpu.as_secs_f64() / f.events as f64;
        println!(
            "round {}: folding / not folding: {:.3}× events/s, {:.3}× CPU per event",
            round + 1,
            rate(a) / rate(b),
            cpu(a) / cpu(b),
        );
    }
    Ok(())
}

/// One run against Switchboard on a fresh database (with the analytics rollup folding every
/// `fold_ms`, when given); returns its figures and its database (kept for the floor).
async fn switchboard_round(
    options: &Options,
    fold_ms: Option<u64>,
) -> Result<(Figures, (Setup, PathBuf)), String> {
    let key = SendGridKey::fixed();
    let mut setup = Setup::new(&[sendgrid_plugin(&key)]);
    if let Some(ms) = fold_ms {
        setup = setup.env("SWITCHBOARD_ANALYTICS_FOLD_MS", &ms.to_string());
    }
    let setup = with_server_log(setup);
    let server = setup.start();
    let contacts = if options.realistic {
        let token = setup.key("loader", &["staff"]);
        create_contacts(&Api::new(&server, &token), options.people).await?
    } else {
        Vec::new()
    };
    let batches = Arc::new(signed_batches(&key, options, &contacts));
    let url = server.url("/webhooks/email-sendgrid");
    let figures = measure(server.pid(), || {
        drive(url, batches.clone(), options.concurrency)
    })
    .await?;
    let logged = setup.db().await.interaction_count().await;
    if logged != figures.events as i64 {
        return Err(format!(
            "the log holds {logged} rows, expected {}",
            figures.events
        ));
    }
    keep_server_log(&server, "ingest_load")?;
    drop(server);
    let path = setup.database_path();
    Ok((figures, (setup, path)))
}

/// A child process started here, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One run against the seeds' handler on a fresh database, with the same people.
async fn seed_round(options: &Options) -> Result<Figures, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let handler = switchboard_e2e::repo_root().join("bench/seed-handler");
    let installed = Command::new("bash")
        .arg(handler.join("install.sh"))
        .current_dir(&handler)
        .status()
        .map_err(|e| format!("cannot run bench/seed-handler/install.sh: {e}"))?;
    if !installed.success() {
        return Err("bench/seed-handler/install.sh failed".into());
    }
    let port = free_port()?;
    let database = dir.path().join("seed.db");
    let mut child = Command::new("node")
        .arg(handler.join("server.js"))
        .env("PORT", port.to_string())
        .env("SEED_DB", &database)
        .env("SEED_CONTACTS", options.people.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start node: {e}"))?;
    let stdout = child.stdout.take().ok_or("node's stdout")?;
    let pid = child.id();
    let _running = Running(child);
    wait_for_line(stdout, "listening on")?;
    // The seed design reads the same batches; the contact ids in them are Switchboard's, which
    // it ignores, as the seed's handler does.
    let contacts: Vec<i64> = (1..=options.people as i64).collect();
    let key = SendGridKey::fixed();
    let batches = Arc::new(signed_batches(&key, options, &contacts));
    let url = format!("http://127.0.0.1:{port}/webhooks/sendgrid");
    let figures = measure(pid, || drive(url, batches.clone(), options.concurrency)).await?;
    let logged = count_rows(&database, "interaction_log")?;
    let expected = seed_would_log(&batches);
    if logged != expected {
        return Err(format!(
            "the seed design logged {logged} rows, expected {expected}"
        ));
    }
    Ok(figures)
}

/// How many rows the seed's handler writes for these batches: it logs only the event types in
/// its map (not `processed`), and only for people it knows.
fn seed_would_log(batches: &[SignedBatch]) -> i64 {
    const LOGGED: [&str; 6] = [
        "delivered",
        "open",
        "click",
        "bounce",
        "dropped",
        "spamreport",
    ];
    let mut rows = 0;
    for (_, body) in batches {
        let events: Vec<Value> = serde_json::from_slice(body).unwrap_or_default();
        rows += events
            .iter()
            .filter(|e| LOGGED.contains(&e["event"].as_str().unwrap_or_default()))
            .filter(|e| e["email"].as_str().is_some_and(|a| a.starts_with("person")))
            .count() as i64;
    }
    rows
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Reads `stdout` until a line containing `needle` (or fails when it ends first).
fn wait_for_line(stdout: impl std::io::Read + Send + 'static, needle: &str) -> Result<(), String> {
    use std::io::BufRead;
    let (sender, receiver) = std::sync::mpsc::channel();
    let needle = needle.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(&needle) {
                let _ = sender.send(());
            }
        }
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the seed handler did not start listening".to_string())
}

/// Rows of `table` in a SQLite file, counted by Python's sqlite3 (no second driver here).
fn count_rows(database: &Path, table: &str) -> Result<i64, String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(f'SELECT COUNT(*) FROM {sys.argv[2]}').fetchone()[0])",
        ])
        .arg(database)
        .arg(table)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "counting rows failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// Makes `people` contacts, each with the email the batches use; returns their ids in order.
async fn create_contacts(api: &Api<'_>, people: usize) -> Result<Vec<i64>, String> {
    let mut ids = Vec::with_capacity(people);
    for person in 0..people {
        let reply = api
            .post(
                "/api/contacts",
                &json!({ "identities": [{ "kind": "email", "value": person_email(person) }] }),
            )
            .await;
        let id = reply.json()["id"]
            .as_i64()
            .ok_or_else(|| format!("creating contact {person}: {}", reply.text()))?;
        ids.push(id);
    }
    Ok(ids)
}

fn person_email(person: usize) -> String {
    format!("person{person}@example.org")
}

/// Runs `work` and measures it, with the CPU time process `pid` spent meanwhile.
async fn measure<F, W>(pid: u32, work: W) -> Result<Figures, String>
where
    W: FnOnce() -> F,
    F: std::future::Future<Output = Result<(usize, Vec<Duration>), String>>,
{
    let before = Usage::of(pid)?;
    let started = Instant::now();
    let (events, latencies) = work().await?;
    let elapsed = started.elapsed();
    let used = Usage::of(pid)?.since(&before);
    Ok(Figures {
        events,
        elapsed,
        latencies,
        cpu: used.cpu,
        written: used.written,
        read: used.read,
    })
}

/// The batches, signed. `contacts[i]` is person `i`'s contact id (realistic mix only).
fn signed_batches(key: &SendGridKey, options: &Options, contacts: &[i64]) -> Vec<SignedBatch> {
    let now_secs = switchboard_e2e::now_ms() / 1000;
    (0..options.batches)
        .map(|batch| {
            let events: Vec<Value> = (0..options.events)
                .map(|i| {
                    let n = batch * options.events + i;
                    if options.realistic {
                        realistic_event(n, options.people, contacts, now_secs)
                    } else {
                        lifecycle_event(n, options.people, now_secs)
                    }
                })
                .collect();
            let body = serde_json::to_vec(&events).expect("serialize the batch");
            let mut headers = key.headers(now_secs, &body);
            headers.push(("Content-Type".into(), "application/json".into()));
            (headers, body)
        })
        .collect()
}

/// Each batch carries the lifecycle of messages to a rotating set of people (processed,
/// delivered, open, click), so contact resolution meets both new and known people.
fn lifecycle_event(n: usize, people: usize, now_secs: i64) -> Value {
    const LIFECYCLE: [&str; 4] = ["processed", "delivered", "open", "click"];
    let message = n / LIFECYCLE.len();
    sendgrid_event(
        LIFECYCLE[n % LIFECYCLE.len()],
        &person_email(message % people),
        now_secs,
        &format!("load{message}"),
        &format!("load-event-{n}"),
    )
}

/// What a sender sees: messages to people the log knows (named by a custom argument too), each
/// processed, then delivered and opened; one message in 32 bounces instead, one in 20 goes to an
/// address nobody knows. People are spread so that a batch rarely names one twice.
fn realistic_event(n: usize, people: usize, contacts: &[i64], now_secs: i64) -> Value {
    const LIFECYCLE: [&str; 3] = ["processed", "delivered", "open"];
    let message = n / LIFECYCLE.len();
    let step = n % LIFECYCLE.len();
    // A multiplicative spread (7919 is prime, coprime with any people count below it).
    let person = message.wrapping_mul(7919) % people;
    let unknown = message % 20 == 7;
    let email = if unknown {
        format!("stranger{message}@example.net")
    } else {
        person_email(person)
    };
    let event = match (message % 32 == 5, step) {
        (true, 1) => "bounce",
        (true, 2) => "dropped",
        _ => LIFECYCLE[step],
    };
    let mut value = sendgrid_event(
        event,
        &email,
        now_secs,
        &format!("msg{message}"),
        &format!("evt-{n}"),
    );
    if let (false, Some(contact)) = (unknown, contacts.get(person)) {
        value["switchboard_contact_id"] = json!(contact.to_string());
    }
    if event == "bounce" {
        value["type"] = json!("bounce");
        value["reason"] =
            json!("550 5.1.1 The email account that you tried to reach does not exist");
    }
    value
}

/// Posts every batch, `concurrency` at a time; returns the events sent and each request's
/// latency.
async fn drive(
    url: String,
    bodies: Arc<Vec<SignedBatch>>,
    concurrency: usize,
) -> Result<(usize, Vec<Duration>), String> {
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
                    return Ok::<_, String>(latencies);
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
    let events = bodies
        .iter()
        .map(|(_, body)| {
            serde_json::from_slice::<Vec<Value>>(body)
                .map(|v| v.len())
                .unwrap_or(0)
        })
        .sum();
    Ok((events, all))
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(name: &str, figures: &Figures) {
    let mut latencies = figures.latencies.clone();
    latencies.sort();
    let seconds = figures.elapsed.as_secs_f64();
    println!(
        "{name}: {:.0} events/s over {:.2} s; server CPU {:.1} µs/event, wrote {:.0} B/event, read {:.0} B/event; latency per batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        figures.events as f64 / seconds,
        seconds,
        figures.cpu.as_secs_f64() * 1e6 / figures.events as f64,
        figures.written as f64 / figures.events as f64,
        figures.read as f64 / figures.events as f64,
        ms(quantile(&latencies, 0.50)),
        ms(quantile(&latencies, 0.99)),
        ms(quantile(&latencies, 1.0)),
    );
}

/// Switchboard against the seed design, round by round: events/s, CPU per event, p99.
fn compare(ours: &[Figures], seeds: &[Figures]) {
    for (round, (a, b)) in ours.iter().zip(seeds).enumerate() {
        let rate = |f: &Figures| f.events as f64 / f.elapsed.as_secs_f64();
        let cpu = |f: &Figures| f.cpu.as_secs_f64() / f.events as f64;
        let p99 = |f: &Figures| {
            let mut l = f.latencies.clone();
            l.sort();
            quantile(&l, 0.99)
        };
        println!(
            "round {}: Switchboard / seed design: {:.2}× events/s, {:.2}× CPU per event, p99 {:.1} ms vs {:.1} ms",
            round + 1,
            rate(a) / rate(b),
            cpu(a) / cpu(b),
            ms(p99(a)),
            ms(p99(b)),
        );
    }
}

/// The physical floor: the log's rows of the last Switchboard run, inserted again by a tight
/// loop into an empty copy of the same schema, one transaction, `synchronous = FULL`.
fn floor(database: &Path, ours: &[Figures]) -> Result<(), String> {
    let script = switchboard_e2e::repo_root().join("bench/sqlite_floor.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(database)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the floor failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let floor_us: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("the floor printed {text:?}"))?;
    let best = ours
        .iter()
        .map(|f| f.cpu.as_secs_f64() * 1e6 / f.events as f64)
        .fold(f64::INFINITY, f64::min);
    println!(
        "floor: {floor_us:.2} µs of CPU per log row (one transaction, tight loop); Switchboard's best round is {:.1}× that",
        best / floor_us
    );
    Ok(())
}
