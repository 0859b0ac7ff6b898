//! Analytics (scope `analyst`): what the log says about channels, providers and journeys, and
//! which channels get the credit for conversions; and recording conversions (scope `staff`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, QueryParams};
use switchboard_app::analytics::channels::{ChannelReport, ChannelsQuery};
use switchboard_app::analytics::conversions::{ConversionView, RecordConversion};
use switchboard_app::analytics::credit::{
    AttributionQuery, AttributionReport, JourneyPage, JourneyPageQuery,
};
use switchboard_app::analytics::drill::{MessagePage, MessagesQuery};
use switchboard_app::analytics::export::ExportQuery;
use switchboard_app::analytics::{Analytics, JourneyReport, JourneysQuery};
use switchboard_app::auth::Caller;
use switchboard_core::clock::now_ms;

/// Channel effectiveness: per channel and per provider, the nested funnel of the period's
/// messages (sent, delivered, engaged, responded) with 95 % Wilson intervals, failures by reason,
/// bounces, opt-outs, time to action and each channel's share of the volume; optionally broken
/// down by kind, urgency, template or day, week or month. A rate the channel or provider cannot
/// show is `no_data`, never 0 %.
#[utoipa::path(get, path = "/api/analytics/channels", tag = "analytics",
    params(ChannelsQuery),
    responses((status = 200, body = ChannelReport)), security(("bearer" = ["analyst"])))]
pub async fn channels(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<ChannelsQuery>,
) -> Result<Json<ChannelReport>, ApiError> {
    Ok(Json(analytics.channels(&query, now_ms()).await?))
}

/// Cross-channel behaviour over a period: touches before each response, channel switches (a
/// response on another channel than the message that prompted it), channels used per person;
/// and the people disengaging at its end, with the evidence.
#[utoipa::path(get, path = "/api/analytics/journeys", tag = "analytics",
    params(JourneysQuery),
    responses((status = 200, body = JourneyReport)), security(("bearer" = ["analyst"])))]
pub async fn journeys(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<JourneysQuery>,
) -> Result<Json<JourneyReport>, ApiError> {
    Ok(Json(analytics.journeys(&query, now_ms()).await?))
}

/// A goal's conversions in a period credited to channels (or plugins) by a model: first touch,
/// last touch, linear, position-based (40/20/40), time decay (half-life), Markov removal effect
/// (order 1–3, exact) or Shapley value (exact); data-driven models with a 95 % bootstrap
/// interval of each share.
#[utoipa::path(get, path = "/api/analytics/attribution", tag = "analytics",
    params(AttributionQuery),
    responses((status = 200, body = AttributionReport)), security(("bearer" = ["analyst"])))]
pub async fn attribution(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<AttributionQuery>,
) -> Result<Json<AttributionReport>, ApiError> {
    Ok(Json(analytics.attribution(&query, now_ms()).await?))
}

/// Record that a person reached a goal (enrolled, paid). The same `idempotency_key` again
/// records nothing more and answers 200 with the first conversion; a different request under a
/// used key is a 409.
#[utoipa::path(post, path = "/api/conversions", tag = "analytics",
    request_body = RecordConversion,
    responses((status = 201, body = ConversionView), (status = 200, body = ConversionView)),
    security(("bearer" = ["staff"])))]
pub async fn record_conversion(
    State(analytics): State<Analytics>,
    Extension(caller): Extension<Caller>,
    JsonBody(request): JsonBody<RecordConversion>,
) -> Result<(StatusCode, Json<ConversionView>), ApiError> {
    let (conversion, new) = analytics
        .record_conversion(&request, &caller.actor(), now_ms())
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(conversion)))
}

/// The messages behind a number of the channel report: the same period and filters, narrowed to
/// a channel and the milestone the number counts (`reached`), oldest first, a page at a time.
#[utoipa::path(get, path = "/api/analytics/channels/messages", tag = "analytics",
    params(MessagesQuery),
    responses((status = 200, body = MessagePage)), security(("bearer" = ["analyst"])))]
pub async fn messages(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<MessagesQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    Ok(Json(analytics.messages(&query, now_ms()).await?))
}

/// The log's rows of a period as CSV (RFC 4180), one row per interaction in the order they were
/// logged, streamed: the rows behind any figure, for a spreadsheet.
#[utoipa::path(get, path = "/api/analytics/interactions.csv", tag = "analytics",
    params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String)),
    security(("bearer" = ["analyst"])))]
pub async fn export(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response, ApiError> {
    let mut chunks = analytics.export(&query, now_ms())?;
    let stream = futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx));
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The journeys behind an attribution: each conversion's touches and the journeys that led to
/// none, optionally only those that touched a channel, a page at a time.
#[utoipa::path(get, path = "/api/analytics/attribution/journeys", tag = "analytics",
    params(JourneyPageQuery),
    responses((status = 200, body = JourneyPage)), security(("bearer" = ["analyst"])))]
pub async fn attribution_journeys(
    State(analytics): State<Analytics>,
    QueryParams(query): QueryParams<JourneyPageQuery>,
) -> Result<Json<JourneyPage>, ApiError> {
    Ok(Json(
        analytics.attribution_journeys(&query, now_ms()).await?,
    ))
}
