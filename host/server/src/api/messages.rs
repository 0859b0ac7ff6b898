//! Sending (scope `sender`): accept a message for a contact, and follow it through its attempts.

use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, PathParams};
use switchboard_app::auth::Caller;
use switchboard_app::send::accept::Outbox;
use switchboard_app::send::accept::{Accepted, MessageRequest};
use switchboard_core::clock::now_ms;
use switchboard_store::outbox::MessageView;

/// Set on the answer to a request that repeats an earlier one's idempotency key.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Send a message to a contact: selection orders the channels it has content for, the outbox
/// sends it with retries and falls back channel by channel. The same `idempotency_key` never
/// makes a second message: a repeat gets the first answer (with `Idempotent-Replayed: true`), a
/// different request under the same key is a conflict.
#[utoipa::path(post, path = "/api/messages", tag = "sending", request_body = MessageRequest,
    responses((status = 202, body = Accepted)), security(("bearer" = ["sender"])))]
pub async fn send(
    State(outbox): State<Outbox>,
    Extension(caller): Extension<Caller>,
    JsonBody(request): JsonBody<MessageRequest>,
) -> Result<(StatusCode, [(HeaderName, &'static str); 1], Json<Accepted>), ApiError> {
    let answer = outbox.accept(&request, &caller, now_ms()).await?;
    let replayed = if answer.replayed { "true" } else { "false" };
    Ok((
        StatusCode::ACCEPTED,
        [(REPLAYED, replayed)],
        Json(answer.accepted),
    ))
}

/// A message: its status, every attempt (channel, carrier, vendor id, status, reason) and its
/// history.
#[utoipa::path(get, path = "/api/messages/{id}", tag = "sending",
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, body = MessageView)), security(("bearer" = ["sender"])))]
pub async fn get(
    State(outbox): State<Outbox>,
    PathParams(id): PathParams<String>,
) -> Result<Json<MessageView>, ApiError> {
    Ok(Json(outbox.message(&id).await?))
}
