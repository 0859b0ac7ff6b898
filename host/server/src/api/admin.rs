//! Administration (scope `admin`): installed plugins, API keys, the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{JsonBody, PathParams, QueryParams};
use switchboard_app::auth::{self, AuthError, Caller, KeyInfo, KeyRef, Keys, NewKey};
use switchboard_app::ingest::Ingest;
use switchboard_app::operations::Operations;
use switchboard_core::clock::now_ms;
use switchboard_runtime::{Description, ReloadReport};
use switchboard_store::audit::AuditEntry;

/// An installed plugin.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginView {
    pub id: String,
    /// The `.wasm` file's SHA-256.
    pub sha256: String,
    /// What the plugin's `describe` says.
    pub describe: Description,
    /// Secrets the plugin may ask for whose environment variables are not set.
    pub unset_secrets: Vec<String>,
}

/// The installed, enabled plugins.
#[utoipa::path(get, path = "/api/plugins", tag = "admin",
    responses((status = 200, body = Vec<PluginView>)), security(("bearer" = ["admin"])))]
pub async fn plugins(State(ingest): State<Ingest>) -> Json<Vec<PluginView>> {
    Json(
        ingest
            .plugins()
            .iter()
            .map(|p| PluginView {
                id: p.id().to_string(),
                sha256: p.sha256.clone(),
                describe: p.description.clone(),
                unset_secrets: p.unset_secrets().into_iter().map(str::to_string).collect(),
            })
            .collect(),
    )
}

/// Re-read plugins.toml and the plugin files, and swap in what changed without a restart: the
/// report says what was loaded, kept, removed, and what failed (the previous version of a failed
/// plugin keeps serving).
#[utoipa::path(post, path = "/api/plugins/reload", tag = "admin",
    responses((status = 200, body = ReloadReport)), security(("bearer" = ["admin"])))]
pub async fn reload_plugins(
    State(operations): State<Operations>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ReloadReport>, ApiError> {
    let report = operations
        .reload_plugins(&caller.actor(), now_ms())
        .await
        .map_err(ApiError::store)?;
    Ok(Json(report))
}

/// Every API key (never their tokens).
#[utoipa::path(get, path = "/api/keys", tag = "admin",
    responses((status = 200, body = Vec<KeyInfo>)), security(("bearer" = ["admin"])))]
pub async fn keys(State(keys): State<Keys>) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    Ok(Json(keys.list().await.map_err(key_error)?))
}

/// A key to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub name: String,
    /// `admin`, `staff`, `sender`, `analyst`, `privacy`.
    pub scopes: Vec<String>,
}

/// Make a key; its token is in this answer and nowhere else.
#[utoipa::path(post, path = "/api/keys", tag = "admin", request_body = KeyRequest,
    responses((status = 201, body = NewKey)), security(("bearer" = ["admin"])))]
pub async fn create_key(
    State(keys): State<Keys>,
    Extension(caller): Extension<Caller>,
    JsonBody(request): JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let scopes = auth::parse_scopes(&request.scopes).map_err(key_error)?;
    let now = now_ms();
    let key = keys
        .create(&request.name, &scopes, &caller.actor(), now)
        .await
        .map_err(key_error)?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Revoke a key.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "admin",
    params(("id" = i64, Path, description = "key id")),
    responses((status = 200, body = KeyInfo)), security(("bearer" = ["admin"])))]
pub async fn revoke_key(
    State(keys): State<Keys>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<i64>,
) -> Result<Json<KeyInfo>, ApiError> {
    let key = keys
        .revoke(&KeyRef::Id(id), &caller.actor(), now_ms())
        .await
        .map_err(key_error)?;
    Ok(Json(key))
}

/// Which audit entries to read.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this contact.
    pub contact_id: Option<i64>,
    /// Entries older than this id (the previous page's last).
    pub before: Option<i64>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>)), security(("bearer" = ["admin"])))]
pub async fn audit_log(
    State(operations): State<Operations>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "limit: between 1 and 500",
        )
        .with("field", "limit"));
    }
    let entries = operations
        .audit_log(query.contact_id, query.before.unwrap_or(i64::MAX), limit)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(entries))
}

fn key_error(error: AuthError) -> ApiError {
    match error {
        AuthError::Store(error) => ApiError::store(error),
        AuthError::NoSuchKey(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
        }
        AuthError::NameTaken(_) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
        }
        AuthError::UnknownScope(_) | AuthError::NoScope => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            error.to_string(),
        )
        .with("field", "scopes"),
        AuthError::BadName => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            error.to_string(),
        )
        .with("field", "name"),
    }
}
