//! A cap on the requests handled at once on each surface: `/webhooks/...` and `/api/...` each
//! have their own number of slots, so a flood on one does not starve the other. A request that
//! finds every slot of its surface taken is answered 503 with `Retry-After: 1` at once; nothing
//! queues, so a flood costs memory for no more than the slots.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::ApiError;
use switchboard_core::metrics::{self, Surface};

/// What a refused caller is told to wait, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// The slots of each surface.
#[derive(Debug, Clone)]
pub struct Inflight {
    webhooks: Arc<Semaphore>,
    api: Arc<Semaphore>,
}

impl Inflight {
    pub fn new(webhooks: usize, api: usize) -> Self {
        Inflight {
            webhooks: Arc::new(Semaphore::new(webhooks)),
            api: Arc::new(Semaphore::new(api)),
        }
    }

    fn slots(&self, surface: Surface) -> &Arc<Semaphore> {
        match surface {
            Surface::Webhooks => &self.webhooks,
            Surface::Api => &self.api,
        }
    }
}

/// The surface a path belongs to, if it has a limit.
fn surface(path: &str) -> Option<Surface> {
    if path.starts_with("/webhooks/") {
        Some(Surface::Webhooks)
    } else if path.starts_with("/api/") {
        Some(Surface::Api)
    } else {
        None
    }
}

/// Holds one slot of the request's surface while the request is handled, or answers 503.
pub async fn limit(State(inflight): State<Inflight>, request: Request, next: Next) -> Response {
    let Some(surface) = surface(request.uri().path()) else {
        return next.run(request).await;
    };
    let Ok(_slot) = inflight.slots(surface).clone().try_acquire_owned() else {
        metrics::overloaded(surface);
        tracing::warn!(
            surface = surface.as_str(),
            "request refused: every slot is taken"
        );
        return overloaded(surface);
    };
    let _held = metrics::inflight(surface);
    next.run(request).await
}

fn overloaded(surface: Surface) -> Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        format!(
            "the server is handling as many {} requests as it allows; try again shortly",
            surface.as_str()
        ),
    )
    .with("retry_after_secs", RETRY_AFTER_SECS)
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::middleware;
    use axum::routing::get;
    use tower::ServiceExt as _;

    /// A router whose handlers wait until `gate` has permits.
    fn app(inflight: Inflight, gate: Arc<Semaphore>) -> Router {
        let wait = move || {
            let gate = gate.clone();
            async move {
                let _pass = gate.acquire().await;
                "done"
            }
        };
        Router::new()
            .route("/webhooks/{id}", get(wait.clone()))
            .route("/api/things", get(wait))
            .route("/healthz", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(inflight, limit))
    }

    fn get_request(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    /// Waits until every slot of `slots` is taken.
    async fn until_full(slots: &Semaphore) {
        while slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_request_beyond_its_surfaces_slots_is_refused_with_retry_after() {
        let gate = Arc::new(Semaphore::new(0));
        let inflight = Inflight::new(1, 1);
        let app = app(inflight.clone(), gate.clone());
        let holding = tokio::spawn(app.clone().oneshot(get_request("/webhooks/a")));
        until_full(&inflight.webhooks).await;

        let refused = app
            .clone()
            .oneshot(get_request("/webhooks/b"))
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(refused.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
        assert_eq!(body["error"]["retry_after_secs"], 1);
        // A path without a limit is not affected.
        let health = app.clone().oneshot(get_request("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);

        gate.add_permits(1);
        assert_eq!(holding.await.unwrap().unwrap().status(), StatusCode::OK);
        // The slot is free again.
        gate.add_permits(1);
        let again = app.oneshot(get_request("/webhooks/c")).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_full_webhook_surface_leaves_the_api_its_own_slots() {
        let gate = Arc::new(Semaphore::new(0));
        let inflight = Inflight::new(1, 1);
        let app = app(inflight.clone(), gate.clone());
        let holding = tokio::spawn(app.clone().oneshot(get_request("/webhooks/a")));
        until_full(&inflight.webhooks).await;
        let api = tokio::spawn(app.clone().oneshot(get_request("/api/things")));
        until_full(&inflight.api).await;
        gate.add_permits(2);
        assert_eq!(holding.await.unwrap().unwrap().status(), StatusCode::OK);
        assert_eq!(api.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    #[test]
    fn paths_map_to_their_surface() {
        assert_eq!(surface("/webhooks/email-sendgrid"), Some(Surface::Webhooks));
        assert_eq!(surface("/api/contacts/1"), Some(Surface::Api));
        assert_eq!(surface("/healthz"), None);
        assert_eq!(surface("/metrics"), None);
        assert_eq!(surface("/apix"), None);
    }
}
