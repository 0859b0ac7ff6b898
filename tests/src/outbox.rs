//! The outbox as the sending tests drive it: an office whose contacts are in a zone where it is
//! midday now (so quiet hours never hold a test's message), messages posted with a sender key,
//! and waiting for a message to reach a state.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::Api;

/// An IANA zone where it is about noon now (`Etc/GMT-N` is N hours ahead of UTC).
pub fn midday_zone() -> String {
    let utc_hour = (crate::now_ms() / 3_600_000).rem_euclid(24);
    let ahead = 12 - utc_hour;
    match ahead {
        0 => "Etc/UTC".to_string(),
        n if n > 0 => format!("Etc/GMT-{n}"),
        n => format!("Etc/GMT+{}", -n),
    }
}

/// Creates a contact with these identities (`[("email", "ana@example.org"),
/// ("external", "portal:u-42"), ...]`) in [`midday_zone`].
pub async fn contact(staff: &Api<'_>, identities: &[(&str, &str)]) -> i64 {
    let identities: Vec<Value> = identities
        .iter()
        .map(|(kind, value)| match value.split_once(':') {
            Some((system, id)) if *kind == "external" => {
                json!({ "kind": kind, "system": system, "value": id })
            }
            _ => json!({ "kind": kind, "value": value }),
        })
        .collect();
    let created = staff
        .post_ok(
            "/api/contacts",
            &json!({ "display_name": "Ana Martínez", "timezone": midday_zone(),
                     "identities": identities }),
            201,
        )
        .await;
    created["id"].as_i64().expect("contact id")
}

/// Posts a message and returns the accepted answer (202).
pub async fn send(sender: &Api<'_>, body: &Value) -> Value {
    sender.post_ok("/api/messages", body, 202).await
}

/// Polls `GET /api/messages/{id}` until `done` holds (30 s at most).
pub async fn wait_for(
    sender: &Api<'_>,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let message = sender.get_ok(&format!("/api/messages/{id}")).await;
        if done(&message) {
            return message;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("message {id} never became {what}: {message:#}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message's status word.
pub fn status(message: &Value) -> &str {
    message["status"].as_str().unwrap_or_default()
}

/// Attempt `seq` (1-based) of a message.
pub fn attempt(message: &Value, seq: usize) -> &Value {
    &message["attempts"][seq - 1]
}

/// The message's history, event words only.
pub fn history(message: &Value) -> Vec<String> {
    message["history"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["event"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
