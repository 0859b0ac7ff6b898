//! What staff do through the API: keep contacts and their identities, find who is calling, log
//! calls, visits and events, follow open intents, read a person's whole history, and export or
//! erase it. Each function validates its input, works in one transaction and leaves the HTTP
//! details to [`crate::api`].

pub mod call_queue;
pub mod contacts;
pub mod context;
pub mod identify;
pub mod intents;
pub mod logging;
pub mod portal_inbox;
pub mod privacy;
pub mod timeline;

use crate::identity::IdentityError;
use crate::store::StoreError;

/// Why a staff action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },
    /// Something named by text (a message id) does not exist.
    #[error("{what} {name:?} does not exist")]
    Unknown { what: &'static str, name: String },
    /// The input is well-formed JSON but a field's value is not acceptable.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The action contradicts what is stored (an identity that belongs to someone else).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StaffError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StaffError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An identifier that did not normalize, blamed on the field it came from.
    pub fn identity(field: impl Into<String>, error: IdentityError) -> Self {
        StaffError::invalid(field, error.to_string())
    }
}

/// Checks an optional free-text field: at most `max` characters, no control characters but line
/// breaks and tabs. Returns it trimmed, with empty as `None`.
pub(crate) fn text_field(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, StaffError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(StaffError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(StaffError::invalid(field, "contains control characters"));
    }
    Ok(Some(value.to_string()))
}

/// Checks a required free-text field.
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String, StaffError> {
    text_field(field, Some(value), max)?.ok_or_else(|| StaffError::invalid(field, "is required"))
}
