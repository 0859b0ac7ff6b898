//! The staff call queue as a carrier: a phone attempt becomes a task for staff to call, and the
//! call they log for it later settles the attempt (see `staff::call_queue`).

use crate::send::content::Parts;
use crate::send::dispatch::CarryError;
use crate::send::settle;
use switchboard_store::Store;
use switchboard_store::call_tasks::{self, NewTask};
use switchboard_store::outbox::Claimed;

/// The carrier name of the call queue.
pub const CALL_QUEUE: &str = "call_queue";

/// Puts phone attempts in the staff call queue.
pub struct CallQueue {
    store: Store,
}

impl CallQueue {
    pub fn new(store: Store) -> Self {
        CallQueue { store }
    }

    /// Creates the call task for the attempt, with the message's text as the script.
    pub async fn carry(
        &self,
        attempt: &Claimed,
        phone: &str,
        parts: &Parts,
        now: i64,
    ) -> Result<(), CarryError> {
        let mut tx = self.store.begin_write().await?;
        let task = call_tasks::create(
            tx.conn(),
            &NewTask {
                attempt_id: attempt.attempt_id,
                message_id: &attempt.message_id,
                contact_id: attempt.contact_id,
                phone,
                script: parts.text.as_deref().unwrap_or_default(),
                urgency: &attempt.urgency,
                now,
            },
        )
        .await?;
        let reference = call_tasks::call_reference(task);
        // Only under the lease: otherwise the task is not created (the transaction is dropped).
        if settle::record_sent(tx.conn(), attempt, CALL_QUEUE, phone, Some(&reference), now).await?
        {
            tx.commit().await?;
        }
        Ok(())
    }
}
