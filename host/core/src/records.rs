//! The records the store reads back and the API shows as they are: a contact and its identities,
//! an intent, a consent entry, an audit entry, a call task, a portal message, stated preferences,
//! a message with its attempts and history. Defined here, beside the words they are made of, so
//! that the store holds rows and queries only and the HTTP layer describes these in its OpenAPI
//! document without the store knowing about it.

use serde_json::Value;

use crate::domain::{
    AttemptStatus, Channel, ConsentSource, ConsentStatus, IdentityKind, MessageStatus,
    PlannedChannel,
};

// People: contacts and their identities.

/// A contact's own fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub display_name: Option<String>,
    /// IANA time zone name (`Europe/Madrid`), for quiet hours and best times.
    pub timezone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An identity as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: i64,
    pub contact_id: i64,
    #[schema(value_type = String, example = "email")]
    pub kind: IdentityKind,
    pub value: String,
    /// Who linked it: `plugin:<id>`, `staff:<key>`.
    pub source: String,
    pub created_at: i64,
    /// Set when a hard bounce or a permanently undeliverable number showed it does not reach
    /// them; cleared by re-verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_reason: Option<String>,
    /// The interaction that showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_interaction_id: Option<i64>,
}

/// What a merge moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Moved {
    pub interactions: u64,
    pub identities: u64,
    pub intents: u64,
}

// The audit trail.

/// An audit record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `staff:<key name>`, `cli`.
    pub actor: String,
    /// `contact.export`, `contact.erase`, `contact.merge`, `key.create`, ...
    pub action: String,
    pub contact_id: Option<i64>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

// The consent ledger.

/// A ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConsentEntry {
    pub id: i64,
    pub contact_id: i64,
    pub channel: Channel,
    pub status: ConsentStatus,
    pub source: ConsentSource,
    pub occurred_at: i64,
    pub recorded_at: i64,
    /// `plugin:<id>` for vendor events, `staff:<key>` for staff and the preference centre.
    pub recorded_by: String,
    /// The interaction it came from.
    pub interaction_id: Option<i64>,
    /// The raw webhook it came from, replayable.
    pub raw_webhook_id: Option<i64>,
    pub note: Option<String>,
}

// Intents.

/// A stored intent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Intent {
    pub id: i64,
    pub contact_id: i64,
    /// What the person wants, in the organisation's words (`billing_question`, `reschedule`).
    pub intent: String,
    /// `open` or `resolved`.
    pub status: String,
    /// How many times the person raised it.
    pub attempts: i64,
    /// The channels it came up on, first first.
    #[schema(value_type = Vec<String>)]
    pub channels: Vec<Channel>,
    pub summary: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub created_by: String,
}

// The staff call queue.

/// A call to make.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CallTask {
    pub id: i64,
    pub message_id: String,
    pub contact_id: i64,
    pub phone: String,
    /// What to say.
    pub script: String,
    pub urgency: String,
    /// `open`, `claimed`, `done` or `cancelled`.
    pub status: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<i64>,
    /// How the call went, once done.
    pub outcome: Option<String>,
    /// The logged call.
    pub interaction_id: Option<i64>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

// The portal inbox.

/// A message in a contact's portal inbox.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PortalMessage {
    /// The message id (also the vendor message id of the portal's `message_read` events).
    pub id: String,
    pub contact_id: i64,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub posted_at: i64,
    pub read_at: Option<i64>,
}

// Stated preferences.

/// A contact's stated preferences.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct StatedPreferences {
    /// Channels they prefer, most preferred first.
    pub preferred_channels: Vec<Channel>,
    /// Their own quiet hours, in their local time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietSpan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// A daily span of local time, `"22:00"` to `"07:00"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QuietSpan {
    pub start: String,
    pub end: String,
}

// A message read back whole.

/// A message as `GET /api/messages/{id}` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub contact_id: i64,
    pub urgency: String,
    pub kind: String,
    pub status: MessageStatus,
    pub status_reason: Option<String>,
    pub allow_fallback: bool,
    pub not_before: Option<i64>,
    /// The channels in the order they are tried, each with selection's reason: the plan the
    /// message was accepted with.
    pub plan: Vec<PlannedChannel>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: Vec<AttemptView>,
    pub history: Vec<EventView>,
}

/// One channel a message was tried on.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub seq: i64,
    pub channel: Channel,
    /// The plugin, `call_queue` or `portal_inbox` that carried it.
    pub carrier: Option<String>,
    pub address: Option<String>,
    pub status: AttemptStatus,
    pub tries: i64,
    pub due_at: i64,
    pub vendor_message_id: Option<String>,
    /// A try ended without knowing whether the vendor took it; the retry carried the same
    /// idempotency key.
    pub outcome_unknown: bool,
    pub idempotency_key: String,
    #[schema(value_type = Option<Object>)]
    pub last_error: Option<Value>,
    pub updated_at: i64,
}

/// A line of a message's history.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub at: i64,
    pub attempt_seq: Option<i64>,
    pub event: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}
