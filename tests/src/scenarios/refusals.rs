//! The ways a delivery to each vendor's plugin can be wrong, and what the host answers: badly
//! signed (401, nothing stored), malformed though signed (400, kept), or unverifiable because our
//! own configuration lacks what checking needs (503, kept for replay).

use serde_json::json;

use super::webhooks::{json_of, now_secs, with_header};
use super::{Delivery, Event, Vendor};
use crate::mailgun;
use crate::standard_webhooks::standard_event;
use crate::vendors::{TWILIO_WEBHOOK_URL, portal_event, twilio_status};
use crate::voice::{VOICE_WEBHOOK_URL, call_status};

/// What a refusal's `error.message` must say.
#[derive(Debug, Clone)]
pub enum Says {
    Exactly(String),
    StartsWith(String),
    /// One of these, exactly.
    OneOf(Vec<String>),
}

impl Says {
    pub fn exactly(text: &str) -> Self {
        Says::Exactly(text.to_string())
    }

    pub fn starts_with(text: &str) -> Self {
        Says::StartsWith(text.to_string())
    }

    /// Asserts that `message` says it; `what` names the case in the failure.
    pub fn assert(&self, message: &str, what: &str) {
        match self {
            Says::Exactly(text) => assert_eq!(message, text, "{what}"),
            Says::StartsWith(text) => assert!(
                message.starts_with(text.as_str()),
                "{what}: {message:?} does not start with {text:?}"
            ),
            Says::OneOf(texts) => assert!(
                texts.iter().any(|t| t == message),
                "{what}: {message:?} is none of {texts:?}"
            ),
        }
    }
}

/// A request a vendor's plugin refuses as badly signed, and what it says.
pub struct Refusal {
    pub what: String,
    pub delivery: Delivery,
    pub says: Says,
}

impl Vendor {
    /// What the host answers an unsigned request with.
    pub fn says_when_unsigned(self) -> Says {
        match self {
            Vendor::SendGrid => {
                Says::exactly("missing x-twilio-email-event-webhook-signature header")
            }
            Vendor::Mailgun => Says::exactly("missing `signature`"),
            Vendor::SmsTwilio | Vendor::VoiceTwilio => {
                Says::exactly("missing x-twilio-signature header")
            }
            Vendor::Portal => Says::exactly("missing x-portal-signature header"),
            Vendor::Standard => Says::exactly("missing webhook-id header"),
        }
    }

    /// What the host answers a request signed with another secret (or a changed one) with.
    pub fn says_when_forged(self) -> Says {
        match self {
            Vendor::SendGrid => Says::exactly("signature does not match the body and timestamp"),
            Vendor::Mailgun => {
                Says::exactly("`signature.signature` does not match the timestamp and token")
            }
            // The refusal names the signed URL, so that the operator sees a misconfigured one.
            Vendor::SmsTwilio | Vendor::VoiceTwilio => self.says_when_signed_for_another_url(""),
            Vendor::Portal => Says::exactly("no v1 signature matches the body and timestamp"),
            Vendor::Standard => {
                Says::exactly("no v1 signature matches the webhook id, timestamp and body")
            }
        }
    }

    /// What the host answers a Twilio request delivered with `query` but signed otherwise with.
    pub(super) fn says_when_signed_for_another_url(self, query: &str) -> Says {
        let registered = if self == Vendor::SmsTwilio {
            TWILIO_WEBHOOK_URL
        } else {
            VOICE_WEBHOOK_URL
        };
        let url = if query.is_empty() {
            registered.to_string()
        } else {
            format!("{registered}?{query}")
        };
        Says::Exactly(format!("signature does not match (signed URL {url})"))
    }

    /// What the host answers a request signed an hour ago with (a second may pass between
    /// signing and receipt).
    pub fn says_when_stale(self) -> Says {
        let header = if self == Vendor::Standard {
            "webhook-timestamp"
        } else {
            "timestamp"
        };
        Says::OneOf(
            [3600, 3601]
                .iter()
                .map(|secs| {
                    format!(
                        "{header} is {secs} s away from the time the request was received; the \
                         tolerance is 300 s"
                    )
                })
                .collect(),
        )
    }

