//! What later events do to the outbox. A vendor's report about an attempt's message (a bounce, a
//! delivery, an answered call) settles the attempt: a delivery settles the whole message and
//! cancels what else was queued for it, a miss falls back to the next channel of its plan. A
//! failure the dispatcher records falls back the same way. The rules are in [`super::policy`];
//! the statements are `store::outbox`'s. [`observe`] is one of the reactions every append to the
//! log runs, in its transaction (see `log::reactions`).

use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::policy::{Verdict, next_channel, settled, verdict};
use switchboard_core::domain::{
    AttemptStatus, Channel, HistoryEvent, LoggedInteraction, MessageStatus,
};
use switchboard_store::outbox::{self, AttemptRef, Claimed};
use switchboard_store::{StoreError, interactions, portal_inbox};

/// Settles the attempts that newly logged events are about (matched by vendor message id and
/// channel). Runs inside the transaction that logs them.
pub async fn observe(
    conn: &mut AnyConnection,
    events: &[LoggedInteraction],
) -> Result<(), StoreError> {
    let relevant: Vec<(&LoggedInteraction, Verdict, &str)> = events
        .iter()
        .filter_map(|e| {
            let id = e.vendor_message_id.as_deref()?;
            Some((e, verdict(e.outcome)?, id))
        })
        .collect();
    if relevant.is_empty() {
        return Ok(());
    }
    let vendor_ids: Vec<&str> = relevant.iter().map(|(_, _, id)| *id).collect();
    let mut attempts = outbox::attempts_carrying(conn, &vendor_ids).await?;
    for (event, found, vendor_id) in relevant {
        for (id, attempt) in attempts.iter_mut() {
            if id != vendor_id || attempt.channel != event.channel {
                continue;
            }
            let outcome = event.outcome.as_str();
            if let Some(next) = settle(conn, attempt, found, outcome, event.occurred_at).await? {
                attempt.status = next;
            }
        }
    }
    Ok(())
}

/// A carrier took the attempt: records it, then settles it by what its vendor reported before its
/// id was recorded. Returns false, changing nothing but the history, if this dispatcher no longer
/// holds the attempt.
pub async fn record_sent(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    carrier: &str,
    address: &str,
    vendor_message_id: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    if !outbox::record_sent(conn, attempt, carrier, address, vendor_message_id, now).await? {
        return Ok(false);
    }
    // A vendor may have reported on the message before we recorded its id: settle by it now.
    if let Some(vendor_id) = vendor_message_id {
        let mut target = AttemptRef::of(attempt, AttemptStatus::Sent);
        for outcome in interactions::outcomes_of_message(conn, attempt.channel, vendor_id).await? {
            if let Some(found) = verdict(outcome)
                && let Some(next) = settle(conn, &target, found, outcome.as_str(), now).await?
            {
                target.status = next;
            }
        }
    }
    Ok(true)
}

/// The attempt failed for good (`tried`: whether the carrier was called this time): records why
/// and falls back. Changes nothing but the history if this dispatcher no longer holds the attempt.
pub async fn record_failed(
    conn: &mut AnyConnection,
    attempt: &Claimed,
    tried: bool,
    failure: &Value,
    now: i64,
) -> Result<(), StoreError> {
    if !outbox::record_failed(conn, attempt, tried, failure, now).await? {
        return Ok(());
    }
    let reason = failure
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("failed");
    fall_back(conn, &attempt.message_id, attempt.channel, reason, now).await
}

