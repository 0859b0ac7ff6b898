//! The preference and selection engine: what each person's history says about how to reach
//! them, what they consented to, and which channel a message should take now.
//!
//! Learning from the log:
//! - [`tally`] turns the log into per-contact engagement counters; [`counting`] runs it as
//!   interactions arrive (and again, identically, on `switchboard prefs rebuild`).
//! - [`beta`] fits the population's prior per rate; [`rates`] names the rates; [`profile`] reads
//!   a contact's preferences from their counters.
//!
//! The engine ([`Engine`], `engine.rs`: its store, [`settings`], priors and plugins):
//! - `read.rs`: a contact's preferences ([`ContactPreferences`]);
//! - `selection.rs`: a selection request answered ([`SelectRequest`] → [`Selection`]): the
//!   contact's facts read, then ranked by [`select`], which checks and scores each channel and
//!   explains why; [`sample`] draws for exploration; the contact's clock (IANA zones, DST) is
//!   [`switchboard_core::clock::local_time`].
//!
//! What people tell us:
//! - [`consent`]: the consent interactions carry (recorded as they are logged), and [`Consent`],
//!   the person's word recorded by hand, and the ledger;
//! - `stated.rs`: [`Stated`], the channels they prefer and their quiet hours.

pub mod beta;
pub mod consent;
pub mod counting;
mod engine;
pub mod profile;
pub mod rates;
mod read;
pub mod sample;
pub mod select;
mod selection;
pub mod settings;
mod stated;
pub mod tally;

pub use consent::{Consent, ConsentChange};
pub use engine::Engine;
pub use read::{ContactPreferences, PreferencesQuery};
pub use selection::{SelectRequest, Selection};
pub use stated::{StatePreferences, Stated};
