//! The preference and selection engine: what each person's history says about how to reach
//! them, what they consented to, and which channel a message should take now.
//!
//! - [`tally`] turns the log into per-contact engagement counters; [`counting`] runs it as
//!   interactions arrive (and again, identically, on `switchboard prefs rebuild`).
//! - [`consent`] says which interactions change consent, and records them in the ledger.
//! - [`beta`] fits the population's prior per rate; [`rates`] names the rates; [`profile`] reads
//!   a contact's preferences from their counters; [`select`] ranks channels and explains why.
//! - [`sample`] draws for exploration; the contact's clock (IANA zones, DST) is
//!   [`switchboard_core::clock::local_time`].

pub mod beta;
pub mod consent;
pub mod counting;
pub mod profile;
pub mod rates;
pub mod sample;
pub mod select;
pub mod settings;
pub mod tally;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::service_error::ServiceError;
use profile::{BestTime, ChannelActivity, PortalFrequency, PortalUsage, RateEstimate};
use rates::{Priors, Rate};
use sample::Rng;
use select::{Decision, RankedChannel};
use settings::{SELECTABLE, Settings};
use switchboard_core::clock::local_time;
use switchboard_core::domain::{Channel, ConsentSource, ConsentStatus, Urgency};
use switchboard_runtime::LivePlugins;
use switchboard_store::consent::ConsentEntry;
use switchboard_store::contacts::{self, Identity};
use switchboard_store::engagement::{self, Counters, Metric, WindowCounts};
use switchboard_store::preferences::{self, StatedPreferences};
use switchboard_store::{Store, StoreError, audit};

/// The engine: the store, its settings, the fitted priors and the plugins that can send.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<Settings>,
    priors: Arc<RwLock<Arc<Priors>>>,
    plugins: Arc<LivePlugins>,
}

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

/// `PUT /api/contacts/{id}/preferences`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatePreferences {
    #[serde(default)]
    pub preferred_channels: Vec<Channel>,
    pub quiet_hours: Option<preferences::QuietSpan>,
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
    pub fn new(store: Store, settings: Settings, plugins: Arc<LivePlugins>) -> Self {
        let priors = Arc::new(Priors::uniform(settings.window_days));
        Engine {
            store,
            settings: Arc::new(settings),
            priors: Arc::new(RwLock::new(priors)),
            plugins,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The priors in use.
    pub fn priors(&self) -> Arc<Priors> {
        match self.priors.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fits the priors to the population's counters in the window, and uses them from now on.
    pub async fn refit(&self, now: i64) -> Result<Arc<Priors>, StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        let from_day = first_day(now, self.settings.window_days);
        let population = engagement::population(&mut conn, from_day).await?;
        let priors = Arc::new(Priors::fit(&population, self.settings.window_days, now));
        match self.priors.write() {
            Ok(mut guard) => *guard = priors.clone(),
            Err(poisoned) => *poisoned.into_inner() = priors.clone(),
        }
        Ok(priors)
    }

    /// Refits now and then every `prior_refit_seconds`, in the background.
    pub fn keep_priors_fitted(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        let every = Duration::from_secs(self.settings.prior_refit_seconds);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                match engine.refit(switchboard_core::clock::now_ms()).await {
                    Ok(priors) => tracing::debug!(fitted = priors.rates.len(), "priors refitted"),
                    Err(error) => tracing::warn!(%error, "fitting priors failed; keeping the old"),
                }
            }
        })
    }

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

/// The first UTC day of a window ending at `now`.
fn first_day(now: i64, window_days: u32) -> i64 {
    now.div_euclid(tally::DAY_MS) - i64::from(window_days) + 1
}

