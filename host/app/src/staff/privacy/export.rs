//! Export: everything held about a person, streamed as one JSON document.
//!
//! The document is written section by section from one read snapshot (a read transaction on a
//! reader connection: it never takes the writer), page by page, so a person with a million
//! interactions costs the server a page of memory, not the whole history. The request is audited
//! before the first byte is sent. A failure after that can only cut the stream short: the client
//! then holds JSON that does not parse, never a document that looks complete.

use bytes::Bytes;
use serde::Serialize;
use sqlx::AnyConnection;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::{events_from, keys_of, person};
use crate::analytics::conversions::ConversionView;
use crate::auth::Caller;
use crate::ingest::redact;
use crate::service_error::ServiceError;
use crate::staff::contacts::{ContactView, view};
use switchboard_core::domain::{IdentityKey, Outcome};
use switchboard_store::audit::{self, AuditEntry};
use switchboard_store::consent::{self, ConsentEntry};
use switchboard_store::conversions;
use switchboard_store::intents::{self, Intent};
use switchboard_store::interactions::{self, Interaction, TimelineFilter};
use switchboard_store::outbox::{self, MessageView};
use switchboard_store::preferences::{self, StatedPreferences};
use switchboard_store::raw_webhooks::{self, RawWebhook};
use switchboard_store::{Store, StoreError};

/// A stored vendor webhook, as exported: only the person's own events of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportedWebhook {
    pub id: i64,
    pub plugin_id: String,
    pub received_at: i64,
    pub status: String,
    pub error: Option<String>,
    /// The headers kept for replay (signature, timestamp, content type).
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    /// The body as text (bytes that are not UTF-8 replaced): the person's events of it.
    pub body: String,
    /// Whether the body was cut to the person's events because it also held other people's.
    pub cut_to_person: bool,
}

/// Everything held about a person: the shape of the streamed document.
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
    /// Goals they reached, as recorded through the API.
    pub conversions: Vec<ConversionView>,
    pub webhooks: Vec<ExportedWebhook>,
    pub audit: Vec<AuditEntry>,
}

/// The streamed document, chunk by chunk.
pub type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;

/// Interactions and unprocessed webhooks are read this many at a time.
const PAGE: i64 = 500;
/// Chunks written ahead of the client.
const CHUNKS_AHEAD: usize = 8;

/// Audits the export and starts streaming it (see [`super::Privacy::export`]).
pub(super) async fn export(
    store: &Store,
    contact_id: i64,
    caller: &Caller,
    now: i64,
) -> Result<Chunks, ServiceError> {
    view(&mut *store.reader().await?, contact_id).await?;
    let mut tx = store.begin_write().await?;
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
    let (chunks, receiver) = mpsc::channel(CHUNKS_AHEAD);
    let store = store.clone();
    tokio::spawn(async move {
        let mut out = Writer { chunks };
        if let Err(error) = write_document(&store, contact_id, now, &mut out).await {
            tracing::error!(contact_id, %error, "export failed part way; the stream is cut short");
            out.fail(&error).await;
        }
    });
    Ok(receiver)
}

/// Where the document goes.
struct Writer {
    chunks: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Writer {
    async fn raw(&mut self, text: impl Into<Bytes>) -> Result<(), StoreError> {
        self.chunks
            .send(Ok(text.into()))
            .await
            .map_err(|_| StoreError::Unavailable("the client went away".into()))
    }

    async fn value(&mut self, value: &impl Serialize) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| StoreError::Corrupt(format!("export does not serialize: {e}")))?;
        self.raw(bytes).await
    }

    async fn field(
        &mut self,
        first: bool,
        name: &str,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        self.raw(format!("{}\"{name}\":", if first { "{" } else { "," }))
            .await?;
        self.value(value).await
    }

    async fn fail(&mut self, error: &StoreError) {
        let _ = self
            .chunks
            .send(Err(std::io::Error::other(error.to_string())))
            .await;
    }
}

/// A JSON array written element by element.
struct Array {
    empty: bool,
}

impl Array {
    async fn open(out: &mut Writer, name: &str) -> Result<Self, StoreError> {
        out.raw(format!(",\"{name}\":[")).await?;
        Ok(Array { empty: true })
    }

    async fn push(&mut self, out: &mut Writer, value: &impl Serialize) -> Result<(), StoreError> {
        if !self.empty {
            out.raw(",").await?;
        }
        self.empty = false;
        out.value(value).await
    }

    async fn close(self, out: &mut Writer) -> Result<(), StoreError> {
        out.raw("]").await
    }
}

