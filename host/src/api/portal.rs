//! The portal inbox, for the organisation's portal app (scope `portal`).

use axum::extract::State;
use axum::{Extension, Json};

use super::extract::PathParams;
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::store::portal_inbox::PortalMessage;

/// A contact's portal inbox, newest first.
#[utoipa::path(get, path = "/api/portal/contacts/{id}/messages", tag = "portal",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = Vec<PortalMessage>)), security(("bearer" = ["portal"])))]
pub async fn inbox(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<Vec<PortalMessage>>, ApiError> {
    Ok(Json(state.staff.portal_messages(id).await?))
}

/// The person opened a message: marks it read and logs it (once), which settles the message.
#[utoipa::path(post, path = "/api/portal/contacts/{id}/messages/{message_id}/read", tag = "portal",
    params(("id" = i64, Path, description = "contact id"),
           ("message_id" = String, Path, description = "message id")),
    responses((status = 200, body = PortalMessage)), security(("bearer" = ["portal"])))]
pub async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathParams((id, message_id)): PathParams<(i64, String)>,
) -> Result<Json<PortalMessage>, ApiError> {
    Ok(Json(
        state
            .staff
            .read_portal_message(id, &message_id, &caller, now_ms())
            .await?,
    ))
}
