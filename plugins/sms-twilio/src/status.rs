//! Message status callbacks: Twilio posts one each time an outbound message changes status.

use serde_json::json;
use switchboard_plugin_sdk::{Channel, Direction, Identity, Interaction, Outcome, Timestamp, form};

/// Error codes that mean the number can never receive SMS: unknown handset, landline or
/// unreachable carrier, invalid `To`, not a mobile number. An undelivered or failed message with
/// one of these is a bounce (the identity is unreachable), not a passing failure.
const PERMANENT_ERROR_CODES: [&str; 4] = ["30005", "30006", "21211", "21614"];

/// The interaction a status callback reports.
pub fn interaction(
    params: &[(String, String)],
    status: &str,
    contact_id: Option<String>,
    received_at: Timestamp,
) -> Result<Interaction, String> {
    let sid = form::get(params, "MessageSid")
        .or_else(|| form::get(params, "SmsSid"))
        .ok_or("status callback without MessageSid")?;
    let error_code = form::get(params, "ErrorCode").filter(|c| !c.is_empty());
    let outcome = outcome_of(status, error_code);
    let mut interaction = Interaction::new(
        kind_of(status),
        Channel::Sms,
        Direction::Outbound,
        outcome,
        received_at,
    );
    interaction.vendor_status = Some(status.to_string());
    interaction.vendor_message_id = Some(sid.to_string());
    // Twilio sends each status of a message once (and retries it unchanged), so sid + status
    // identifies the event.
    interaction.vendor_event_id = Some(format!("{sid}:{status}"));
    if let Some(contact_id) = contact_id {
        interaction.identities.push(Identity::ContactId(contact_id));
    }
    if let Some(to) = form::get(params, "To") {
        interaction.identities.push(Identity::Phone(to.to_string()));
    }
    interaction.summary = error_code.map(|code| format!("{status}: Twilio error {code}"));
    interaction.metadata = json!({
        "to": form::get(params, "To"),
        "from": form::get(params, "From"),
        "error_code": error_code,
        "error_message": form::get(params, "ErrorMessage"),
        "messaging_service_sid": form::get(params, "MessagingServiceSid"),
    })
    .to_string();
    Ok(interaction)
}

fn kind_of(status: &str) -> &'static str {
    match status {
        "accepted" | "scheduled" | "queued" => "sms_queued",
        "sending" => "sms_sending",
        // `sms_sent` is the kind of Switchboard's own record of a send; Twilio's `sent` means it
        // handed the message to the carrier.
        "sent" => "sms_dispatched",
        "delivered" => "sms_delivered",
        "undelivered" => "sms_undelivered",
        "failed" => "sms_failed",
        "read" => "sms_read",
        "canceled" => "sms_canceled",
        _ => "sms_status",
    }
}

/// The outcome of a message status, sharpened by the error code when there is one.
pub fn outcome_of(status: &str, error_code: Option<&str>) -> Outcome {
    let permanent = error_code.is_some_and(|code| PERMANENT_ERROR_CODES.contains(&code));
    match status {
        "accepted" | "scheduled" | "queued" | "sending" => Outcome::Queued,
        "sent" => Outcome::Sent,
        "delivered" => Outcome::Delivered,
        "read" => Outcome::Opened,
        "undelivered" | "failed" if permanent => Outcome::Bounced,
        "undelivered" | "failed" | "canceled" => Outcome::Failed,
        "received" | "receiving" => Outcome::Replied,
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn maps_every_status() {
        let cases = [
            ("queued", None, Outcome::Queued),
            ("sending", None, Outcome::Queued),
            ("sent", None, Outcome::Sent),
            ("delivered", None, Outcome::Delivered),
            ("read", None, Outcome::Opened),
            ("undelivered", Some("30003"), Outcome::Failed),
            ("undelivered", Some("30006"), Outcome::Bounced),
            ("failed", Some("21211"), Outcome::Bounced),
            ("failed", None, Outcome::Failed),
            ("canceled", None, Outcome::Failed),
            ("paused", None, Outcome::Unknown),
        ];
        for (status, code, outcome) in cases {
            assert_eq!(outcome_of(status, code), outcome, "{status} {code:?}");
        }
    }

    #[test]
    fn an_undelivered_callback_carries_its_error_code() {
        let p = params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("To", "+14155550100"),
            ("ErrorCode", "30005"),
        ]);
        let i = interaction(&p, "undelivered", Some("7".into()), 1000).unwrap();
        assert_eq!(i.kind, "sms_undelivered");
        assert_eq!(i.outcome, Outcome::Bounced);
        assert_eq!(i.vendor_event_id.as_deref(), Some("SM1:undelivered"));
        assert_eq!(
            i.summary.as_deref(),
            Some("undelivered: Twilio error 30005")
        );
        assert!(matches!(&i.identities[0], Identity::ContactId(id) if id == "7"));
        assert!(i.metadata.contains("\"error_code\":\"30005\""));
    }

    #[test]
    fn a_callback_without_a_sid_is_malformed() {
        let p = params(&[("MessageStatus", "sent")]);
        assert!(
            interaction(&p, "sent", None, 0)
                .unwrap_err()
                .contains("MessageSid")
        );
    }
}
