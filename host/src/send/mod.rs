//! Sending a message through a plugin, and recording the attempt in the interaction log as
//! `<channel>_sent` (with the vendor's message id, so the vendor's later webhooks join it) or
//! `<channel>_failed` (with the typed reason).
//!
//! This is the direct path — one attempt, now — used by `switchboard send`. Channel selection,
//! retries and fallback belong to the outbox.

use serde::Serialize;
use serde_json::json;

use crate::clock::now_ms;
use crate::domain::{Channel, Direction, Outcome};
use crate::identity::{IdentityError, IdentityKey};
use crate::runtime::bindings::{OutboundMessage, SendFailureKind};
use crate::runtime::{CallError, Plugin};
use crate::store::interactions::{self, NewInteraction};
use crate::store::{Store, StoreError, contacts};

/// A message to send now.
#[derive(Debug, Clone, Default)]
pub struct DirectMessage {
    /// The recipient's address on the channel: an email address or a phone number.
    pub to: String,
    /// The contact it is for; found (or created) from `to` when absent.
    pub contact_id: Option<i64>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Why a message could not be attempted at all.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot address {0} messages directly")]
    UnaddressableChannel(Channel),
    #[error("plugin `{plugin}` is not assigned channel {channel}")]
    ChannelNotAssigned { plugin: String, channel: Channel },
    #[error("invalid recipient: {0}")]
    InvalidRecipient(#[from] IdentityError),
    #[error("contact {0} does not exist")]
    UnknownContact(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How an attempt went, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub message_id: String,
    pub contact_id: i64,
    pub channel: Channel,
    pub plugin_id: String,
    /// The interaction kind recorded: `<channel>_sent` or `<channel>_failed`.
    pub recorded: String,
    pub vendor_message_id: Option<String>,
    pub failure: Option<Failure>,
}

/// A failed attempt's reason.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub kind: String,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
    pub message: String,
    pub vendor_code: Option<String>,
}

/// Sends `message` on `channel` through `plugin` and records the attempt.
pub async fn send_direct(
    store: &Store,
    plugin: &Plugin,
    channel: Channel,
    message: DirectMessage,
    default_country_code: Option<&str>,
    created_by: &str,
) -> Result<SendReport, SendError> {
    if !plugin.spec.channels.contains(&channel) {
        return Err(SendError::ChannelNotAssigned {
            plugin: plugin.id().to_string(),
            channel,
        });
    }
    let address = match channel {
        Channel::Email => IdentityKey::email(&message.to)?,
        Channel::Sms | Channel::Phone => IdentityKey::phone(&message.to, default_country_code)?,
        other => return Err(SendError::UnaddressableChannel(other)),
    };
    let contact_id = recipient(store, message.contact_id, &address, created_by).await?;
    let message_id = new_message_id();
    let outbound = OutboundMessage {
        message_id: message_id.clone(),
        idempotency_key: format!("{message_id}-1"),
        contact_id: contact_id.to_string(),
        channel: channel
            .try_into()
            .map_err(SendError::UnaddressableChannel)?,
        to: address.value.clone(),
        subject: message.subject.clone(),
        text: message.text.clone(),
        html: message.html.clone(),
        template: None,
        metadata: "{}".to_string(),
    };
    let (vendor_message_id, vendor_status, failure) = match plugin.send(&outbound).await {
        Ok(Ok(receipt)) => (receipt.vendor_message_id, receipt.vendor_status, None),
        Ok(Err(failure)) => (
            None,
            None,
            Some(Failure {
                kind: failure_kind(failure.kind).to_string(),
                retryable: failure.retryable,
                retry_after_ms: failure.retry_after_ms,
                message: failure.message,
                vendor_code: failure.vendor_code,
            }),
        ),
        Err(error) => (None, None, Some(call_failure(&error))),
    };
    let recorded = format!(
        "{channel}_{}",
        if failure.is_some() { "failed" } else { "sent" }
    );
    let row = NewInteraction {
        contact_id: Some(contact_id),
        occurred_at: now_ms(),
        received_at: now_ms(),
        kind: recorded.clone(),
        channel,
        direction: Direction::Outbound,
        outcome: if failure.is_some() {
            Outcome::Failed
        } else {
            Outcome::Sent
        },
        vendor_status,
        plugin_id: Some(plugin.id().to_string()),
        external_system: Some(plugin.description.vendor.clone()),
        vendor_message_id: vendor_message_id.clone(),
        vendor_event_id: None,
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: message
            .subject
            .clone()
            .or_else(|| message.text.as_deref().map(preview)),
        metadata: json!({
            "message_id": message_id,
            "to": address.value,
            "subject": message.subject,
            "failure": failure,
        })
        .to_string(),
        created_by: created_by.to_string(),
    };
    let mut tx = store.begin_write().await?;
    interactions::insert_new(tx.conn(), &[row]).await?;
    tx.commit().await?;
    Ok(SendReport {
        message_id,
        contact_id,
        channel,
        plugin_id: plugin.id().to_string(),
        recorded,
        vendor_message_id,
        failure,
    })
}

/// The contact a message goes to: the one named (which must exist), or the owner of the address,
/// or a new contact owning it.
async fn recipient(
    store: &Store,
    contact_id: Option<i64>,
    address: &IdentityKey,
    source: &str,
) -> Result<i64, SendError> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let contact = match contact_id {
        Some(id) if contacts::existing(tx.conn(), &[id]).await?.contains(&id) => id,
        Some(id) => return Err(SendError::UnknownContact(id)),
        None => match contacts::owners(tx.conn(), std::slice::from_ref(address))
            .await?
            .get(address)
        {
            Some(owner) => *owner,
            None => contacts::create(tx.conn(), now).await?,
        },
    };
    contacts::link_identity(tx.conn(), contact, address, source, now).await?;
    tx.commit().await?;
    Ok(contact)
}

fn call_failure(error: &CallError) -> Failure {
    Failure {
        kind: error.code().to_string(),
        retryable: matches!(error, CallError::Timeout { .. }),
        retry_after_ms: None,
        message: error.to_string(),
        vendor_code: None,
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

/// A random message id, `msg_` and 16 hex digits.
fn new_message_id() -> String {
    let mut bytes = [0u8; 8];
    // The system RNG failing is not recoverable in any useful way; fall back to the clock.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        bytes = now_ms().to_be_bytes();
    }
    format!("msg_{}", crate::runtime::hex(&bytes))
}

fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        preview.push('…');
    }
    preview
}
