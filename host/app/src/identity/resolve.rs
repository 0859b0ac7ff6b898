//! Finding the contact each interaction of a batch is about, and how long after its message left
//! us it happened.
//!
//! In order of trust: our own contact id echoed by the vendor; the contact of earlier interactions
//! of the same message; a known identity (email, phone, external id, strongest first); and
//! otherwise a new contact owning the identities. The whole batch takes a handful of queries, not
//! a handful per interaction.
//!
//! Who may add identities to an existing contact is a matter of trust ([`Linking`]): staff may
//! (what they log names the person on purpose); a vendor's event may not. A contact id or a
//! message id in a vendor event is only an echo of what we sent — a forged or replayed event can
//! carry one beside an attacker's address — so vendor events link identities only to the
//! contact they create.
//!
//! A contact id that was merged into another leads to the survivor. An interaction that reaches
//! no contact but names an erased person's identifier (the suppression list) is suppressed: it
//! creates no one and the caller does not record it.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;

use switchboard_core::domain::{Channel, Hints, IdentityKey, Outcome};
use switchboard_store::interactions::{self, MessageFacts};
use switchboard_store::{ServerKey, StoreError};
use switchboard_store::{contacts, suppressions};

/// What resolution needs to know about one interaction.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub channel: Channel,
    pub outcome: Outcome,
    pub occurred_at: i64,
    pub vendor_message_id: Option<&'a str>,
    pub hints: &'a Hints,
}

/// Who an interaction is about, and its time to action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// `None` only when the interaction carries no usable hint at all.
    pub contact_id: Option<i64>,
    /// Milliseconds from the message leaving us to this event, for events that follow a send.
    pub time_to_action_ms: Option<i64>,
    /// About an erased person: not to be recorded.
    pub suppressed: bool,
}

/// Which identities a batch may link to contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// Staff logs: identities the batch names for a contact are linked to it, unless another
    /// contact owns them.
    Staff,
    /// Vendor events: identities are linked only to a contact created for them here; a known
    /// contact gains none.
    Vendor,
}

/// Resolves a batch, in order, inside the caller's transaction. `source` is recorded on the
/// identities it links (`plugin:<id>`, `staff:<key>`).
pub async fn resolve_batch(
    conn: &mut AnyConnection,
    key: &ServerKey,
    subjects: &[Subject<'_>],
    linking: Linking,
    source: &str,
    now: i64,
) -> Result<Vec<Resolution>, StoreError> {
    let claimed: Vec<i64> = unique(subjects.iter().filter_map(|s| s.hints.contact_id));
    let merged = contacts::merged_into(conn, &claimed).await?;
    let current: Vec<i64> = unique(claimed.iter().map(|id| *merged.get(id).unwrap_or(id)));
    let valid_contacts = contacts::existing(conn, &current).await?;

    let message_keys: Vec<(Channel, &str)> = unique(
        subjects
            .iter()
            .filter_map(|s| Some((s.channel, s.vendor_message_id?))),
    );
    let mut messages = interactions::message_facts(conn, &message_keys).await?;
    for subject in subjects {
        if let Some(id) = subject.vendor_message_id
            && subject.outcome.starts_a_message()
        {
            let facts = messages
                .entry((subject.channel, id.to_string()))
                .or_default();
            facts.started_at = Some(
                facts
                    .started_at
                    .map_or(subject.occurred_at, |s| s.min(subject.occurred_at)),
            );
        }
    }

    let keys: Vec<IdentityKey> = unique(
        subjects
            .iter()
            .flat_map(|s| s.hints.identities.iter().cloned()),
    );
    let owners = contacts::owners(conn, &keys).await?;
    let unowned: Vec<IdentityKey> = keys
        .iter()
        .filter(|k| !owners.contains_key(*k))
        .cloned()
        .collect();
    let suppressed = suppressions::suppressed(conn, key, &unowned).await?;

    // Who each subject is, decided in memory first: the write path then creates the new
    // contacts and links their identities in a statement or two for the whole batch, not a
    // statement per stranger.
    let mut owners: HashMap<IdentityKey, Who> = owners
        .into_iter()
        .map(|(k, id)| (k, Who::Known(id)))
        .collect();
    let mut assigned: HashMap<(Channel, String), Who> = HashMap::new();
    let mut plan = Plan::default();
    let mut decided = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let message = subject
            .vendor_message_id
            .map(|id| (subject.channel, id.to_string()));
        let facts = message
            .as_ref()
            .and_then(|m| messages.get(m))
            .copied()
            .unwrap_or_default();
        let claim = subject
            .hints
            .contact_id
            .map(|id| *merged.get(&id).unwrap_or(&id));
        let names_erased = subject
            .hints
            .identities
            .iter()
            .any(|k| suppressed.contains(k));
        let of_message = facts
            .contact_id
            .map(Who::Known)
            .or_else(|| message.as_ref().and_then(|m| assigned.get(m).copied()));
        let known = known_contact(claim, subject, &valid_contacts, of_message, &owners);
        let who = match known {
            Some(who) => Some(who),
            None if subject.hints.identities.is_empty() || names_erased => None,
            None => Some(plan.new_contact()),
        };
        if let Some(who) = who {
            if known.is_none() || linking == Linking::Staff {
                for key in subject.hints.identities.iter() {
                    if !suppressed.contains(key) && !owners.contains_key(key) {
                        owners.insert(key.clone(), who);
                        plan.links.push((who, key));
                    }
                }
            }
            if let Some(message) = message
                && facts.contact_id.is_none()
            {
                assigned.entry(message).or_insert(who);
            }
        }
        decided.push((who, time_to_action(subject, &facts), names_erased));
    }

    let created = contacts::create_many(conn, plan.new_contacts, now).await?;
    let id_of = |who: Who| match who {
        Who::Known(id) => id,
        Who::New(n) => created[n],
    };
    let links: Vec<(i64, &IdentityKey)> = plan
        .links
        .iter()
        .map(|(who, key)| (id_of(*who), *key))
        .collect();
    contacts::link_identities(conn, &links, source, now).await?;
    Ok(decided
        .into_iter()
        .map(|(who, time_to_action_ms, names_erased)| Resolution {
            contact_id: who.map(id_of),
            time_to_action_ms,
            suppressed: who.is_none() && names_erased,
        })
        .collect())
}