    /// How the host refuses a signed request while what verifying needs is missing.
    pub fn says_when_unverifiable(self) -> Says {
        let id = self.id();
        match self {
            Vendor::SendGrid => Says::Exactly(format!(
                "plugin `{id}` is misconfigured: config key `verification_key` is not set"
            )),
            _ => {
                let mut says = format!(
                    "plugin `{id}` is misconfigured: cannot check signatures: secret `{}` is \
                     declared but its environment variable is not set",
                    self.verification_key_name()
                );
                if self == Vendor::Standard {
                    says += " (a Standard Webhooks secret is `whsec_` followed by base64)";
                }
                Says::Exactly(says)
            }
        }
    }

    /// Whether its signature covers a timestamp (so that an old one is refused as stale).
    pub fn signs_a_timestamp(self) -> bool {
        // Twilio signs the URL and the parameters only.
        !matches!(self, Vendor::SmsTwilio | Vendor::VoiceTwilio)
    }

    /// Whether its signature covers the body's bytes (so that a changed body is refused).
    pub fn signs_the_body(self) -> bool {
        // Mailgun signs a timestamp and a token that is usable once: a body glued to a captured
        // signature is refused as a reused token (hardening_ingest.rs), not here.
        !matches!(self, Vendor::Mailgun)
    }

    /// The ways of failing this vendor's signature that are its own, each with what the host
    /// answers.
    pub fn own_refusals(self, event: &Event) -> Vec<Refusal> {
        let signed = self.signed(event, now_secs());
        match self {
            Vendor::SendGrid => {
                let mut no_timestamp = signed;
                no_timestamp
                    .headers
                    .retain(|(name, _)| name != "X-Twilio-Email-Event-Webhook-Timestamp");
                vec![Refusal {
                    what: "without its timestamp header".into(),
                    delivery: no_timestamp,
                    says: Says::exactly("missing x-twilio-email-event-webhook-timestamp header"),
                }]
            }
            Vendor::Mailgun => {
                // A signature lifted from another delivery: the right key, another token.
                let mut lifted =
                    mailgun::signature(mailgun::WEBHOOK_SIGNING_KEY, now_secs(), &mailgun::token());
                lifted["token"] = json!(mailgun::token());
                let body = json!({ "signature": lifted, "event-data": json_of(&event.body) });
                let mut not_json = signed.clone();
                not_json.body = b"timestamp=1&token=t&signature=s".to_vec();
                vec![
                    Refusal {
                        what: "with a signature lifted from another delivery".into(),
                        delivery: Delivery {
                            body: serde_json::to_vec(&body).expect("serialize the webhook"),
                            ..signed
                        },
                        says: self.says_when_forged(),
                    },
                    Refusal {
                        what: "with a form body".into(),
                        delivery: not_json,
                        says: Says::starts_with(
                            "body is not a JSON object, so it carries no signature: ",
                        ),
                    },
                ]
            }
            Vendor::SmsTwilio | Vendor::VoiceTwilio => {
                // Signed for one query string, delivered with another: the URL is signed.
                let signed_for_one = self.sign(
                    &Event {
                        query: "switchboard_contact_id=1".into(),
                        ..event.clone()
                    },
                    now_secs(),
                    false,
                );
                vec![Refusal {
                    what: "signed for another URL".into(),
                    delivery: Delivery {
                        path: self.path("switchboard_contact_id=2"),
                        ..signed_for_one
                    },
                    says: self.says_when_signed_for_another_url("switchboard_contact_id=2"),
                }]
            }
            Vendor::Portal => vec![Refusal {
                what: "with a garbled signature header".into(),
                delivery: with_header(signed, "X-Portal-Signature", "v1=abc"),
                says: Says::exactly(
                    "x-portal-signature: a v1 entry is not 64 lowercase hex digits",
                ),
            }],
            Vendor::Standard => vec![Refusal {
                what: "with a signature header without a v1 entry".into(),
                delivery: with_header(signed, "webhook-signature", "v1a,bm90LWNoZWNrZWQ="),
                says: Says::exactly("webhook-signature: no v1 entry (the HMAC-SHA256 signature)"),
            }],
        }
    }

