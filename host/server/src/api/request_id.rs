//! Request ids: every request gets one (the caller's `X-Request-Id` when it is sane, a fresh one
//! otherwise), carried by a tracing span around the whole request, so that every log line the
//! request causes names it, and echoed in the response's `X-Request-Id`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header read and written.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a caller.
const MAX_LEN: usize = 128;

/// Runs the request inside a `request` span naming its id, method and route, and echoes the id.
pub async fn middleware(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(sanitize)
        .map_or_else(generate, str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
    );
    let mut response = next.run(request).instrument(span).await;
    // The id is ASCII from a fixed alphabet (checked or generated), so it is a valid value.
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The caller's id if it is 1 to 128 characters of letters, digits and `-_.:/+=@`: enough for
/// UUIDs, ULIDs, hex and base64 ids, and nothing that could forge or break a log line.
pub fn sanitize(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= MAX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b));
    sane.then_some(text)
}

/// A fresh id: 128 random bits in hex.
pub fn generate() -> String {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 16];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => switchboard_core::hashing::hex(&bytes),
        // Ids need to be distinct, not secret: without the random source, a process-wide count.
        Err(_) => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitized(text: &str) -> Option<String> {
        let value = HeaderValue::from_str(text).ok()?;
        sanitize(&value).map(str::to_owned)
    }

    #[test]
    fn a_sane_caller_id_is_kept_as_sent() {
        for id in [
            "0b6a3e1c-3f4e-4d2a-9b7f-2f0d9c1e8a77",
            "01HZY8KQ3V6M2J5T7W9X1C4B8N",
            "req_abc.DEF:1/2+3=@x",
            "a",
        ] {
            assert_eq!(sanitized(id).as_deref(), Some(id));
        }
        let longest = "x".repeat(MAX_LEN);
        assert_eq!(sanitized(&longest), Some(longest));
    }

    #[test]
    fn an_id_that_is_empty_too_long_or_has_other_characters_is_refused() {
        for id in [
            "",
            "has space",
            "quote\"d",
            "new\tline",
            "semi;colon",
            "brace{}",
            "back\\slash",
            "ümlaut",
        ] {
            assert_eq!(sanitized(id), None, "{id:?}");
        }
        assert_eq!(sanitized(&"x".repeat(MAX_LEN + 1)), None);
        let binary = HeaderValue::from_bytes(b"id\xff").unwrap();
        assert_eq!(sanitize(&binary), None);
    }

    #[test]
    fn generated_ids_are_distinct_and_pass_the_sanitizer() {
        let first = generate();
        let second = generate();
        assert_ne!(first, second);
        assert_eq!(first.len(), 32);
        let value = HeaderValue::from_str(&first).unwrap();
        assert_eq!(sanitize(&value), Some(first.as_str()));
    }
}
