//! Preferences, consent and channel selection: a contact's learned and stated preferences and
//! consent ledger (scope `staff`), choosing a channel for a message (scope `sender`), and the
//! population's priors (scope `analyst`).

use axum::extract::State;
use std::time::Instant;

use axum::http::{HeaderName, StatusCode};
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::auth::Caller;
use switchboard_app::prefs::Consent;
use switchboard_app::prefs::Engine;
use switchboard_app::prefs::Stated;
use switchboard_app::prefs::rates::Priors;
use switchboard_app::prefs::{
    ConsentChange, ContactPreferences, PreferencesQuery, SelectRequest, Selection, StatePreferences,
};
use switchboard_app::service_error::ServiceError;
use switchboard_app::staff::contacts::Contacts;
use switchboard_core::clock::now_ms;
use switchboard_store::consent::ConsentEntry;
use switchboard_store::contacts::Identity;
use switchboard_store::preferences::StatedPreferences;

/// What a contact's history says about how to reach them: rates raw and smoothed, activity per
/// channel, portal habit, best time, stated preferences and current consent.
#[utoipa::path(get, path = "/api/contacts/{id}/preferences", tag = "preferences",
    params(("id" = i64, Path, description = "contact id"), PreferencesQuery),
    responses((status = 200, body = ContactPreferences)), security(("bearer" = ["staff"])))]
pub async fn get(
    State(engine): State<Engine>,
    PathParams(id): PathParams<i64>,
    QueryParams(query): QueryParams<PreferencesQuery>,
) -> Result<Json<ContactPreferences>, ApiError> {
    Ok(Json(engine.preferences(id, &query, now_ms()).await?))
}

/// Record what the contact said: preferred channels in order, and their own quiet hours.
#[utoipa::path(put, path = "/api/contacts/{id}/preferences", tag = "preferences",
    params(("id" = i64, Path, description = "contact id")), request_body = StatePreferences,
    responses((status = 200, body = StatedPreferences)), security(("bearer" = ["staff"])))]
pub async fn state(
    State(stated): State<Stated>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(preferences): JsonBody<StatePreferences>,
) -> Result<Json<StatedPreferences>, ApiError> {
    Ok(Json(
        stated
            .replace(id, &preferences, &caller.actor(), now_ms())
            .await?,
    ))
}

/// The contact's consent ledger, oldest first, each entry with its source and evidence.
#[utoipa::path(get, path = "/api/contacts/{id}/consent", tag = "preferences",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Vec<ConsentEntry>)), security(("bearer" = ["staff"])))]
pub async fn consent_ledger(
    State(consent): State<Consent>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Vec<ConsentEntry>>, ApiError> {
    Ok(Json(consent.ledger(id).await?))
}

/// Record an opt-in or opt-out the person gave staff or the portal's preference centre.
#[utoipa::path(post, path = "/api/contacts/{id}/consent", tag = "preferences",
    params(("id" = i64, Path, description = "contact id")), request_body = ConsentChange,
    responses((status = 201, body = ConsentEntry)), security(("bearer" = ["staff"])))]
pub async fn record_consent(
    State(consent): State<Consent>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(change): JsonBody<ConsentChange>,
) -> Result<(StatusCode, Json<ConsentEntry>), ApiError> {
    let entry = consent
        .record(id, &change, &caller.actor(), now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Mark an identity that bounced as working again (staff confirmed it with the person).
#[utoipa::path(post, path = "/api/contacts/{id}/identities/{identity_id}/reverify",
    tag = "preferences",
    params(("id" = i64, Path, description = "contact id"),
           ("identity_id" = i64, Path, description = "identity id")),
    responses((status = 200, body = Identity)), security(("bearer" = ["staff"])))]
pub async fn reverify(
    State(contacts): State<Contacts>,
    Extension(caller): Extension<Caller>,
    PathParams((id, identity_id)): PathParams<(i64, i64)>,
) -> Result<Json<Identity>, ApiError> {
    Ok(Json(
        contacts
            .reverify(id, identity_id, &caller, now_ms())
            .await?,
    ))
}

/// Rank the channels for a message to a contact, each with a score and the reason, and decide:
/// send now, defer to the end of quiet hours, or no channel reaches them.
#[utoipa::path(post, path = "/api/select", tag = "preferences", request_body = SelectRequest,
    responses((status = 200, body = Selection)), security(("bearer" = ["sender"])))]
pub async fn select(
    State(engine): State<Engine>,
    JsonBody(request): JsonBody<SelectRequest>,
) -> Result<([(HeaderName, String); 1], Json<Selection>), ApiError> {
    let started = Instant::now();
    let selection = engine.select(&request, now_ms()).await?;
    // The engine's own time, apart from HTTP and JSON: what the selection benchmark reports.
    let timing = format!("select;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
    Ok(([(SERVER_TIMING, timing)], Json(selection)))
}

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The population's prior per rate, as last fitted.
#[utoipa::path(get, path = "/api/preferences/priors", tag = "preferences",
    responses((status = 200, body = Priors)), security(("bearer" = ["analyst"])))]
pub async fn priors(State(engine): State<Engine>) -> Json<Priors> {
    Json(Priors::clone(&engine.priors()))
}

/// Fit the priors to the population now, rather than at the next scheduled refit.
#[utoipa::path(post, path = "/api/preferences/priors/refit", tag = "preferences",
    responses((status = 200, body = Priors)), security(("bearer" = ["analyst"])))]
pub async fn refit(State(engine): State<Engine>) -> Result<Json<Priors>, ApiError> {
    let priors = engine.refit(now_ms()).await.map_err(ServiceError::from)?;
    Ok(Json(Priors::clone(&priors)))
}
