//! Contacts and their identities: create, read, update, search, link and unlink identifiers,
//! clear an identifier's unreachable mark, and merge two records of one person.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::identifiers::{Identifiers, IdentityInput};
use crate::auth::Caller;
use crate::log;
use crate::prefs::counting;
use crate::service_error::ServiceError;
use sqlx::AnyConnection;
use switchboard_core::clock::local_time;
use switchboard_core::domain::{Channel, Direction, IdentityKey, Outcome, text_field};
use switchboard_store::contacts::{self, Contact, Identity, Moved, Search};
use switchboard_store::interactions::NewInteraction;
use switchboard_store::{ServerKey, Store, audit, suppressions};

/// A new contact.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub display_name: Option<String>,
    /// IANA time zone (`America/Chicago`).
    pub timezone: Option<String>,
    #[serde(default)]
    pub identities: Vec<IdentityInput>,
}

/// Changes to a contact: a field left out stays as it is; an empty string clears it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub display_name: Option<String>,
    pub timezone: Option<String>,
}

/// A contact with its identities.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    #[serde(flatten)]
    pub contact: Contact,
    pub identities: Vec<Identity>,
}

/// What a merge did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergeReport {
    pub survivor: ContactView,
    pub merged_id: i64,
    pub moved: Moved,
}

/// What to search contacts by; every given criterion must match.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Part of the display name, any case.
    pub name: Option<String>,
    pub email: Option<String>,
    /// Any common spelling; compared in E.164.
    pub phone: Option<String>,
    /// `system:id`.
    pub external_id: Option<String>,
    /// Contacts after this id (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// One page of contacts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactPage {
    pub contacts: Vec<ContactView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// Staff's contact operations, over the store, reading identifiers with the operator's phone
/// default.
#[derive(Clone)]
pub struct Contacts {
    store: Store,
    identifiers: Identifiers,
}

impl Contacts {
    pub fn new(store: Store, identifiers: Identifiers) -> Self {
        Contacts { store, identifiers }
    }

