//! The portal inbox as the organisation's portal app sees it (with a `portal` key): a contact's
//! messages, and marking one read, which logs a portal interaction that settles the message.

use serde_json::json;

use super::contacts::referenced;
use crate::auth::Caller;
use crate::log;
use crate::send::dispatch::PORTAL_INBOX;
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, Direction, Outcome};
use switchboard_store::Store;
use switchboard_store::interactions::NewInteraction;
use switchboard_store::portal_inbox::{self, PortalMessage};

/// The portal inbox as the portal app reads it, over the store.
#[derive(Clone)]
pub struct PortalInbox {
    store: Store,
}

impl PortalInbox {
    pub fn new(store: Store) -> Self {
        PortalInbox { store }
    }

    /// A contact's portal inbox, newest first.
    pub async fn messages(&self, contact_id: i64) -> Result<Vec<PortalMessage>, ServiceError> {
        let mut conn = self.store.reader().await?;
        referenced(&mut conn, contact_id, "id").await?;
        Ok(portal_inbox::list(&mut conn, contact_id).await?)
    }

    /// The person opened a message in the portal: marks it read and logs `portal_message_read`
    /// (once; reading it again changes nothing).
    pub async fn read(
        &self,
        contact_id: i64,
        message_id: &str,
        caller: &Caller,
        now: i64,
    ) -> Result<PortalMessage, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let message = inbox_message(tx.conn(), contact_id, message_id).await?;
        if message.read_at.is_none() {
            portal_inbox::mark_read(tx.conn(), message_id, now).await?;
            let row = NewInteraction {
                contact_id: Some(contact_id),
                occurred_at: now,
                received_at: now,
                kind: "portal_message_read".into(),
                channel: Channel::Portal,
                direction: Direction::Inbound,
                outcome: Outcome::Opened,
                vendor_status: Some("message_read".into()),
                plugin_id: None,
                vendor: Some(PORTAL_INBOX.into()),
                vendor_message_id: Some(message_id.to_string()),
                vendor_event_id: Some(format!("read:{message_id}")),
                raw_webhook_id: None,
                time_to_action_ms: Some(now - message.posted_at),
                summary: Some(match &message.subject {
                    Some(subject) => format!("Read message: {subject}"),
                    None => "Read a message".to_string(),
                }),
                metadata: json!({ "message_id": message_id }).to_string(),
                created_by: caller.actor(),
            };
            log::append(tx.conn(), vec![row.into()]).await?;
        }
        let message = inbox_message(tx.conn(), contact_id, message_id).await?;
        tx.commit().await?;
        Ok(message)
    }
}

/// One message of a contact's inbox; a message that is not theirs is as unknown as none.
async fn inbox_message(
    conn: &mut sqlx::AnyConnection,
    contact_id: i64,
    message_id: &str,
) -> Result<PortalMessage, ServiceError> {
    portal_inbox::get(conn, contact_id, message_id)
        .await?
        .ok_or_else(|| ServiceError::Unknown {
            what: "portal message of this contact",
            name: message_id.to_string(),
        })
}
