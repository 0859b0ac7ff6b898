//! The attribution report: a goal's conversions in a period, each with its journey from the log,
//! and the journeys that led to none, credited to channels (or plugins) by a model.
//!
//! A conversion's journey is the person's touches in the lookback window before it (default 30
//! days), after their previous conversion of the goal. A person touched in the period whose
//! touches after their last conversion led to none has one non-converting journey of them (the
//! data-driven models need those). What a touch is: see [`super::settings`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::attribution::{Attribution, Journey, Label, Model, Options, Touch, attribute};
use crate::service_error::ServiceError;
use switchboard_store::analytics::{Inbound, KindTouch};
use switchboard_store::conversions::ConversionPoint;

/// Which conversions, and how to credit them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttributionQuery {
    /// The goal (declared in the analytics settings).
    pub goal: String,
    /// `first_touch`, `last_touch`, `linear`, `position_based`, `time_decay`, `markov`
    /// (default), `shapley`.
    pub model: Option<String>,
    /// Conversions from this time on, ms since the epoch (default: 30 days before `until`).
    pub since: Option<i64>,
    /// Conversions before this time (default: now). At most 400 days after `since`.
    pub until: Option<i64>,
    /// The Markov chain's order, 1 (default) to 3.
    pub order: Option<usize>,
    /// Time decay's half-life in days (default 7).
    pub half_life_days: Option<u32>,
    /// Merge repeats of a channel in a row into one touch (default true).
    pub merge_repeats: Option<bool>,
    /// Credit `channel` (default) or `plugin` (the plugin that carried each touch; staff's own
    /// calls and visits count as their channel).
    pub by: Option<String>,
}

impl AttributionQuery {
    pub fn options(&self) -> Result<Options, ServiceError> {
        let order = self.order.unwrap_or(1);
        if !(1..=3).contains(&order) {
            return Err(ServiceError::invalid("order", "is 1, 2 or 3"));
        }
        let half_life = self.half_life_days.unwrap_or(7);
        if !(1..=365).contains(&half_life) {
            return Err(ServiceError::invalid("half_life_days", "is 1 to 365"));
        }
        let word = self.model.as_deref().unwrap_or("markov");
        let model = Model::parse(word, Some(i64::from(half_life) * 86_400_000), Some(order))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "model",
                    "is one of first_touch, last_touch, linear, position_based, time_decay, \
                     markov, shapley",
                )
            })?;
        Ok(Options {
            model,
            merge_repeats: self.merge_repeats.unwrap_or(true),
            resamples: 200,
            seed: 1,
        })
    }

    pub fn by_plugin(&self) -> Result<bool, ServiceError> {
        match self.by.as_deref() {
            None | Some("channel") => Ok(false),
            Some("plugin") => Ok(true),
            Some(_) => Err(ServiceError::invalid("by", "is channel or plugin")),
        }
    }
}

/// The report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributionReport {
    pub goal: String,
    pub since: i64,
    pub until: i64,
    pub lookback_days: u32,
    /// Conversions of the period whose journey had at least one touch.
    pub attributed: u64,
    /// Conversions of the period with no touch in their lookback window: credited to no one.
    pub untouched: u64,
    #[serde(flatten)]
    pub attribution: Attribution,
}

/// The touches of the span read, labelled by channel or plugin: the messages sent to each person
/// (or the interactions of the configured kinds) and the person's own inbound messages.
pub fn touches_of(
    sent: &[KindTouch],
    inbound: &[Inbound],
    by_plugin: bool,
) -> HashMap<i64, Vec<(Label, i64)>> {
    use switchboard_core::domain::Channel;
    let channels: Vec<(Channel, Label)> = Channel::ALL
        .iter()
        .map(|c| (*c, Label::from(c.as_str())))
        .collect();
    let mut plugins: HashMap<String, Label> = HashMap::new();
    let mut label = |channel: Channel, plugin: Option<&str>| -> Label {
        if let (true, Some(plugin)) = (by_plugin, plugin) {
            if let Some(label) = plugins.get(plugin) {
                return label.clone();
            }
            let label = Label::from(plugin);
            plugins.insert(plugin.to_string(), label.clone());
            return label;
        }
        match channels.iter().find(|(c, _)| *c == channel) {
            Some((_, label)) => label.clone(),
            None => Label::from(channel.as_str()),
        }
    };
    let mut by_person: HashMap<i64, Vec<(Label, i64)>> = HashMap::new();
    for touch in sent {
        by_person.entry(touch.contact_id).or_default().push((
            label(touch.channel, touch.plugin_id.as_deref()),
            touch.occurred_at,
        ));
    }
    let written = inbound
        .iter()
        .filter(|m| super::journeys::writes_in(m.outcome));
    for message in written {
        by_person
            .entry(message.contact_id)
            .or_default()
            .push((label(message.channel, None), message.occurred_at));
    }
    // Each person's in order of time, a message sent before one written at the same moment
    // (a stable sort of a few touches each, rather than one of millions).
    for touches in by_person.values_mut() {
        touches.sort_by_key(|(_, at)| *at);
    }
    by_person
}

