//! `POST /webhooks/{plugin_id}`: the vendor's request, limited in size, handed to ingestion; the
//! vendor gets the plugin's reply, or a JSON error that says what went wrong.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::ApiError;
use switchboard_app::ingest::Ingest;
use switchboard_app::ingest::{InboundRequest, WebhookOutcome};
use switchboard_core::metrics;
use switchboard_runtime::bindings::HttpResponse;

/// How long a vendor should wait before retrying a webhook whose plugin failed.
const FAILED_RETRY_AFTER_SECONDS: u32 = 30;

pub async fn receive(
    State(ingest): State<Ingest>,
    Path(plugin_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The plugin as it is now: a reload during this request does not change it under the call.
    let plugins = ingest.plugins();
    let Some(plugin) = plugins.get(&plugin_id).cloned() else {
        let why = if plugins.is_disabled(&plugin_id) {
            "is disabled"
        } else {
            "is not installed"
        };
        metrics::webhook_unknown_plugin();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_plugin",
            format!("plugin `{plugin_id}` {why}"),
        ));
    };
    let limit = plugin.spec.limits.max_body_bytes;
    let body = read_body(&headers, body, limit)
        .await
        .inspect_err(|refused| metrics::webhook_unread(plugin.id(), refused.code))?;
    let request = InboundRequest {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let outcome = ingest
        .receive(&plugin, request)
        .await
        .inspect(|outcome| metrics::webhook(plugin.id(), outcome.status()))
        .inspect_err(|_| metrics::webhook(plugin.id(), metrics::webhook_status::ERROR))
        .map_err(ApiError::store)?;
    Ok(answer(outcome))
}

/// Reads the whole body, refusing more than `limit` bytes with 413 (before reading, when the
/// declared length already says so).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than this plugin's limit of {limit} bytes"),
        )
        .with("limit_bytes", limit)
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("could not read the request body: {error}"),
        )),
    }
}

fn answer(outcome: WebhookOutcome) -> Response {
    match outcome {
        WebhookOutcome::Accepted { reply, .. } => plugin_reply(reply),
        WebhookOutcome::BadSignature { reason } => {
            ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", reason).into_response()
        }
        WebhookOutcome::Malformed {
            reason,
            raw_webhook_id,
        } => ApiError::new(StatusCode::BAD_REQUEST, "malformed_webhook", reason)
            .with("raw_webhook_id", raw_webhook_id)
            .into_response(),
        // The vendor should retry: the plugin, its configuration or its capacity may be fixed by
        // then (and an unstored request is only waiting for that).
        WebhookOutcome::Failed {
            code,
            reason,
            raw_webhook_id,
        } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, reason)
            .with("raw_webhook_id", raw_webhook_id)
            .retry_after(FAILED_RETRY_AFTER_SECONDS)
            .into_response(),
    }
}

/// The plugin's reply, minus headers that only the HTTP layer may set.
fn plugin_reply(reply: HttpResponse) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = (status, reply.body).into_response();
    for h in reply.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(&h.value),
        ) else {
            continue;
        };
        let hop_by_hop = [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ];
        if !hop_by_hop.contains(&name) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
