//! Crash safety of ingestion: several clients stream signed SendGrid batches, the server is
//! killed with SIGKILL mid-stream and started again on the same database, round after round.
//! After every kill: each batch the server acknowledged is in the log, each of its events exactly
//! once; a batch in flight at the kill is there whole or not at all; no interaction lacks its raw
//! webhook, and no processed raw webhook lacks its interactions (it accounts for every event of
//! its body as an interaction or a duplicate). At the end the vendor's retries of every
//! unacknowledged batch complete the log without adding anything twice: rows lost = 0.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_e2e::db::Db;
use switchboard_e2e::load::{Batch, Deliveries, Delivery, deliver, stream};
use switchboard_e2e::server::{Setup, client};
use switchboard_e2e::sign::SendGridKey;
use switchboard_e2e::vendors::sendgrid_plugin;

/// Kills per run.
const ROUNDS: usize = 10;
const CLIENTS: usize = 6;
const EVENTS_PER_BATCH: usize = 10;
const PEOPLE: usize = 40;
/// More than a round can send before its kill: the rest are never sent.
const BATCHES_PER_ROUND: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_ingest_load_loses_no_acknowledged_webhook_and_leaves_nothing_half_written() {
    let started = Instant::now();
    let setup = Setup::new(&[sendgrid_plugin(&SendGridKey::fixed())]);
    let mut ledger = Ledger::default();

    for round in 0..ROUNDS {
        let mut server = setup.start();
        let batches: Arc<Vec<Batch>> = Arc::new(
            (0..BATCHES_PER_ROUND)
                .map(|i| Batch::new(round * BATCHES_PER_ROUND + i, EVENTS_PER_BATCH, PEOPLE))
                .collect(),
        );
        let deliveries = Arc::new(Deliveries::default());
        let streaming = tokio::spawn(stream(
            server.url("/webhooks/email-sendgrid"),
            batches.clone(),
            CLIENTS,
            deliveries.clone(),
        ));
        // Kill at a different point of each round, with every client mid-request.
        let kill_after = 20 + 20 * round;
        let deadline = Instant::now() + Duration::from_secs(30);
        while deliveries.acknowledged() < kill_after {
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} batches acknowledged in 30 s: {:?}",
                deliveries.acknowledged(),
                deliveries.results().last()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        streaming.await.expect("the clients finish");
        ledger.add(&batches, deliveries.results());

        // What the restarted server will find.
        ledger.check(&setup.db().await, round).await;
    }

    // The vendor retries everything it never heard a 2xx for.
    let server = setup.start();
    let key = SendGridKey::fixed();
    let http = client();
    let url = server.url("/webhooks/email-sendgrid");
    let unacknowledged = ledger.unacknowledged();
    for index in &unacknowledged {
        let delivery = deliver(&http, &url, &key, &ledger.batches[index].body).await;
        assert_eq!(delivery, Delivery::Acknowledged, "retry of batch {index}");
        ledger.outcome.insert(*index, Delivery::Acknowledged);
    }
    let db = setup.db().await;
    let after_retries = ledger.check(&db, ROUNDS).await;
    let expected_events = ledger.batches.len() * EVENTS_PER_BATCH;
    assert_eq!(
        db.interaction_count().await,
        expected_events as i64,
        "rows lost or added"
    );

    let lost_in_flight = ledger.lost_at_kills;
    println!(
        "faults_kill: {ROUNDS} kills survived in {:.1} s; {} batches ({} events) sent, {} acknowledged \
         before a kill, {} without an answer at a kill ({} of them had been committed: their retry \
         added {} duplicates and nothing else); rows lost: 0",
        started.elapsed().as_secs_f64(),
        ledger.batches.len(),
        expected_events,
        ledger.batches.len() - unacknowledged.len(),
        lost_in_flight,
        after_retries.committed_unacknowledged,
        after_retries.duplicates,
    );
    assert!(
        lost_in_flight > 0,
        "no kill landed while a request was in flight"
    );
}

/// Every batch sent and what its delivery got back.
#[derive(Default)]
struct Ledger {
    batches: HashMap<usize, Batch>,
    outcome: HashMap<usize, Delivery>,
    lost_at_kills: usize,
}

