//! Contacts and identities (scope `staff`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::auth::Caller;
use switchboard_app::staff::contacts::Contacts;
use switchboard_app::staff::contacts::{
    ContactPage, ContactPatch, ContactQuery, ContactView, MergeReport, NewContact,
};
use switchboard_app::staff::identifiers::IdentityInput;
use switchboard_core::clock::now_ms;

/// Create a contact, with identities.
#[utoipa::path(post, path = "/api/contacts", tag = "contacts", request_body = NewContact,
    responses((status = 201, body = ContactView)), security(("bearer" = ["staff"])))]
pub async fn create(
    State(contacts): State<Contacts>,
    Extension(caller): Extension<Caller>,
    JsonBody(input): JsonBody<NewContact>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let view = contacts.create(&input, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Search contacts by name, email, phone or external id.
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = ContactPage)), security(("bearer" = ["staff"])))]
pub async fn search(
    State(contacts): State<Contacts>,
    QueryParams(query): QueryParams<ContactQuery>,
) -> Result<Json<ContactPage>, ApiError> {
    Ok(Json(contacts.search(&query).await?))
}

/// One contact with its identities.
#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts",
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = ContactView)), security(("bearer" = ["staff"])))]
pub async fn get(
    State(contacts): State<Contacts>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(contacts.get(id).await?))
}

/// Change a contact's name or time zone.
#[utoipa::path(patch, path = "/api/contacts/{id}", tag = "contacts", request_body = ContactPatch,
    params(("id" = i64, Path, description = "contact id")),
    responses((status = 200, body = ContactView)), security(("bearer" = ["staff"])))]
pub async fn update(
    State(contacts): State<Contacts>,
    PathParams(id): PathParams<i64>,
    JsonBody(patch): JsonBody<ContactPatch>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(contacts.update(id, &patch, now_ms()).await?))
}

/// Link an identity (email, phone, external id) to a contact.
#[utoipa::path(post, path = "/api/contacts/{id}/identities", tag = "contacts",
    request_body = IdentityInput, params(("id" = i64, Path, description = "contact id")),
    responses((status = 201, body = ContactView)), security(("bearer" = ["staff"])))]
pub async fn add_identity(
    State(contacts): State<Contacts>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<IdentityInput>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let view = contacts.add_identity(id, &input, &caller, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Unlink an identity from a contact.
#[utoipa::path(delete, path = "/api/contacts/{id}/identities/{identity_id}", tag = "contacts",
    params(("id" = i64, Path, description = "contact id"), ("identity_id" = i64, Path, description = "identity id")),
    responses((status = 200, body = ContactView)), security(("bearer" = ["staff"])))]
pub async fn remove_identity(
    State(contacts): State<Contacts>,
    PathParams((id, identity_id)): PathParams<(i64, i64)>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(contacts.remove_identity(id, identity_id).await?))
}

/// Which contact to merge into this one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact that is merged away; its history moves to the one in the path.
    pub merge_id: i64,
}

/// Merge another contact into this one: history, identities and intents move here.
#[utoipa::path(post, path = "/api/contacts/{id}/merge", tag = "contacts", request_body = MergeRequest,
    params(("id" = i64, Path, description = "the surviving contact")),
    responses((status = 200, body = MergeReport)), security(("bearer" = ["staff"])))]
pub async fn merge(
    State(contacts): State<Contacts>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<MergeRequest>,
) -> Result<Json<MergeReport>, ApiError> {
    Ok(Json(
        contacts
            .merge(id, input.merge_id, &caller, now_ms())
            .await?,
    ))
}