/// One person's journey.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonJourney {
    pub contact_id: i64,
    pub journey: Journey,
}

/// The journeys of `conversions` (oldest first) and of the people touched in `[since, until)`
/// who did not convert after their last touch; and how many conversions had no touch.
pub fn journeys(
    conversions: &[ConversionPoint],
    touches: &HashMap<i64, Vec<(Label, i64)>>,
    since: i64,
    until: i64,
    lookback_ms: i64,
) -> (Vec<PersonJourney>, u64) {
    let mut journeys = Vec::new();
    let mut untouched = 0;
    // Where each person's next journey starts: after their previous conversion.
    let mut used_until: HashMap<i64, i64> = HashMap::new();
    let no_touches = Vec::new();
    for conversion in conversions {
        let person = touches.get(&conversion.contact_id).unwrap_or(&no_touches);
        let from = (conversion.occurred_at - lookback_ms).max(
            used_until
                .get(&conversion.contact_id)
                .copied()
                .unwrap_or(i64::MIN),
        );
        let path = window(person, from, conversion.occurred_at);
        used_until.insert(conversion.contact_id, conversion.occurred_at);
        if path.is_empty() {
            untouched += 1;
            continue;
        }
        journeys.push(PersonJourney {
            contact_id: conversion.contact_id,
            journey: Journey {
                touches: path,
                conversions: 1.0,
                nulls: 0.0,
                value: conversion.value,
                converted_at: Some(conversion.occurred_at),
            },
        });
    }
    // In contact order, so that a list of them pages the same way every time.
    let mut people: Vec<(&i64, &Vec<(Label, i64)>)> = touches.iter().collect();
    people.sort_by_key(|(contact, _)| **contact);
    for (contact, person) in people {
        let from = used_until
            .get(contact)
            .copied()
            .unwrap_or(i64::MIN)
            .max(since)
            .max(until - lookback_ms);
        let path = window(person, from, until);
        if !path.is_empty() {
            journeys.push(PersonJourney {
                contact_id: *contact,
                journey: Journey {
                    touches: path,
                    conversions: 0.0,
                    nulls: 1.0,
                    value: 0.0,
                    converted_at: None,
                },
            });
        }
    }
    (journeys, untouched)
}

/// A person's touches in `[from, to)`.
fn window(person: &[(Label, i64)], from: i64, to: i64) -> Vec<Touch> {
    person
        .iter()
        .filter(|(_, at)| *at >= from && *at < to)
        .map(|(label, at)| Touch {
            channel: label.clone(),
            at: Some(*at),
        })
        .collect()
}

/// Which journeys of an attribution to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneyPageQuery {
    /// The attribution's goal, period and labels (`by`), as in the report.
    pub goal: String,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub by: Option<String>,
    /// Only journeys that touched this channel (or plugin, with `by=plugin`).
    pub channel: Option<String>,
    /// Only converting (`true`) or non-converting (`false`) journeys.
    pub converted: Option<bool>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

impl JourneyPageQuery {
    pub fn attribution(&self) -> AttributionQuery {
        AttributionQuery {
            goal: self.goal.clone(),
            since: self.since,
            until: self.until,
            by: self.by.clone(),
            ..AttributionQuery::default()
        }
    }
}

/// One journey as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JourneyRow {
    pub contact_id: i64,
    /// When it converted; absent for a journey that led to none.
    pub converted_at: Option<i64>,
    pub value: f64,
    /// Its touches, oldest first, as the models read them (before repeats merge).
    pub touches: Vec<TouchRow>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TouchRow {
    /// The channel (or plugin).
    pub channel: String,
    pub at: i64,
}

