//! The engine: the store, its settings, the population's priors (fitted now and then in the
//! background) and the plugins that can send. What it answers is in [`super::read`] (a
//! contact's preferences) and [`super::selection`] (a channel for a message).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::rates::Priors;
use super::settings::Settings;
use super::tally;
use switchboard_runtime::LivePlugins;
use switchboard_store::engagement;
use switchboard_store::{Store, StoreError};

/// The engine: the store, its settings, the fitted priors and the plugins that can send.
#[derive(Clone)]
pub struct Engine {
    pub(super) store: Store,
    pub(super) settings: Arc<Settings>,
    priors: Arc<RwLock<Arc<Priors>>>,
    pub(super) plugins: Arc<LivePlugins>,
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
}

/// The first UTC day of a window ending at `now`.
pub(super) fn first_day(now: i64, window_days: u32) -> i64 {
    now.div_euclid(tally::DAY_MS) - i64::from(window_days) + 1
}
