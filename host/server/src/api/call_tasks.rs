//! The staff call queue (scope `staff`): the calls the outbox asks staff to make.

use axum::extract::State;
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::auth::Caller;
use switchboard_app::staff::call_queue::CallQueue;
use switchboard_app::staff::call_queue::{CompletedTask, TaskOutcome, TaskQuery};
use switchboard_core::clock::now_ms;
use switchboard_store::call_tasks::CallTask;

/// The calls to make, most urgent and oldest first (open and claimed unless `status` says).
#[utoipa::path(get, path = "/api/call-tasks", tag = "call queue", params(TaskQuery),
    responses((status = 200, body = Vec<CallTask>)), security(("bearer" = ["staff"])))]
pub async fn list(
    State(call_queue): State<CallQueue>,
    QueryParams(query): QueryParams<TaskQuery>,
) -> Result<Json<Vec<CallTask>>, ApiError> {
    Ok(Json(call_queue.list(&query).await?))
}

/// Take a call: it is yours until you complete it (409 if someone else has it).
#[utoipa::path(post, path = "/api/call-tasks/{id}/claim", tag = "call queue",
    params(("id" = i64, Path, description = "call task id")),
    responses((status = 200, body = CallTask)), security(("bearer" = ["staff"])))]
pub async fn claim(
    State(call_queue): State<CallQueue>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<CallTask>, ApiError> {
    Ok(Json(call_queue.claim(id, &caller, now_ms()).await?))
}

/// Log how the call went and close the task: answered or voicemail delivers the message; no
/// answer or busy moves it to its next channel.
#[utoipa::path(post, path = "/api/call-tasks/{id}/complete", tag = "call queue",
    params(("id" = i64, Path, description = "call task id")), request_body = TaskOutcome,
    responses((status = 200, body = CompletedTask)), security(("bearer" = ["staff"])))]
pub async fn complete(
    State(call_queue): State<CallQueue>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(outcome): JsonBody<TaskOutcome>,
) -> Result<Json<CompletedTask>, ApiError> {
    Ok(Json(
        call_queue.complete(id, &outcome, &caller, now_ms()).await?,
    ))
}
