//! Counting the log into the engagement counters: the interactions just appended (a reaction of
//! every append, in its transaction), a contact's whole log again (after a merge or a time zone
//! change), or everything again (`switchboard prefs rebuild`). The [`Tally`] decides what each
//! event adds; `store::engagement` loads and saves the rows.

use std::collections::{HashMap, HashSet};

use jiff::tz::TimeZone;
use sqlx::AnyConnection;

use super::tally::Tally;
use switchboard_core::domain::LoggedInteraction;
use switchboard_store::StoreError;
use switchboard_store::engagement::{self, Save};

/// Events per page of a rebuild.
const REBUILD_PAGE: i64 = 50_000;

/// Counts interactions just appended to the log (in log order), inside the caller's transaction.
pub async fn count_new(
    conn: &mut AnyConnection,
    events: &[LoggedInteraction],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tally = Tally::from(engagement::load(conn, events).await?);
    let zones = engagement::zones_of(conn, &contacts_of(events)).await?;
    for event in events {
        tally.apply(event, zone_for(&zones, event.contact_id));
    }
    engagement::save(conn, &tally.state, Save::Add).await
}

/// Forgets a contact's counters and counts their whole log again.
pub async fn recount_contact(conn: &mut AnyConnection, contact_id: i64) -> Result<(), StoreError> {
    engagement::forget_contact(conn, contact_id).await?;
    let events = engagement::events_of_contact(conn, contact_id).await?;
    let zones = engagement::zones_of(conn, &[contact_id]).await?;
    let zone = zone_for(&zones, contact_id);
    let mut tally = Tally::default();
    for event in &events {
        tally.apply(event, zone);
    }
    engagement::save(conn, &tally.state, Save::Replace).await
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    pub interactions: u64,
    pub counters: u64,
}

/// Drops every counter and counts the whole log again, in log order.
pub async fn rebuild(conn: &mut AnyConnection) -> Result<Rebuilt, StoreError> {
    engagement::forget_all(conn).await?;
    let zones = engagement::all_zones(conn).await?;
    let mut tally = Tally::default();
    let mut interactions = 0;
    let mut after = 0i64;
    loop {
        let events = engagement::events_after(conn, after, REBUILD_PAGE).await?;
        let Some(last) = events.last() else { break };
        after = last.id;
        for event in &events {
            tally.apply(event, zone_for(&zones, event.contact_id));
            interactions += 1;
        }
    }
    let counters = tally.state.counters.len() as u64;
    engagement::save(conn, &tally.state, Save::Replace).await?;
    Ok(Rebuilt {
        interactions,
        counters,
    })
}

fn contacts_of(events: &[LoggedInteraction]) -> Vec<i64> {
    let set: HashSet<i64> = events.iter().map(|e| e.contact_id).collect();
    let mut contacts: Vec<i64> = set.into_iter().collect();
    contacts.sort_unstable();
    contacts
}

/// A contact's zone; hours of contacts whose zone we do not know are counted in UTC (and shown
/// as such), not in a guessed zone.
fn zone_for(zones: &HashMap<i64, TimeZone>, contact: i64) -> &TimeZone {
    zones.get(&contact).unwrap_or(&UTC)
}

