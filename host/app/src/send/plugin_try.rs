//! One try through a plugin, and the interaction-log row that records it: shared by the direct
//! path and the dispatcher's plugin carrier, so that both log sends the same way.

use serde::Serialize;
use serde_json::json;

use switchboard_core::domain::{Channel, Direction, Outcome};
use switchboard_runtime::bindings::{OutboundMessage, SendFailureKind};
use switchboard_runtime::{CallError, Plugin};
use switchboard_store::interactions::NewInteraction;

/// A failed try's reason.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub kind: String,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
    pub message: String,
    pub vendor_code: Option<String>,
    /// The vendor may have taken the message anyway (no answer came back).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub outcome_unknown: bool,
}

/// What a try came to.
#[derive(Debug, Clone)]
pub enum Tried {
    Sent {
        vendor_message_id: Option<String>,
        vendor_status: Option<String>,
    },
    Failed(Failure),
}

/// Calls the plugin's `send` once.
pub async fn through_plugin(plugin: &Plugin, message: &OutboundMessage) -> Tried {
    let tried = try_once(plugin, message).await;
    let result = match &tried {
        Tried::Sent { .. } => "sent",
        Tried::Failed(failure) => failure.kind.as_str(),
    };
    switchboard_core::metrics::send_attempt(plugin.id(), result);
    tried
}

async fn try_once(plugin: &Plugin, message: &OutboundMessage) -> Tried {
    match plugin.send(message).await {
        Ok(Ok(receipt)) => Tried::Sent {
            vendor_message_id: receipt.vendor_message_id,
            vendor_status: receipt.vendor_status,
        },
        Ok(Err(failure)) => Tried::Failed(Failure {
            outcome_unknown: failure.kind == SendFailureKind::Network,
            kind: failure_kind(failure.kind).to_string(),
            retryable: failure.retryable,
            retry_after_ms: failure.retry_after_ms,
            message: failure.message,
            vendor_code: failure.vendor_code,
        }),
        Err(error) => Tried::Failed(call_failure(&error)),
    }
}

/// A plugin that ran out of time may have been waiting on the vendor's answer: retryable, and
/// the outcome is unknown. One that never started (no instance slot came free) certainly sent
/// nothing: retryable, outcome known. Any other runtime failure (a trap, bad output) is the
/// plugin's fault and a retry would fail the same way.
fn call_failure(error: &CallError) -> Failure {
    let (retryable, outcome_unknown) = match error {
        CallError::Timeout { .. } => (true, true),
        CallError::Busy { .. } => (true, false),
        CallError::MemoryLimit { .. }
        | CallError::Trap { .. }
        | CallError::OutputTooLarge { .. }
        | CallError::Failed { .. } => (false, false),
    };
    Failure {
        kind: error.code().to_string(),
        retryable,
        retry_after_ms: None,
        message: error.to_string(),
        vendor_code: None,
        outcome_unknown,
    }
}

fn failure_kind(kind: SendFailureKind) -> &'static str {
    match kind {
        SendFailureKind::Auth => "auth",
        SendFailureKind::InvalidRecipient => "invalid_recipient",
        SendFailureKind::RateLimited => "rate_limited",
        SendFailureKind::ContentRejected => "content_rejected",
        SendFailureKind::VendorUnavailable => "vendor_unavailable",
        SendFailureKind::Network => "network",
        SendFailureKind::Misconfigured => "misconfigured",
        SendFailureKind::Other => "other",
    }
}

/// What the log row of a try records.
#[derive(Clone, Copy)]
pub struct TryRecord<'a> {
    pub contact_id: i64,
    pub channel: Channel,
    pub plugin: &'a Plugin,
    pub message_id: &'a str,
    pub attempt_seq: Option<i64>,
    pub address: &'a str,
    pub subject: Option<&'a str>,
    pub text: Option<&'a str>,
    pub tried: &'a Tried,
    pub created_by: &'a str,
    pub now: i64,
}

/// The `<channel>_sent` or `<channel>_failed` row for a try; a sent row carries the vendor's
/// message id, so the vendor's later webhooks about it join it.
pub fn log_row(record: &TryRecord<'_>) -> NewInteraction {
    let (outcome, vendor_message_id, vendor_status, failure) = match record.tried {
        Tried::Sent {
            vendor_message_id,
            vendor_status,
        } => (
            Outcome::Sent,
            vendor_message_id.clone(),
            vendor_status.clone(),
            None,
        ),
        Tried::Failed(failure) => (Outcome::Failed, None, None, Some(failure)),
    };
    let word = if outcome == Outcome::Sent {
        "sent"
    } else {
        "failed"
    };
    NewInteraction {
        contact_id: Some(record.contact_id),
        occurred_at: record.now,
        received_at: record.now,
        kind: format!("{}_{word}", record.channel),
        channel: record.channel,
        direction: Direction::Outbound,
        outcome,
        vendor_status,
        plugin_id: Some(record.plugin.id().to_string()),
        vendor: Some(record.plugin.description.vendor.clone()),
        vendor_message_id,
        vendor_event_id: None,
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: record
            .subject
            .map(str::to_string)
            .or_else(|| record.text.map(preview)),
        metadata: json!({
            "message_id": record.message_id,
            "attempt": record.attempt_seq,
            "address": record.address,
            "subject": record.subject,
            "failure": failure,
        })
        .to_string(),
        created_by: record.created_by.to_string(),
    }
}

/// The first 80 characters of a text, for a log row's summary.
pub fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure_of(error: CallError) -> (bool, bool) {
        let failure = call_failure(&error);
        assert_eq!(failure.kind, error.code());
        (failure.retryable, failure.outcome_unknown)
    }

    #[test]
    fn only_a_call_that_never_started_is_known_to_have_sent_nothing() {
        let plugin = || "email-sendgrid".to_string();
        let timed_out = CallError::Timeout {
            plugin: plugin(),
            budget_ms: 15_000,
        };
        let busy = CallError::Busy {
            plugin: plugin(),
            budget_ms: 15_000,
        };
        let trapped = CallError::Trap {
            plugin: plugin(),
            trap: "unreachable".into(),
            stderr: String::new(),
        };
        assert_eq!(
            failure_of(timed_out),
            (true, true),
            "may have reached the vendor"
        );
        assert_eq!(
            failure_of(busy),
            (true, false),
            "never ran: retry, nothing unknown"
        );
        assert_eq!(
            failure_of(trapped),
            (false, false),
            "would fail the same way again"
        );
    }
}
