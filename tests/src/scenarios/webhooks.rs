//! Deliveries as each vendor builds and signs them: one valid event per vendor about one of its
//! people, what accepting it answers, and the request on the wire, signed with the tests' secret,
//! with another one, or not at all.

use serde_json::{Value, json};

use super::Vendor;
use crate::mailgun;
use crate::now_ms;
use crate::server::{Reply, Server, request};
use crate::sign::{SendGridKey, portal_signature, twilio_signature};
use crate::standard_webhooks::{
    RETIRED_STANDARD_SECRET, STANDARD_SECRET, standard_event, standard_signature,
};
use crate::vendors::{
    PORTAL_SIGNING_SECRET, TWILIO_AUTH_TOKEN, TWILIO_WEBHOOK_URL, portal_event, sendgrid_event,
    twilio_status,
};
use crate::voice::{VOICE_WEBHOOK_URL, call_status};

/// What a vendor's system has to say before it signs and posts it: the body (for Mailgun the
/// `event-data`, which its signature then wraps) and the query of the URL it posts to (Twilio's
/// callbacks carry our contact id there).
#[derive(Debug, Clone)]
pub struct Event {
    pub body: Vec<u8>,
    pub query: String,
}

impl Event {
    pub(super) fn json(value: &Value) -> Self {
        Event {
            body: serde_json::to_vec(value).expect("serialize the event"),
            query: String::new(),
        }
    }

    pub(super) fn form(params: &[(&str, String)], query: String) -> Self {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Event {
            body: crate::sign::form_body(&borrowed).into_bytes(),
            query,
        }
    }
}

/// One HTTP request to `/webhooks/<plugin>`, exactly as it goes on the wire (so that it can be
/// sent again byte for byte).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub async fn send(&self, server: &Server) -> Reply {
        request(
            self.method,
            &server.url(&self.path),
            &self.headers,
            self.body.clone(),
        )
        .await
    }

    /// The same request with another method.
    pub fn with_method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
}

impl Vendor {
    /// The body of the answer to an accepted [`Vendor::event`].
    pub fn accepted_answer(self) -> Vec<u8> {
        match self {
            Vendor::Portal => br#"{"accepted":1}"#.to_vec(),
            _ => Vec::new(),
        }
    }

    /// Delivery `n` (its message and event ids are `n`'s own) about [`Vendor::person`]
    /// `person`, naming our `contact_id` the way this vendor echoes it, a minute ago.
    pub fn event(self, n: u32, person: u32, contact_id: Option<i64>) -> Event {
        let address = self.person(person).1;
        let at = now_secs() - 60;
        let contact_query =
            || contact_id.map_or(String::new(), |id| format!("switchboard_contact_id={id}"));
        match self {
            Vendor::SendGrid => {
                let message = format!("sg-msg-{n}");
                let mut batch = [
                    sendgrid_event("processed", &address, at, &message, &format!("sg-{n}-1")),
                    sendgrid_event(
                        "delivered",
                        &address,
                        at + 2,
                        &message,
                        &format!("sg-{n}-2"),
                    ),
                ];
                if let Some(id) = contact_id {
                    for event in &mut batch {
                        event["switchboard_contact_id"] = json!(id.to_string());
                    }
                }
                Event::json(&json!(batch))
            }
            Vendor::Mailgun => {
                let message = format!("mg-msg-{n}@mg.example.org");
                let mut opened =
                    mailgun::event("opened", &address, at as f64, &message, &format!("mg-{n}"));
                if let Some(id) = contact_id {
                    opened["user-variables"] = json!({ "switchboard_contact_id": id.to_string() });
                }
                Event::json(&opened)
            }
            Vendor::SmsTwilio => {
                let sid = format!("SMe2e{n:04}");
                Event::form(&twilio_status(&sid, "delivered", &address), contact_query())
            }
            Vendor::VoiceTwilio => {
                let sid = format!("CAe2e{n:04}");
                let mut params = call_status(&sid, "completed", "outbound-api", &address, at);
                params.push(("CallDuration", "61".to_string()));
                Event::form(&params, contact_query())
            }
            Vendor::Portal => {
                let user = address.trim_start_matches("portal:");
                let mut login = portal_event(&format!("evt_{n}"), "login", user, at * 1000);
                if let Some(id) = contact_id {
                    login["user"]["contact_id"] = json!(id);
                }
                Event::json(&json!({ "events": [login] }))
            }
            Vendor::Standard => {
                let mut contact = json!({ "email": address });
                if let Some(id) = contact_id {
                    contact["contact_id"] = json!(id);
                }
                let mut delivered = standard_event(
                    "email.delivered",
                    "outbound",
                    "delivered",
                    contact,
                    at * 1000,
                );
                delivered["id"] = json!(format!("std-{n}"));
                delivered["data"]["message_id"] = json!(format!("std-msg-{n}"));
                Event::json(&delivered)
            }
        }
    }

