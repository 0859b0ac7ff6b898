//! `switchboard`: the server — the HTTP surface ([`api`]: webhooks, the staff API with its wire
//! types and OpenAPI document, health and metrics) — and, in the binary, the operator's CLI
//! (`src/cli`). Everything Switchboard does lives below it, in `switchboard-app`.
//!
//! The house, bottom up; each crate imports only from those below it:
//! 1. `switchboard-core`: the domain words, time, hashing, metrics;
//! 2. `switchboard-runtime`: wasmtime, the plugin contract's host side, `plugins.toml`;
//! 3. `switchboard-store`: rows and queries, one module per database backend;
//! 4. `switchboard-app`: ingest, identity resolution, `log::append` and its reactions, prefs,
//!    send, staff services, keys;
//! 5. `switchboard` (this crate): api and cli.

pub mod api;
