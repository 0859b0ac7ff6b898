//! How each sending plugin sends in the tests: the vendor's API it is pointed at (accepting or
//! refusing), the command that sends, and the vendor's delivery report that should join the send.

use serde_json::json;

use super::webhooks::now_secs;
use super::{Event, Vendor};
use crate::mailgun::{self, Loopback};
use crate::manifest::PluginConfig;
use crate::relay::{Relay, Script};
use crate::vendor_mock;
use crate::vendors::{sendgrid_event, twilio_status};
use crate::voice::call_status;

/// The text of the table's sends: with the characters that need escaping in a form, in JSON and
/// in TwiML.
pub const SENT_TEXT: &str = "Hello Ana, your invoice is ready & it is in room <4>.";

/// How the tests serve a sending plugin's vendor API: Twilio's and SendGrid's published contracts
/// (Prism, started by `cargo xtask test`) behind a relay that counts the requests, or a loopback
/// stand-in for Mailgun (which publishes none) that takes one request and holds it to Mailgun's
/// documented format.
pub struct SendApi {
    /// For `api_base`.
    pub base: String,
    /// For `allowed_hosts`.
    pub host: String,
    stand_in: StandIn,
}

enum StandIn {
    Prism(Relay),
    Mailgun(Loopback),
}

impl SendApi {
    async fn prism(variable: &str) -> Self {
        let relay = Relay::start(Script {
            upstream: Some(vendor_mock(variable)),
            // Prism answers every Mail Send with the same example (or no) message id.
            stamp_message_ids: true,
            ..Script::default()
        })
        .await;
        SendApi {
            base: relay.base.clone(),
            host: relay.host.clone(),
            stand_in: StandIn::Prism(relay),
        }
    }

    fn mailgun(loopback: Loopback) -> Self {
        SendApi {
            base: loopback.base.clone(),
            host: loopback.host.clone(),
            stand_in: StandIn::Mailgun(loopback),
        }
    }

    /// Asserts that the plugin called the API once, with a request its contract (or Mailgun's
    /// documented format) takes.
    pub async fn assert_called_once(self) {
        match self.stand_in {
            StandIn::Prism(relay) => {
                let seen = relay.seen();
                assert_eq!(seen.len(), 1, "one request reached the vendor");
            }
            StandIn::Mailgun(loopback) => {
                let request = loopback.request().await;
                assert_eq!(mailgun::check_messages_request(&request), Ok(()));
            }
        }
    }

    /// Asserts that nobody called the API.
    pub fn assert_not_called(&self) {
        let called = match &self.stand_in {
            StandIn::Prism(relay) => relay.arrived() > 0,
            StandIn::Mailgun(loopback) => loopback.connected(),
        };
        assert!(!called, "the vendor's API was called");
    }
}

impl Vendor {
    /// The recipient as typed at `switchboard send --to`, and the identity it becomes (for the
    /// [`Vendor::SENDERS`]).
    pub fn recipient(self) -> (&'static str, (&'static str, &'static str)) {
        match self {
            Vendor::SendGrid | Vendor::Mailgun => ("Ana@Example.org", ("email", "ana@example.org")),
            Vendor::SmsTwilio | Vendor::VoiceTwilio => {
                ("+1 415 555 0100", ("phone", "+14155550100"))
            }
            Vendor::Portal | Vendor::Standard => panic!("{self:?} does not send"),
        }
    }

    /// `switchboard send` through this plugin to [`Vendor::recipient`].
    pub fn send_command(self) -> Vec<String> {
        let mut args: Vec<String> = ["send", "--plugin", self.id(), "--to", self.recipient().0]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if self.channel() == "email" {
            args.extend(["--subject".into(), "Your invoice".into()]);
        }
        args.extend(["--text".into(), SENT_TEXT.into()]);
        args
    }

