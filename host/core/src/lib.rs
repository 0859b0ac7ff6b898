//! `switchboard-core`: the words every other part of Switchboard speaks, and the little they
//! need beside them. Nothing here touches a database, a plugin or the network.
//!
//! - [`domain`]: channel, direction, outcome, identities and their normalisation, consent,
//!   message and attempt states, urgency, scopes, input errors, and what a logged interaction
//!   tells ([`domain::LoggedInteraction`]) — one word per concept, as `docs/glossary.md` lists them;
//! - [`clock`]: the time, and local time in a contact's zone;
//! - [`hashing`]: the one SHA-256 / hex helper;
//! - [`metrics`]: the process's Prometheus registry;
//! - [`word_enum!`]: the one way to declare a closed set of words.
//!
//! Not here: storage ([`switchboard-store`]), plugins (`switchboard-runtime`), what Switchboard
//! does (`switchboard-app`), HTTP (`switchboard`).

pub mod clock;
pub mod domain;
pub mod hashing;
pub mod metrics;
pub mod records;
mod words;
