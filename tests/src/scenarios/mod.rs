//! Every vendor plugin of the repository described once, so that what all of them promise is one
//! scenario run over this table (`tests/tests/every_vendor_webhooks.rs`,
//! `tests/tests/every_vendor_sends.rs`) instead of a copy per vendor.
//!
//! [`Vendor`] is the table. This module says how each plugin is installed, which secrets it reads,
//! how it describes itself and who its people are; `webhooks` how its vendor builds and signs a
//! delivery; `refusals` the ways a delivery can be wrong and what the host then answers; and
//! `sending` how it sends. What only one vendor does (its event vocabulary, its own ways of
//! naming people) stays in that vendor's own test file.

mod refusals;
mod sending;
mod webhooks;

pub use refusals::{Refusal, Says};
pub use sending::{SENT_TEXT, SendApi};
pub use webhooks::{Delivery, Event};

use crate::mailgun;
use crate::manifest::PluginConfig;
use crate::server::Setup;
use crate::sign::SendGridKey;
use crate::standard_webhooks::{STANDARD_SECRET, STANDARD_SECRET_VAR, standard_plugin};
use crate::vendors::{
    PORTAL_SIGNING_SECRET, PORTAL_SIGNING_SECRET_VAR, TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_VAR,
    portal_plugin, sendgrid_plugin, twilio_plugin,
};
use crate::voice::voice_plugin;

/// A vendor plugin of the repository, as installed in the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    SendGrid,
    Mailgun,
    SmsTwilio,
    VoiceTwilio,
    Portal,
    Standard,
}

/// The Mailgun install's id in the table.
const MAILGUN_ID: &str = "email-mailgun";
/// The webhook-standard install's id in the table, and the vendor it is configured to be.
const STANDARD_ID: &str = "webhook-standard";

impl Vendor {
    /// Every vendor plugin of the repository.
    pub const ALL: [Vendor; 6] = [
        Vendor::SendGrid,
        Vendor::Mailgun,
        Vendor::SmsTwilio,
        Vendor::VoiceTwilio,
        Vendor::Portal,
        Vendor::Standard,
    ];

    /// The ones that send through a vendor's API.
    pub const SENDERS: [Vendor; 4] = [
        Vendor::SendGrid,
        Vendor::Mailgun,
        Vendor::SmsTwilio,
        Vendor::VoiceTwilio,
    ];

