//! Who an event is about: identifiers normalized to one spelling (lowercase email, E.164 phone,
//! `system:id`), and the resolution of an interaction's hints to a contact.

mod normalize;
mod resolve;

pub use normalize::{
    Hints, IdentityError, IdentityKey, IdentityKind, normalize_email, normalize_phone,
};
pub use resolve::{Linking, Resolution, Subject, resolve_batch};
