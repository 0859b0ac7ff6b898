//! Choosing a channel for one message: every selectable channel checked for consent, a working
//! identity and a way to send, scored by how this person engages there (smoothed, or sampled when
//! exploring), weighted by urgency and their stated preference, and held back in their quiet
//! hours — each with the reason in words.

use jiff::tz::TimeZone;
use serde::Serialize;
use utoipa::ToSchema;

use super::profile::PortalFrequency;
use super::rates::{Priors, Rate};
use super::sample::Rng;
use super::settings::{SELECTABLE, Settings};
use switchboard_core::clock::local_time::{self, QuietHours, format_minute};
use switchboard_core::domain::{Channel, ConsentStatus, IdentityKind, Urgency};
use switchboard_store::consent::ConsentEntry;
use switchboard_store::contacts::Identity;
use switchboard_store::engagement::{Metric, WindowCounts};
use switchboard_store::preferences::StatedPreferences;

/// Where a channel stands for this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Can be used now.
    Eligible,
    /// Could be used, but not before quiet hours end.
    Deferred,
    /// Cannot be used: no consent, no working identity, nothing to send it with.
    Excluded,
}

/// One channel, scored and explained.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RankedChannel {
    pub channel: Channel,
    pub status: ChannelStatus,
    /// Engagement × urgency weight + stated-preference bonus; absent when excluded.
    pub score: Option<f64>,
    /// How this person engages there: the smoothed rate (or the sampled one when exploring).
    pub engagement: Option<f64>,
    /// When a deferred channel may be used.
    pub available_at: Option<i64>,
    /// Which plugin (or built-in queue) would carry it.
    pub via: Option<String>,
    pub reason: String,
}

/// What to do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SendNow,
    Defer,
    /// No channel can reach them.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Decision {
    pub action: Action,
    pub channel: Option<Channel>,
    /// When to send: now, or when quiet hours end.
    pub send_at: Option<i64>,
    pub reason: String,
}

/// Everything selection looks at for one contact.
pub struct Facts<'a> {
    pub urgency: Urgency,
    pub at: i64,
    pub zone: &'a TimeZone,
    /// The zone's name, and whether it was assumed (the contact has none).
    pub zone_name: &'a str,
    pub zone_assumed: bool,
    pub counts: &'a WindowCounts,
    pub priors: &'a Priors,
    pub window_days: u32,
    /// The current consent entry per channel.
    pub consent: &'a [&'a ConsentEntry],
    pub identities: &'a [Identity],
    pub stated: &'a StatedPreferences,
    /// Which plugin sends on a channel, if any.
    pub senders: &'a dyn Fn(Channel) -> Option<String>,
}

/// Ranks the channels and decides. `explore` draws engagement from the posteriors instead of
/// taking their means.
pub fn select(
    facts: &Facts<'_>,
    settings: &Settings,
    mut explore: Option<&mut Rng>,
) -> (Decision, Vec<RankedChannel>, bool) {
    let quiet = quiet_hours(facts.stated, settings);
    let in_quiet_hours = quiet.is_quiet(facts.at, facts.zone);
    let mut ranked: Vec<RankedChannel> = SELECTABLE
        .into_iter()
        .map(|channel| {
            rank_one(
                channel,
                facts,
                settings,
                &quiet,
                in_quiet_hours,
                explore.as_deref_mut(),
            )
        })
        .collect();
    ranked.sort_by(|a, b| {
        let key = |r: &RankedChannel| {
            (
                r.status == ChannelStatus::Excluded,
                -(r.score.unwrap_or(0.0)),
            )
        };
        let (ea, sa) = key(a);
        let (eb, sb) = key(b);
        ea.cmp(&eb).then(sa.total_cmp(&sb))
    });
    let decision = decide(&ranked, facts.urgency, settings, in_quiet_hours, facts.at);
    (decision, ranked, in_quiet_hours)
}

/// The contact's own quiet hours if they stated some, the organisation's otherwise.
pub fn quiet_hours(stated: &StatedPreferences, settings: &Settings) -> QuietHours {
    stated
        .quiet_hours
        .as_ref()
        .and_then(|q| QuietHours::parse(&q.start, &q.end).ok())
        .unwrap_or(settings.quiet_hours)
}

