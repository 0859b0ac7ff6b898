//! Turning a vendor API's error answer into a typed [`SendFailure`].

use crate::http::HttpError;
use crate::{Header, SendFailure, SendFailureKind, header};

/// The failure a vendor's non-success HTTP answer means, by the usual REST conventions:
/// 401/403 are credentials, 429 is a rate limit (retry after `Retry-After`), 5xx is the vendor
/// being down (retry), other 4xx are the request's fault (do not retry). `detail` is the vendor's
/// explanation, already extracted from its body.
pub fn from_status(status: u16, headers: &[Header], detail: &str) -> SendFailure {
    let retry_after_ms = retry_after_ms(headers);
    let (kind, retryable) = match status {
        401 | 403 => (SendFailureKind::Auth, false),
        429 => (SendFailureKind::RateLimited, true),
        500..=599 => (SendFailureKind::VendorUnavailable, true),
        _ => (SendFailureKind::ContentRejected, false),
    };
    SendFailure {
        kind,
        retryable,
        retry_after_ms,
        message: format!("vendor answered {status}: {detail}"),
        vendor_code: Some(status.to_string()),
    }
}

/// The failure a host HTTP error means. Only `timeout` and `connection` leave the outcome unknown
/// (the vendor may have accepted the message), so they are the retryable ones.
pub fn from_http_error(error: HttpError) -> SendFailure {
    let (kind, retryable, message) = match error {
        HttpError::Denied(why) => (SendFailureKind::Misconfigured, false, why),
        HttpError::InvalidRequest(why) => (SendFailureKind::Misconfigured, false, why),
        HttpError::SecretMissing(name) => (
            SendFailureKind::Misconfigured,
            false,
            format!("secret `{name}` is not set"),
        ),
        HttpError::Timeout => (SendFailureKind::Network, true, "request timed out".into()),
        HttpError::Connection(why) => (SendFailureKind::Network, true, why),
        HttpError::ResponseTooLarge => (
            SendFailureKind::Other,
            false,
            "vendor response too large".into(),
        ),
    };
    SendFailure {
        kind,
        retryable,
        retry_after_ms: None,
        message,
        vendor_code: None,
    }
}

/// A misconfiguration failure (a config key or secret the plugin needs is missing).
pub fn misconfigured(message: impl Into<String>) -> SendFailure {
    SendFailure {
        kind: SendFailureKind::Misconfigured,
        retryable: false,
        retry_after_ms: None,
        message: message.into(),
        vendor_code: None,
    }
}

/// `Retry-After` in milliseconds, when it is given in seconds (the form vendor APIs use).
pub fn retry_after_ms(headers: &[Header]) -> Option<u64> {
    header(headers, "retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|secs| secs.saturating_mul(1000))
}
