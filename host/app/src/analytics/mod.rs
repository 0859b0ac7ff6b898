//! What the log can tell analysts (scope `analyst`): how each channel and provider does
//! ([`channels`]), how people move between channels and who is falling silent ([`journeys`],
//! [`disengagement`]). Every report is folded from the log itself: the store reads each message's
//! events grouped into one row ([`switchboard_store::analytics`]), [`fate`] decides what became
//! of each message (its responses included), and the reports count fates.

pub mod attribution;
pub mod channels;
pub mod conversions;
pub mod credit;
pub mod disengagement;
pub mod drill;
pub mod effectiveness;
pub mod export;
pub mod fate;
pub mod journeys;
pub mod rate;
pub mod rollup;
pub mod settings;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use crate::prefs::select::reachable_identity;
use crate::prefs::settings::SELECTABLE;
use crate::prefs::tally::REPLY_WINDOW_MS;
use crate::service_error::ServiceError;
use attribution::Journey;
use channels::{ChannelReport, ChannelsQuery};
use conversions::{ConversionView, RecordConversion};
use credit::{AttributionQuery, AttributionReport, JourneyPage, JourneyPageQuery, PersonJourney};
use disengagement::{Disengaging, HISTORY_MS};
use drill::{MessagePage, MessagesQuery};
use export::ExportQuery;
use fate::MessageFate;
use jiff::tz::TimeZone;
use journeys::Journeys;
use rollup::Rollup;
use settings::AnalyticsSettings;
use switchboard_core::domain::{Channel, ConsentStatus};
use switchboard_store::analytics::{self, Inbound, KindTouch, Whose};
use switchboard_store::{Store, StoreError, consent, contacts};

/// A task's result: its panic goes on where it was awaited, as if the work had run there; a task
/// cancelled (the runtime shutting down) reads as the store being unavailable.
fn finished<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, StoreError> {
    result.map_err(|error| match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(error) => StoreError::Unavailable(format!("the server is stopping: {error}")),
    })
}

/// The most disengaging people one report lists.
const DISENGAGING_LISTED: usize = 200;

/// The analytics reports and conversions, over the store.
#[derive(Clone)]
pub struct Analytics {
    store: Store,
    settings: Arc<AnalyticsSettings>,
    rollup: Rollup,
}

/// The period of a journeys report.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneysQuery {
    /// From this time on, ms since the epoch (default: 30 days before `until`).
    pub since: Option<i64>,
    /// Before this time, ms since the epoch (default: now). At most 400 days after `since`.
    pub until: Option<i64>,
}

/// Cross-channel behaviour over a period, and who is disengaging at its end.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JourneyReport {
    pub since: i64,
    pub until: i64,
    #[serde(flatten)]
    pub journeys: Journeys,
    /// People disengaging at `until` (see the README's "Analytics"), longest silent first; at
    /// most 200.
    pub disengaging: Vec<Disengaging>,
    /// How many are disengaging in all.
    pub disengaging_total: u64,
}

/// One person's journey figures, for their context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactJourney {
    /// Their journeys over the last 180 days.
    #[serde(flatten)]
    pub journeys: Journeys,
    /// Present when they are disengaging now.
    pub disengaging: Option<Disengaging>,
}

/// A goal's journeys over a period.
struct GoalJourneys {
    period: (i64, i64),
    journeys: Vec<PersonJourney>,
    untouched: u64,
}

/// What was read for a period: the fates of its messages and the inbound messages around them.
struct History {
    fates: Vec<MessageFate>,
    inbound: Vec<Inbound>,
}

impl Analytics {
    pub fn new(store: Store, settings: AnalyticsSettings) -> Self {
        Analytics {
            rollup: Rollup::new(store.clone()),
            store,
            settings: Arc::new(settings),
        }
    }

    /// The channel report's pre-aggregates (to fold in the background, or rebuild).
    pub fn rollup(&self) -> Rollup {
        self.rollup.clone()
    }

    /// Records a conversion (see [`conversions`]); true if it is new.
    pub async fn record_conversion(
        &self,
        request: &RecordConversion,
        actor: &str,
        now: i64,
    ) -> Result<(ConversionView, bool), ServiceError> {
        conversions::record(&self.store, &self.settings, request, actor, now).await
    }

    /// A goal's conversions in a period credited to channels (see [`credit`]).
    pub async fn attribution(
        &self,
        query: &AttributionQuery,
        now: i64,
    ) -> Result<AttributionReport, ServiceError> {
        let options = query.options()?;
        let built = self.journeys_of_goal(query, now).await?;
        let journeys: Vec<Journey> = built.journeys.into_iter().map(|p| p.journey).collect();
        let goal = query.goal.clone();
        let lookback_days = self.settings.lookback_days;
        // Seconds of work at scale: off the request threads.
        let crediting = tokio::task::spawn_blocking(move || {
            credit::report(
                &goal,
                built.period,
                lookback_days,
                &journeys,
                built.untouched,
                &options,
            )
        });
        Ok(finished(crediting.await)?)
    }

