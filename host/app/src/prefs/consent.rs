//! Consent: what interactions say about it, and what the person tells staff or the preference
//! centre. Interactions that opt a person in or out of a channel are recorded in the ledger with
//! the interaction as evidence (a reaction of every append to the log, in its transaction);
//! [`Consent`] records the person's word by hand, audited, and reads the ledger.

use serde::Deserialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::settings::SELECTABLE;
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, ConsentSource, ConsentStatus, LoggedInteraction, Outcome};
use switchboard_store::consent::{self, ConsentEntry};
use switchboard_store::{Store, StoreError, audit, contacts};

/// What an interaction says about consent, if anything.
pub fn consent_in(event: &LoggedInteraction) -> Option<(ConsentStatus, ConsentSource)> {
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
    events: &[LoggedInteraction],
) -> Result<(), StoreError> {
    for event in events {
        if let Some((status, source)) = consent_in(event) {
            consent::add_from_interaction(conn, event.id, status, source).await?;
        }
    }
    Ok(())
}

/// `POST /api/contacts/{id}/consent`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub channel: Channel,
    pub status: ConsentStatus,
    /// `staff` (default) or `preference_centre`; vendor sources come only from webhooks.
    pub source: Option<ConsentSource>,
    /// When the person said so, ms since the epoch; now by default.
    pub occurred_at: Option<i64>,
    pub note: Option<String>,
}

/// Consent on the person's word, and the ledger, over the store.
#[derive(Clone)]
pub struct Consent {
    store: Store,
}

impl Consent {
    pub fn new(store: Store) -> Self {
        Consent { store }
    }

    /// Adds a consent entry on the person's word, recorded by `actor` and audited.
    pub async fn record(
        &self,
        contact_id: i64,
        change: &ConsentChange,
        actor: &str,
        now: i64,
    ) -> Result<ConsentEntry, ServiceError> {
        let source = change.source.unwrap_or(ConsentSource::Staff);
        if !matches!(
            source,
            ConsentSource::Staff | ConsentSource::PreferenceCentre
        ) {
            return Err(ServiceError::invalid(
                "source",
                "staff or preference_centre; vendor sources are recorded from their webhooks",
            ));
        }
        if !SELECTABLE.contains(&change.channel) {
            return Err(ServiceError::invalid(
                "channel",
                "consent is kept for email, sms, phone and portal",
            ));
        }
        let occurred_at = change.occurred_at.unwrap_or(now);
        if occurred_at > now + 60_000 {
            return Err(ServiceError::invalid("occurred_at", "is in the future"));
        }
        let note = switchboard_core::domain::text_field("note", change.note.as_deref(), 1000)?;
        let mut tx = self.store.begin_write().await?;
        existing(tx.conn(), contact_id).await?;
        let entry = consent::NewConsent {
            contact_id,
            channel: change.channel,
            status: change.status,
            source,
            occurred_at,
            recorded_by: actor,
            interaction_id: None,
            note: note.as_deref(),
        };
        let id = consent::add(tx.conn(), &entry, now).await?;
        let detail = serde_json::json!({
            "channel": change.channel, "status": change.status, "source": source,
        });
        audit::record(
            tx.conn(),
            now,
            actor,
            "consent.record",
            Some(contact_id),
            &detail,
        )
        .await?;
        let ledger = consent::of_contact(tx.conn(), contact_id).await?;
        tx.commit().await?;
        ledger.into_iter().find(|e| e.id == id).ok_or_else(|| {
            ServiceError::Store(StoreError::Corrupt("consent entry vanished".into()))
        })
    }

    /// A contact's whole consent ledger, oldest first.
    pub async fn ledger(&self, contact_id: i64) -> Result<Vec<ConsentEntry>, ServiceError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        existing(&mut conn, contact_id).await?;
        Ok(consent::of_contact(&mut conn, contact_id).await?)
    }
}

/// Fails with 404 unless the contact exists.
async fn existing(conn: &mut AnyConnection, contact_id: i64) -> Result<(), ServiceError> {
    match contacts::get(conn, contact_id).await? {
        Some(_) => Ok(()),
        None => Err(ServiceError::NotFound {
            what: "contact",
            id: contact_id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::domain::Direction;

    fn event(channel: Channel, outcome: Outcome) -> LoggedInteraction {
        LoggedInteraction {
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
