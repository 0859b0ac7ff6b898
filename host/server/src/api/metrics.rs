//! `GET /metrics`: the Prometheus exposition of [`switchboard_core::metrics`], for a key with the `metrics`
//! or the `admin` scope (or without a key on the separate `--metrics-listen` address); and the
//! count of every request answered, by route template and status.

use std::time::Duration;

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use switchboard_app::auth::Caller;
use switchboard_core::domain::Scope;
use switchboard_core::metrics::{self, Scraped};

/// How long the outbox count may take before a scrape goes without it.
const OUTBOX_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /metrics` on the main address: any live key (checked before) holding `metrics` or `admin`.
pub async fn scrape(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    if !allowed(&caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route needs a key with the `metrics` or the `admin` scope",
        )
        .with("required_scope", Scope::Metrics.as_str()));
    }
    Ok(exposition(&state).await)
}

/// A dedicated `metrics` key is the least a scraper needs; an admin key sees more than this
/// already.
fn allowed(caller: &Caller) -> bool {
    caller.scopes.contains(&Scope::Metrics) || caller.scopes.contains(&Scope::Admin)
}

/// The exposition, with the gauges read now.
pub async fn exposition(state: &AppState) -> Response {
    let outbox =
        match tokio::time::timeout(OUTBOX_QUERY_TIMEOUT, state.operations.outbox_depth()).await {
            Ok(Ok(depth)) => Some(
                depth
                    .into_iter()
                    .map(|(status, count)| (status.as_str(), count))
                    .collect(),
            ),
            Ok(Err(error)) => {
                tracing::warn!(%error, "reading the outbox depth failed");
                None
            }
            Err(_) => None,
        };
    let scraped = Scraped {
        outbox,
        committer_queued: state.ingest.committer_queued(),
        committer_alive: state.ingest.committer_alive(),
    };
    let mut response = metrics::render(&scraped).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::registry::CONTENT_TYPE),
    );
    response
}

/// Counts each answered request under its route template (`unmatched` for none), so that ids in
/// paths never become label values.
pub async fn count(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::http_request(&route, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scopes: &[Scope]) -> Caller {
        Caller {
            key_id: 1,
            key_name: "scraper".into(),
            scopes: scopes.iter().copied().collect(),
        }
    }

    #[test]
    fn a_metrics_or_admin_key_may_scrape_and_no_other() {
        assert!(allowed(&caller(&[Scope::Metrics])));
        assert!(allowed(&caller(&[Scope::Admin])));
        assert!(allowed(&caller(&[Scope::Staff, Scope::Metrics])));
        for other in [
            Scope::Staff,
            Scope::Sender,
            Scope::Analyst,
            Scope::Privacy,
            Scope::Portal,
        ] {
            assert!(!allowed(&caller(&[other])), "{other}");
        }
    }
}
