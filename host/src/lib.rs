//! Switchboard's host: the server and CLI that gather an organisation's conversations from every
//! channel vendor into one interaction log.
//!
//! The path of a webhook, by module: [`api`] receives it, [`ingest`] hands it to its plugin in the
//! [`runtime`] and validates what comes back, [`identity`] finds the person it is about, and
//! [`log`] appends it — in the transaction that stores the raw request — and runs every reaction
//! to it: [`prefs`] counts engagement and records consent, [`send`] settles the outbox, a hard
//! bounce marks the address unreachable. [`config`] reads `plugins.toml`; [`send`] sends a message
//! through a plugin.
//!
//! Staff work through [`auth`]enticated routes in [`api`] backed by [`staff`]: contacts and
//! identities, identity resolution with confidence, manual channels, timelines, intents, privacy.
//! [`prefs`] learns how each person engages per channel, keeps their consent, and selects the
//! channel for a message.
//!
//! The layers, bottom up; a module imports only from its own layer or those below:
//! 1. words: [`domain`], [`clock`], [`hashing`], [`metrics`];
//! 2. [`runtime`] and [`config`];
//! 3. [`store`]: rows and queries, no policy;
//! 4. the application: [`log`], [`ingest`], [`identity`], [`prefs`], [`send`], [`staff`],
//!    [`auth`], [`service_error`];
//! 5. the server: [`api`] and the CLI (`src/cli`).

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod hashing;
pub mod identity;
pub mod ingest;
pub mod log;
pub mod metrics;
pub mod prefs;
pub mod runtime;
pub mod send;
pub mod service_error;
pub mod staff;
pub mod store;