/// What a check counted.
struct Counted {
    /// Batches committed although their sender heard nothing (the kill fell between commit and
    /// answer).
    committed_unacknowledged: usize,
    /// Events that raw webhooks counted as already logged (vendor retries).
    duplicates: i64,
}

impl Ledger {
    fn add(&mut self, batches: &[Batch], results: Vec<(usize, Delivery)>) {
        let by_index: HashMap<usize, &Batch> = batches.iter().map(|b| (b.index, b)).collect();
        for (index, delivery) in results {
            if let Delivery::Refused { status, body } = &delivery {
                panic!("batch {index} was refused: {status} {body}");
            }
            if delivery == Delivery::Lost {
                self.lost_at_kills += 1;
            }
            self.batches.insert(index, by_index[&index].clone());
            self.outcome.insert(index, delivery);
        }
    }

    fn unacknowledged(&self) -> Vec<usize> {
        let mut indices: Vec<usize> = self
            .outcome
            .iter()
            .filter(|(_, d)| **d != Delivery::Acknowledged)
            .map(|(i, _)| *i)
            .collect();
        indices.sort();
        indices
    }

    /// Holds the database to the deliveries; `round` names the moment in failure messages.
    async fn check(&self, db: &Db, round: usize) -> Counted {
        let interactions = db.interactions().await;
        let raws = db.raw_webhooks().await;

        // Each event at most once, each linked to a raw webhook that holds it.
        let raw_by_id: HashMap<i64, _> = raws.iter().map(|r| (r.id, r)).collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut linked: HashMap<i64, i64> = HashMap::new();
        for row in &interactions {
            let event = row.vendor_event_id.clone().unwrap_or_default();
            assert!(
                seen.insert(event.clone()),
                "round {round}: {event} logged twice"
            );
            let raw = row
                .raw_webhook_id
                .and_then(|id| raw_by_id.get(&id))
                .unwrap_or_else(|| panic!("round {round}: {event} has no raw webhook"));
            let body = String::from_utf8_lossy(&raw.body);
            assert!(
                body.contains(&format!("\"sg_event_id\":\"{event}\"")),
                "round {round}: {event} links raw webhook {} which does not hold it",
                raw.id
            );
            *linked.entry(raw.id).or_default() += 1;
        }

        // Each raw webhook processed, accounting for every event of its body.
        let mut duplicates = 0;
        for raw in &raws {
            assert_eq!(raw.status, "processed", "round {round}: {raw:?}");
            let events = serde_json::from_slice::<Vec<serde_json::Value>>(&raw.body)
                .expect("a stored batch is a JSON array")
                .len() as i64;
            let own = linked.get(&raw.id).copied().unwrap_or(0);
            assert_eq!(
                raw.interactions, own,
                "round {round}: raw webhook {} counts {} interactions, {own} link it",
                raw.id, raw.interactions
            );
            assert_eq!(
                raw.interactions + raw.duplicates,
                events,
                "round {round}: raw webhook {} does not account for its {events} events",
                raw.id
            );
            duplicates += raw.duplicates;
        }

        // Acknowledged batches whole; the others whole or absent.
        let mut committed_unacknowledged = 0;
        for (index, batch) in &self.batches {
            let present = batch.event_ids.iter().filter(|e| seen.contains(*e)).count();
            match self.outcome[index] {
                Delivery::Acknowledged => assert_eq!(
                    present,
                    batch.event_ids.len(),
                    "round {round}: acknowledged batch {index} lost events"
                ),
                _ => {
                    assert!(
                        present == 0 || present == batch.event_ids.len(),
                        "round {round}: batch {index} is half-written ({present} of {})",
                        batch.event_ids.len()
                    );
                    committed_unacknowledged += usize::from(present > 0);
                }
            }
        }
        // A retry of a committed batch finds all its events logged: they count as duplicates.
        committed_unacknowledged += (duplicates as usize) / EVENTS_PER_BATCH;
        Counted {
            committed_unacknowledged,
            duplicates,
        }
    }
}
