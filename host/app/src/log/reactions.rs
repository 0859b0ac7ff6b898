//! Everything appending to the log sets off, in the order it runs, inside the append's
//! transaction. A new reaction to new interactions (analytics, say) is added to [`run`].

use sqlx::AnyConnection;

use crate::prefs::{consent, counting};
use crate::send::settle;
use switchboard_core::domain::{Channel, IdentityKey, IdentityKind, LoggedInteraction, Outcome};
use switchboard_store::interactions::NewInteraction;
use switchboard_store::{StoreError, contacts};

/// Runs every reaction to just-appended interactions. `rows` are the rows given to the append,
/// each with the identifiers its source named; `events` are the rows that went in about someone,
/// in log order (a repeat did not go in, and sets off nothing).
pub(super) async fn run(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
    identities: &[&[IdentityKey]],
    events: &[LoggedInteraction],
) -> Result<(), StoreError> {
    // 1. The engagement counters: what each person did, per channel.
    counting::count_new(conn, events).await?;
    // 2. The consent ledger: an unsubscribe, a STOP, a spam report, a START.
    consent::record_observed(conn, events).await?;
    // 3. The outbox: a delivery or a bounce settles the attempt it is about, and may fall back.
    settle::observe(conn, events).await?;
    // 4. Unreachable identities: a hard bounce marks the address it was sent to.
    mark_unreachable(conn, rows, identities, events).await
}

/// The kind of identifier an outcome on a channel shows to be unreachable: a hard bounce of an
/// email, or a permanently undeliverable number.
fn unreachable_kind(channel: Channel, outcome: Outcome) -> Option<IdentityKind> {
    if outcome != Outcome::Bounced {
        return None;
    }
    match channel {
        Channel::Email => Some(IdentityKind::Email),
        Channel::Sms | Channel::Phone => Some(IdentityKind::Phone),
        _ => None,
    }
}

/// Marks the identifiers a hard bounce names (of its channel's kind) unreachable, with the
/// bounce as evidence, until staff re-verify them.
async fn mark_unreachable(
    conn: &mut AnyConnection,
    rows: &[NewInteraction],
    identities: &[&[IdentityKey]],
    events: &[LoggedInteraction],
) -> Result<(), StoreError> {
    let mut unmatched: Vec<&LoggedInteraction> = events.iter().collect();
    let mut marks = Vec::new();
    for (row, named) in rows.iter().zip(identities) {
        let Some(kind) = unreachable_kind(row.channel, row.outcome) else {
            continue;
        };
        // The row's own event, if it went in (each event answers one row).
        let Some(at) = unmatched.iter().position(|event| is_event_of(event, row)) else {
            continue;
        };
        let event = unmatched.remove(at);
        let reason = bounce_reason(row);
        marks.extend(named.iter().filter(|k| k.kind == kind).map(|key| {
            contacts::UnreachableMark {
                contact_id: event.contact_id,
                key,
                reason: reason.clone(),
                interaction_id: Some(event.id),
                at: row.occurred_at,
            }
        }));
    }
    contacts::mark_unreachable(conn, &marks).await
}

/// Whether `event` is what `row` became in the log.
fn is_event_of(event: &LoggedInteraction, row: &NewInteraction) -> bool {
    row.contact_id == Some(event.contact_id)
        && row.channel == event.channel
        && row.outcome == event.outcome
        && row.occurred_at == event.occurred_at
        && row.vendor_message_id == event.vendor_message_id
}

/// Why an identifier is unreachable, as staff read it: `email_bounced (sendgrid: bounce)`.
fn bounce_reason(row: &NewInteraction) -> String {
    match (&row.vendor, &row.vendor_status) {
        (Some(system), Some(status)) => format!("{} ({system}: {status})", row.kind),
        (Some(system), None) => format!("{} ({system})", row.kind),
        (None, Some(status)) => format!("{} ({status})", row.kind),
        (None, None) => row.kind.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::testing::event;

    #[test]
    fn only_a_bounce_of_an_email_or_a_number_makes_an_identifier_unreachable() {
        assert_eq!(
            unreachable_kind(Channel::Email, Outcome::Bounced),
            Some(IdentityKind::Email)
        );
        assert_eq!(
            unreachable_kind(Channel::Sms, Outcome::Bounced),
            Some(IdentityKind::Phone)
        );
        assert_eq!(unreachable_kind(Channel::Email, Outcome::Dropped), None);
        assert_eq!(unreachable_kind(Channel::Portal, Outcome::Bounced), None);
    }

    #[test]
    fn a_bounce_reason_names_the_system_and_status_it_has() {
        let mut row = event("email_bounced", Outcome::Bounced, 0, "m", "e");
        row.vendor_status = Some("bounce".into());
        assert_eq!(bounce_reason(&row), "email_bounced (sendgrid: bounce)");
        row.vendor_status = None;
        assert_eq!(bounce_reason(&row), "email_bounced (sendgrid)");
        row.vendor = None;
        assert_eq!(bounce_reason(&row), "email_bounced");
    }
}
