//! Export and erasure of everything held about a person (scope `privacy`).

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::ApiError;
use super::extract::PathParams;
use switchboard_app::auth::Caller;
use switchboard_app::staff::privacy::Privacy;
use switchboard_app::staff::privacy::{Erasure, Export};
use switchboard_core::clock::now_ms;

/// Everything held about a person, across all channels, streamed as one JSON document. Stored
/// webhooks are cut to the person's own events.
#[utoipa::path(get, path = "/api/contacts/{id}/export", tag = "privacy",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Export)), security(("bearer" = ["privacy"])))]
pub async fn export(
    State(privacy): State<Privacy>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Response, ApiError> {
    let mut chunks = privacy.export(id, &caller, now_ms()).await?;
    let stream = futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Erase a person: their contact, identities, interactions, intents and the webhooks naming
/// them; their identifiers go on the suppression list.
#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "privacy",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Erasure)), security(("bearer" = ["privacy"])))]
pub async fn erase(
    State(privacy): State<Privacy>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Erasure>, ApiError> {
    Ok(Json(privacy.erase(id, &caller, now_ms()).await?))
}