/// Applies a verdict to an attempt; returns its new status if it changed. A delivery settles
/// the message (queued fallbacks are cancelled); a miss of a sent attempt falls back.
async fn settle(
    conn: &mut AnyConnection,
    attempt: &AttemptRef,
    found: Verdict,
    outcome: &str,
    at: i64,
) -> Result<Option<AttemptStatus>, StoreError> {
    let Some(next) = settled(attempt.status, found) else {
        return Ok(None);
    };
    outbox::set_attempt_status(conn, attempt.id, next, at).await?;
    let detail = json!({ "channel": attempt.channel, "outcome": outcome });
    let (message_id, seq) = (attempt.message_id.as_str(), Some(attempt.seq));
    if next == AttemptStatus::Delivered {
        if attempt.channel == Channel::Portal {
            // Read in the portal (its webhook or the inbox route): the inbox shows it read.
            portal_inbox::mark_read(conn, message_id, at).await?;
        }
        outbox::add_event(conn, message_id, seq, at, HistoryEvent::Delivered, &detail).await?;
        outbox::set_message_status(conn, message_id, MessageStatus::Delivered, None, at).await?;
        outbox::cancel_others(conn, message_id, attempt.id, at).await?;
    } else {
        outbox::add_event(conn, message_id, seq, at, HistoryEvent::Missed, &detail).await?;
        let reason = format!("{}: {outcome}", attempt.channel);
        fall_back(conn, message_id, attempt.channel, &reason, at).await?;
    }
    Ok(Some(next))
}