async fn write_document(
    store: &Store,
    contact_id: i64,
    now: i64,
    out: &mut Writer,
) -> Result<(), StoreError> {
    let mut reader = store.reader().await?;
    let mut snapshot = sqlx::Connection::begin(&mut *reader).await?;
    let conn: &mut AnyConnection = &mut snapshot;
    let contact = view(conn, contact_id).await.map_err(|error| match error {
        ServiceError::Store(error) => error,
        other => StoreError::Unavailable(other.to_string()),
    })?;
    out.field(true, "exported_at", &now).await?;
    out.field(false, "contact", &contact).await?;
    write_interactions(conn, contact_id, "interactions", |_| true, out).await?;
    write_interactions(conn, contact_id, "consent", is_consent, out).await?;
    out.field(
        false,
        "consent_ledger",
        &consent::of_contact(conn, contact_id).await?,
    )
    .await?;
    out.field(
        false,
        "stated_preferences",
        &preferences::get(conn, contact_id).await?,
    )
    .await?;
    out.field(
        false,
        "messages",
        &outbox::of_contact(conn, contact_id).await?,
    )
    .await?;
    out.field(
        false,
        "intents",
        &intents::of_contact(conn, contact_id, false).await?,
    )
    .await?;
    let recorded = conversions::of_contact(conn, contact_id).await?;
    let recorded: Vec<ConversionView> = recorded.into_iter().map(ConversionView::from).collect();
    out.field(false, "conversions", &recorded).await?;
    write_webhooks(conn, contact_id, &keys_of(&contact), out).await?;
    snapshot.commit().await?;
    let audit = audit::recent(store.pool(), Some(contact_id), i64::MAX, 10_000).await?;
    out.field(false, "audit", &audit).await?;
    out.raw("}").await
}

fn is_consent(interaction: &Interaction) -> bool {
    matches!(
        interaction.outcome,
        Outcome::OptedOut
            | Outcome::OptedIn
            | Outcome::Unsubscribed
            | Outcome::Resubscribed
            | Outcome::SpamReported
    )
}

/// The contact's interactions that `keep` keeps, newest first, a page at a time.
async fn write_interactions(
    conn: &mut AnyConnection,
    contact_id: i64,
    name: &str,
    keep: impl Fn(&Interaction) -> bool,
    out: &mut Writer,
) -> Result<(), StoreError> {
    let mut array = Array::open(out, name).await?;
    let mut filter = TimelineFilter {
        limit: PAGE,
        ..TimelineFilter::default()
    };
    loop {
        let page = interactions::timeline(conn, contact_id, &filter).await?;
        for interaction in page.iter().filter(|i| keep(i)) {
            array.push(out, interaction).await?;
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => {
                filter.before = Some((last.occurred_at, last.id));
            }
            _ => break,
        }
    }
    array.close(out).await
}

/// The stored webhooks with the person's events: those recorded about them, and unprocessed ones
/// that name them — each cut to their events.
async fn write_webhooks(
    conn: &mut AnyConnection,
    contact_id: i64,
    keys: &[IdentityKey],
    out: &mut Writer,
) -> Result<(), StoreError> {
    let mut array = Array::open(out, "webhooks").await?;
    for id in raw_webhooks::ids_about_contact(conn, contact_id).await? {
        let Some(stored) = raw_webhooks::get_on(conn, id).await? else {
            continue;
        };
        let shared = raw_webhooks::contacts_of(conn, id)
            .await?
            .into_iter()
            .any(|c| c != contact_id);
        let webhook = if shared {
            let events = events_from(conn, contact_id, id).await?;
            exported(stored, Some(&person(keys, &events)))
        } else {
            exported(stored, None)
        };
        array.push(out, &webhook).await?;
    }
    let anyone = person(keys, &[]);
    let mut after_id = 0;
    loop {
        let batch = raw_webhooks::unprocessed_after(conn, after_id, PAGE).await?;
        let Some(last) = batch.last() else { break };
        after_id = last.id;
        for stored in batch {
            if has_event_of(&stored, &anyone) {
                array.push(out, &exported(stored, Some(&anyone))).await?;
            }
        }
    }
    array.close(out).await
}

fn has_event_of(stored: &RawWebhook, person: &redact::Person<'_>) -> bool {
    !redact::only(&stored.request.body, person).is_empty()
}

/// A webhook as exported: whole, or cut to `person`'s events.
fn exported(webhook: RawWebhook, person: Option<&redact::Person<'_>>) -> ExportedWebhook {
    let body = match person {
        Some(person) => redact::only(&webhook.request.body, person),
        None => webhook.request.body,
    };
    ExportedWebhook {
        id: webhook.id,
        plugin_id: webhook.request.plugin_id,
        received_at: webhook.request.received_at,
        status: webhook.status.as_str().to_string(),
        error: webhook.error,
        headers: webhook.request.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        cut_to_person: person.is_some(),
    }
}
