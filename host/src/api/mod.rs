//! The HTTP surface. Handlers are thin: they translate HTTP to calls on [`Ingest`] and back.
//!
//! - `POST /webhooks/{plugin_id}`: a vendor's webhook, authenticated by the vendor's signature.
//! - `GET /healthz`: liveness.

mod error;
mod health;
mod webhooks;

use axum::Router;
use axum::routing::{any, get};

pub use error::ApiError;

use crate::ingest::Ingest;

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Ingest,
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/{plugin_id}", any(webhooks::receive))
        .route("/healthz", get(health::healthz))
        .with_state(state)
}
