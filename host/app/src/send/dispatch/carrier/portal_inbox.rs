//! The portal inbox as a carrier: a portal attempt posts the message to the contact's inbox in
//! the organisation's portal and logs it as sent; the person reading it there settles it (see
//! `staff::portal_inbox`).

use serde_json::json;

use crate::log;
use crate::send::content::Parts;
use crate::send::dispatch::CarryError;
use crate::send::plugin_try::preview;
use crate::send::settle;
use switchboard_core::domain::{Channel, Direction, Outcome};
use switchboard_store::Store;
use switchboard_store::interactions::NewInteraction;
use switchboard_store::outbox::Claimed;
use switchboard_store::portal_inbox::{self, NewPortalMessage};

/// The carrier name of the portal inbox, also the `vendor` of its log rows.
pub const PORTAL_INBOX: &str = "portal_inbox";

/// Posts portal attempts to the contact's portal inbox.
pub struct PortalInbox {
    store: Store,
}

impl PortalInbox {
    pub fn new(store: Store) -> Self {
        PortalInbox { store }
    }

    /// Posts the message to `account`'s inbox and logs `portal_sent`, in one transaction.
    pub async fn carry(
        &self,
        attempt: &Claimed,
        account: &str,
        parts: &Parts,
        now: i64,
    ) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        portal_inbox::post(
            tx.conn(),
            &NewPortalMessage {
                message_id: &attempt.message_id,
                attempt_id: attempt.attempt_id,
                contact_id: attempt.contact_id,
                subject: parts.subject.as_deref(),
                text: parts.text.as_deref(),
                html: parts.html.as_deref(),
                now,
            },
        )
        .await?;
        log::append(
            tx.conn(),
            vec![sent_row(attempt, account, parts, now).into()],
        )
        .await?;
        let recorded = settle::record_sent(
            tx.conn(),
            attempt,
            PORTAL_INBOX,
            account,
            Some(&attempt.message_id),
            now,
        )
        .await?;
        // Only under the lease: otherwise nothing is posted (the transaction is dropped).
        if recorded {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The `portal_sent` row; its vendor message id is the message's own id, which the read receipt
/// carries too.
fn sent_row(attempt: &Claimed, account: &str, parts: &Parts, now: i64) -> NewInteraction {
    NewInteraction {
        contact_id: Some(attempt.contact_id),
        occurred_at: now,
        received_at: now,
        kind: "portal_sent".into(),
        channel: Channel::Portal,
        direction: Direction::Outbound,
        outcome: Outcome::Sent,
        vendor_status: None,
        plugin_id: None,
        vendor: Some(PORTAL_INBOX.into()),
        vendor_message_id: Some(attempt.message_id.clone()),
        vendor_event_id: None,
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: parts
            .subject
            .clone()
            .or_else(|| parts.text.as_deref().map(preview)),
        metadata:
            json!({ "message_id": attempt.message_id, "attempt": attempt.seq, "to": account })
                .to_string(),
        created_by: "outbox".into(),
    }
}