fn rank_one(
    channel: Channel,
    facts: &Facts<'_>,
    settings: &Settings,
    quiet: &QuietHours,
    in_quiet_hours: bool,
    explore: Option<&mut Rng>,
) -> RankedChannel {
    let excluded = |reason: String| RankedChannel {
        channel,
        status: ChannelStatus::Excluded,
        score: None,
        engagement: None,
        available_at: None,
        via: None,
        reason: format!("{channel}: {reason}"),
    };
    if let Some(entry) = facts
        .consent
        .iter()
        .find(|e| e.channel == channel && e.status == ConsentStatus::OptedOut)
    {
        return excluded(format!(
            "opted out via {} on {}",
            entry.source.describe(),
            local_time::local_date(entry.occurred_at, facts.zone)
        ));
    }
    if let Err(reason) = reachable_identity(channel, facts.identities, facts.zone) {
        return excluded(reason);
    }
    let via = match channel {
        Channel::Phone => Some("staff call queue".to_string()),
        Channel::Portal => Some("portal inbox".to_string()),
        _ => (facts.senders)(channel),
    };
    let Some(via) = via else {
        return excluded(format!("no enabled plugin sends {channel}"));
    };

    let (engagement, mut reason) = engagement(channel, facts, explore);
    let weight = settings.weight(facts.urgency, channel);
    let mut score = engagement * weight;
    if (weight - 1.0).abs() > f64::EPSILON {
        reason.push_str(&format!("; ×{weight} at {:?} urgency", facts.urgency).to_lowercase());
    }
    if let Some(position) = facts
        .stated
        .preferred_channels
        .iter()
        .position(|c| *c == channel)
    {
        let bonus = settings.preferred_bonus / (position as f64 + 1.0);
        score += bonus;
        reason.push_str(&format!(
            "; preference #{} of the contact (+{bonus:.2})",
            position + 1
        ));
    }
    let deferred = in_quiet_hours && !settings.quiet_channels.contains(&channel);
    let available_at = deferred.then(|| quiet.next_end(facts.at, facts.zone));
    if deferred {
        reason.push_str(&format!(
            "; quiet hours ({} {}{}) until {}",
            quiet.describe(),
            facts.zone_name,
            if facts.zone_assumed { ", assumed" } else { "" },
            format_minute(quiet.end)
        ));
    }
    RankedChannel {
        channel,
        status: if deferred {
            ChannelStatus::Deferred
        } else {
            ChannelStatus::Eligible
        },
        score: Some(round(score)),
        engagement: Some(round(engagement)),
        available_at,
        via: Some(via),
        reason: format!("{channel}: {reason}"),
    }
}

/// A working identity for the channel, or why there is none.
pub(crate) fn reachable_identity(
    channel: Channel,
    identities: &[Identity],
    zone: &TimeZone,
) -> Result<(), String> {
    let (kind, what) = match channel {
        Channel::Email => (IdentityKind::Email, "email address"),
        Channel::Sms | Channel::Phone => (IdentityKind::Phone, "phone number"),
        Channel::Portal => (IdentityKind::External, "portal account"),
        _ => return Err("not a selectable channel".to_string()),
    };
    let candidates: Vec<&Identity> = identities
        .iter()
        .filter(|i| i.kind == kind)
        .filter(|i| channel != Channel::Portal || i.value.starts_with("portal:"))
        .collect();
    if candidates.iter().any(|i| i.unreachable_at.is_none()) {
        return Ok(());
    }
    match candidates.first() {
        None => Err(format!("no {what} on file")),
        Some(identity) => Err(format!(
            "{} unreachable since {} ({}); re-verify it to use it again",
            identity.value,
            local_time::local_date(identity.unreachable_at.unwrap_or(0), zone),
            identity
                .unreachable_reason
                .as_deref()
                .unwrap_or("undeliverable")
        )),
    }
}

/// How this person engages on the channel, and the words for it.
fn engagement(channel: Channel, facts: &Facts<'_>, explore: Option<&mut Rng>) -> (f64, String) {
    let Some(rate) = Rate::ranking(channel) else {
        let days = facts
            .counts
            .get(&(Channel::Portal, Metric::Active, 0))
            .map_or(0, |v| v.days);
        let frequency = PortalFrequency::of(days, facts.window_days);
        return (
            frequency.score(),
            format!(
                "{} user ({days} active days in {})",
                frequency.as_str(),
                facts.window_days
            ),
        );
    };
    let (successes, trials) = rate.observed_in(facts.counts);
    let prior = facts.priors.prior(rate);
    let smoothed = prior.posterior_mean(successes, trials);
    let verb = match rate {
        Rate::EmailOpen => "opened",
        Rate::EmailResponse | Rate::SmsResponse => "replied",
        Rate::PhoneAnswer => "answered",
    };
    let mut reason = if trials == 0 {
        format!("no history yet, population prior {smoothed:.2}")
    } else {
        format!("{successes}/{trials} {verb}, smoothed {smoothed:.2}")
    };
    let value = match explore {
        Some(rng) => {
            let posterior = prior.posterior(successes, trials);
            let draw = rng.beta(posterior.alpha, posterior.beta);
            reason.push_str(&format!(", sampled {draw:.2} (exploring)"));
            draw
        }
        None => smoothed,
    };
    (value, reason)
}

