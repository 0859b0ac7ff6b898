//! What the organisation's portal app may do with its own key (scope `portal`): read a
//! contact's portal inbox, mark messages read, record preference-centre choices.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::ApiError;
use super::extract::{JsonBody, PathParams};
use switchboard_app::auth::Caller;
use switchboard_app::prefs::Consent;
use switchboard_app::prefs::ConsentChange;
use switchboard_app::staff::portal_inbox::PortalInbox;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::ConsentSource;
use switchboard_store::consent::ConsentEntry;
use switchboard_store::portal_inbox::PortalMessage;

/// A contact's portal inbox, newest first.
#[utoipa::path(get, path = "/api/portal/contacts/{id}/messages", tag = "portal",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Vec<PortalMessage>)), security(("bearer" = ["portal"])))]
pub async fn inbox(
    State(portal_inbox): State<PortalInbox>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Vec<PortalMessage>>, ApiError> {
    Ok(Json(portal_inbox.messages(id).await?))
}

/// The person opened a message: marks it read and logs it (once), which settles the message.
#[utoipa::path(post, path = "/api/portal/contacts/{id}/messages/{message_id}/read", tag = "portal",
    params(("id" = i64, Path, description = "contact id"),
           ("message_id" = String, Path, description = "message id")),
    responses((status = 200, body = PortalMessage)), security(("bearer" = ["portal"])))]
pub async fn read(
    State(portal_inbox): State<PortalInbox>,
    Extension(caller): Extension<Caller>,
    PathParams((id, message_id)): PathParams<(i64, String)>,
) -> Result<Json<PortalMessage>, ApiError> {
    Ok(Json(
        portal_inbox
            .read(id, &message_id, &caller, now_ms())
            .await?,
    ))
}

/// A choice the person made in the portal's preference centre: an opt-in or opt-out for a
/// channel, recorded with source `preference_centre` under the portal app's key.
#[utoipa::path(post, path = "/api/portal/contacts/{id}/consent", tag = "portal",
    params(("id" = i64, Path, description = "contact id")), request_body = ConsentChange,
    responses((status = 201, body = ConsentEntry)), security(("bearer" = ["portal"])))]
pub async fn record_consent(
    State(consent): State<Consent>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(change): JsonBody<ConsentChange>,
) -> Result<(StatusCode, Json<ConsentEntry>), ApiError> {
    if change
        .source
        .is_some_and(|source| source != ConsentSource::PreferenceCentre)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "source: the portal records preference_centre choices only",
        )
        .with("field", "source"));
    }
    let change = ConsentChange {
        source: Some(ConsentSource::PreferenceCentre),
        ..change
    };
    let entry = consent
        .record(id, &change, &caller.actor(), now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
