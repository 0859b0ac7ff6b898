//! A person's data, all of it: export, and erasure that stays erased.
//!
//! Export gathers the contact, identities, every interaction on every channel, consent events,
//! intents, merges, the stored vendor webhooks that name them and the audit trail. Erasure
//! deletes all of it but the audit trail, and puts the person's identifiers on the suppression
//! list (hashed), so that a vendor's late webhook about them is not attributed to anyone and
//! creates no one. Both are audited.

use serde::Serialize;
use utoipa::ToSchema;

use super::StaffError;
use super::contacts::{ContactView, view};
use crate::auth::Caller;
use crate::domain::Outcome;
use crate::identity::IdentityKey;
use crate::store::audit::{self, AuditEntry};
use crate::store::consent::{self, ConsentEntry};
use crate::store::intents::{self, Intent};
use crate::store::interactions::{self, Interaction, TimelineFilter};
use crate::store::outbox::{self, MessageView};
use crate::store::preferences::{self, StatedPreferences};
use crate::store::raw_webhooks::{self, RawWebhook};
use crate::store::{Store, contacts, suppressions};

/// A stored vendor webhook, as exported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportedWebhook {
    pub id: i64,
    pub plugin_id: String,
    pub received_at: i64,
    pub status: String,
    pub error: Option<String>,
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    /// The body as text (bytes that are not UTF-8 replaced).
    pub body: String,
}

/// Everything held about a person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Export {
    pub exported_at: i64,
    pub contact: ContactView,
    #[schema(value_type = Vec<Object>)]
    pub interactions: Vec<Interaction>,
    /// The consent events among the interactions: opt-outs, opt-ins, unsubscribes, spam reports.
    #[schema(value_type = Vec<Object>)]
    pub consent: Vec<Interaction>,
    /// The consent ledger, with the staff and preference-centre entries too.
    pub consent_ledger: Vec<ConsentEntry>,
    /// What they told us about how to reach them.
    pub stated_preferences: StatedPreferences,
    /// Messages sent to them through the outbox, with their attempts and history.
    pub messages: Vec<MessageView>,
    pub intents: Vec<Intent>,
    pub webhooks: Vec<ExportedWebhook>,
    pub audit: Vec<AuditEntry>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erasure {
    pub contact_id: i64,
    pub interactions: u64,
    pub identities: u64,
    pub intents: u64,
    pub webhooks: u64,
    /// Identifiers now on the suppression list.
    pub suppressed_identifiers: u64,
}

/// The most interactions an export reads: far beyond one person's history.
const EXPORT_LIMIT: i64 = 1_000_000;

pub async fn export(
    store: &Store,
    contact_id: i64,
    caller: &Caller,
    now: i64,
) -> Result<Export, StaffError> {
    let mut tx = store.begin_write().await?;
    let contact = view(tx.conn(), contact_id).await?;
    let filter = TimelineFilter {
        limit: EXPORT_LIMIT,
        ..TimelineFilter::default()
    };
    let interactions = interactions::timeline(tx.conn(), contact_id, &filter).await?;
    let consent = interactions
        .iter()
        .filter(|i| {
            matches!(
                i.outcome,
                Outcome::OptedOut
                    | Outcome::OptedIn
                    | Outcome::Unsubscribed
                    | Outcome::Resubscribed
                    | Outcome::SpamReported
            )
        })
        .cloned()
        .collect();
    let consent_ledger = consent::of_contact(tx.conn(), contact_id).await?;
    let stated_preferences = preferences::get(tx.conn(), contact_id).await?;
    let messages = outbox::of_contact(tx.conn(), contact_id).await?;
    let intents = intents::of_contact(tx.conn(), contact_id, false).await?;
    let needles = identifiers(&contact);
    let webhooks = raw_webhooks::naming(tx.conn(), contact_id, &needles)
        .await?
        .into_iter()
        .map(exported)
        .collect();
    audit::record(
        tx.conn(),
        now,
        &caller.actor(),
        "contact.export",
        Some(contact_id),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    let audit = audit::recent(store.pool(), Some(contact_id), i64::MAX, 10_000).await?;
    Ok(Export {
        exported_at: now,
        contact,
        interactions,
        consent,
        consent_ledger,
        stated_preferences,
        messages,
        intents,
        webhooks,
        audit,
    })
}

pub async fn erase(
    store: &Store,
    contact_id: i64,
    caller: &Caller,
    now: i64,
) -> Result<Erasure, StaffError> {
    let mut tx = store.begin_write().await?;
    let contact = view(tx.conn(), contact_id).await?;
    let keys: Vec<IdentityKey> = contact
        .identities
        .iter()
        .map(|i| IdentityKey {
            kind: i.kind,
            value: i.value.clone(),
        })
        .collect();
    let webhook_ids: Vec<i64> = raw_webhooks::naming(tx.conn(), contact_id, &identifiers(&contact))
        .await?
        .iter()
        .map(|w| w.id)
        .collect();
    let filter = TimelineFilter {
        limit: EXPORT_LIMIT,
        ..TimelineFilter::default()
    };
    let interaction_count = interactions::timeline(tx.conn(), contact_id, &filter)
        .await?
        .len() as u64;
    let intent_count = intents::of_contact(tx.conn(), contact_id, false)
        .await?
        .len() as u64;
    let webhooks = raw_webhooks::delete(tx.conn(), &webhook_ids).await?;
    suppressions::add(tx.conn(), &keys, now).await?;
    // Interactions, identities and intents go with the contact (foreign keys cascade).
    contacts::delete(tx.conn(), contact_id).await?;
    let erasure = Erasure {
        contact_id,
        interactions: interaction_count,
        identities: keys.len() as u64,
        intents: intent_count,
        webhooks,
        suppressed_identifiers: keys.len() as u64,
    };
    // The audit row says what went, never who it was.
    let detail = serde_json::to_value(&erasure).unwrap_or_default();
    audit::record(
        tx.conn(),
        now,
        &caller.actor(),
        "contact.erase",
        Some(contact_id),
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(erasure)
}

fn identifiers(contact: &ContactView) -> Vec<String> {
    contact
        .identities
        .iter()
        .map(|i| match i.value.split_once(':') {
            // External ids appear in bodies without our `system:` prefix.
            Some((_, id)) if i.kind == crate::identity::IdentityKind::External => id.to_string(),
            _ => i.value.clone(),
        })
        .collect()
}

fn exported(webhook: RawWebhook) -> ExportedWebhook {
    ExportedWebhook {
        id: webhook.id,
        plugin_id: webhook.request.plugin_id,
        received_at: webhook.request.received_at,
        status: webhook.status.as_str().to_string(),
        error: webhook.error,
        headers: webhook.request.headers,
        body: String::from_utf8_lossy(&webhook.request.body).into_owned(),
    }
}