/// A subject's contact as resolution decides it: one that exists, or the `n`th one the batch
/// creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Known(i64),
    New(usize),
}

/// What the batch will write: how many contacts to create, and which identities to link to whom
/// (each identity once, to the first subject that named it).
#[derive(Debug, Default)]
struct Plan<'k> {
    new_contacts: usize,
    links: Vec<(Who, &'k IdentityKey)>,
}

impl Plan<'_> {
    fn new_contact(&mut self) -> Who {
        self.new_contacts += 1;
        Who::New(self.new_contacts - 1)
    }
}

fn known_contact(
    claim: Option<i64>,
    subject: &Subject<'_>,
    valid_contacts: &HashSet<i64>,
    of_message: Option<Who>,
    owners: &HashMap<IdentityKey, Who>,
) -> Option<Who> {
    claim
        .filter(|id| valid_contacts.contains(id))
        .map(Who::Known)
        .or(of_message)
        .or_else(|| {
            subject
                .hints
                .identities
                .iter()
                .find_map(|key| owners.get(key).copied())
        })
}

/// Events after a send measure how long the person took; the send itself does not.
fn time_to_action(subject: &Subject<'_>, facts: &MessageFacts) -> Option<i64> {
    if subject.outcome.starts_a_message() {
        return None;
    }
    let started = facts.started_at?;
    (subject.occurred_at >= started).then(|| subject.occurred_at - started)
}

