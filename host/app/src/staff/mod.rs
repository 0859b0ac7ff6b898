//! What staff do through the API: keep contacts and their identities, find who is calling, log
//! calls, visits and events, follow open intents, read a person's whole history, and export or
//! erase it. Each function validates its input, works in one transaction and leaves the HTTP
//! details to the API layer; refusals are [`crate::service_error::ServiceError`]s.

pub mod call_queue;
pub mod contacts;
pub mod context;
pub mod identify;
pub mod intents;
pub mod logging;
pub mod portal_inbox;
pub mod privacy;
pub mod timeline;