    /// Signed events its plugin refuses as malformed (400, kept), each with what it says.
    pub fn malformed(self) -> Vec<(Event, Says)> {
        let now = now_secs();
        match self {
            Vendor::SendGrid => vec![
                (
                    Event {
                        body: b"{not json".to_vec(),
                        query: String::new(),
                    },
                    Says::exactly("body is not a JSON array of events: it does not start with `[`"),
                ),
                (
                    Event::json(&json!([{ "email": "a@b.org", "timestamp": 1 }])),
                    Says::exactly("event 0: missing `event`"),
                ),
            ],
            Vendor::Mailgun => {
                let opened =
                    |id: &str| mailgun::event("opened", "ana@example.org", now as f64, "m@mg", id);
                let mut no_event = opened("ev-1");
                no_event.as_object_mut().map(|o| o.remove("event"));
                let mut text_time = opened("ev-2");
                text_time["timestamp"] = json!("yesterday");
                let mut bad_contact = opened("ev-3");
                bad_contact["user-variables"] = json!({ "switchboard_contact_id": ["42"] });
                vec![
                    (
                        Event::json(&no_event),
                        Says::exactly("missing `event-data.event`"),
                    ),
                    (
                        Event::json(&text_time),
                        Says::exactly("`event-data.timestamp` must be a number (Unix seconds)"),
                    ),
                    (
                        Event::json(&bad_contact),
                        Says::exactly(
                            "`event-data.user-variables.switchboard_contact_id` must be a string \
                             or an integer",
                        ),
                    ),
                ]
            }
            Vendor::SmsTwilio => {
                let mut no_sid = twilio_status("SM1", "delivered", "+14155550100");
                no_sid.retain(|(name, _)| !matches!(*name, "MessageSid" | "SmsSid"));
                let mut neither = twilio_status("SM2", "delivered", "+14155550100");
                neither.retain(|(name, _)| !matches!(*name, "MessageStatus" | "SmsStatus"));
                vec![
                    (
                        Event::form(&no_sid, String::new()),
                        Says::exactly("status callback without MessageSid"),
                    ),
                    (
                        Event::form(&neither, String::new()),
                        Says::exactly(
                            "neither a status callback (no MessageStatus) nor an inbound message \
                             (no Body)",
                        ),
                    ),
                ]
            }
            Vendor::VoiceTwilio => {
                let completed =
                    |sid: &str| call_status(sid, "completed", "outbound-api", "+14155550100", now);
                let mut no_sid = completed("CA0061");
                no_sid.retain(|(name, _)| *name != "CallSid");
                let mut bad_duration = completed("CA0062");
                bad_duration.push(("CallDuration", "5m".to_string()));
                vec![
                    (
                        Event::form(&no_sid, String::new()),
                        Says::exactly("status callback without CallSid"),
                    ),
                    (
                        Event::form(&bad_duration, String::new()),
                        Says::exactly("CallDuration is not a whole number of seconds: \"5m\""),
                    ),
                ]
            }
            Vendor::Portal => {
                let at = now * 1000;
                let mut no_user_id = portal_event("evt_2", "login", "u-42", at);
                no_user_id["user"] = json!({ "email": "ana@example.org" });
                let one_bad = json!({
                    "events": [portal_event("evt_1", "login", "u-42", at), no_user_id]
                });
                let logout = json!({ "events": [portal_event("evt_3", "logout", "u-42", at)] });
                vec![
                    (
                        Event::json(&one_bad),
                        Says::exactly("event 1: missing `user.portal_user_id`"),
                    ),
                    (
                        Event::json(&logout),
                        Says::exactly(
                            "event 0: unknown `type` \"logout\"; expected one of login, \
                             page_view, document_download, message_read",
                        ),
                    ),
                ]
            }
            Vendor::Standard => {
                let delivered = || {
                    standard_event(
                        "sms.delivered",
                        "outbound",
                        "delivered",
                        json!({ "phone": "+14155550100" }),
                        now * 1000,
                    )
                };
                let mut nobody = delivered();
                nobody["data"]["contact"] = json!({});
                let mut unknown_outcome = delivered();
                unknown_outcome["data"]["outcome"] = json!("read");
                vec![
                    (
                        Event::json(&nobody),
                        Says::exactly(
                            "`data.contact` names no one: give `contact_id`, `email`, `phone` or \
                             `external_id`",
                        ),
                    ),
                    (
                        Event::json(&unknown_outcome),
                        Says::exactly(
                            "`data.outcome` \"read\" is not an outcome (see wit/types.wit for \
                             the words)",
                        ),
                    ),
                ]
            }
        }
    }
}
