//! Signed SendGrid traffic from several concurrent clients at a server that may die mid-stream,
//! for the fault tests: every batch carries events with their own `sg_event_id`, each delivery
//! is signed as it is sent (as SendGrid does), and what each one got back is recorded, so that
//! afterwards the log can be held to what the server acknowledged.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::server::client;
use crate::sign::SendGridKey;
use crate::vendors::sendgrid_event;

/// One Event Webhook delivery: its events' ids and its body (signed when sent).
#[derive(Debug, Clone)]
pub struct Batch {
    pub index: usize,
    pub event_ids: Vec<String>,
    pub body: Vec<u8>,
}

impl Batch {
    /// Batch `index` of `events` events about a rotating set of `people`, ids unique across
    /// batches.
    pub fn new(index: usize, events: usize, people: usize) -> Self {
        const LIFECYCLE: [&str; 4] = ["processed", "delivered", "open", "click"];
        let now_secs = crate::now_ms() / 1000;
        let events: Vec<Value> = (0..events)
            .map(|i| {
                let n = index * events + i;
                sendgrid_event(
                    LIFECYCLE[n % LIFECYCLE.len()],
                    &format!("person{}@example.org", n % people.max(1)),
                    now_secs,
                    &format!("fault{index}"),
                    &format!("fault-{index}-{i}"),
                )
            })
            .collect();
        Batch {
            index,
            event_ids: events
                .iter()
                .map(|e| e["sg_event_id"].as_str().unwrap_or_default().to_string())
                .collect(),
            body: serde_json::to_vec(&events).expect("serialize the batch"),
        }
    }
}

/// What one delivery got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 2xx: the server promised the batch is stored.
    Acknowledged,
    /// Another status, with the body.
    Refused { status: u16, body: String },
    /// No answer: the connection broke or was refused (the server died). The batch may or may
    /// not have been stored; a vendor would send it again.
    Lost,
}

/// The deliveries of one stream, by batch index, in the order they finished.
#[derive(Debug, Default)]
pub struct Deliveries {
    results: Mutex<Vec<(usize, Delivery)>>,
    acknowledged: AtomicUsize,
    stop: AtomicBool,
}

impl Deliveries {
    /// How many batches were acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::SeqCst)
    }

    /// Tells the clients to take no further batch.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Every delivery so far.
    pub fn results(&self) -> Vec<(usize, Delivery)> {
        self.results.lock().expect("deliveries lock").clone()
    }

    fn record(&self, index: usize, delivery: Delivery) {
        if delivery == Delivery::Acknowledged {
            self.acknowledged.fetch_add(1, Ordering::SeqCst);
        } else if delivery == Delivery::Lost {
            // The server is gone: the other clients stop too, as a vendor's would back off.
            self.stop();
        }
        self.results
            .lock()
            .expect("deliveries lock")
            .push((index, delivery));
    }
}

/// Posts `batches` to `url` (`…/webhooks/email-sendgrid`) from `clients` concurrent clients, each
/// signing with the tests' fixed key, until every batch was sent, [`Deliveries::stop`] was called
/// or a delivery was lost. Returns when every client has finished.
pub async fn stream(
    url: String,
    batches: Arc<Vec<Batch>>,
    clients: usize,
    deliveries: Arc<Deliveries>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let http = client();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (url, http, next, batches, deliveries) = (
            url.clone(),
            http.clone(),
            next.clone(),
            batches.clone(),
            deliveries.clone(),
        );
        workers.spawn(async move {
            let key = SendGridKey::fixed();
            while !deliveries.stop.load(Ordering::SeqCst) {
                let Some(batch) = batches.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    return;
                };
                let delivery = deliver(&http, &url, &key, &batch.body).await;
                deliveries.record(batch.index, delivery);
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.expect("a client task panicked");
    }
}

/// Signs `body` now and posts it once.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    key: &SendGridKey,
    body: &[u8],
) -> Delivery {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in key.headers(crate::now_ms() / 1000, body) {
        request = request.header(name, value);
    }
    let Ok(response) = request.send().await else {
        return Delivery::Lost;
    };
    let status = response.status();
    let Ok(reply) = response.bytes().await else {
        return Delivery::Lost;
    };
    if status.is_success() {
        Delivery::Acknowledged
    } else {
        Delivery::Refused {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&reply).into_owned(),
        }
    }
}
