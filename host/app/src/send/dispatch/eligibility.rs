//! The channel re-checked at dispatch: consent, reachability and quiet hours may have changed
//! since the message was accepted, so selection is asked again, as of now, about the attempt's
//! channel.

use crate::prefs::select::ChannelStatus;
use crate::prefs::{Engine, SelectRequest};
use crate::service_error::ServiceError;
use switchboard_core::domain::Urgency;
use switchboard_store::StoreError;
use switchboard_store::outbox::Claimed;

/// What selection says about the attempt's channel now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Carry it, through the plugin selection named (if the channel goes through one).
    Eligible { via: Option<String> },
    /// Not yet (quiet hours, say): put it back until `until`.
    Deferred { until: i64, reason: String },
    /// Not at all (opted out, unreachable, no longer selectable): the attempt fails, with why.
    NotEligible(String),
}

/// How long a deferred channel waits when selection names no time it becomes available.
const DEFAULT_DEFERRAL_MS: i64 = 60_000;

/// Selection's view of the attempt's channel at `now`.
pub async fn recheck(
    engine: &Engine,
    attempt: &Claimed,
    now: i64,
) -> Result<Eligibility, StoreError> {
    let request = SelectRequest {
        contact_id: attempt.contact_id,
        // Stored from the vocabulary; a word it does not know is sent at normal urgency.
        urgency: Urgency::parse(&attempt.urgency).unwrap_or(Urgency::Normal),
        kind: attempt.kind.clone(),
        at: Some(now),
        explore: false,
        seed: None,
    };
    let selection = match engine.select(&request, now).await {
        Ok(selection) => selection,
        Err(ServiceError::Store(error)) => return Err(error),
        Err(other) => return Ok(Eligibility::NotEligible(other.to_string())),
    };
    let Some(ranked) = selection
        .ranked
        .into_iter()
        .find(|r| r.channel == attempt.channel)
    else {
        let why = format!("channel: {} is not selectable", attempt.channel);
        return Ok(Eligibility::NotEligible(why));
    };
    Ok(match ranked.status {
        ChannelStatus::Excluded => Eligibility::NotEligible(ranked.reason),
        ChannelStatus::Deferred => Eligibility::Deferred {
            until: ranked.available_at.unwrap_or(now + DEFAULT_DEFERRAL_MS),
            reason: ranked.reason,
        },
        ChannelStatus::Eligible => Eligibility::Eligible { via: ranked.via },
    })
}
