//! Export and erasure of everything held about a person (scope `privacy`).

use axum::extract::State;
use axum::{Extension, Json};

use super::extract::PathParams;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::staff::privacy::{self, Erasure, Export};

/// Everything held about a person, across all channels.
#[utoipa::path(get, path = "/api/contacts/{id}/export", tag = "privacy",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Export)), security(("bearer" = ["privacy"])))]
pub async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Export>, ApiError> {
    Ok(Json(
        privacy::export(state.ingest.store(), id, &caller, now_ms()).await?,
    ))
}

/// Erase a person: their contact, identities, interactions, intents and the webhooks naming
/// them; their identifiers go on the suppression list.
#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "privacy",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Erasure)), security(("bearer" = ["privacy"])))]
pub async fn erase(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Erasure>, ApiError> {
    Ok(Json(
        privacy::erase(state.ingest.store(), id, &caller, now_ms()).await?,
    ))
}