fn activity_days(counts: &WindowCounts) -> i64 {
    counts
        .get(&(Channel::Portal, Metric::Active, 0))
        .map_or(0, |v| v.days)
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

/// What staff (or the portal's preference centre, with its own key) change by hand; each change
/// is audited.
impl Engine {
    /// Adds a consent entry on the person's word.
    pub async fn record_consent(
        &self,
        contact_id: i64,
        change: &ConsentChange,
        caller: &Caller,
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
        let actor = caller.actor();
        let mut tx = self.store.begin_write().await?;
        self.existing(tx.conn(), contact_id).await?;
        let entry = switchboard_store::consent::NewConsent {
            contact_id,
            channel: change.channel,
            status: change.status,
            source,
            occurred_at,
            recorded_by: &actor,
            interaction_id: None,
            note: note.as_deref(),
        };
        let id = switchboard_store::consent::add(tx.conn(), &entry, now).await?;
        let detail = serde_json::json!({
            "channel": change.channel, "status": change.status, "source": source,
        });
        audit::record(
            tx.conn(),
            now,
            &actor,
            "consent.record",
            Some(contact_id),
            &detail,
        )
        .await?;
        let ledger = switchboard_store::consent::of_contact(tx.conn(), contact_id).await?;
        tx.commit().await?;
        ledger.into_iter().find(|e| e.id == id).ok_or_else(|| {
            ServiceError::Store(StoreError::Corrupt("consent entry vanished".into()))
        })
    }

    /// A contact's whole consent ledger, oldest first.
    pub async fn consent_ledger(&self, contact_id: i64) -> Result<Vec<ConsentEntry>, ServiceError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        self.existing(&mut conn, contact_id).await?;
        Ok(switchboard_store::consent::of_contact(&mut conn, contact_id).await?)
    }

    /// Replaces what the contact told us about how to reach them.
    pub async fn state_preferences(
        &self,
        contact_id: i64,
        stated: &StatePreferences,
        caller: &Caller,
        now: i64,
    ) -> Result<StatedPreferences, ServiceError> {
        for (i, channel) in stated.preferred_channels.iter().enumerate() {
            if !SELECTABLE.contains(channel) {
                return Err(ServiceError::invalid(
                    format!("preferred_channels[{i}]"),
                    "one of email, sms, phone, portal",
                ));
            }
            if stated.preferred_channels[..i].contains(channel) {
                return Err(ServiceError::invalid(
                    format!("preferred_channels[{i}]"),
                    "named twice",
                ));
            }
        }
        let quiet = match &stated.quiet_hours {
            None => None,
            Some(span) => {
                let hours = local_time::QuietHours::parse(&span.start, &span.end)
                    .map_err(|e| ServiceError::invalid("quiet_hours", e))?;
                if hours.start == hours.end {
                    return Err(ServiceError::invalid(
                        "quiet_hours",
                        "start and end are equal",
                    ));
                }
                Some((hours.start, hours.end))
            }
        };
        let actor = caller.actor();
        let mut tx = self.store.begin_write().await?;
        self.existing(tx.conn(), contact_id).await?;
        preferences::put(
            tx.conn(),
            contact_id,
            &stated.preferred_channels,
            quiet,
            &actor,
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
            &actor,
            "preferences.state",
            Some(contact_id),
            &detail,
        )
        .await?;
        let saved = preferences::get(tx.conn(), contact_id).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Clears an identity's unreachable mark (staff confirmed the address or number works).
    pub async fn reverify(
        &self,
        contact_id: i64,
        identity_id: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<Identity, ServiceError> {
        let actor = caller.actor();
        let mut tx = self.store.begin_write().await?;
        if !contacts::reverify(tx.conn(), contact_id, identity_id).await? {
            return Err(ServiceError::NotFound {
                what: "identity of this contact",
                id: identity_id,
            });
        }
        let detail = serde_json::json!({ "identity_id": identity_id });
        audit::record(
            tx.conn(),
            now,
            &actor,
            "identity.reverify",
            Some(contact_id),
            &detail,
        )
        .await?;
        let identity = contacts::identity_rows(tx.conn(), contact_id)
            .await?
            .into_iter()
            .find(|i| i.id == identity_id)
            .ok_or(ServiceError::NotFound {
                what: "identity",
                id: identity_id,
            })?;
        tx.commit().await?;
        Ok(identity)
    }

    async fn existing(
        &self,
        conn: &mut sqlx::AnyConnection,
        contact_id: i64,
    ) -> Result<(), ServiceError> {
        match contacts::get(conn, contact_id).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::NotFound {
                what: "contact",
                id: contact_id,
            }),
        }
    }
}
