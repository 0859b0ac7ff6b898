//! Why a request to one of the application's services (staff work, preferences and consent,
//! sending) was refused or failed. The API answers each kind with one status (see
//! `api/error.rs`).

use switchboard_core::domain::{IdentityError, InputError};
use switchboard_store::StoreError;

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
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

impl ServiceError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError::new(field, message).into()
    }

    /// An identifier that did not normalize, blamed on the field it came from.
    pub fn identity(field: impl Into<String>, error: IdentityError) -> Self {
        ServiceError::invalid(field, error.to_string())
    }
}

impl From<InputError> for ServiceError {
    fn from(error: InputError) -> Self {
        ServiceError::Invalid {
            field: error.field,
            message: error.message,
        }
    }
}