    pub async fn create(
        &self,
        input: &NewContact,
        caller: &Caller,
        now: i64,
    ) -> Result<ContactView, ServiceError> {
        let name = text_field("display_name", input.display_name.as_deref(), 200)?;
        let timezone = timezone_field(input.timezone.as_deref())?;
        let keys = input
            .identities
            .iter()
            .enumerate()
            .map(|(i, identity)| self.identifiers.key(&format!("identities[{i}]"), identity))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.store.begin_write().await?;
        let id =
            contacts::create_named(tx.conn(), name.as_deref(), timezone.as_deref(), now).await?;
        for key in &keys {
            link(tx.conn(), self.store.key(), id, key, &caller.actor(), now).await?;
        }
        let view = view(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn get(&self, id: i64) -> Result<ContactView, ServiceError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(switchboard_store::StoreError::from)?;
        view(&mut conn, id).await
    }

    pub async fn update(
        &self,
        id: i64,
        patch: &ContactPatch,
        now: i64,
    ) -> Result<ContactView, ServiceError> {
        let name = patch
            .display_name
            .as_deref()
            .map(|n| text_field("display_name", Some(n), 200))
            .transpose()?;
        let timezone = patch
            .timezone
            .as_deref()
            .map(|tz| timezone_field(Some(tz)))
            .transpose()?;
        let mut tx = self.store.begin_write().await?;
        let found = contacts::update(
            tx.conn(),
            id,
            name.as_ref().map(Option::as_deref),
            timezone.as_ref().map(Option::as_deref),
            now,
        )
        .await?;
        if !found {
            return Err(ServiceError::NotFound {
                what: "contact",
                id,
            });
        }
        if timezone.is_some() {
            // Engagement hours are counted in the contact's zone: count them again in the new one.
            counting::recount_contact(tx.conn(), id).await?;
        }
        let view = view(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn search(&self, query: &ContactQuery) -> Result<ContactPage, ServiceError> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ServiceError::invalid("limit", "between 1 and 200"));
        }
        let mut identities = Vec::new();
        if let Some(email) = &query.email {
            identities
                .push(IdentityKey::email(email).map_err(|e| ServiceError::identity("email", e))?);
        }
        if let Some(phone) = &query.phone {
            identities.push(self.identifiers.phone("phone", phone)?);
        }
        if let Some(external) = &query.external_id {
            let (system, id) = external
                .split_once(':')
                .ok_or_else(|| ServiceError::invalid("external_id", "expected system:id"))?;
            identities.push(
                IdentityKey::external(system, id)
                    .map_err(|e| ServiceError::identity("external_id", e))?,
            );
        }
        let search = Search {
            name: query
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
            identities,
            after_id: query.cursor.unwrap_or(0),
            limit: limit + 1,
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(switchboard_store::StoreError::from)?;
        let mut found = contacts::search(&mut conn, &search).await?;
        let more = found.len() as i64 > limit;
        found.truncate(limit as usize);
        let mut page = Vec::with_capacity(found.len());
        for contact in found {
            let identities = contacts::identity_rows(&mut conn, contact.id).await?;
            page.push(ContactView {
                contact,
                identities,
            });
        }
        let next_cursor = more.then(|| page.last().map(|c| c.contact.id)).flatten();
        Ok(ContactPage {
            contacts: page,
            next_cursor,
        })
    }

    pub async fn add_identity(
        &self,
        id: i64,
        input: &IdentityInput,
        caller: &Caller,
        now: i64,
    ) -> Result<ContactView, ServiceError> {
        let key = self.identifiers.key("identity", input)?;
        let mut tx = self.store.begin_write().await?;
        exists(tx.conn(), id).await?;
        link(tx.conn(), self.store.key(), id, &key, &caller.actor(), now).await?;
        let view = view(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn remove_identity(
        &self,
        id: i64,
        identity_id: i64,
    ) -> Result<ContactView, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        exists(tx.conn(), id).await?;
        if !contacts::remove_identity(tx.conn(), id, identity_id).await? {
            return Err(ServiceError::NotFound {
                what: "identity",
                id: identity_id,
            });
        }
        let view = view(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view)
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

    /// Merges `merged` into `survivor`: interactions, identities and intents move, the merge is
    /// audited and shown in the survivor's timeline, and the merged id leads to the survivor.
    pub async fn merge(
        &self,
        survivor: i64,
        merged: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<MergeReport, ServiceError> {
        if survivor == merged {
            return Err(ServiceError::invalid(
                "merge_id",
                "a contact cannot be merged into itself",
            ));
        }
        let mut tx = self.store.begin_write().await?;
        exists(tx.conn(), survivor).await?;
        referenced(tx.conn(), merged, "merge_id").await?;
        let actor = caller.actor();
        let moved = contacts::merge(tx.conn(), survivor, merged, &actor, now).await?;
        // The survivor's counters are recounted from its now-larger log.
        counting::recount_contact(tx.conn(), survivor).await?;
        let detail = serde_json::json!({ "merged_id": merged, "moved": moved });
        let record = NewInteraction {
            contact_id: Some(survivor),
            occurred_at: now,
            received_at: now,
            kind: "contact_merged".into(),
            channel: Channel::System,
            direction: Direction::Inbound,
            outcome: Outcome::Completed,
            vendor_status: None,
            plugin_id: None,
            vendor: None,
            vendor_message_id: None,
            vendor_event_id: None,
            raw_webhook_id: None,
            time_to_action_ms: None,
            summary: Some(format!(
                "Merged contact {merged} into this one ({} interactions, {} identities)",
                moved.interactions, moved.identities
            )),
            metadata: detail.to_string(),
            created_by: actor.clone(),
        };
        log::append(tx.conn(), vec![record.into()]).await?;
        audit::record(
            tx.conn(),
            now,
            &actor,
            "contact.merge",
            Some(survivor),
            &detail,
        )
        .await?;
        let survivor = view(tx.conn(), survivor).await?;
        tx.commit().await?;
        Ok(MergeReport {
            survivor,
            merged_id: merged,
            moved,
        })
    }
}

/// Links an identity staff gave; refuses one that is someone else's. Staff linking an erased
/// person's identifier on purpose takes it off the suppression list.
async fn link(
    conn: &mut AnyConnection,
    server_key: &ServerKey,
    contact_id: i64,
    key: &IdentityKey,
    actor: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let owners = contacts::owners(conn, std::slice::from_ref(key)).await?;
    match owners.get(key) {
        Some(owner) if *owner == contact_id => return Ok(()),
        Some(owner) => {
            return Err(ServiceError::Conflict(format!(
                "{} {} belongs to contact {owner}; merge the contacts instead",
                key.kind.as_str(),
                key.value
            )));
        }
        None => {}
    }
    suppressions::remove(conn, server_key, std::slice::from_ref(key)).await?;
    contacts::link_identity(conn, contact_id, key, actor, now).await?;
    Ok(())
}

/// Fails with 404 unless the contact exists.
pub(crate) async fn exists(conn: &mut AnyConnection, id: i64) -> Result<Contact, ServiceError> {
    contacts::get(conn, id)
        .await?
        .ok_or(ServiceError::NotFound {
            what: "contact",
            id,
        })
}

/// Fails with 422 naming `field` unless the contact a request body refers to exists (404 is for
/// the resource in the path).
pub(crate) async fn referenced(
    conn: &mut AnyConnection,
    id: i64,
    field: &str,
) -> Result<Contact, ServiceError> {
    contacts::get(conn, id)
        .await?
        .ok_or_else(|| ServiceError::invalid(field, format!("contact {id} does not exist")))
}

pub(crate) async fn view(conn: &mut AnyConnection, id: i64) -> Result<ContactView, ServiceError> {
    let contact = exists(conn, id).await?;
    let identities = contacts::identity_rows(conn, id).await?;
    Ok(ContactView {
        contact,
        identities,
    })
}

/// A zone in the IANA database (`UTC`, `Europe/Madrid`, `America/Argentina/Salta`), as written
/// there.
fn timezone_field(value: Option<&str>) -> Result<Option<String>, ServiceError> {
    let Some(tz) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let zone =
        local_time::zone(tz).map_err(|e| ServiceError::invalid("timezone", e.to_string()))?;
    Ok(Some(zone.iana_name().unwrap_or(tz).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use switchboard_store::{interactions, testing};

    fn caller() -> Caller {
        Caller {
            key_id: 1,
            key_name: "desk".into(),
            scopes: BTreeSet::new(),
        }
    }

    fn identity(kind: &str, value: &str) -> IdentityInput {
        IdentityInput {
            kind: kind.into(),
            value: value.into(),
            system: None,
        }
    }

    #[tokio::test]
    async fn identities_are_validated_normalized_and_owned_once() {
        let (store, _dir) = testing::store().await;
        let contacts = Contacts::new(store, Identifiers::default());
        let ana = contacts
            .create(
                &NewContact {
                    display_name: Some("Ana Martinez".into()),
                    timezone: Some("America/Chicago".into()),
                    identities: vec![
                        identity("phone", "+1 (415) 555-0100"),
                        identity("email", "Ana@Example.org"),
                    ],
                },
                &caller(),
                1,
            )
            .await
            .unwrap();
        let values: Vec<_> = ana.identities.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(values, ["+14155550100", "ana@example.org"]);

        let bad = contacts
            .create(
                &NewContact {
                    identities: vec![
                        identity("email", "ana@example.org"),
                        identity("phone", "555"),
                    ],
                    ..NewContact::default()
                },
                &caller(),
                2,
            )
            .await;
        assert!(
            matches!(bad, Err(ServiceError::Invalid { field, .. }) if field == "identities[1].value")
        );

        let ben = contacts
            .create(&NewContact::default(), &caller(), 3)
            .await
            .unwrap();
        let taken = contacts
            .add_identity(
                ben.contact.id,
                &identity("email", "ANA@example.org"),
                &caller(),
                4,
            )
            .await;
        assert!(matches!(taken, Err(ServiceError::Conflict(_))));
    }

    #[tokio::test]
    async fn merging_moves_everything_and_redirects_the_old_id() {
        let (store, _dir) = testing::store().await;
        let contacts = Contacts::new(store.clone(), Identifiers::default());
        let a = contacts
            .create(
                &NewContact {
                    identities: vec![identity("email", "a@example.org")],
                    ..Default::default()
                },
                &caller(),
                1,
            )
            .await
            .unwrap();
        let b = contacts
            .create(
                &NewContact {
                    identities: vec![identity("email", "b@example.org")],
                    ..Default::default()
                },
                &caller(),
                1,
            )
            .await
            .unwrap();
        let report = contacts
            .merge(a.contact.id, b.contact.id, &caller(), 5)
            .await
            .unwrap();
        assert_eq!(report.moved.identities, 1);
        assert_eq!(report.survivor.identities.len(), 2);
        assert!(matches!(
            contacts.get(b.contact.id).await,
            Err(ServiceError::NotFound { .. })
        ));
        let mut tx = store.begin_write().await.unwrap();
        let redirect = contacts::merged_into(tx.conn(), &[b.contact.id])
            .await
            .unwrap();
        assert_eq!(redirect.get(&b.contact.id), Some(&a.contact.id));
        let history = interactions::of_contact(&store, a.contact.id)
            .await
            .unwrap();
        assert_eq!(history[0].kind, "contact_merged");
    }

    #[test]
    fn time_zone_names_are_checked_for_form() {
        assert_eq!(
            timezone_field(Some(" UTC ")).unwrap().as_deref(),
            Some("UTC")
        );
        assert!(timezone_field(Some("America/Argentina/Salta")).is_ok());
        assert!(timezone_field(Some("Mars/Olympus Mons")).is_err());
        assert!(timezone_field(Some("Europe//Madrid")).is_err());
    }
}