    /// The plugin id it is installed as.
    pub fn id(self) -> &'static str {
        match self {
            Vendor::SendGrid => "email-sendgrid",
            Vendor::Mailgun => MAILGUN_ID,
            Vendor::SmsTwilio => "sms-twilio",
            Vendor::VoiceTwilio => "voice-twilio",
            Vendor::Portal => "portal",
            Vendor::Standard => STANDARD_ID,
        }
    }

    /// Its channel, as the log and `plugins.toml` spell it.
    pub fn channel(self) -> &'static str {
        match self {
            Vendor::SendGrid | Vendor::Mailgun => "email",
            Vendor::SmsTwilio => "sms",
            Vendor::VoiceTwilio => "phone",
            Vendor::Portal => "portal",
            // It serves every channel; the table's events are emails.
            Vendor::Standard => "email",
        }
    }

    /// The plugin configured as an operator would (its secrets read from variables that
    /// [`Vendor::with_secrets`] sets).
    pub fn plugin(self) -> PluginConfig {
        match self {
            Vendor::SendGrid => sendgrid_plugin(&SendGridKey::fixed()),
            Vendor::Mailgun => mailgun::plugin(MAILGUN_ID),
            Vendor::SmsTwilio => twilio_plugin(),
            Vendor::VoiceTwilio => voice_plugin(),
            Vendor::Portal => portal_plugin(),
            Vendor::Standard => standard_plugin(STANDARD_ID, "standard"),
        }
    }

    /// Every plugin of the table, configured.
    pub fn all_plugins() -> Vec<PluginConfig> {
        Vendor::ALL.iter().map(|v| v.plugin()).collect()
    }

    /// Sets the variables of every secret the plugin reads (to verify and to send).
    pub fn with_secrets(self, setup: Setup) -> Setup {
        match self {
            Vendor::SendGrid => setup.env("E2E_SENDGRID_API_KEY", "SG.test-key"),
            Vendor::Mailgun => mailgun::with_secrets(setup),
            Vendor::SmsTwilio | Vendor::VoiceTwilio => {
                setup.env(TWILIO_AUTH_TOKEN_VAR, TWILIO_AUTH_TOKEN)
            }
            Vendor::Portal => setup.env(PORTAL_SIGNING_SECRET_VAR, PORTAL_SIGNING_SECRET),
            Vendor::Standard => setup.env(STANDARD_SECRET_VAR, STANDARD_SECRET),
        }
    }

    /// An installation of every plugin of the table with all their secrets set.
    pub fn install_all() -> Setup {
        Vendor::ALL
            .iter()
            .fold(Setup::new(&Vendor::all_plugins()), |setup, v| {
                v.with_secrets(setup)
            })
    }

    /// The plugin without what verifying its webhooks needs (run without
    /// [`Vendor::with_secrets`]): SendGrid's verification key is configuration, the others'
    /// secrets are variables left unset.
    pub fn unverifiable_plugin(self) -> PluginConfig {
        match self {
            Vendor::SendGrid => {
                let mut plugin = self.plugin();
                plugin.config.retain(|(key, _)| key != "verification_key");
                plugin
            }
            _ => self.plugin(),
        }
    }

    /// The configuration key or secret that verifying its webhooks needs.
    pub fn verification_key_name(self) -> &'static str {
        match self {
            Vendor::SendGrid => "verification_key",
            Vendor::Mailgun => "webhook_signing_key",
            Vendor::SmsTwilio | Vendor::VoiceTwilio => "auth_token",
            Vendor::Portal | Vendor::Standard => "signing_secret",
        }
    }

    /// `describe`'s name, vendor and channels.
    pub fn describes_itself_as(self) -> (&'static str, &'static str, Vec<&'static str>) {
        match self {
            Vendor::SendGrid => ("email-sendgrid", "sendgrid", vec!["email"]),
            Vendor::Mailgun => ("email-mailgun", "mailgun", vec!["email"]),
            Vendor::SmsTwilio => ("sms-twilio", "twilio", vec!["sms"]),
            Vendor::VoiceTwilio => ("voice-twilio", "twilio", vec!["phone"]),
            Vendor::Portal => ("portal", "portal", vec!["portal"]),
            Vendor::Standard => (
                "webhook-standard",
                "standard",
                crate::standard_webhooks::ALL_CHANNELS.to_vec(),
            ),
        }
    }

    /// Person `n` as this vendor names them, as the identity it becomes: `(kind, value)`. Each
    /// vendor has people of its own, so that the whole table can share one installation.
    pub fn person(self, n: u32) -> (&'static str, String) {
        match self {
            Vendor::SendGrid => ("email", format!("sg{n}@example.org")),
            Vendor::Mailgun => ("email", format!("mg{n}@example.org")),
            Vendor::SmsTwilio => ("phone", format!("+1415555{:04}", 1000 + n)),
            Vendor::VoiceTwilio => ("phone", format!("+1415555{:04}", 2000 + n)),
            Vendor::Portal => ("external", format!("portal:u-{n}")),
            Vendor::Standard => ("email", format!("std{n}@example.org")),
        }
    }

    /// The kinds one [`Vendor::event`] logs, in order.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            Vendor::SendGrid => &["email_processed", "email_delivered"],
            Vendor::Mailgun => &["email_opened"],
            Vendor::SmsTwilio => &["sms_delivered"],
            Vendor::VoiceTwilio => &["phone_completed"],
            Vendor::Portal => &["portal_login"],
            Vendor::Standard => &["email_delivered"],
        }
    }
}
