//! Identifiers as staff type them — an email address, a phone number in any common spelling, an
//! id in another system — normalised to the stored form (phone numbers with the operator's
//! default country code), or refused with the field that held them named.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::service_error::ServiceError;
use switchboard_core::domain::{IdentityKey, IdentityKind};

/// An identifier as staff give it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    /// `email`, `phone` or `external`.
    #[schema(example = "phone")]
    pub kind: String,
    /// The address, the number (any common spelling; stored in E.164) or the external id.
    #[schema(example = "+1 415 555 0100")]
    pub value: String,
    /// For `external`: the system the id belongs to (`crm`, `portal`).
    pub system: Option<String>,
}

/// Reads staff's identifiers, with the operator's phone default.
#[derive(Debug, Clone, Default)]
pub struct Identifiers {
    default_country_code: Option<String>,
}

impl Identifiers {
    pub fn new(default_country_code: Option<String>) -> Self {
        Identifiers {
            default_country_code,
        }
    }

    /// Normalizes an identifier given by staff; `field` names it in errors.
    pub fn key(&self, field: &str, input: &IdentityInput) -> Result<IdentityKey, ServiceError> {
        let key = match IdentityKind::parse(input.kind.trim()) {
            Some(IdentityKind::Email) => IdentityKey::email(&input.value),
            Some(IdentityKind::Phone) => {
                IdentityKey::phone(&input.value, self.default_country_code.as_deref())
            }
            Some(IdentityKind::External) => {
                let system = input.system.as_deref().ok_or_else(|| {
                    ServiceError::invalid(format!("{field}.system"), "required for an external id")
                })?;
                IdentityKey::external(system, &input.value)
            }
            None => {
                return Err(ServiceError::invalid(
                    format!("{field}.kind"),
                    format!("{:?} is not email, phone or external", input.kind),
                ));
            }
        };
        key.map_err(|e| ServiceError::identity(format!("{field}.value"), e))
    }

    /// Normalizes a phone number given by staff.
    pub fn phone(&self, field: &str, raw: &str) -> Result<IdentityKey, ServiceError> {
        IdentityKey::phone(raw, self.default_country_code.as_deref())
            .map_err(|e| ServiceError::identity(field, e))
    }
}