fn decide(
    ranked: &[RankedChannel],
    urgency: Urgency,
    settings: &Settings,
    in_quiet_hours: bool,
    at: i64,
) -> Decision {
    let best = |status| {
        ranked
            .iter()
            .filter(|r| r.status == status)
            .max_by(|a, b| a.score.unwrap_or(0.0).total_cmp(&b.score.unwrap_or(0.0)))
    };
    let now = best(ChannelStatus::Eligible);
    let later = best(ChannelStatus::Deferred);
    let send_now = |r: &RankedChannel, why: String| Decision {
        action: Action::SendNow,
        channel: Some(r.channel),
        send_at: Some(at),
        reason: why,
    };
    let defer = |r: &RankedChannel, why: String| Decision {
        action: Action::Defer,
        channel: Some(r.channel),
        send_at: r.available_at,
        reason: why,
    };
    match (now, later) {
        (None, None) => Decision {
            action: Action::None,
            channel: None,
            send_at: None,
            reason: "no channel can reach them: see each channel's reason".to_string(),
        },
        (Some(now), None) => send_now(now, format!("{} scores highest", now.channel)),
        (Some(now), Some(later)) if now.score >= later.score => {
            send_now(now, format!("{} scores highest", now.channel))
        }
        (None, Some(later)) => defer(
            later,
            format!(
                "quiet hours, and no quiet channel reaches them: {} when they end",
                later.channel
            ),
        ),
        (Some(now), Some(later)) => {
            let (now_score, later_score) = (now.score.unwrap_or(0.0), later.score.unwrap_or(0.0));
            let good_enough = now_score >= settings.quiet_channel_ratio * later_score;
            let use_quiet_channel = in_quiet_hours
                && match urgency {
                    Urgency::High => true,
                    Urgency::Normal => good_enough,
                    Urgency::Low => false,
                };
            if use_quiet_channel {
                send_now(
                    now,
                    format!(
                        "{} scores highest but it is quiet hours; {:?} urgency: {} now",
                        later.channel, urgency, now.channel
                    )
                    .to_lowercase(),
                )
            } else {
                defer(
                    later,
                    format!(
                        "{} scores highest; {:?} urgency waits for quiet hours to end",
                        later.channel, urgency
                    )
                    .to_lowercase(),
                )
            }
        }
    }
}

