//! Calling a vendor API through the host: the request built, the credentials named (the host
//! attaches them), and the answer read as JSON or turned into a typed [`SendFailure`].

use serde_json::Value;

use crate::http::{self, Auth, Request};
use crate::send_failure::{from_http_error, from_status};
use crate::{Header, HttpResponse, SendFailure};

/// A JSON request to a vendor API.
pub fn json_request(method: &str, url: &str, body: &Value, auth: Option<Auth>) -> Request {
    Request {
        method: method.to_string(),
        url: url.to_string(),
        headers: vec![
            Header {
                name: "content-type".into(),
                value: "application/json".into(),
            },
            Header {
                name: "accept".into(),
                value: "application/json".into(),
            },
        ],
        body: body.to_string().into_bytes(),
        auth,
        timeout_ms: None,
    }
}

/// Adds a header to a request.
pub fn with_header(mut request: Request, name: &str, value: &str) -> Request {
    request.headers.push(Header {
        name: name.to_string(),
        value: value.to_string(),
    });
    request
}

/// Sends `request` through the host; a non-2xx answer becomes the failure it means, with
/// `detail` picking the vendor's explanation out of the body.
pub fn send(
    request: &Request,
    detail: impl Fn(&[u8]) -> String,
) -> Result<HttpResponse, SendFailure> {
    let response = http::fetch(request).map_err(from_http_error)?;
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    Err(from_status(
        response.status,
        &response.headers,
        &detail(&response.body),
    ))
}

/// The body of a 2xx answer as JSON, or a failure saying the vendor answered something else.
pub fn json_body(response: &HttpResponse) -> Result<Value, SendFailure> {
    serde_json::from_slice(&response.body).map_err(|error| SendFailure {
        kind: crate::SendFailureKind::Other,
        retryable: false,
        retry_after_ms: None,
        message: format!(
            "the vendor answered {} with a body that is not JSON: {error}",
            response.status
        ),
        vendor_code: None,
    })
}

/// A vendor's explanation from a JSON error body: the first of `message`, `error.message`,
/// `error`, `errors[0].message`, else the body's first 200 characters.
pub fn error_detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return crate::truncate_chars(&text, 200);
    };
    let candidates = [
        value.get("message"),
        value.get("error").and_then(|e| e.get("message")),
        value.get("error"),
        value
            .get("errors")
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("message")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| crate::truncate_chars(&text, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_requests_carry_the_body_and_name_their_credentials() {
        let request = json_request(
            "POST",
            "https://api.example.com/messages",
            &serde_json::json!({"to": "+14155550100"}),
            Some(Auth::Bearer("api_key".into())),
        );
        let request = with_header(request, "idempotency-key", "m1-1");
        assert_eq!(request.body, br#"{"to":"+14155550100"}"#);
        assert!(matches!(&request.auth, Some(Auth::Bearer(name)) if name == "api_key"));
        assert_eq!(request.headers.len(), 3);
    }

    #[test]
    fn vendor_explanations_are_found_where_vendors_put_them() {
        assert_eq!(error_detail(br#"{"message": "bad to"}"#), "bad to");
        assert_eq!(error_detail(br#"{"error": {"message": "quota"}}"#), "quota");
        assert_eq!(
            error_detail(br#"{"errors": [{"message": "first"}]}"#),
            "first"
        );
        assert_eq!(error_detail(b"Service Unavailable"), "Service Unavailable");
    }
}
