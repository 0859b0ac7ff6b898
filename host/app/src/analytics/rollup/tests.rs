//! The rollup equals a recount of the log: folded as the log grows (in small batches, through a
//! merge and an erasure) it holds exactly what the live fold of the log gives, and what a
//! rebuild from nothing gives.

use std::collections::BTreeMap;

use super::counts::Counts;
use super::fold;
use super::*;
use crate::analytics::fate;
use switchboard_core::domain::{Direction, Outcome};
use switchboard_store::analytics::{self, Whose};
use switchboard_store::contacts;
use switchboard_store::interactions::{NewInteraction, insert_new};
use switchboard_store::rollup::{FoldedMessage, TotalKey};

const HOUR: i64 = 3_600_000;

/// A small deterministic generator (no dependency for a test).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.roll(from.len() as u64) as usize]
    }
}

fn row(
    contact: Option<i64>,
    channel: Channel,
    direction: Direction,
    outcome: Outcome,
    at: i64,
    message: Option<String>,
) -> NewInteraction {
    NewInteraction {
        contact_id: contact,
        occurred_at: at,
        received_at: at,
        kind: format!("{}_{}", channel.as_str(), outcome.as_str()),
        channel,
        direction,
        outcome,
        vendor_status: None,
        plugin_id: Some(format!("{}-plugin", channel.as_str())),
        vendor: None,
        vendor_message_id: message,
        vendor_event_id: None,
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: None,
        metadata: "{}".into(),
        created_by: "test".into(),
    }
}

/// Events of a few people over three weeks, in no particular order of time: message events
/// arriving late and early, replies, STOPs, logged calls, failures.
fn history(dice: &mut Dice, contacts: &[i64], count: usize) -> Vec<NewInteraction> {
    use Outcome::*;
    let channels = [Channel::Email, Channel::Sms, Channel::Phone];
    (0..count)
        .map(|_| {
            let contact = (dice.roll(20) != 0).then(|| dice.pick(contacts));
            let channel = dice.pick(&channels);
            let at = dice.roll(21 * 24) as i64 * HOUR + dice.roll(HOUR as u64) as i64;
            match dice.roll(10) {
                0..=5 => {
                    let outcome =
                        dice.pick(&[Delivered, Delivered, Opened, Clicked, Bounced, Dropped]);
                    let outcome = if dice.roll(30) == 0 {
                        Unsubscribed
                    } else {
                        outcome
                    };
                    let message = format!("{}-m{}", channel.as_str(), dice.roll(60));
                    row(
                        contact,
                        channel,
                        Direction::Outbound,
                        outcome,
                        at,
                        Some(message),
                    )
                }
                6..=8 => {
                    let outcome = dice.pick(&[Replied, Replied, Replied, OptedOut, OptedIn]);
                    row(contact, channel, Direction::Inbound, outcome, at, None)
                }
                _ => {
                    let outcome = dice.pick(&[Answered, NoAnswer, Busy]);
                    row(
                        contact,
                        Channel::Phone,
                        Direction::Outbound,
                        outcome,
                        at,
                        None,
                    )
                }
            }
        })
        .collect()
}

async fn log(store: &Store, rows: &[NewInteraction]) {
    let mut tx = store.begin_write().await.unwrap();
    insert_new(tx.conn(), rows).await.unwrap();
    tx.commit().await.unwrap();
}

/// Folds what is pending a few interactions at a time.
async fn fold_in_small_batches(store: &Store) {
    loop {
        let mut tx = store.begin_write().await.unwrap();
        let folded = fold::fold_next(tx.conn(), 7).await.unwrap();
        tx.commit().await.unwrap();
        if folded.events == 0 {
            return;
        }
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    messages: Vec<FoldedMessage>,
    daily: BTreeMap<DailyKey, Counts>,
    /// Per provider, by day (`false`) and by hour (`true`).
    totals: BTreeMap<(bool, TotalKey), Counts>,
    /// Per day (`false`) or hour (`true`) and channel.
    inbound: BTreeMap<(bool, i64, Channel), i64>,
}

async fn snapshot(store: &Store) -> Snapshot {
    let mut conn = store.reader().await.unwrap();
    let mut messages = rollup::messages_sent_between(&mut conn, i64::MIN, i64::MAX)
        .await
        .unwrap();
    messages.sort_by(|a, b| (&a.key, a.sent.channel).cmp(&(&b.key, b.sent.channel)));
    let daily = rollup::DAILY
        .between::<DailyKey, Counts>(&mut conn, i64::MIN, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.key, row.counts))
        .collect();
    let mut totals = BTreeMap::new();
    for table in [rollup::DAILY_TOTALS, rollup::HOURLY_TOTALS] {
        let rows = table
            .between::<TotalKey, Counts>(&mut conn, i64::MIN, i64::MAX)
            .await
            .unwrap();
        for row in rows {
            totals.insert((table == rollup::HOURLY_TOTALS, row.key), row.counts);
        }
    }
    let mut inbound = BTreeMap::new();
    for (table, units) in [
        (rollup::INBOUND_DAILY, 30),
        (rollup::INBOUND_HOURLY, 30 * 24),
    ] {
        for unit in -1..units {
            for (channel, count) in table.between(&mut conn, unit, unit + 1).await.unwrap() {
                inbound.insert((table == rollup::INBOUND_HOURLY, unit, channel), count);
            }
        }
    }
    Snapshot {
        messages,
        daily,
        totals,
        inbound,
    }
}

