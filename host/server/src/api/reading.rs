//! Reading a person's history (scope `staff`): the timeline, the context for a call, and who a
//! caller is.

use axum::Json;
use axum::extract::State;

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::staff::context::ContactContext;
use switchboard_app::staff::context::Context;
use switchboard_app::staff::identify::Identify;
use switchboard_app::staff::identify::{IdentifyRequest, IdentifyResponse};
use switchboard_app::staff::timeline::Timeline;
use switchboard_app::staff::timeline::{TimelinePage, TimelineQuery};
use switchboard_core::clock::now_ms;

/// A contact's interactions on every channel, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/contacts/{id}/timeline", tag = "history",
    params(("id" = i64, Path, description = "contact id"), TimelineQuery),
    responses((status = 200, body = TimelinePage)), security(("bearer" = ["staff"])))]
pub async fn timeline(
    State(timeline): State<Timeline>,
    PathParams(id): PathParams<i64>,
    QueryParams(query): QueryParams<TimelineQuery>,
) -> Result<Json<TimelinePage>, ApiError> {
    Ok(Json(timeline.page(id, &query).await?))
}

/// Identity, open intents, recent interactions and channel summary, for the start of a call.
#[utoipa::path(get, path = "/api/contacts/{id}/context", tag = "history",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = ContactContext)), security(("bearer" = ["staff"])))]
pub async fn context(
    State(context): State<Context>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<ContactContext>, ApiError> {
    Ok(Json(context.of(id, now_ms()).await?))
}

/// Who is this? The best contact for the hints, with a confidence and its reasons.
#[utoipa::path(post, path = "/api/identify", tag = "history", request_body = IdentifyRequest,
    responses((status = 200, body = IdentifyResponse)), security(("bearer" = ["staff"])))]
pub async fn identify(
    State(identify): State<Identify>,
    JsonBody(request): JsonBody<IdentifyRequest>,
) -> Result<Json<IdentifyResponse>, ApiError> {
    Ok(Json(identify.who(&request).await?))
}
