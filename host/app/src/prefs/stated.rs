//! Stated preferences: what a person told us about how to reach them — the channels they prefer,
//! in order, and their quiet hours. Selection weighs the first and honours the second; staff
//! replace them as a whole, audited.

use serde::Deserialize;
use utoipa::ToSchema;

use super::settings::SELECTABLE;
use crate::service_error::ServiceError;
use switchboard_core::clock::local_time;
use switchboard_core::domain::Channel;
use switchboard_store::preferences::{self, QuietSpan, StatedPreferences};
use switchboard_store::{Store, audit, contacts};

/// `PUT /api/contacts/{id}/preferences`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatePreferences {
    #[serde(default)]
    pub preferred_channels: Vec<Channel>,
    pub quiet_hours: Option<QuietSpan>,
}

/// Stated preferences, over the store.
#[derive(Clone)]
pub struct Stated {
    store: Store,
}

impl Stated {
    pub fn new(store: Store) -> Self {
        Stated { store }
    }

    /// Replaces what the contact told us about how to reach them; `actor` is audited.
    pub async fn replace(
        &self,
        contact_id: i64,
        stated: &StatePreferences,
        actor: &str,
        now: i64,
    ) -> Result<StatedPreferences, ServiceError> {
        check_channels(&stated.preferred_channels)?;
        let quiet = quiet_hours(stated.quiet_hours.as_ref())?;
        let mut tx = self.store.begin_write().await?;
        contacts::get(tx.conn(), contact_id)
            .await?
            .ok_or(ServiceError::NotFound {
                what: "contact",
                id: contact_id,
            })?;
        preferences::put(
            tx.conn(),
            contact_id,
            &stated.preferred_channels,
            quiet,
            actor,
            now,
        )
        .await?;
        let detail = serde_json::json!({
            "preferred_channels": stated.preferred_channels,
            "quiet_hours": stated.quiet_hours.is_some(),
        });
        audit::record(
            tx.conn(),
            now,
            actor,
            "preferences.state",
            Some(contact_id),
            &detail,
        )
        .await?;
        let saved = preferences::get(tx.conn(), contact_id).await?;
        tx.commit().await?;
        Ok(saved)
    }
}

/// Selectable channels, each named once.
fn check_channels(preferred: &[Channel]) -> Result<(), ServiceError> {
    for (i, channel) in preferred.iter().enumerate() {
        if !SELECTABLE.contains(channel) {
            return Err(ServiceError::invalid(
                format!("preferred_channels[{i}]"),
                "one of email, sms, phone, portal",
            ));
        }
        if preferred[..i].contains(channel) {
            return Err(ServiceError::invalid(
                format!("preferred_channels[{i}]"),
                "named twice",
            ));
        }
    }
    Ok(())
}

/// Quiet hours as `HH:MM` times that differ, if given.
fn quiet_hours(span: Option<&QuietSpan>) -> Result<Option<(u16, u16)>, ServiceError> {
    let Some(span) = span else { return Ok(None) };
    let hours = local_time::QuietHours::parse(&span.start, &span.end)
        .map_err(|e| ServiceError::invalid("quiet_hours", e))?;
    if hours.start == hours.end {
        return Err(ServiceError::invalid(
            "quiet_hours",
            "start and end are equal",
        ));
    }
    Ok(Some((hours.start, hours.end)))
}
