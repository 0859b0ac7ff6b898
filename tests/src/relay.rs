//! A vendor API as the outbox tests need it: a loopback listener in front of a Prism contract
//! mock that records every request, can answer the first ones with a rate limit, can hold each
//! request a while (so that a test can kill the server mid-send), and gives each accepted
//! SendGrid send its own `X-Message-Id` (Prism answers every send with the same example). Without
//! an upstream it answers every request itself with 202, for the dispatch benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::mailgun::{Captured, read_request, write_all};

/// What the relay does with requests.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The Prism mock to forward to; none answers 202 itself.
    pub upstream: Option<String>,
    /// Answer this many first requests with 429 and `Retry-After: retry_after_secs`.
    pub rate_limit_first: u64,
    pub retry_after_secs: u64,
    /// Hold each request this long before forwarding it.
    pub hold: Duration,
    /// Put a fresh `X-Message-Id` on each successful answer.
    pub stamp_message_ids: bool,
}

/// A request the relay took, and when.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at_ms: i64,
    pub request: Captured,
    /// The status it was answered with.
    pub status: u16,
    /// The `X-Message-Id` it was given, if any.
    pub message_id: Option<String>,
}

/// A running relay.
pub struct Relay {
    /// `http://127.0.0.1:<port>`, for `api_base`.
    pub base: String,
    /// `127.0.0.1:<port>`, for `allowed_hosts`.
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let address = listener.local_addr().expect("relay address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(AtomicU64::new(0));
        let state = Arc::new(State {
            script,
            seen: seen.clone(),
            count: arrived.clone(),
            client: reqwest::Client::new(),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(error) = state.serve(stream).await {
                        eprintln!("relay: {error}");
                    }
                });
            }
        });
        Relay {
            base: format!("http://{address}"),
            host: address.to_string(),
            seen,
            arrived,
            task,
        }
    }

    /// How many requests have arrived (answered or still held).
    pub fn arrived(&self) -> u64 {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Every request answered so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("relay record").clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
    count: Arc<AtomicU64>,
    client: reqwest::Client,
}

impl State {
    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let request = read_request(&stream).await?;
        let at_ms = crate::now_ms();
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let (status, mut headers, body) = if n <= self.script.rate_limit_first {
            let retry = self.script.retry_after_secs.to_string();
            let body = r#"{"errors":[{"message":"too many requests"}]}"#.to_string();
            (429, vec![("Retry-After".to_string(), retry)], body)
        } else {
            tokio::time::sleep(self.script.hold).await;
            self.answer(&request).await
        };
        let message_id = (self.script.stamp_message_ids && (200..300).contains(&status))
            .then(|| format!("relay{n:06}"));
        if let Some(id) = &message_id {
            headers.push(("X-Message-Id".into(), id.clone()));
        }
        self.seen.lock().expect("relay record").push(Seen {
            at_ms,
            request,
            status,
            message_id,
        });
        let mut reply = format!("HTTP/1.1 {status} Relayed\r\n");
        for (name, value) in headers {
            reply += &format!("{name}: {value}\r\n");
        }
        reply += &format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        write_all(&stream, reply.as_bytes()).await
    }

    /// Prism's answer to the request, or 202 when there is no upstream.
    async fn answer(&self, request: &Captured) -> (u16, Vec<(String, String)>, String) {
        let Some(upstream) = &self.script.upstream else {
            return (202, Vec::new(), String::new());
        };
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut forward = self.client.request(
            method,
            format!("{}{}", upstream.trim_end_matches('/'), request.path),
        );
        for (name, value) in &request.headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                forward = forward.header(name, value);
            }
        }
        match forward.body(request.body.clone()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let kept: Vec<(String, String)> = response
                    .headers()
                    .iter()
                    .filter(|(name, _)| name.as_str() == "content-type")
                    .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                    .collect();
                (status, kept, response.text().await.unwrap_or_default())
            }
            Err(error) => (502, Vec::new(), format!("relay: upstream failed: {error}")),
        }
    }
}
