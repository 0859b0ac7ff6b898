//! Who an event is about: the resolution of an interaction's hints (identifiers normalized by
//! [`switchboard_core::domain`]) to a contact.

mod resolve;

pub use resolve::{Linking, Resolution, Subject, resolve_batch};