    /// `event` signed with the tests' secret at `at_secs`, as the vendor posts it.
    pub fn signed(self, event: &Event, at_secs: i64) -> Delivery {
        self.sign(event, at_secs, false)
    }

    /// `event` signed now with a secret that is not the configured one (an attacker's, or a
    /// stale configuration's).
    pub fn forged(self, event: &Event) -> Delivery {
        self.sign(event, now_secs(), true)
    }

    /// `event` posted as the vendor would, but without a signature.
    pub fn unsigned(self, event: &Event) -> Delivery {
        let body = match self {
            // Mailgun's signature is part of the body.
            Vendor::Mailgun => serde_json::to_vec(&json!({ "event-data": json_of(&event.body) }))
                .expect("serialize the webhook"),
            _ => event.body.clone(),
        };
        Delivery {
            method: "POST",
            path: self.path(&event.query),
            headers: vec![content_type(self)],
            body,
        }
    }

    /// `/webhooks/<id>`, with `query` if there is one.
    pub(super) fn path(self, query: &str) -> String {
        if query.is_empty() {
            format!("/webhooks/{}", self.id())
        } else {
            format!("/webhooks/{}?{query}", self.id())
        }
    }

    pub(super) fn sign(self, event: &Event, at_secs: i64, forged: bool) -> Delivery {
        let mut headers = vec![content_type(self)];
        let mut body = event.body.clone();
        match self {
            Vendor::SendGrid => {
                let key = if forged {
                    SendGridKey::other()
                } else {
                    SendGridKey::fixed()
                };
                headers.extend(key.headers(at_secs, &body));
            }
            Vendor::Mailgun => {
                let key = if forged {
                    "not-the-signing-key"
                } else {
                    mailgun::WEBHOOK_SIGNING_KEY
                };
                body = mailgun::signed_body(key, at_secs, &json_of(&event.body));
                headers.push(("User-Agent".into(), "mailgun/treq-16.12.0".into()));
            }
            Vendor::SmsTwilio | Vendor::VoiceTwilio => {
                let token = if forged {
                    "not-the-token"
                } else {
                    TWILIO_AUTH_TOKEN
                };
                let registered = if self == Vendor::SmsTwilio {
                    TWILIO_WEBHOOK_URL
                } else {
                    VOICE_WEBHOOK_URL
                };
                let url = if event.query.is_empty() {
                    registered.to_string()
                } else {
                    format!("{registered}?{}", event.query)
                };
                let params = mailgun::form_fields(&body);
                let params: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                headers.push((
                    "X-Twilio-Signature".into(),
                    twilio_signature(token, &url, &params),
                ));
                if self == Vendor::SmsTwilio {
                    headers.push(("I-Twilio-Idempotency-Token".into(), now_ms().to_string()));
                }
            }
            Vendor::Portal => {
                let secret = if forged {
                    "not-the-secret"
                } else {
                    PORTAL_SIGNING_SECRET
                };
                headers.push((
                    "X-Portal-Signature".into(),
                    portal_signature(&[secret], at_secs, &body),
                ));
            }
            Vendor::Standard => {
                let secret = if forged {
                    RETIRED_STANDARD_SECRET
                } else {
                    STANDARD_SECRET
                };
                // The sender's id of the message: the same for every retry of the same event.
                let id = format!("msg_{}", &crate::sha256_hex_of(&body)[..24]);
                headers.extend([
                    ("webhook-id".to_string(), id.clone()),
                    ("webhook-timestamp".to_string(), at_secs.to_string()),
                    (
                        "webhook-signature".to_string(),
                        standard_signature(&[secret], &id, at_secs, &body),
                    ),
                ]);
            }
        }
        Delivery {
            method: "POST",
            path: self.path(&event.query),
            headers,
            body,
        }
    }
}

fn content_type(vendor: Vendor) -> (String, String) {
    let form = matches!(vendor, Vendor::SmsTwilio | Vendor::VoiceTwilio);
    let value = if form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    ("Content-Type".to_string(), value.to_string())
}

pub(super) fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("the event is JSON")
}

/// `delivery` with header `name` (matched without case) set to `value`.
pub(super) fn with_header(mut delivery: Delivery, name: &str, value: &str) -> Delivery {
    delivery
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    delivery.headers.push((name.to_string(), value.to_string()));
    delivery
}

pub(super) fn now_secs() -> i64 {
    now_ms() / 1000
}
