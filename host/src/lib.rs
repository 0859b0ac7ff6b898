//! Switchboard's host: the server and CLI that gather an organisation's conversations from every
//! channel vendor into one interaction log.
//!
//! The path of a webhook, by module: [`api`] receives it, [`ingest`] hands it to its plugin in the
//! [`runtime`] and validates what comes back, [`identity`] finds the person it is about, and
//! [`store`] commits it with the raw request in one transaction. [`config`] reads `plugins.toml`;
//! [`send`] sends a message through a plugin.
//!
//! Staff work through [`auth`]enticated routes in [`api`] backed by [`staff`]: contacts and
//! identities, identity resolution with confidence, manual channels, timelines, intents, privacy.
//! [`prefs`] learns how each person engages per channel, keeps their consent, and selects the
//! channel for a message.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod prefs;
pub mod runtime;
pub mod send;
pub mod staff;
pub mod store;