/// Moves a message to the next channel of its plan not yet tried, or marks it failed when
/// fallback is off or no channel is left. Does nothing to a message that already reached them.
async fn fall_back(
    conn: &mut AnyConnection,
    message_id: &str,
    from: Channel,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let progress = outbox::progress(conn, message_id).await?;
    if progress.status == MessageStatus::Delivered {
        return Ok(());
    }
    let next = if progress.allow_fallback {
        next_channel(&progress.plan, &progress.tried)
    } else {
        None
    };
    match next {
        Some(channel) => {
            let seq = progress.last_seq + 1;
            outbox::add_attempt(conn, message_id, seq, channel, now, now).await?;
            let detail = json!({ "from": from, "to": channel, "reason": reason });
            outbox::add_event(
                conn,
                message_id,
                Some(seq),
                now,
                HistoryEvent::Fallback,
                &detail,
            )
            .await?;
            outbox::set_message_status(conn, message_id, MessageStatus::Pending, None, now).await
        }
        None => {
            let why = if progress.allow_fallback {
                format!("no channel left to try; last: {reason}")
            } else {
                format!("fallback not allowed; {reason}")
            };
            let detail = json!({ "reason": why });
            outbox::add_event(conn, message_id, None, now, HistoryEvent::GaveUp, &detail).await?;
            outbox::set_message_status(conn, message_id, MessageStatus::Failed, Some(&why), now)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log;
    use switchboard_core::domain::Outcome;
    use switchboard_store::testing::event;
    use switchboard_store::testing::{claim, message, shown};
    use switchboard_store::{Store, testing};

    /// Records that `attempt` went out with `vendor_id`; whether it was still held.
    async fn sent(store: &Store, attempt: &Claimed, vendor_id: &str, at: i64) -> bool {
        let mut tx = store.begin_write().await.unwrap();
        let held = record_sent(tx.conn(), attempt, "plugin", "to", Some(vendor_id), at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        held
    }

    /// A vendor event about `vendor_id` for `contact`, logged as a webhook would be.
    async fn webhook(
        store: &Store,
        contact: i64,
        outcome: Outcome,
        vendor_id: &str,
        event_id: &str,
    ) {
        let mut row = event("email_event", outcome, 50, vendor_id, event_id);
        row.contact_id = Some(contact);
        let mut tx = store.begin_write().await.unwrap();
        log::append(tx.conn(), vec![row.into()]).await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_result_after_the_lease_was_lost_leaves_the_attempt_to_its_new_holder() {
        let (store, _dir) = testing::store().await;
        message(&store, "msg_l", &[Channel::Email, Channel::Sms], true).await;
        let stale = claim(&store, 10).await.remove(0);
        let mut tx = store.begin_write().await.unwrap();
        outbox::recover_expired(tx.conn(), 5_000).await.unwrap();
        tx.commit().await.unwrap();
        let current = claim(&store, 5_000).await.remove(0);

        assert!(!sent(&store, &stale, "sg-9", 5_100).await);
        let failure = json!({ "kind": "content_rejected", "message": "late" });
        let mut tx = store.begin_write().await.unwrap();
        record_failed(tx.conn(), &stale, true, &failure, 5_100)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let shown_now = shown(&store, "msg_l").await;
        assert_eq!(
            shown_now.attempts.len(),
            1,
            "no fallback from a stale holder"
        );
        assert_eq!(shown_now.attempts[0].status, AttemptStatus::InFlight);
        let late = shown_now
            .history
            .iter()
            .filter(|e| e.event == "late_result");
        assert_eq!(late.count(), 2);

        assert!(sent(&store, &current, "sg-9", 5_200).await);
        assert_eq!(shown(&store, "msg_l").await.status, MessageStatus::Sent);
    }

    #[tokio::test]
    async fn a_bounce_after_sent_falls_back_and_a_delivery_settles_the_message() {
        let (store, _dir) = testing::store().await;
        let contact = message(&store, "msg_b", &[Channel::Email, Channel::Sms], true).await;
        let attempt = claim(&store, 10).await.remove(0);
        assert!(sent(&store, &attempt, "sg-1", 20).await);
        assert_eq!(shown(&store, "msg_b").await.status, MessageStatus::Sent);

        webhook(&store, contact, Outcome::Bounced, "sg-1", "e1").await;
        let shown_now = shown(&store, "msg_b").await;
        assert_eq!(shown_now.status, MessageStatus::Pending);
        assert_eq!(shown_now.attempts[0].status, AttemptStatus::Failed);
        assert_eq!(
            (shown_now.attempts[1].channel, shown_now.attempts[1].status),
            (Channel::Sms, AttemptStatus::Queued)
        );
        // A repeated bounce changes nothing more.
        webhook(&store, contact, Outcome::Bounced, "sg-1", "e2").await;
        assert_eq!(shown(&store, "msg_b").await.attempts.len(), 2);

        let sms = claim(&store, 60).await.remove(0);
        assert!(sent(&store, &sms, "SM1", 70).await);
        let mut delivered = event("sms_delivered", Outcome::Delivered, 80, "SM1", "t1");
        delivered.contact_id = Some(contact);
        delivered.channel = Channel::Sms;
        let mut tx = store.begin_write().await.unwrap();
        log::append(tx.conn(), vec![delivered.into()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let done = shown(&store, "msg_b").await;
        assert_eq!(done.status, MessageStatus::Delivered);
        assert_eq!(done.attempts[1].status, AttemptStatus::Delivered);
        let events: Vec<&str> = done.history.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["sent", "missed", "fallback", "sent", "delivered"]);
    }

    #[tokio::test]
    async fn an_event_that_came_before_the_send_was_recorded_settles_it_then() {
        let (store, _dir) = testing::store().await;
        let contact = message(&store, "msg_c", &[Channel::Email], true).await;
        let attempt = claim(&store, 10).await.remove(0);
        webhook(&store, contact, Outcome::Delivered, "sg-early", "e1").await;
        assert!(sent(&store, &attempt, "sg-early", 90).await);
        assert_eq!(
            shown(&store, "msg_c").await.status,
            MessageStatus::Delivered
        );
    }

    #[tokio::test]
    async fn without_fallback_or_channels_left_a_failure_is_final() {
        let (store, _dir) = testing::store().await;
        message(&store, "msg_d", &[Channel::Email, Channel::Sms], false).await;
        let attempt = claim(&store, 10).await.remove(0);
        let failure = json!({ "kind": "content_rejected", "message": "vendor answered 400" });
        let mut tx = store.begin_write().await.unwrap();
        record_failed(tx.conn(), &attempt, true, &failure, 20)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let shown = shown(&store, "msg_d").await;
        assert_eq!(shown.status, MessageStatus::Failed);
        assert_eq!(
            shown.status_reason.as_deref(),
            Some("fallback not allowed; vendor answered 400")
        );
        assert_eq!(shown.attempts.len(), 1);
        assert_eq!(shown.attempts[0].tries, 1);
    }
}