/// What counting the live fold of the log gives.
struct Recount {
    daily: BTreeMap<DailyKey, Counts>,
    totals: BTreeMap<(bool, TotalKey), Counts>,
    /// Per day (`false`) or hour (`true`) and channel.
    inbound: BTreeMap<(bool, i64, Channel), i64>,
}

/// What counting the live fold of the log gives, per day and group, per provider by day and
/// hour, and inbound per day and hour.
async fn recount(store: &Store) -> Recount {
    let mut conn = store.reader().await.unwrap();
    let sent = analytics::sent_messages(&mut conn, Whose::Everyone, 0, i64::MAX / 2)
        .await
        .unwrap();
    let inbound = analytics::inbound(&mut conn, Whose::Everyone, 0, i64::MAX / 2)
        .await
        .unwrap();
    let mut daily: BTreeMap<DailyKey, Counts> = BTreeMap::new();
    let mut totals: BTreeMap<(bool, TotalKey), Counts> = BTreeMap::new();
    let word = |v: &Option<String>| v.clone().unwrap_or_default();
    for fate in fate::fates(sent, &inbound) {
        let key = DailyKey {
            day: fate.sent_at.div_euclid(DAY_MS),
            channel: fate.channel,
            plugin: word(&fate.plugin),
            kind: word(&fate.kind),
            urgency: word(&fate.urgency),
            template: word(&fate.template),
        };
        let counts = Counts::of(&fate);
        for (by_hour, start) in [(false, key.day), (true, fate.sent_at.div_euclid(HOUR))] {
            let provider = TotalKey {
                start,
                channel: key.channel,
                plugin: key.plugin.clone(),
            };
            totals
                .entry((by_hour, provider))
                .or_default()
                .add(&counts, 1);
        }
        daily.entry(key).or_default().add(&counts, 1);
    }
    let mut volume = BTreeMap::new();
    for message in &inbound {
        for table in [rollup::INBOUND_DAILY, rollup::INBOUND_HOURLY] {
            let unit = table.unit_of(message.occurred_at);
            let by_hour = table == rollup::INBOUND_HOURLY;
            *volume.entry((by_hour, unit, message.channel)).or_default() += 1;
        }
    }
    Recount {
        daily,
        totals,
        inbound: volume,
    }
}

/// The first keys where a recount and the rollup differ, if any.
fn assert_same<K: Ord + std::fmt::Debug>(
    what: &str,
    recounted: &BTreeMap<K, Counts>,
    folded: &BTreeMap<K, Counts>,
) {
    let differing: Vec<_> = recounted
        .keys()
        .chain(folded.keys())
        .filter(|k| recounted.get(*k) != folded.get(*k))
        .take(2)
        .map(|k| (k, recounted.get(k), folded.get(k)))
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: recount, rollup: {differing:#?}"
    );
}