    /// The journeys behind an attribution, a page at a time (see [`credit::page`]).
    pub async fn attribution_journeys(
        &self,
        query: &JourneyPageQuery,
        now: i64,
    ) -> Result<JourneyPage, ServiceError> {
        let built = self.journeys_of_goal(&query.attribution(), now).await?;
        credit::page(query, built.journeys)
    }

    /// The goal's conversions in the query's period, each with its journey, and the journeys
    /// that led to none.
    async fn journeys_of_goal(
        &self,
        query: &AttributionQuery,
        now: i64,
    ) -> Result<GoalJourneys, ServiceError> {
        let Some(goal) = self.settings.goals.get(&query.goal) else {
            return Err(ServiceError::invalid("goal", "is not a declared goal"));
        };
        query.options()?;
        let by_plugin = query.by_plugin()?;
        let period = ChannelsQuery {
            since: query.since,
            until: query.until,
            ..ChannelsQuery::default()
        }
        .period(now)?;
        let lookback = self.settings.lookback_ms();
        let from = period.since - lookback;
        let mut conn = self.store.reader().await?;
        let conversions = switchboard_store::conversions::points(
            &mut conn,
            &query.goal,
            &goal.from_kinds,
            period.since,
            period.until,
        )
        .await?;
        let kinds = &self.settings.touch_kinds;
        let (sent, inbound) = if kinds.is_empty() {
            // The messages as folded (current to the last interaction logged) and the people's
            // own inbound messages.
            drop(conn);
            self.rollup.catch_up().await?;
            self.sent_and_inbound(from, period.until, by_plugin).await?
        } else {
            let rows = analytics::of_kinds(&mut conn, kinds, from, period.until).await?;
            drop(conn);
            (rows, Vec::new())
        };
        // Millions of touches grouped per person and cut into journeys: off the request threads.
        let (since, until) = (period.since, period.until);
        let grouping = tokio::task::spawn_blocking(move || {
            let touches = credit::touches_of(&sent, &inbound, by_plugin);
            credit::journeys(&conversions, &touches, since, until, lookback)
        });
        let (journeys, untouched) = finished(grouping.await)?;
        Ok(GoalJourneys {
            period: (period.since, period.until),
            journeys,
            untouched,
        })
    }

    /// The folded messages sent to known contacts in `[from, until)` and their inbound messages.
    /// Millions of rows at scale: the messages are read in two halves of the span at once, each
    /// on its own reader connection (so its own SQLite thread) and decoded in its own task, so
    /// that the read uses both cores; the inbound messages beside them.
    async fn sent_and_inbound(
        &self,
        from: i64,
        until: i64,
        by_plugin: bool,
    ) -> Result<(Vec<KindTouch>, Vec<Inbound>), StoreError> {
        let middle = from + (until - from) / 2;
        let first = self.on_reader(move |mut conn| async move {
            switchboard_store::rollup::touches(&mut conn, from, middle, by_plugin).await
        });
        let second = self.on_reader(move |mut conn| async move {
            switchboard_store::rollup::touches(&mut conn, middle, until, by_plugin).await
        });
        let inbound = self.on_reader(move |mut conn| async move {
            analytics::inbound(&mut conn, Whose::Everyone, from, until).await
        });
        let mut sent = finished(first.await)??;
        sent.extend(finished(second.await)??);
        Ok((sent, finished(inbound.await)??))
    }

    /// Runs `read` on a reader connection of its own, in a task of its own.
    fn on_reader<T, F, R>(&self, read: R) -> tokio::task::JoinHandle<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        R: FnOnce(sqlx::pool::PoolConnection<sqlx::Any>) -> F + Send + 'static,
    {
        let store = self.store.clone();
        tokio::spawn(async move { read(store.reader().await?).await })
    }

    /// Channel effectiveness over a period (see [`channels`]).
    pub async fn channels(
        &self,
        query: &ChannelsQuery,
        now: i64,
    ) -> Result<ChannelReport, ServiceError> {
        let period = query.period(now)?;
        let detail = query.detail()?;
        let counted = self
            .rollup
            .period(period.since, period.until, detail)
            .await?;
        channels::report(query, &period, &counted)
    }

    /// The messages behind a number of the channel report (see [`drill`]).
    pub async fn messages(
        &self,
        query: &MessagesQuery,
        now: i64,
    ) -> Result<MessagePage, ServiceError> {
        let report = query.report();
        let period = report.period(now)?;
        let mut conn = self.store.reader().await?;
        let history = read(&mut conn, Whose::Everyone, period.since, period.until).await?;
        drop(conn);
        drill::page(query, channels::chosen(&report, &period, &history.fates)?)
    }

