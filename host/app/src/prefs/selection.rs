//! A selection request answered: the contact's facts read from the store in one go (counters,
//! consent, identities, stated preferences, zone, the plugins that can send), ranked by
//! [`super::select`], and the decision returned with the contact's local time and the seed of
//! any exploration draws.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::engine::{Engine, first_day};
use super::sample::Rng;
use super::select::{self, Decision, RankedChannel};
use crate::service_error::ServiceError;
use switchboard_core::clock::local_time;
use switchboard_core::domain::{Channel, Urgency};
use switchboard_store::StoreError;
use switchboard_store::contacts::{self, Identity};
use switchboard_store::engagement::{self, Counters};
use switchboard_store::preferences;

/// `POST /api/select`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectRequest {
    pub contact_id: i64,
    pub urgency: Urgency,
    /// What the message is (`reminder`, `appointment`, `newsletter`…): echoed, for the record.
    pub kind: String,
    /// When it would be sent, ms since the epoch; now by default.
    pub at: Option<i64>,
    /// Thompson sampling: draw each rate from its posterior instead of taking its mean, so
    /// channels with little history still get tried.
    #[serde(default)]
    pub explore: bool,
    /// Seed for the draws (a random one is chosen and returned otherwise).
    pub seed: Option<u64>,
}

/// The channels ranked, and the decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Selection {
    pub contact_id: i64,
    pub urgency: Urgency,
    pub kind: String,
    pub at: i64,
    /// The contact's local time at `at`, RFC 3339 with their zone.
    pub local_time: String,
    pub timezone: String,
    pub timezone_assumed: bool,
    pub in_quiet_hours: bool,
    pub decision: Decision,
    pub ranked: Vec<RankedChannel>,
    /// The seed of the exploration draws, to reproduce them.
    pub seed: Option<u64>,
}

impl Engine {
    /// Ranks the channels for a message to a contact and decides.
    pub async fn select(
        &self,
        request: &SelectRequest,
        now: i64,
    ) -> Result<Selection, ServiceError> {
        let _timer = switchboard_core::metrics::selection_timer();
        let kind = switchboard_core::domain::required_text("kind", &request.kind, 64)?;
        let at = request.at.unwrap_or(now);
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let contact =
            contacts::get(&mut conn, request.contact_id)
                .await?
                .ok_or(ServiceError::NotFound {
                    what: "contact",
                    id: request.contact_id,
                })?;
        let window_days = self.settings.window_days;
        let from_day = first_day(at, window_days);
        let counts = engagement::window(
            &mut conn,
            request.contact_id,
            from_day,
            Counters::Milestones,
        )
        .await?;
        let ledger = switchboard_store::consent::of_contact(&mut conn, request.contact_id).await?;
        let identities: Vec<Identity> =
            contacts::identity_rows(&mut conn, request.contact_id).await?;
        let stated = preferences::get(&mut conn, request.contact_id).await?;
        drop(conn);

        let (zone, zone_name, zone_assumed) = match contact
            .timezone
            .as_deref()
            .and_then(|name| Some((local_time::zone(name).ok()?, name.to_string())))
        {
            Some((zone, name)) => (zone, name, false),
            None => (
                self.settings.default_zone.clone(),
                self.settings.default_zone_name.clone(),
                true,
            ),
        };
        let plugins = self.plugins.current();
        let senders = |channel: Channel| plugins.for_channel(channel).map(|p| p.spec.id.clone());
        let current = switchboard_store::consent::current(&ledger);
        let priors = self.priors();
        let facts = select::Facts {
            urgency: request.urgency,
            at,
            zone: &zone,
            zone_name: &zone_name,
            zone_assumed,
            counts: &counts,
            priors: &priors,
            window_days,
            consent: &current,
            identities: &identities,
            stated: &stated,
            senders: &senders,
        };
        let seed = request
            .explore
            .then(|| request.seed.unwrap_or_else(|| random_seed(now)));
        let mut rng = seed.map(Rng::seeded);
        let (decision, ranked, in_quiet_hours) =
            select::select(&facts, &self.settings, rng.as_mut());
        Ok(Selection {
            contact_id: request.contact_id,
            urgency: request.urgency,
            kind,
            at,
            local_time: local_time::local(at, &zone).to_string(),
            timezone: zone_name,
            timezone_assumed: zone_assumed,
            in_quiet_hours,
            decision,
            ranked,
            seed,
        })
    }
}

/// A seed when the caller gave none: different per request, returned so it can be replayed.
fn random_seed(now: i64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (now as u64).rotate_left(17)
        ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(std::process::id())
}