#[tokio::test]
async fn folded_as_it_grows_the_rollup_equals_a_recount_and_a_rebuild() {
    let (store, _dir) = switchboard_store::testing::store().await;
    let mut contacts_made = Vec::new();
    {
        let mut tx = store.begin_write().await.unwrap();
        for _ in 0..6 {
            contacts_made.push(contacts::create(tx.conn(), 0).await.unwrap());
        }
        tx.commit().await.unwrap();
    }
    let mut dice = Dice(7);
    for round in 0..5 {
        log(&store, &history(&mut dice, &contacts_made, 300)).await;
        fold_in_small_batches(&store).await;
        if round == 2 {
            // The second person turns out to be the first; the third asks to be forgotten.
            let mut tx = store.begin_write().await.unwrap();
            let (first, second, third) = (contacts_made[0], contacts_made[1], contacts_made[2]);
            contacts::merge(tx.conn(), first, second, "test", 0)
                .await
                .unwrap();
            contacts::delete(tx.conn(), third).await.unwrap();
            tx.commit().await.unwrap();
            contacts_made.drain(1..3);
        }
    }
    fold_in_small_batches(&store).await;
    let folded = snapshot(&store).await;
    assert!(folded.messages.len() > 100, "{}", folded.messages.len());
    let responded: i64 = folded.daily.values().map(|c| c.responded).sum();
    assert!(responded > 10, "the history has responses: {responded}");

    let recounted = recount(&store).await;
    assert_same("per day and group", &recounted.daily, &folded.daily);
    assert_same("per provider", &recounted.totals, &folded.totals);
    assert_eq!(folded.inbound, recounted.inbound);

    let rebuilt = Rollup::new(store.clone()).rebuild().await.unwrap();
    let mut conn = store.reader().await.unwrap();
    let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM interaction_log")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        rebuilt.events as i64, logged,
        "the erased person's events are gone"
    );
    assert!(logged < 1_500);
    assert_eq!(
        snapshot(&store).await,
        folded,
        "a rebuild gives the same rollup"
    );
}

#[tokio::test]
async fn a_report_period_adds_whole_days_and_the_messages_at_its_edges() {
    let (store, _dir) = switchboard_store::testing::store().await;
    let contact = {
        let mut tx = store.begin_write().await.unwrap();
        let id = contacts::create(tx.conn(), 0).await.unwrap();
        tx.commit().await.unwrap();
        id
    };
    let mut dice = Dice(11);
    log(&store, &history(&mut dice, &[contact], 3_000)).await;
    let rollup = Rollup::new(store.clone());
    rollup.catch_up().await.unwrap();
    let minute = HOUR / 60;
    let periods = [
        // From 07:20 on day 2 (most of that day: its rows less its first hours; by provider, its
        // whole hours and 40 minutes of messages) to 05:35 on day 9 (a little of that day).
        (
            2 * DAY_MS + 7 * HOUR + 20 * minute,
            9 * DAY_MS + 5 * HOUR + 35 * minute,
        ),
        // Within one hour; within one day; across a midnight with no whole day (most of the
        // first day, some of the second).
        (
            3 * DAY_MS + HOUR + 5 * minute,
            3 * DAY_MS + HOUR + 50 * minute,
        ),
        (4 * DAY_MS + 2 * HOUR + 10 * minute, 4 * DAY_MS + 20 * HOUR),
        (
            5 * DAY_MS + 3 * HOUR + 10 * minute,
            6 * DAY_MS + 7 * HOUR + 25 * minute,
        ),
    ];
    for (since, until) in periods {
        report_period_equals_its_messages(&rollup, since, until).await;
    }
}

/// The period's counts, in either detail, are what its messages add up to.
async fn report_period_equals_its_messages(rollup: &Rollup, since: i64, until: i64) {
    let store = &rollup.store;
    let mut conn = store.reader().await.unwrap();
    let messages = rollup::messages_sent_between(&mut conn, since, until)
        .await
        .unwrap();
    let inbound = analytics::inbound(&mut conn, Whose::Everyone, since, until)
        .await
        .unwrap();
    drop(conn);
    assert!(!messages.is_empty(), "messages sent in {since}..{until}");
    for detail in [Detail::Groups, Detail::Providers] {
        let counted = rollup.period(since, until, detail).await.unwrap();
        let mut expected: BTreeMap<DailyKey, Counts> = BTreeMap::new();
        for message in &messages {
            let (mut key, counts) = fold::contribution(message);
            if detail == Detail::Providers {
                key = DailyKey::of_provider(key.day, key.channel, key.plugin);
            }
            expected.entry(key).or_default().add(&counts, 1);
        }
        let cells: BTreeMap<DailyKey, Counts> = counted
            .cells
            .into_iter()
            .map(|c| (c.key, c.counts))
            .collect();
        assert_eq!(cells, expected, "{detail:?} {since} {until}");
        let counted_inbound = counted.inbound.values().sum::<u64>();
        assert_eq!(
            counted_inbound,
            inbound.len() as u64,
            "{detail:?} {since} {until}"
        );
    }
}