static UTC: TimeZone = TimeZone::UTC;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{self, Entry};
    use switchboard_core::clock::local_time::utc_ms;
    use switchboard_core::domain::{Channel, Direction, Outcome};
    use switchboard_store::engagement::{CounterKey, CounterValue, Metric, all_counters};
    use switchboard_store::interactions::NewInteraction;
    use switchboard_store::testing::event;
    use switchboard_store::{Store, contacts, testing};

    fn on(
        contact: i64,
        channel: Channel,
        direction: Direction,
        row: NewInteraction,
    ) -> NewInteraction {
        NewInteraction {
            contact_id: Some(contact),
            channel,
            direction,
            ..row
        }
    }

    fn email(contact: i64, outcome: Outcome, at: &str, message: &str, id: &str) -> NewInteraction {
        let mut row = event("email_event", outcome, utc_ms(at), message, id);
        row.contact_id = Some(contact);
        row
    }

    fn sms(
        contact: i64,
        direction: Direction,
        outcome: Outcome,
        at: &str,
        message: &str,
    ) -> NewInteraction {
        on(
            contact,
            Channel::Sms,
            direction,
            event(
                "sms_event",
                outcome,
                utc_ms(at),
                message,
                &format!("{message}-{outcome}"),
            ),
        )
    }

    fn call(contact: i64, outcome: Outcome, at: &str) -> NewInteraction {
        let mut row = on(
            contact,
            Channel::Phone,
            Direction::Outbound,
            event("call", outcome, utc_ms(at), "", ""),
        );
        row.vendor_message_id = None;
        row.vendor_event_id = None;
        row.vendor = None;
        row
    }

    async fn write(store: &Store, rows: &[NewInteraction]) {
        let mut tx = store.begin_write().await.unwrap();
        let entries = rows.iter().cloned().map(Entry::from).collect();
        log::append(tx.conn(), entries).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn snapshot(
        store: &Store,
    ) -> (
        Vec<(CounterKey, CounterValue)>,
        Vec<(i64, String, String, i64)>,
        Vec<(i64, String, i64)>,
    ) {
        let mut conn = store.pool().acquire().await.unwrap();
        let counters = all_counters(&mut conn).await.unwrap();
        let messages = sqlx::query_as::<_, (i64, String, String, i64)>(
            "SELECT contact_id, channel, vendor_message_id, seen FROM engagement_messages
             ORDER BY contact_id, channel, vendor_message_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let awaiting = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT contact_id, channel, since FROM engagement_awaiting ORDER BY contact_id, channel",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        (counters, messages, awaiting)
    }

    fn total(
        counters: &[(CounterKey, CounterValue)],
        contact: i64,
        channel: Channel,
        metric: Metric,
    ) -> i64 {
        counters
            .iter()
            .filter(|(k, _)| k.contact_id == contact && k.channel == channel && k.metric == metric)
            .map(|(_, v)| v.count)
            .sum()
    }

    /// Two people's history, delivered in several batches the way webhooks arrive.
    async fn history(store: &Store) -> (i64, i64) {
        let mut tx = store.begin_write().await.unwrap();
        let ana = contacts::create_named(tx.conn(), Some("Ana"), Some("America/Chicago"), 0)
            .await
            .unwrap();
        let ben = contacts::create_named(tx.conn(), Some("Ben"), None, 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        write(
            store,
            &[
                email(ana, Outcome::Queued, "2026-11-02T15:00:00Z", "m1", "e1"),
                email(ana, Outcome::Delivered, "2026-11-02T15:00:05Z", "m1", "e2"),
                email(ana, Outcome::Queued, "2026-11-03T15:00:00Z", "m2", "e3"),
            ],
        )
        .await;
        write(
            store,
            &[
                // Two opens and a click of one message: one open, one response.
                email(ana, Outcome::Opened, "2026-11-02T23:30:00Z", "m1", "e4"),
                email(ana, Outcome::Opened, "2026-11-03T01:00:00Z", "m1", "e5"),
                email(ana, Outcome::Clicked, "2026-11-03T01:01:00Z", "m1", "e6"),
                email(ana, Outcome::Bounced, "2026-11-03T15:00:10Z", "m2", "e7"),
            ],
        )
        .await;
        write(
            store,
            &[
                sms(
                    ben,
                    Direction::Outbound,
                    Outcome::Sent,
                    "2026-11-04T10:00:00Z",
                    "s1",
                ),
                sms(
                    ben,
                    Direction::Outbound,
                    Outcome::Delivered,
                    "2026-11-04T10:00:03Z",
                    "s1",
                ),
                // A reply within the window answers s1; a second one is contact-initiated.
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::Replied,
                    "2026-11-04T10:20:00Z",
                    "r1",
                ),
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::Replied,
                    "2026-11-04T10:25:00Z",
                    "r2",
                ),
                sms(
                    ben,
                    Direction::Inbound,
                    Outcome::OptedOut,
                    "2026-11-05T10:25:00Z",
                    "r3",
                ),
                call(ben, Outcome::NoAnswer, "2026-11-06T17:00:00Z"),
                call(ben, Outcome::Answered, "2026-11-07T17:00:00Z"),
            ],
        )
        .await;
        // An SMS that is still waiting for a reply when the history ends.
        write(
            store,
            &[sms(
                ben,
                Direction::Outbound,
                Outcome::Sent,
                "2026-11-08T10:00:00Z",
                "s2",
            )],
        )
        .await;
        (ana, ben)
    }

    #[tokio::test]
    async fn milestones_count_once_per_message() {
        let (store, _dir) = testing::store().await;
        let (ana, ben) = history(&store).await;
        let (counters, _, awaiting) = snapshot(&store).await;
        let count = |contact, channel, metric| total(&counters, contact, channel, metric);
        assert_eq!(count(ana, Channel::Email, Metric::Sent), 2);
        assert_eq!(count(ana, Channel::Email, Metric::Delivered), 1);
        assert_eq!(
            count(ana, Channel::Email, Metric::Opened),
            1,
            "two opens, one message"
        );
        assert_eq!(count(ana, Channel::Email, Metric::Responded), 1);
        assert_eq!(count(ana, Channel::Email, Metric::Failed), 1);
        // The first open (23:30 UTC) is 17:30 in Chicago: the only engagement hour recorded.
        let hours: Vec<i64> = counters
            .iter()
            .filter(|(k, _)| k.contact_id == ana && k.metric == Metric::Hour)
            .map(|(k, _)| k.slot)
            .collect();
        assert_eq!(hours, vec![17]);

        assert_eq!(count(ben, Channel::Sms, Metric::Sent), 2);
        assert_eq!(count(ben, Channel::Sms, Metric::Responded), 1);
        assert_eq!(count(ben, Channel::Sms, Metric::Inbound), 1);
        // Ben's zone is unknown: his hours are counted in UTC.
        assert!(counters.iter().any(|(k, _)| k.contact_id == ben
            && k.channel == Channel::Sms
            && k.metric == Metric::Hour
            && k.slot == 10));
        let reply_tta: Vec<(i64, i64)> = counters
            .iter()
            .filter(|(k, _)| {
                k.contact_id == ben && k.channel == Channel::Sms && k.metric == Metric::Tta
            })
            .map(|(k, v)| (k.slot, v.sum_ms))
            .collect();
        assert_eq!(
            reply_tta,
            vec![(3, 20 * 60_000)],
            "replied 20 minutes after s1 left"
        );
        assert_eq!(count(ben, Channel::Phone, Metric::Sent), 2);
        assert_eq!(count(ben, Channel::Phone, Metric::Answered), 1);
        assert_eq!(
            awaiting,
            vec![(ben, "sms".to_string(), utc_ms("2026-11-08T10:00:00Z"))],
            "s2 still waits; the click answered Ana's email and the call was answered"
        );
    }

    #[tokio::test]
    async fn a_rebuild_gives_exactly_what_was_counted_as_interactions_arrived() {
        let (store, _dir) = testing::store().await;
        history(&store).await;
        let incremental = snapshot(&store).await;
        assert!(!incremental.0.is_empty());
        let mut tx = store.begin_write().await.unwrap();
        let rebuilt = rebuild(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rebuilt.interactions, 15);
        assert_eq!(snapshot(&store).await, incremental);
    }

    #[tokio::test]
    async fn a_zone_change_recounts_the_contact_in_their_new_zone() {
        let (store, _dir) = testing::store().await;
        let (ana, _) = history(&store).await;
        let mut tx = store.begin_write().await.unwrap();
        contacts::update(tx.conn(), ana, None, Some(Some("Asia/Tokyo")), 1)
            .await
            .unwrap();
        recount_contact(tx.conn(), ana).await.unwrap();
        tx.commit().await.unwrap();
        let (counters, _, _) = snapshot(&store).await;
        let hours: Vec<i64> = counters
            .iter()
            .filter(|(k, _)| k.contact_id == ana && k.metric == Metric::Hour)
            .map(|(k, _)| k.slot)
            .collect();
        // 23:30 UTC is 08:30 the next day in Tokyo.
        assert_eq!(hours, vec![8]);
        // And it is still what a rebuild gives.
        let recounted = snapshot(&store).await;
        let mut tx = store.begin_write().await.unwrap();
        rebuild(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(snapshot(&store).await, recounted);
    }
}