/// The distinct items, in first-seen order.
fn unique<T: Clone + Eq + std::hash::Hash>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(item.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::testing;
    use switchboard_store::testing::event;

    /// Resolves a batch as a vendor's webhook does.
    async fn as_vendor(
        store: &switchboard_store::Store,
        conn: &mut AnyConnection,
        batch: &[Subject<'_>],
    ) -> Vec<Resolution> {
        resolve_batch(conn, store.key(), batch, Linking::Vendor, "plugin:test", 0)
            .await
            .unwrap()
    }

    fn hints(contact_id: Option<i64>, keys: &[IdentityKey]) -> Hints {
        Hints {
            contact_id,
            identities: keys.to_vec(),
        }
    }

    fn subject<'a>(
        outcome: Outcome,
        at: i64,
        message: Option<&'a str>,
        hints: &'a Hints,
    ) -> Subject<'a> {
        Subject {
            channel: Channel::Email,
            outcome,
            occurred_at: at,
            vendor_message_id: message,
            hints,
        }
    }

    #[tokio::test]
    async fn a_new_address_creates_one_contact_for_the_whole_batch() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = hints(None, &[IdentityKey::email("ana@example.org").unwrap()]);
        let batch = [
            subject(Outcome::Queued, 1_000, Some("m1"), &ana),
            subject(Outcome::Delivered, 1_500, Some("m1"), &ana),
            subject(Outcome::Opened, 61_000, Some("m1"), &ana),
        ];
        let resolved = as_vendor(&store, tx.conn(), &batch).await;
        let contact = resolved[0].contact_id.unwrap();
        assert!(resolved.iter().all(|r| r.contact_id == Some(contact)));
        let ttas: Vec<_> = resolved.iter().map(|r| r.time_to_action_ms).collect();
        assert_eq!(ttas, [None, Some(500), Some(60_000)]);
    }

    #[tokio::test]
    async fn strangers_of_one_batch_each_get_a_contact_and_later_events_find_theirs() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana_mail = IdentityKey::email("ana@example.org").unwrap();
        let ben_mail = IdentityKey::email("ben@example.org").unwrap();
        let ben_phone = IdentityKey::phone("+15550100", None).unwrap();
        let ana = hints(None, std::slice::from_ref(&ana_mail));
        let ben = hints(None, &[ben_mail.clone(), ben_phone.clone()]);
        let ben_by_phone = hints(None, std::slice::from_ref(&ben_phone));
        let nobody = hints(None, &[]);
        let batch = [
            subject(Outcome::Queued, 1_000, Some("m1"), &ana),
            subject(Outcome::Queued, 1_000, Some("m2"), &ben),
            // Names only Ben's phone, which the batch linked to him above.
            subject(Outcome::Replied, 2_000, None, &ben_by_phone),
            // Names no one, but belongs to Ana's message.
            subject(Outcome::Opened, 3_000, Some("m1"), &nobody),
        ];
        let resolved = as_vendor(&store, tx.conn(), &batch).await;
        let ids: Vec<Option<i64>> = resolved.iter().map(|r| r.contact_id).collect();
        let (ana_id, ben_id) = (ids[0].unwrap(), ids[1].unwrap());
        assert!(ana_id < ben_id, "contacts are created in the batch's order");
        assert_eq!(
            ids,
            [Some(ana_id), Some(ben_id), Some(ben_id), Some(ana_id)]
        );
        assert_eq!(resolved[3].time_to_action_ms, Some(2_000));
        let owners = contacts::owners(tx.conn(), &[ana_mail, ben_mail, ben_phone])
            .await
            .unwrap();
        let mut owned: Vec<i64> = owners.values().copied().collect();
        owned.sort_unstable();
        assert_eq!(owned, [ana_id, ben_id, ben_id]);
    }

    #[tokio::test]
    async fn our_contact_id_wins_then_the_message_then_identities() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = contacts::create(tx.conn(), 0).await.unwrap();
        let ben = contacts::create(tx.conn(), 0).await.unwrap();
        let ben_email = IdentityKey::email("ben@example.org").unwrap();
        contacts::link_identity(tx.conn(), ben, &ben_email, "test", 0)
            .await
            .unwrap();
        let mut sent = event("email_sent", Outcome::Sent, 100, "m-ana", "e0");
        sent.contact_id = Some(ana);
        crate::log::append(tx.conn(), vec![sent.into()])
            .await
            .unwrap();

        // Ana's message, reported with Ben's address (a forward, say): the message decides.
        let by_message = hints(None, std::slice::from_ref(&ben_email));
        // Our id for Ana wins over Ben's address.
        let by_claim = hints(Some(ana), std::slice::from_ref(&ben_email));
        // A claim naming no contact is ignored; the address decides.
        let stale_claim = hints(Some(999), std::slice::from_ref(&ben_email));
        let batch = [
            subject(Outcome::Opened, 400, Some("m-ana"), &by_message),
            subject(Outcome::Clicked, 500, None, &by_claim),
            subject(Outcome::Delivered, 600, None, &stale_claim),
        ];
        let resolved = as_vendor(&store, tx.conn(), &batch).await;
        let contacts: Vec<_> = resolved.iter().map(|r| r.contact_id).collect();
        assert_eq!(contacts, [Some(ana), Some(ana), Some(ben)]);
        assert_eq!(resolved[0].time_to_action_ms, Some(300));
    }

    #[tokio::test]
    async fn a_vendor_event_naming_our_contact_id_links_no_new_address_to_it() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let victim = contacts::create(tx.conn(), 0).await.unwrap();
        // A forged event: the victim's contact id beside the attacker's address.
        let attacker = IdentityKey::email("attacker@example.net").unwrap();
        let forged = hints(Some(victim), std::slice::from_ref(&attacker));
        let resolved = resolve_batch(
            tx.conn(),
            store.key(),
            &[subject(Outcome::Delivered, 1, None, &forged)],
            Linking::Vendor,
            "plugin:t",
            0,
        )
        .await
        .unwrap();
        assert_eq!(resolved[0].contact_id, Some(victim), "still attributed");
        assert!(
            contacts::identities_of(tx.conn(), victim)
                .await
                .unwrap()
                .is_empty(),
            "the attacker's address was linked to the victim"
        );
    }

    #[tokio::test]
    async fn identities_staff_log_with_a_contact_are_linked_to_it() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = contacts::create(tx.conn(), 0).await.unwrap();
        let phone = IdentityKey::phone("+14155550100", None).unwrap();
        let seen = hints(Some(ana), std::slice::from_ref(&phone));
        resolve_batch(
            tx.conn(),
            store.key(),
            &[subject(Outcome::Delivered, 1, None, &seen)],
            Linking::Staff,
            "staff:front-desk",
            0,
        )
        .await
        .unwrap();
        assert_eq!(
            contacts::identities_of(tx.conn(), ana).await.unwrap(),
            [phone]
        );
    }

    #[tokio::test]
    async fn an_interaction_without_hints_stays_unattributed() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let nothing = hints(None, &[]);
        let resolved = resolve_batch(
            tx.conn(),
            store.key(),
            &[subject(Outcome::Delivered, 1, Some("m"), &nothing)],
            Linking::Vendor,
            "t",
            0,
        )
        .await
        .unwrap();
        assert_eq!(
            resolved[0],
            Resolution {
                contact_id: None,
                time_to_action_ms: None,
                suppressed: false,
            }
        );
    }

    #[tokio::test]
    async fn a_merged_id_leads_to_the_survivor_and_erased_people_stay_gone() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let survivor = contacts::create(tx.conn(), 0).await.unwrap();
        let merged = contacts::create(tx.conn(), 0).await.unwrap();
        contacts::merge(tx.conn(), survivor, merged, "test", 1)
            .await
            .unwrap();
        let erased = IdentityKey::email("gone@example.org").unwrap();
        suppressions::add(tx.conn(), store.key(), std::slice::from_ref(&erased), 1)
            .await
            .unwrap();

        let by_old_id = hints(Some(merged), &[]);
        let by_erased = hints(None, std::slice::from_ref(&erased));
        let ours_with_erased = hints(Some(survivor), std::slice::from_ref(&erased));
        let batch = [
            subject(Outcome::Delivered, 1, None, &by_old_id),
            subject(Outcome::Delivered, 2, None, &by_erased),
            subject(Outcome::Delivered, 3, None, &ours_with_erased),
        ];
        let resolved = resolve_batch(tx.conn(), store.key(), &batch, Linking::Vendor, "t", 0)
            .await
            .unwrap();
        assert_eq!(resolved[0].contact_id, Some(survivor));
        assert_eq!(
            (resolved[1].contact_id, resolved[1].suppressed),
            (None, true)
        );
        // Our own id still attributes the event, but the erased address is not linked again.
        assert_eq!(
            (resolved[2].contact_id, resolved[2].suppressed),
            (Some(survivor), false)
        );
        assert!(
            contacts::identities_of(tx.conn(), survivor)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
