//! The Switchboard plugin SDK: the generated bindings of the `switchboard:channel` contract plus
//! the small helpers every channel plugin needs, so that a plugin is a short file about its vendor.
//!
//! A plugin implements [`Guest`] and exports it:
//!
//! ```ignore
//! use switchboard_plugin_sdk::{self as sdk, Guest};
//! struct MyVendor;
//! impl Guest for MyVendor { /* describe, handle_webhook, send, map_outcome */ }
//! sdk::export_plugin!(MyVendor);
//! ```
//!
//! `handle_webhook` verifies the request's signature first, before looking at its method, path or
//! body, with the host's check ([`signature::verify_hmac`], [`crypto::verify_signature`]) so that
//! the host sees it verified; only then may it call the request malformed (see [`signature`]).
//!
//! The contract itself is documented in `wit/` at the top of the repository.

pub mod form;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod http_call;
pub mod http_reply;
pub mod identity;
pub mod json;
pub mod send_failure;
pub mod signature;
pub mod twilio;

/// The bindings generated from `wit/` by `wit-bindgen`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "channel-plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
        // So that tests can compare verdicts and interactions whole.
        additional_derives: [PartialEq],
    });
}

pub use bindings::export_plugin;
pub use bindings::exports::switchboard::channel::plugin::Guest;
pub use bindings::switchboard::channel::types::{
    Channel, Direction, ExternalId, Header, HttpResponse, Identity, Interaction, OutboundMessage,
    Outcome, PluginInfo, SendFailure, SendFailureKind, SendReceipt, Template, Timestamp,
    WebhookAccepted, WebhookRejection, WebhookRequest,
};
pub use bindings::switchboard::channel::{clock, config, crypto, http, log, nonces, secrets};

/// The version of the `switchboard:channel` contract this SDK was generated from; return it from
/// `describe`. Read at compile time from the `package` line of the WIT the bindings come from, so
/// it cannot drift from them.
pub const INTERFACE_VERSION: &str = package_version(include_str!("../../../wit/types.wit"));

/// The `X.Y.Z` of a WIT file's `package namespace:name@X.Y.Z;` line (its first `@` up to `;`).
const fn package_version(wit: &'static str) -> &'static str {
    let bytes = wit.as_bytes();
    let mut at = 0;
    while at < bytes.len() && bytes[at] != b'@' {
        at += 1;
    }
    let mut end = at;
    while end < bytes.len() && bytes[end] != b';' {
        end += 1;
    }
    assert!(
        end < bytes.len(),
        "the WIT file has no `package …@X.Y.Z;` line"
    );
    let (_, tail) = bytes.split_at(at + 1);
    let (version, _) = tail.split_at(end - at - 1);
    match core::str::from_utf8(version) {
        Ok(version) => version,
        Err(_) => panic!("the WIT package version is not UTF-8"),
    }
}

/// The value of the first header called `name` (compared without regard to case).
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Refuses a request whose method is not `method` as malformed. Call it only after the signature
/// verified: an unverified request is a bad signature whatever its method, so that only the
/// vendor's requests may cost Switchboard storage.
pub fn require_method(request: &WebhookRequest, method: &str) -> Result<(), WebhookRejection> {
    if request.method.eq_ignore_ascii_case(method) {
        Ok(())
    } else {
        Err(WebhookRejection::Malformed(format!(
            "expected {method}, got {}",
            request.method
        )))
    }
}

/// A required key of the plugin's `config` table, or a `misconfigured` rejection naming it.
pub fn require_config(key: &str) -> Result<String, WebhookRejection> {
    config::get(key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| WebhookRejection::Misconfigured(format!("config key `{key}` is not set")))
}

/// Decodes standard base64 (with padding), as vendors put signatures in headers.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not valid base64: {e}"))
}

/// Encodes bytes as standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Compares two byte strings in time that depends only on their lengths, so that comparing a
/// computed signature with a presented one leaks nothing about where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Cuts `text` to at most `max` characters, for summaries and previews.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

impl Interaction {
    /// An interaction with the required fields set and the optional ones empty.
    pub fn new(
        kind: &str,
        channel: Channel,
        direction: Direction,
        outcome: Outcome,
        occurred_at: Timestamp,
    ) -> Self {
        Interaction {
            kind: kind.to_string(),
            channel,
            direction,
            outcome,
            vendor_status: None,
            occurred_at,
            vendor_message_id: None,
            vendor_event_id: None,
            identities: Vec::new(),
            summary: None,
            metadata: "{}".to_string(),
        }
    }
}

/// A sentence for the operator about an error the host returned.
pub trait Explain {
    fn explain(&self) -> String;
}

impl Explain for secrets::SecretError {
    fn explain(&self) -> String {
        match self {
            secrets::SecretError::Undeclared(name) => {
                format!("secret `{name}` is not declared in plugins.toml")
            }
            secrets::SecretError::Unset(name) => {
                format!("secret `{name}` is declared but its environment variable is not set")
            }
        }
    }
}

impl Explain for secrets::KeyError {
    fn explain(&self) -> String {
        signature::explain(self)
    }
}

impl Explain for http::HttpError {
    fn explain(&self) -> String {
        match self {
            http::HttpError::Denied(why) => format!("request denied by the host: {why}"),
            http::HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
            http::HttpError::SecretMissing(name) => format!("secret `{name}` is not set"),
            http::HttpError::Timeout => "request timed out".to_string(),
            http::HttpError::Connection(why) => format!("connection failed: {why}"),
            http::HttpError::ResponseTooLarge => "response too large".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interface_version_is_the_wit_package_version() {
        assert_eq!(super::package_version("package a:b@1.22.3;\n"), "1.22.3");
        assert!(super::INTERFACE_VERSION.starts_with("1."));
    }

    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    fn request(method: &str) -> WebhookRequest {
        WebhookRequest {
            method: method.into(),
            path: "/webhooks/x".into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            received_at: 0,
        }
    }

    #[test]
    fn another_method_than_the_one_required_is_malformed() {
        assert!(require_method(&request("POST"), "POST").is_ok());
        assert!(require_method(&request("post"), "POST").is_ok());
        assert!(matches!(
            require_method(&request("PUT"), "POST"),
            Err(WebhookRejection::Malformed(why)) if why == "expected POST, got PUT"
        ));
    }

    #[test]
    fn truncate_chars_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 2), "hé…");
    }

    #[test]
    fn base64_round_trips_and_names_bad_input() {
        assert_eq!(
            base64_decode(&base64_encode(b"\x00\xffsig")).unwrap(),
            b"\x00\xffsig"
        );
        assert!(base64_decode("not base64!").unwrap_err().contains("base64"));
    }
}