/// A page of journeys: converting ones by conversion time, then the others by contact.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JourneyPage {
    pub total: u64,
    pub journeys: Vec<JourneyRow>,
    pub next_cursor: Option<String>,
}

/// The page of `journeys` the query asks for.
pub fn page(
    query: &JourneyPageQuery,
    journeys: Vec<PersonJourney>,
) -> Result<JourneyPage, ServiceError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "is 1 to 500"));
    }
    let start: usize = match query.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .parse()
            .map_err(|_| ServiceError::invalid("cursor", "is not a cursor this list gave"))?,
    };
    let matching: Vec<PersonJourney> = journeys
        .into_iter()
        .filter(|p| {
            query
                .converted
                .is_none_or(|c| c == (p.journey.conversions > 0.0))
        })
        .filter(|p| {
            query
                .channel
                .as_deref()
                .is_none_or(|c| p.journey.touches.iter().any(|t| &*t.channel == c))
        })
        .collect();
    let total = matching.len();
    let rows: Vec<JourneyRow> = matching
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|p| JourneyRow {
            contact_id: p.contact_id,
            converted_at: p.journey.converted_at,
            value: p.journey.value,
            touches: p
                .journey
                .touches
                .into_iter()
                .map(|t| TouchRow {
                    channel: t.channel.to_string(),
                    at: t.at.unwrap_or(0),
                })
                .collect(),
        })
        .collect();
    let end = start + rows.len();
    Ok(JourneyPage {
        total: total as u64,
        journeys: rows,
        next_cursor: (end < total).then(|| end.to_string()),
    })
}

/// Credits the journeys.
pub fn report(
    goal: &str,
    period: (i64, i64),
    lookback_days: u32,
    journeys: &[Journey],
    untouched: u64,
    options: &Options,
) -> AttributionReport {
    let attribution = attribute(journeys, options);
    AttributionReport {
        goal: goal.to_string(),
        since: period.0,
        until: period.1,
        lookback_days,
        attributed: journeys.iter().filter(|j| j.conversions > 0.0).count() as u64,
        untouched,
        attribution,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn touches(rows: &[(i64, &str, i64)]) -> HashMap<i64, Vec<(Label, i64)>> {
        let mut map: HashMap<i64, Vec<(Label, i64)>> = HashMap::new();
        for (contact, label, at) in rows {
            map.entry(*contact)
                .or_default()
                .push((Label::from(*label), *at));
        }
        map
    }

    fn labels(journey: &PersonJourney) -> Vec<&str> {
        journey
            .journey
            .touches
            .iter()
            .map(|t| &*t.channel)
            .collect()
    }

    #[test]
    fn a_conversion_s_journey_is_its_lookback_after_the_previous_conversion() {
        let person = touches(&[
            (1, "email", 0),
            (1, "sms", 20 * DAY),
            (1, "phone", 40 * DAY),
            (1, "portal", 45 * DAY),
            (1, "email", 60 * DAY),
            (2, "sms", 50 * DAY),
        ]);
        let conversions = [
            ConversionPoint {
                contact_id: 1,
                occurred_at: 42 * DAY,
                value: 10.0,
            },
            ConversionPoint {
                contact_id: 1,
                occurred_at: 50 * DAY,
                value: 5.0,
            },
            ConversionPoint {
                contact_id: 3,
                occurred_at: 50 * DAY,
                value: 1.0,
            },
        ];
        let (journeys, untouched) = journeys(&conversions, &person, 0, 70 * DAY, 30 * DAY);
        assert_eq!(untouched, 1, "contact 3 was never touched");
        // Email at day 0 is past the 30-day lookback.
        assert_eq!(labels(&journeys[0]), ["sms", "phone"]);
        assert_eq!(journeys[0].journey.value, 10.0);
        // The second starts after the first conversion.
        assert_eq!(labels(&journeys[1]), ["portal"]);
        let nulls: Vec<Vec<&str>> = journeys[2..].iter().map(labels).collect();
        assert_eq!(nulls, [vec!["email"], vec!["sms"]], "in contact order");
        assert!(journeys[2..].iter().all(|j| j.journey.nulls == 1.0));
    }
}