    /// The log's rows of a period as CSV, streamed (see [`export`]).
    pub fn export(&self, query: &ExportQuery, now: i64) -> Result<export::Chunks, ServiceError> {
        export::start(self.store.clone(), query, now)
    }

    /// Journeys over a period, and who is disengaging at its end.
    pub async fn journeys(
        &self,
        query: &JourneysQuery,
        now: i64,
    ) -> Result<JourneyReport, ServiceError> {
        let period = ChannelsQuery {
            since: query.since,
            until: query.until,
            ..ChannelsQuery::default()
        }
        .period(now)?;
        let mut conn = self.store.reader().await?;
        // Prompts of the period's first inbound messages were sent up to a reply window earlier.
        let from = period.since - REPLY_WINDOW_MS;
        let history = read(&mut conn, Whose::Everyone, from, period.until).await?;
        let journeys =
            journeys::journeys(&history.fates, &history.inbound, period.since, period.until);
        let disengaging = disengaging_at(&mut conn, Whose::Everyone, period.until).await?;
        Ok(JourneyReport {
            since: period.since,
            until: period.until,
            journeys,
            disengaging_total: disengaging.len() as u64,
            disengaging: disengaging.into_iter().take(DISENGAGING_LISTED).collect(),
        })
    }

    /// One person's journey figures over the last 180 days, and whether they are disengaging.
    pub async fn contact(&self, contact_id: i64, now: i64) -> Result<ContactJourney, StoreError> {
        let mut conn = self.store.reader().await?;
        let whose = Whose::Contact(contact_id);
        let since = now - HISTORY_MS;
        let history = read(&mut conn, whose, since - REPLY_WINDOW_MS, now).await?;
        let journeys = journeys::journeys(&history.fates, &history.inbound, since, now);
        // One read serves both: the disengagement history is the last 180 days of it.
        let disengaging = disengaging_in(&mut conn, history, now).await?.pop();
        Ok(ContactJourney {
            journeys,
            disengaging,
        })
    }
}

/// The fates of the messages sent in `[since, until)` (and a reply window after, which bound
/// their responses) and the inbound messages of the same span.
async fn read(
    conn: &mut AnyConnection,
    whose: Whose,
    since: i64,
    until: i64,
) -> Result<History, StoreError> {
    let horizon = until.saturating_add(REPLY_WINDOW_MS);
    let sent = analytics::sent_messages(conn, whose, since, horizon).await?;
    let inbound = analytics::inbound(conn, whose, since, horizon).await?;
    Ok(History {
        fates: fate::fates(sent, &inbound),
        inbound,
    })
}

/// Who is disengaging at `at`, judged on the history before it.
async fn disengaging_at(
    conn: &mut AnyConnection,
    whose: Whose,
    at: i64,
) -> Result<Vec<Disengaging>, StoreError> {
    let history = read(conn, whose, at - HISTORY_MS, at).await?;
    disengaging_in(conn, history, at).await
}

/// Who of `history` is disengaging at `at`, judged on its last 180 days before `at`.
async fn disengaging_in(
    conn: &mut AnyConnection,
    history: History,
    at: i64,
) -> Result<Vec<Disengaging>, StoreError> {
    let before = |t: i64| t >= at - HISTORY_MS && t < at;
    let fates: Vec<MessageFate> = history
        .fates
        .into_iter()
        .filter(|f| before(f.sent_at))
        .map(|mut f| {
            // What happened after `at` is not known at `at`.
            if f.engaged_at.is_some_and(|e| !before(e)) {
                f.engaged_at = None;
            }
            f
        })
        .collect();
    let inbound: Vec<Inbound> = history
        .inbound
        .into_iter()
        .filter(|m| before(m.occurred_at))
        .collect();
    let mut found = Vec::new();
    for candidate in disengagement::candidates(&fates, &inbound) {
        let reachable = reachable_channels(conn, candidate.contact_id).await?;
        found.extend(candidate.confirmed(&reachable));
    }
    Ok(found)
}

/// The channels a contact can be reached on now: a working identity and no opt-out.
async fn reachable_channels(
    conn: &mut AnyConnection,
    contact_id: i64,
) -> Result<Vec<Channel>, StoreError> {
    let identities = contacts::identity_rows(conn, contact_id).await?;
    let ledger = consent::of_contact(conn, contact_id).await?;
    let current = consent::current(&ledger);
    let opted_out = |channel: Channel| {
        current
            .iter()
            .any(|e| e.channel == channel && e.status == ConsentStatus::OptedOut)
    };
    Ok(SELECTABLE
        .into_iter()
        .filter(|c| !opted_out(*c) && reachable_identity(*c, &identities, &TimeZone::UTC).is_ok())
        .collect())
}
