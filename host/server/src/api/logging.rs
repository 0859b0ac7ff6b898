//! Logging what happened off the vendors' channels (scope `staff`): calls, VoIP records, event
//! attendance, conversations, and intents.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::auth::Caller;
use switchboard_app::staff::intents::Intents;
use switchboard_app::staff::intents::{IntentInput, IntentPatch, IntentQuery};
use switchboard_app::staff::logging::Logging;
use switchboard_app::staff::logging::{Attendance, CallLog, Conversation, Logged, VoipBatch};
use switchboard_core::clock::now_ms;
use switchboard_store::intents::Intent;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// Log a phone call staff made or took.
#[utoipa::path(post, path = "/api/calls", tag = "logging", request_body = CallLog,
    responses((status = 201, body = Logged)), security(("bearer" = ["staff"])))]
pub async fn call(
    State(logging): State<Logging>,
    Extension(caller): Extension<Caller>,
    JsonBody(call): JsonBody<CallLog>,
) -> Created<Logged> {
    let logged = logging.log_call(&call, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(logged)))
}

/// Import a VoIP system's call records, matched to contacts by phone number.
#[utoipa::path(post, path = "/api/calls/voip", tag = "logging", request_body = VoipBatch,
    responses((status = 201, body = Logged)), security(("bearer" = ["staff"])))]
pub async fn voip(
    State(logging): State<Logging>,
    Extension(caller): Extension<Caller>,
    JsonBody(batch): JsonBody<VoipBatch>,
) -> Created<Logged> {
    let logged = logging.log_voip(&batch, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(logged)))
}

/// Record who attended an event: one interaction per attendee.
#[utoipa::path(post, path = "/api/events/attendance", tag = "logging", request_body = Attendance,
    responses((status = 201, body = Logged)), security(("bearer" = ["staff"])))]
pub async fn attendance(
    State(logging): State<Logging>,
    Extension(caller): Extension<Caller>,
    JsonBody(event): JsonBody<Attendance>,
) -> Created<Logged> {
    let logged = logging.log_attendance(&event, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(logged)))
}

/// Record an in-person conversation: a concern, feedback or a question.
#[utoipa::path(post, path = "/api/conversations", tag = "logging", request_body = Conversation,
    responses((status = 201, body = Logged)), security(("bearer" = ["staff"])))]
pub async fn conversation(
    State(logging): State<Logging>,
    Extension(caller): Extension<Caller>,
    JsonBody(talk): JsonBody<Conversation>,
) -> Created<Logged> {
    let logged = logging.log_conversation(&talk, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(logged)))
}

/// A contact's intents: open ones (default) or all.
#[utoipa::path(get, path = "/api/contacts/{id}/intents", tag = "intents", params(("id" = i64, Path, description = "contact id"), IntentQuery),
    responses((status = 200, body = Vec<Intent>)), security(("bearer" = ["staff"])))]
pub async fn list_intents(
    State(intents): State<Intents>,
    PathParams(id): PathParams<i64>,
    QueryParams(query): QueryParams<IntentQuery>,
) -> Result<Json<Vec<Intent>>, ApiError> {
    Ok(Json(intents.list(id, &query).await?))
}

/// Raise an intent for a contact (or count another attempt on the open one of that name).
#[utoipa::path(post, path = "/api/contacts/{id}/intents", tag = "intents", request_body = IntentInput,
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 201, body = Intent)), security(("bearer" = ["staff"])))]
pub async fn raise_intent(
    State(intents): State<Intents>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<IntentInput>,
) -> Created<Intent> {
    let intent = intents.raise(id, &input, &caller.actor(), now_ms()).await?;
    Ok((StatusCode::CREATED, Json(intent)))
}

/// Resolve, reopen or re-summarize an intent.
#[utoipa::path(patch, path = "/api/intents/{id}", tag = "intents", request_body = IntentPatch,
    params(("id" = i64, Path, description = "intent id")),
    responses((status = 200, body = Intent)), security(("bearer" = ["staff"])))]
pub async fn update_intent(
    State(intents): State<Intents>,
    PathParams(id): PathParams<i64>,
    JsonBody(patch): JsonBody<IntentPatch>,
) -> Result<Json<Intent>, ApiError> {
    Ok(Json(intents.update(id, &patch, now_ms()).await?))
}
