//! `switchboard-app`: what Switchboard does, between the HTTP surface and the store.
//!
//! The path of a webhook: [`ingest`] hands it to its plugin (`switchboard-runtime`) and checks
//! what comes back, [`identity`] finds the person it is about, and [`log::append`] adds it to the
//! log — in the transaction that stores the raw request — and runs every reaction to it, listed
//! in one place (`log/reactions.rs`): [`prefs`] counts engagement and records consent, [`send`]
//! settles the outbox, a hard bounce marks the address unreachable.
//!
//! Staff work through [`staff`] (contacts and identities, identity resolution with confidence,
//! manual channels, timelines, intents, privacy), [`auth`] (API keys) and [`operations`]
//! (plugin reloads, the audit log, health). [`prefs`] learns how
//! each person engages per channel, keeps their consent and selects the channel for a message;
//! [`send`] accepts messages and dispatches them, one carrier per file. [`analytics`] reads the
//! log for analysts: how each channel and provider does.
//!
//! Not here: the words (`switchboard-core`), rows and queries (`switchboard-store`), plugins
//! (`switchboard-runtime`), HTTP and its wire types (`switchboard`).

pub mod analytics;
pub mod auth;
pub mod group_commit;
pub mod identity;
pub mod ingest;
pub mod log;
pub mod operations;
pub mod prefs;
pub mod send;
pub mod service_error;
pub mod staff;