/// Four decimals: scores are for ranking and reading, not for bit-exact comparison.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefs::beta::{FitMethod, PriorFit};
    use switchboard_core::clock::local_time::{utc_ms, zone};
    use switchboard_core::domain::ConsentSource;
    use switchboard_store::engagement::WindowValue;

    fn identity(id: i64, kind: IdentityKind, value: &str) -> Identity {
        Identity {
            id,
            contact_id: 1,
            kind,
            value: value.into(),
            source: "staff:test".into(),
            created_at: 0,
            unreachable_at: None,
            unreachable_reason: None,
            unreachable_interaction_id: None,
        }
    }

    fn everyone_reachable() -> Vec<Identity> {
        vec![
            identity(1, IdentityKind::Email, "ana@example.org"),
            identity(2, IdentityKind::Phone, "+14155550123"),
            identity(3, IdentityKind::External, "portal:u-1"),
        ]
    }

    fn counts(entries: &[(Channel, Metric, i64)]) -> WindowCounts {
        entries
            .iter()
            .map(|(channel, metric, n)| {
                let value = WindowValue {
                    count: *n,
                    sum_ms: 0,
                    last_at: 0,
                    days: *n,
                };
                ((*channel, *metric, 0), value)
            })
            .collect()
    }

    fn priors() -> Priors {
        let mut priors = Priors::uniform(90);
        for (rate, alpha, beta) in [
            (Rate::EmailOpen, 3.0, 7.0),
            (Rate::SmsResponse, 2.0, 8.0),
            (Rate::PhoneAnswer, 4.0, 6.0),
        ] {
            let fit = PriorFit {
                prior: crate::prefs::beta::BetaPrior { alpha, beta },
                contacts: 500,
                method: FitMethod::Moments,
            };
            priors.rates.insert(rate, fit);
        }
        priors
    }

    struct Case {
        counts: WindowCounts,
        consent: Vec<ConsentEntry>,
        identities: Vec<Identity>,
        stated: StatedPreferences,
        at: i64,
        urgency: Urgency,
        senders: Vec<Channel>,
    }

    impl Case {
        fn new() -> Self {
            Case {
                counts: counts(&[
                    (Channel::Email, Metric::Delivered, 40),
                    (Channel::Email, Metric::Opened, 12),
                    (Channel::Sms, Metric::Sent, 1),
                    (Channel::Sms, Metric::Responded, 1),
                ]),
                consent: vec![],
                identities: everyone_reachable(),
                stated: StatedPreferences::default(),
                // 10:00 in Chicago.
                at: utc_ms("2026-11-10T16:00:00Z"),
                urgency: Urgency::Normal,
                senders: vec![Channel::Email, Channel::Sms],
            }
        }

        fn run(&self, explore: Option<&mut Rng>) -> (Decision, Vec<RankedChannel>) {
            let chicago = zone("America/Chicago").unwrap();
            let priors = priors();
            let current: Vec<&ConsentEntry> = switchboard_store::consent::current(&self.consent);
            let senders = |c: Channel| self.senders.contains(&c).then(|| format!("{c}-plugin"));
            let facts = Facts {
                urgency: self.urgency,
                at: self.at,
                zone: &chicago,
                zone_name: "America/Chicago",
                zone_assumed: false,
                counts: &self.counts,
                priors: &priors,
                window_days: 90,
                consent: &current,
                identities: &self.identities,
                stated: &self.stated,
                senders: &senders,
            };
            let (decision, ranked, _) = select(&facts, &Settings::default(), explore);
            (decision, ranked)
        }
    }

    fn of(ranked: &[RankedChannel], channel: Channel) -> &RankedChannel {
        ranked.iter().find(|r| r.channel == channel).unwrap()
    }

    #[test]
    fn smoothed_rates_rank_and_the_reason_shows_the_counts() {
        let (decision, ranked) = Case::new().run(None);
        // Email (3 + 12) / (10 + 40) = 0.30; SMS (2 + 1) / (10 + 1) = 0.27: one reply of one
        // message does not beat 12 opens of 40. Phone has no history: its prior 0.40 × 0.7.
        assert_eq!(
            of(&ranked, Channel::Email).reason,
            "email: 12/40 opened, smoothed 0.30"
        );
        assert_eq!(of(&ranked, Channel::Sms).engagement, Some(0.2727));
        assert_eq!(of(&ranked, Channel::Phone).score, Some(0.28));
        assert!(
            of(&ranked, Channel::Phone)
                .reason
                .contains("no history yet, population prior 0.40")
        );
        assert_eq!(ranked[0].channel, Channel::Email);
        assert_eq!(decision.action, Action::SendNow);
        assert_eq!(decision.channel, Some(Channel::Email));
        // Portal: an account but no activity.
        assert_eq!(
            of(&ranked, Channel::Portal).reason,
            "portal: never user (0 active days in 90); ×0.9 at normal urgency"
        );
    }

    #[test]
    fn an_opt_out_excludes_the_channel_with_its_source_and_date() {
        let mut case = Case::new();
        case.consent.push(ConsentEntry {
            id: 1,
            contact_id: 1,
            channel: Channel::Sms,
            status: ConsentStatus::OptedOut,
            source: ConsentSource::InboundStop,
            occurred_at: utc_ms("2026-11-02T18:00:00Z"),
            recorded_at: 0,
            recorded_by: "plugin:sms-twilio".into(),
            interaction_id: Some(9),
            raw_webhook_id: Some(4),
            note: None,
        });
        let (_, ranked) = case.run(None);
        let sms = of(&ranked, Channel::Sms);
        assert_eq!(sms.status, ChannelStatus::Excluded);
        assert_eq!(sms.reason, "sms: opted out via STOP on 2026-11-02");
        assert_eq!(ranked.last().unwrap().channel, Channel::Sms);
        // A later START lifts it.
        let mut start = case.consent[0].clone();
        start.id = 2;
        start.status = ConsentStatus::OptedIn;
        start.occurred_at += 1000;
        case.consent.push(start);
        assert_eq!(
            of(&case.run(None).1, Channel::Sms).status,
            ChannelStatus::Eligible
        );
    }

    #[test]
    fn unreachable_identities_and_missing_plugins_exclude_channels() {
        let mut case = Case::new();
        case.identities[0].unreachable_at = Some(utc_ms("2026-11-05T12:00:00Z"));
        case.identities[0].unreachable_reason = Some("email_bounced (sendgrid: bounce)".into());
        case.senders = vec![Channel::Email];
        case.identities.pop();
        let (decision, ranked) = case.run(None);
        assert_eq!(
            of(&ranked, Channel::Email).reason,
            "email: ana@example.org unreachable since 2026-11-05 (email_bounced (sendgrid: bounce)); re-verify it to use it again"
        );
        assert_eq!(
            of(&ranked, Channel::Sms).reason,
            "sms: no enabled plugin sends sms"
        );
        assert_eq!(
            of(&ranked, Channel::Portal).reason,
            "portal: no portal account on file"
        );
        assert_eq!(
            decision.channel,
            Some(Channel::Phone),
            "the staff call queue still reaches them"
        );
        // A second, working address is enough.
        case.identities
            .push(identity(9, IdentityKind::Email, "ana.new@example.org"));
        assert_eq!(
            of(&case.run(None).1, Channel::Email).status,
            ChannelStatus::Eligible
        );
    }

    #[test]
    fn quiet_hours_defer_intrusive_channels_by_urgency() {
        let mut case = Case::new();
        case.counts = counts(&[
            (Channel::Sms, Metric::Sent, 20),
            (Channel::Sms, Metric::Responded, 16),
            (Channel::Email, Metric::Delivered, 20),
            (Channel::Email, Metric::Opened, 2),
        ]);
        // 23:00 in Chicago (CST).
        case.at = utc_ms("2026-11-11T05:00:00Z");
        let (decision, ranked) = case.run(None);
        let sms = of(&ranked, Channel::Sms);
        assert_eq!(sms.status, ChannelStatus::Deferred);
        assert_eq!(
            sms.available_at,
            Some(utc_ms("2026-11-11T14:00:00Z")),
            "08:00 CST"
        );
        assert!(
            sms.reason
                .ends_with("quiet hours (21:00–08:00 America/Chicago) until 08:00"),
            "{}",
            sms.reason
        );
        // SMS (2 + 16)/(10 + 20) = 0.6 against email (3 + 2)/(10 + 20) = 0.17: worth waiting for.
        assert_eq!(decision.action, Action::Defer);
        assert_eq!(decision.channel, Some(Channel::Sms));
        assert_eq!(decision.send_at, Some(utc_ms("2026-11-11T14:00:00Z")));
        // High urgency does not wait: the best quiet channel now.
        case.urgency = Urgency::High;
        let (decision, _) = case.run(None);
        assert_eq!(
            (decision.action, decision.channel),
            (Action::SendNow, Some(Channel::Email))
        );
        // Their own quiet hours replace the organisation's: quiet from 23:30, so 23:00 is not.
        case.stated.quiet_hours = Some(switchboard_store::preferences::QuietSpan {
            start: "23:30".into(),
            end: "07:00".into(),
        });
        case.urgency = Urgency::Normal;
        let (decision, ranked) = case.run(None);
        assert_eq!(of(&ranked, Channel::Sms).status, ChannelStatus::Eligible);
        assert_eq!(
            (decision.action, decision.channel),
            (Action::SendNow, Some(Channel::Sms))
        );
    }

    #[test]
    fn a_stated_preference_and_a_daily_portal_habit_count() {
        let mut case = Case::new();
        case.counts.insert(
            (Channel::Portal, Metric::Active, 0),
            WindowValue {
                count: 80,
                sum_ms: 0,
                last_at: 0,
                days: 70,
            },
        );
        let (decision, ranked) = case.run(None);
        assert_eq!(
            of(&ranked, Channel::Portal).reason,
            "portal: daily user (70 active days in 90); ×0.9 at normal urgency"
        );
        assert_eq!(decision.channel, Some(Channel::Portal));
        case.stated.preferred_channels = vec![Channel::Email];
        let (decision, ranked) = case.run(None);
        // Email 0.30 + 0.15 = 0.45 still loses to a daily portal user's 0.9 × 0.9 = 0.81.
        assert_eq!(decision.channel, Some(Channel::Portal));
        assert_eq!(of(&ranked, Channel::Email).score, Some(0.45));
        assert!(
            of(&ranked, Channel::Email)
                .reason
                .ends_with("preference #1 of the contact (+0.15)")
        );
    }

    #[test]
    fn exploration_is_reproducible_from_its_seed_and_sometimes_tries_the_other_channel() {
        let case = Case::new();
        let draw = |seed| case.run(Some(&mut Rng::seeded(seed))).0.channel;
        assert_eq!(draw(5), draw(5));
        let picks: Vec<Option<Channel>> = (0..200).map(draw).collect();
        let email = picks.iter().filter(|c| **c == Some(Channel::Email)).count();
        assert!(email > 40 && email < 160, "email picked {email} of 200");
        assert!(picks.contains(&Some(Channel::Sms)));
    }
}