    /// The secret sending needs.
    pub fn send_secret_name(self) -> &'static str {
        match self {
            Vendor::SendGrid | Vendor::Mailgun => "api_key",
            _ => "auth_token",
        }
    }

    /// The vendor's API, accepting a send.
    pub async fn api_accepting(self) -> SendApi {
        match self {
            Vendor::Mailgun => SendApi::mailgun(
                Loopback::start(
                    200,
                    &[("Content-Type", "application/json")],
                    &format!(
                        r#"{{"id": "{}", "message": "Queued. Thank you."}}"#,
                        mailgun::SENT_MESSAGE_ID
                    ),
                )
                .await,
            ),
            Vendor::SmsTwilio | Vendor::VoiceTwilio => SendApi::prism("PRISM_TWILIO_URL").await,
            _ => SendApi::prism("PRISM_SENDGRID_URL").await,
        }
    }

    /// A plugin whose send the vendor's API refuses, that API, and the status it refuses with:
    /// the published contracts refuse a request that breaks them; Mailgun's stand-in answers as
    /// Mailgun does to a bad sender address.
    pub async fn api_refusing(self) -> (PluginConfig, SendApi, u16) {
        match self {
            Vendor::Mailgun => {
                let api = SendApi::mailgun(
                    Loopback::start(
                        400,
                        &[("Content-Type", "application/json")],
                        r#"{"message": "'from' parameter is not a valid address. please check documentation"}"#,
                    )
                    .await,
                );
                (self.plugin_sending_to(&api), api, 400)
            }
            _ => {
                let api = self.api_accepting().await;
                let (key, value, status) = match self {
                    // The contract requires a valid sender address.
                    Vendor::SendGrid => ("from_email", "not-an-address", 400),
                    // The contract requires `StatusCallback` to be a URI.
                    Vendor::SmsTwilio => ("webhook_url", "not a url", 422),
                    // The contract requires `Url` to be a URI.
                    _ => ("twiml_url", "not a url", 422),
                };
                (self.plugin_sending_to(&api).config(key, value), api, status)
            }
        }
    }

    /// The plugin sending to `api` instead of the vendor.
    pub fn plugin_sending_to(self, api: &SendApi) -> PluginConfig {
        let plugin = self
            .plugin()
            .config("api_base", &api.base)
            .allow_host(&api.host)
            .private_network();
        match self {
            // Prism cannot check a list in a form: Twilio's contract gives `StatusCallbackEvent`
            // no `encoding`, so Prism keeps one of the repeated values and refuses it as not an
            // array. Without the events the request is otherwise the same; their form (the
            // parameter repeated, as Twilio documents) is covered by the plugin's unit tests.
            Vendor::VoiceTwilio => plugin.config("status_callback_events", ""),
            _ => plugin,
        }
    }

    /// How the vendor's message id for a send begins (the relay in front of Prism stamps SendGrid's;
    /// Prism answers Twilio's with the contract's example sid).
    pub fn sent_message_id_prefix(self) -> &'static str {
        match self {
            Vendor::SendGrid => "relay",
            Vendor::Mailgun => "20240101120000.abc123@mg.example.org",
            Vendor::SmsTwilio => "SM",
            _ => "CA",
        }
    }

    /// What a send without [`Vendor::send_secret_name`] set fails with.
    pub fn says_when_unable_to_send(self) -> String {
        format!("secret `{}` is not set", self.send_secret_name())
    }

    /// The summary the log keeps of a send.
    pub fn sent_summary(self) -> Option<&'static str> {
        match self {
            Vendor::SendGrid | Vendor::Mailgun => Some("Your invoice"),
            _ => Some(SENT_TEXT),
        }
    }

    /// The vendor's report that the message it answered `vendor_message_id` for reached
    /// [`Vendor::recipient`], a second after now (so that it follows the send); the kind and
    /// summary it logs.
    pub fn delivered(
        self,
        vendor_message_id: &str,
        contact_id: i64,
    ) -> (Event, &'static str, Option<&'static str>) {
        let to = self.recipient().1.1;
        let later = now_secs() + 1;
        match self {
            Vendor::SendGrid => (
                Event::json(&json!([sendgrid_event(
                    "delivered",
                    to,
                    later,
                    vendor_message_id,
                    "ev-delivered-1"
                )])),
                "email_delivered",
                None,
            ),
            Vendor::Mailgun => (
                Event::json(&mailgun::event(
                    "delivered",
                    to,
                    later as f64,
                    vendor_message_id,
                    "ev-delivered-1",
                )),
                "email_delivered",
                None,
            ),
            // Twilio's status callback finds the send by its sid.
            Vendor::SmsTwilio => (
                Event::form(
                    &twilio_status(vendor_message_id, "delivered", to),
                    String::new(),
                ),
                "sms_delivered",
                None,
            ),
            // The call's callback comes on the callback URL the send set.
            _ => {
                let mut completed =
                    call_status(vendor_message_id, "completed", "outbound-api", to, later);
                completed.push(("CallDuration", "75".into()));
                (
                    Event::form(&completed, format!("switchboard_contact_id={contact_id}")),
                    "phone_completed",
                    Some("Call completed (1m 15s)"),
                )
            }
        }
    }
}
