//! What an agent needs at the start of a call, in one response: who the person is, what they are
//! still waiting for, what happened lately on every channel, and how they tend to respond.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::contacts::{ContactView, view};
use super::timeline::{Timeline, TimelineEntry, TimelineQuery, entry};
use crate::analytics::settings::AnalyticsSettings;
use crate::analytics::{Analytics, ContactJourney};
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, Outcome};
use switchboard_store::intents::{self, Intent};
use switchboard_store::interactions::{self, TimelineFilter};
use switchboard_store::{Store, StoreError};

/// How many recent interactions the context carries.
const RECENT: i64 = 10;

/// One channel's record with the person.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ChannelSummary {
    pub interactions: i64,
    /// Messages that reached them (delivered).
    pub delivered: i64,
    /// Times they engaged: opened, clicked, replied, answered, attended, viewed, completed.
    pub engaged: i64,
    /// Bounces, drops and failures.
    pub failed: i64,
    /// Opt-outs, unsubscribes and spam reports.
    pub opted_out: i64,
    pub last_at: i64,
}

/// The context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactContext {
    pub contact: ContactView,
    pub open_intents: Vec<Intent>,
    /// The latest interactions across channels, newest first.
    pub recent: Vec<TimelineEntry>,
    /// The latest interaction on each channel.
    pub last_by_channel: BTreeMap<String, TimelineEntry>,
    /// Per channel, counts from the whole log: a raw preference summary.
    pub channels: BTreeMap<String, ChannelSummary>,
    /// Channels by how often the person engaged there, most first.
    pub engages_most_on: Vec<Channel>,
    /// Over the last 180 days: touches before each response, channel switches, channels used,
    /// and whether they are disengaging (see the README's "Analytics").
    pub journey: ContactJourney,
}

/// The context reader, over the store; its recent interactions are the timeline's first page.
#[derive(Clone)]
pub struct Context {
    store: Store,
    timeline: Timeline,
    analytics: Analytics,
}

impl Context {
    pub fn new(store: Store) -> Self {
        Context {
            timeline: Timeline::new(store.clone()),
            analytics: Analytics::new(store.clone(), AnalyticsSettings::default()),
            store,
        }
    }

    /// The context of a contact.
    pub async fn of(&self, contact_id: i64, now: i64) -> Result<ContactContext, ServiceError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let contact = view(&mut conn, contact_id).await?;
        let open_intents = intents::of_contact(&mut conn, contact_id, true).await?;
        let counts = interactions::outcome_counts(&mut conn, contact_id).await?;
        let mut channels: BTreeMap<Channel, ChannelSummary> = BTreeMap::new();
        for (channel, outcome, n, latest) in counts {
            let summary = channels.entry(channel).or_default();
            summary.interactions += n;
            summary.last_at = summary.last_at.max(latest);
            match outcome {
                Outcome::Delivered => summary.delivered += n,
                Outcome::Opened
                | Outcome::Clicked
                | Outcome::Replied
                | Outcome::Answered
                | Outcome::Attended
                | Outcome::Viewed
                | Outcome::Completed => summary.engaged += n,
                Outcome::Bounced | Outcome::Dropped | Outcome::Failed => summary.failed += n,
                Outcome::OptedOut | Outcome::Unsubscribed | Outcome::SpamReported => {
                    summary.opted_out += n
                }
                _ => {}
            }
        }
        channels.remove(&Channel::System);
        let mut last_by_channel = BTreeMap::new();
        for channel in channels.keys() {
            let filter = TimelineFilter {
                channels: vec![*channel],
                limit: 1,
                ..TimelineFilter::default()
            };
            if let Some(row) = interactions::timeline(&mut conn, contact_id, &filter)
                .await?
                .pop()
            {
                last_by_channel.insert(channel.as_str().to_string(), entry(row));
            }
        }
        drop(conn);
        let recent = self
            .timeline
            .page(
                contact_id,
                &TimelineQuery {
                    limit: Some(RECENT),
                    ..TimelineQuery::default()
                },
            )
            .await?
            .entries;
        let mut engages_most_on: Vec<(Channel, i64)> = channels
            .iter()
            .filter(|(_, s)| s.engaged > 0)
            .map(|(c, s)| (*c, s.engaged))
            .collect();
        engages_most_on.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let journey = self.analytics.contact(contact_id, now).await?;
        Ok(ContactContext {
            contact,
            open_intents,
            recent,
            last_by_channel,
            channels: channels
                .into_iter()
                .map(|(c, s)| (c.as_str().to_string(), s))
                .collect(),
            engages_most_on: engages_most_on.into_iter().map(|(c, _)| c).collect(),
            journey,
        })
    }
}
