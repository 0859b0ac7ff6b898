//! Sending a message through a plugin, and recording the attempt in the interaction log as
//! `<channel>_sent` (with the vendor's message id, so the vendor's later webhooks join it) or
//! `<channel>_failed` (with the typed reason).
//!
//! This is the direct path — one attempt, now — used by `switchboard send`. Channel selection,
//! retries and fallback belong to the outbox ([`super::dispatch`]).

use serde::Serialize;

use super::plugin_try::{Failure, Tried, TryRecord, log_row, through_plugin};
use crate::log;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::{Channel, IdentityError, IdentityKey};
use switchboard_runtime::Plugin;
use switchboard_runtime::bindings::OutboundMessage;
use switchboard_store::{Store, StoreError, contacts};

/// A message to send now.
#[derive(Debug, Clone, Default)]
pub struct DirectMessage {
    /// The recipient's address on the channel: an email address or a phone number.
    pub address: String,
    /// The contact it is for; found (or created) from `address` when absent.
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
        Channel::Email => IdentityKey::email(&message.address)?,
        Channel::Sms | Channel::Phone => {
            IdentityKey::phone(&message.address, default_country_code)?
        }
        other => return Err(SendError::UnaddressableChannel(other)),
    };
    let contact_id = recipient(store, message.contact_id, &address, created_by).await?;
    let message_id = super::random_id("msg_");
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
    let tried = through_plugin(plugin, &outbound).await;
    let row = log_row(&TryRecord {
        contact_id,
        channel,
        plugin,
        message_id: &message_id,
        attempt_seq: None,
        address: &address.value,
        subject: message.subject.as_deref(),
        text: message.text.as_deref(),
        tried: &tried,
        created_by,
        now: now_ms(),
    });
    let recorded = row.kind.clone();
    let (vendor_message_id, failure) = match tried {
        Tried::Sent {
            vendor_message_id, ..
        } => (vendor_message_id, None),
        Tried::Failed(failure) => (None, Some(failure)),
    };
    let mut tx = store.begin_write().await?;
    log::append(tx.conn(), vec![row.into()]).await?;
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
