//! Serving the router on a socket, with the limits that keep slow and greedy clients from pinning
//! memory: a cap on open connections, a deadline for each request's headers, and a bound on the
//! header buffer. Shuts down gracefully: on the signal it stops accepting, lets the requests in
//! flight finish, and returns once every connection has closed.
//!
//! Beyond the connection cap, new connections are not accepted until one closes: they wait in
//! the kernel's listen backlog (and are refused by it once that is full), so a flood costs the
//! server nothing. The header deadline bounds how long a connection can hold a place without
//! sending a request; it also closes a kept-alive connection that stays idle that long.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use switchboard_core::metrics;

/// The most a request's head (request line and headers) may take in memory: ample for any
/// vendor's webhook, a sixth of hyper's default, so a thousand connections with full header
/// buffers stay under 64 MiB.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long to wait before accepting again after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ListenSettings {
    /// Connections open at once.
    pub max_connections: usize,
    /// The time a request's headers may take to arrive, from the connection's start or the end
    /// of its previous response.
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains: every open connection
/// finishes the request it is on and closes, and this returns when the last one has.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ListenSettings,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _open = metrics::connection_opened();
            if let Err(error) = connection.await {
                if error.is_timeout() {
                    metrics::header_timeout();
                    tracing::debug!(%peer, "connection closed: headers did not arrive in time");
                } else {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            }
            drop(slot);
        });
    }
    // Stop accepting: new connections are refused from here on.
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "stopping: finishing the requests in flight"
    );
    graceful.shutdown().await;
}

/// A failed accept: a connection that went away before it was taken is nothing; anything else
/// (out of file descriptors, say) is logged and waited out, not spun on.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in a second");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}
