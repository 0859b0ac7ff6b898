//! What staff do through the API, one service per concept, each a small struct over the store
//! (and what else it needs). Each function validates its input, works in one transaction and
//! leaves the HTTP details to the API layer; refusals are
//! [`crate::service_error::ServiceError`]s.
//!
//! - [`contacts`]: [`contacts::Contacts`] — create, search, read, update, link and unlink
//!   identities, clear an unreachable mark, merge;
//! - [`identifiers`]: reading the identifiers staff type (with the operator's phone default);
//! - [`identify`]: [`identify::Identify`] — who is calling, with a confidence;
//! - [`logging`]: [`logging::Logging`] — calls, VoIP records, attendance, conversations;
//! - [`intents`]: [`intents::Intents`] — what a person is trying to get done;
//! - [`timeline`]: [`timeline::Timeline`] — a person's whole history, paged;
//! - [`context`]: [`context::Context`] — what an agent needs at the start of a call;
//! - [`call_queue`]: [`call_queue::CallQueue`] — the calls the outbox asks staff to make;
//! - [`portal_inbox`]: [`portal_inbox::PortalInbox`] — the portal app's view of a person's inbox;
//! - [`privacy`]: [`privacy::Privacy`] — export and erasure.

pub mod call_queue;
pub mod contacts;
pub mod context;
pub mod identifiers;
pub mod identify;
pub mod intents;
pub mod logging;
pub mod portal_inbox;
pub mod privacy;
pub mod timeline;
