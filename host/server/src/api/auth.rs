//! Every `/api` route needs an API key (`Authorization: Bearer <token>`) holding the route's
//! scope: 401 without a live key, 403 with one that lacks the scope. The caller is then
//! available to the handler as an `Extension<Caller>`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use switchboard_app::auth::{Caller, Keys};
use switchboard_core::clock::now_ms;
use switchboard_core::domain::Scope;

/// Checks the caller's key for `scope` (`None`: the route names no scope, and nobody passes).
pub async fn require(
    scope: Option<Scope>,
    State(keys): State<Keys>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(&request).map(str::to_owned);
    let caller = caller(&keys, token.as_deref()).await?;
    let Some(scope) = scope else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route documents no scope, so no key may use it",
        ));
    };
    if !caller.scopes.contains(&scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this route needs a key with the `{scope}` scope"),
        )
        .with("required_scope", scope.as_str()));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Checks only that the caller holds a live key, whatever its scopes.
pub async fn require_any(
    State(keys): State<Keys>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(&request).map(str::to_owned);
    let caller = caller(&keys, token.as_deref()).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller a request's key belongs to, or 401.
async fn caller(keys: &Keys, token: Option<&str>) -> Result<Caller, ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API key as `Authorization: Bearer <token>` (switchboard keys create)",
        )
    })?;
    let caller = keys
        .authenticate(token, now_ms())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the API key is unknown or revoked",
            )
        })?;
    Ok(caller)
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
