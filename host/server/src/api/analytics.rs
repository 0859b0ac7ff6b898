//! Analytics (scope `analyst`): what the log says about channels and providers.

use axum::Json;
use axum::extract::State;

use super::ApiError;
use super::extract::QueryParams;
use switchboard_app::analytics::channels::{ChannelReport, ChannelsQuery};
use switchboard_app::analytics::{Analytics, JourneyReport, JourneysQuery};
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
