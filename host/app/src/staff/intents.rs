//! Open intents: what a person is trying to get done. Raising the same intent again, on any
//! channel, counts an attempt on the open one instead of opening another. Staff raise, list and
//! resolve them through [`Intents`]; logging a call or a conversation raises one in its own
//! transaction (`raise_in`).

use serde::Deserialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::contacts::exists;
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, required_text, text_field};
use switchboard_store::intents::{self, Intent};
use switchboard_store::{Store, StoreError};

/// An intent raised by the person.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentInput {
    /// A short name, the same each time it comes up (`refund_status`).
    #[schema(example = "refund_status")]
    pub intent: String,
    /// The channel it came up on.
    #[schema(value_type = String, example = "phone")]
    pub channel: Channel,
    pub summary: Option<String>,
}

/// Changes to an intent.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentPatch {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub summary: Option<String>,
}

/// Which intents to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IntentQuery {
    /// `open` (default) or `all`.
    pub status: Option<String>,
}

/// The checked form of an intent name: lowercase words joined by `_`.
pub(crate) fn intent_name(raw: &str) -> Result<String, ServiceError> {
    let name = required_text("intent", raw, 100)?.to_lowercase();
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    {
        return Err(ServiceError::invalid(
            "intent",
            "letters, digits, spaces, `_`, `-` and `.` only",
        ));
    }
    Ok(name.split_whitespace().collect::<Vec<_>>().join("_"))
}

/// Raises `intent` for a contact inside the caller's transaction: one more attempt on the open
/// one of that name, or a new one.
pub(crate) async fn raise_in(
    conn: &mut AnyConnection,
    contact_id: i64,
    intent: &str,
    channel: Channel,
    summary: Option<String>,
    actor: &str,
    now: i64,
) -> Result<Intent, StoreError> {
    if let Some(mut open) = intents::open_named(conn, contact_id, intent).await? {
        open.attempts += 1;
        if !open.channels.contains(&channel) {
            open.channels.push(channel);
        }
        if summary.is_some() {
            open.summary = summary;
        }
        open.updated_at = now;
        intents::save(conn, &open).await?;
        return Ok(open);
    }
    let mut new = Intent {
        id: 0,
        contact_id,
        intent: intent.to_string(),
        status: "open".into(),
        attempts: 1,
        channels: vec![channel],
        summary,
        created_at: now,
        updated_at: now,
        resolved_at: None,
        created_by: actor.to_string(),
    };
    new.id = intents::insert(conn, &new).await?;
    Ok(new)
}

/// A contact's intents, over the store.
#[derive(Clone)]
pub struct Intents {
    store: Store,
}

impl Intents {
    pub fn new(store: Store) -> Self {
        Intents { store }
    }

    /// Raises an intent for a contact (or counts another attempt on the open one of its name).
    pub async fn raise(
        &self,
        contact_id: i64,
        input: &IntentInput,
        actor: &str,
        now: i64,
    ) -> Result<Intent, ServiceError> {
        let name = intent_name(&input.intent)?;
        let summary = text_field("summary", input.summary.as_deref(), 2000)?;
        if input.channel == Channel::System {
            return Err(ServiceError::invalid(
                "channel",
                "an intent comes up on a real channel",
            ));
        }
        let mut tx = self.store.begin_write().await?;
        exists(tx.conn(), contact_id).await?;
        let intent = raise_in(
            tx.conn(),
            contact_id,
            &name,
            input.channel,
            summary,
            actor,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(intent)
    }

    /// Resolves, reopens or re-summarizes an intent.
    pub async fn update(
        &self,
        id: i64,
        patch: &IntentPatch,
        now: i64,
    ) -> Result<Intent, ServiceError> {
        let summary = patch
            .summary
            .as_deref()
            .map(|s| text_field("summary", Some(s), 2000))
            .transpose()?;
        let status = patch.status.as_deref().map(str::trim);
        if let Some(status) = status
            && !matches!(status, "open" | "resolved")
        {
            return Err(ServiceError::invalid(
                "status",
                format!("{status:?} is not open or resolved"),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let mut intent = intents::get(tx.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound { what: "intent", id })?;
        if let Some(status) = status
            && status != intent.status
        {
            intent.status = status.to_string();
            intent.resolved_at = (status == "resolved").then_some(now);
        }
        if let Some(summary) = summary {
            intent.summary = summary;
        }
        intent.updated_at = now;
        intents::save(tx.conn(), &intent).await?;
        tx.commit().await?;
        Ok(intent)
    }

    /// A contact's intents.
    pub async fn list(
        &self,
        contact_id: i64,
        query: &IntentQuery,
    ) -> Result<Vec<Intent>, ServiceError> {
        let only_open = match query.status.as_deref() {
            None | Some("open") => true,
            Some("all") => false,
            Some(other) => {
                return Err(ServiceError::invalid(
                    "status",
                    format!("{other:?} is not open or all"),
                ));
            }
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        exists(&mut conn, contact_id).await?;
        Ok(intents::of_contact(&mut conn, contact_id, only_open).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::{contacts, testing};

    #[test]
    fn intent_names_are_folded_to_one_spelling() {
        assert_eq!(intent_name(" Refund Status ").unwrap(), "refund_status");
        assert!(intent_name("").is_err());
        assert!(intent_name("refund; drop table").is_err());
    }

    #[tokio::test]
    async fn raising_again_counts_an_attempt_until_resolved() {
        let (store, _dir) = testing::store().await;
        let mut tx = store.begin_write().await.unwrap();
        let ana = contacts::create(tx.conn(), 0).await.unwrap();
        tx.commit().await.unwrap();
        let intents = Intents::new(store);
        let raise_on = |channel| IntentInput {
            intent: "refund_status".into(),
            channel,
            summary: None,
        };
        let first = intents
            .raise(ana, &raise_on(Channel::Email), "t", 1)
            .await
            .unwrap();
        let again = intents
            .raise(ana, &raise_on(Channel::Phone), "t", 2)
            .await
            .unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.attempts, 2);
        assert_eq!(again.channels, [Channel::Email, Channel::Phone]);

        let patch = IntentPatch {
            status: Some("resolved".into()),
            summary: None,
        };
        let resolved = intents.update(first.id, &patch, 3).await.unwrap();
        assert_eq!(resolved.resolved_at, Some(3));
        let open = intents.list(ana, &IntentQuery::default()).await.unwrap();
        assert!(open.is_empty());
        let fresh = intents
            .raise(ana, &raise_on(Channel::Sms), "t", 4)
            .await
            .unwrap();
        assert_ne!(fresh.id, first.id);
    }
}
