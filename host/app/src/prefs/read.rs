//! Reading a contact's preferences: what their counters over the window say (rates raw and
//! smoothed by the priors, activity per channel, portal habit, best time), what they told us, and
//! their current consent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::engine::{Engine, first_day};
use super::profile::{self, BestTime, ChannelActivity, PortalFrequency, PortalUsage, RateEstimate};
use super::rates::Rate;
use super::settings::SELECTABLE;
use crate::service_error::ServiceError;
use switchboard_core::clock::local_time;
use switchboard_core::domain::Channel;
use switchboard_store::StoreError;
use switchboard_store::consent::ConsentEntry;
use switchboard_store::contacts;
use switchboard_store::engagement::{self, Counters, Metric, WindowCounts};
use switchboard_store::preferences::{self, StatedPreferences};

/// A contact's learned and stated preferences.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactPreferences {
    pub contact_id: i64,
    pub window_days: u32,
    /// The contact's zone, if known.
    pub timezone: Option<String>,
    /// The zone hours below are in: the contact's, or UTC when theirs is unknown.
    pub hours_in: String,
    pub rates: BTreeMap<Rate, RateEstimate>,
    pub channels: BTreeMap<Channel, ChannelActivity>,
    pub portal_usage: PortalUsage,
    pub best_time: Option<BestTime>,
    pub stated: StatedPreferences,
    /// Each channel's current consent (its latest ledger entry).
    pub consent: Vec<ConsentEntry>,
}

/// `?window_days=` on the preferences route.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreferencesQuery {
    /// Override the configured window, in days (1–3650).
    #[param(minimum = 1, maximum = 3650)]
    pub window_days: Option<u32>,
}

impl Engine {
    /// A contact's preferences over the window (the configured one unless overridden).
    pub async fn preferences(
        &self,
        contact_id: i64,
        query: &PreferencesQuery,
        now: i64,
    ) -> Result<ContactPreferences, ServiceError> {
        let window_days = match query.window_days {
            Some(days) if !(1..=3650).contains(&days) => {
                return Err(ServiceError::invalid("window_days", "between 1 and 3650"));
            }
            Some(days) => days,
            None => self.settings.window_days,
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let contact =
            contacts::get(&mut conn, contact_id)
                .await?
                .ok_or(ServiceError::NotFound {
                    what: "contact",
                    id: contact_id,
                })?;
        let from_day = first_day(now, window_days);
        let counts = engagement::window(&mut conn, contact_id, from_day, Counters::All).await?;
        let ledger = switchboard_store::consent::of_contact(&mut conn, contact_id).await?;
        let stated = preferences::get(&mut conn, contact_id).await?;
        let priors = self.priors();
        let known_zone = contact
            .timezone
            .as_deref()
            .and_then(|name| local_time::zone(name).ok().map(|_| name.to_string()));
        let portal_days = activity_days(&counts);
        Ok(ContactPreferences {
            contact_id,
            window_days,
            hours_in: known_zone.clone().unwrap_or_else(|| "UTC".to_string()),
            timezone: contact.timezone,
            rates: profile::rates(&counts, &priors),
            channels: SELECTABLE
                .into_iter()
                .chain([Channel::InPerson, Channel::Chat])
                .map(|c| (c, profile::activity(c, &counts)))
                .filter(|(_, a)| *a != ChannelActivity::default())
                .collect(),
            portal_usage: PortalUsage {
                frequency: PortalFrequency::of(portal_days, window_days),
                active_days: portal_days,
            },
            best_time: profile::best_time(&counts),
            stated,
            consent: switchboard_store::consent::current(&ledger)
                .into_iter()
                .cloned()
                .collect(),
        })
    }
}

fn activity_days(counts: &WindowCounts) -> i64 {
    counts
        .get(&(Channel::Portal, Metric::Active, 0))
        .map_or(0, |v| v.days)
}
