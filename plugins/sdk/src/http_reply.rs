//! Replies to vendors' webhook requests.

use crate::{Header, HttpResponse};

/// `200 OK` with an empty body: what most vendors expect.
pub fn empty_ok() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A reply with a body of the given content type.
pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Header {
            name: "content-type".to_string(),
            value: content_type.to_string(),
        }],
        body: body.into(),
    }
}
