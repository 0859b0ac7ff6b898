//! Consent that interactions carry: which outcomes opt a person in or out of a channel, recorded
//! in the ledger (a reaction of every append to the log, in its transaction) with the interaction
//! as evidence.

use sqlx::AnyConnection;

use switchboard_core::domain::{Channel, ConsentSource, ConsentStatus, LoggedEvent, Outcome};
use switchboard_store::{StoreError, consent};

/// What an interaction says about consent, if anything.
pub fn consent_in(event: &LoggedEvent) -> Option<(ConsentStatus, ConsentSource)> {
    if event.channel == Channel::System {
        return None;
    }
    match event.outcome {
        Outcome::OptedOut => Some((ConsentStatus::OptedOut, ConsentSource::InboundStop)),
        Outcome::OptedIn => Some((ConsentStatus::OptedIn, ConsentSource::InboundStart)),
        Outcome::Unsubscribed => Some((ConsentStatus::OptedOut, ConsentSource::Unsubscribe)),
        Outcome::Resubscribed => Some((ConsentStatus::OptedIn, ConsentSource::Resubscribe)),
        Outcome::SpamReported => Some((ConsentStatus::OptedOut, ConsentSource::SpamReport)),
        _ => None,
    }
}

/// Records the consent changes among interactions just appended to the log, each with the
/// interaction (and its raw webhook) as evidence.
pub async fn record_observed(
    conn: &mut AnyConnection,
    events: &[LoggedEvent],
) -> Result<(), StoreError> {
    for event in events {
        if let Some((status, source)) = consent_in(event) {
            consent::add_from_interaction(conn, event.id, status, source).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::Direction;

    fn event(channel: Channel, outcome: Outcome) -> LoggedEvent {
        LoggedEvent {
            id: 1,
            contact_id: 1,
            channel,
            direction: Direction::Inbound,
            outcome,
            occurred_at: 0,
            vendor_message_id: None,
            time_to_action_ms: None,
        }
    }

    #[test]
    fn opt_outs_and_opt_ins_are_consent_but_switchboards_own_records_are_not() {
        assert_eq!(
            consent_in(&event(Channel::Sms, Outcome::OptedOut)),
            Some((ConsentStatus::OptedOut, ConsentSource::InboundStop))
        );
        assert_eq!(
            consent_in(&event(Channel::Email, Outcome::SpamReported)),
            Some((ConsentStatus::OptedOut, ConsentSource::SpamReport))
        );
        assert_eq!(
            consent_in(&event(Channel::Email, Outcome::Resubscribed)),
            Some((ConsentStatus::OptedIn, ConsentSource::Resubscribe))
        );
        assert_eq!(consent_in(&event(Channel::Email, Outcome::Delivered)), None);
        assert_eq!(consent_in(&event(Channel::System, Outcome::OptedOut)), None);
    }
}
