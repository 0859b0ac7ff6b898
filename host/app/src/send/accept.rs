//! Taking a message in (`POST /api/messages`): check it, order its channels by selection, and
//! store it with its first attempt — or, for a repeated idempotency key, give back what the first
//! request got.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;
use utoipa::ToSchema;

use super::content::Content;
use super::dispatch::Dispatcher;
use super::enqueue::{self, Enqueued, Enqueuer, Message};
use crate::auth::Caller;
use crate::prefs::select::{Action, ChannelStatus, RankedChannel};
use crate::prefs::{Engine, SelectRequest, Selection};
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, MessageStatus, PlannedChannel, Urgency, required_text};
use switchboard_store::outbox::{self, MessageView};
use switchboard_store::{Store, StoreError};

/// `POST /api/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub contact_id: i64,
    /// The sender's key for this message: the same key never makes a second message, and a
    /// repeated request gets the first one's answer.
    pub idempotency_key: String,
    pub urgency: Urgency,
    /// What the message is (`reminder`, `appointment`, `renewal`…), for the record.
    pub kind: String,
    pub content: Content,
    /// Whether a failed channel moves the message to the next one (each channel once).
    #[serde(default = "yes")]
    pub allow_fallback: bool,
    /// Not before this time, ms since the epoch.
    pub not_before: Option<i64>,
}

/// How far ahead a message may be scheduled.
const MAX_DELAY_MS: i64 = 366 * 86_400_000;

fn yes() -> bool {
    true
}

/// What accepting a message decided.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub message_id: String,
    pub status: MessageStatus,
    /// Why the message cannot be sent, when it cannot.
    pub status_reason: Option<String>,
    /// The channels in the order they will be tried, each with selection's reason.
    pub plan: Vec<PlannedChannel>,
    /// Channels left out, and why (no content for them, opted out, unreachable…).
    pub skipped: Vec<PlannedChannel>,
    /// When the first attempt is due, ms since the epoch.
    pub first_attempt_at: Option<i64>,
}

/// How a request was answered: newly accepted, or the answer to an earlier identical request.
pub struct Answer {
    pub accepted: Accepted,
    pub replayed: bool,
}

/// The outbox's front door.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    engine: Engine,
    enqueuer: Enqueuer,
    dispatcher: Arc<Dispatcher>,
    wake: Arc<Notify>,
}

impl Outbox {
    /// The front door of `dispatcher`'s outbox: the dispatcher is told when a message is queued.
    /// Starts the thread that stores accepted messages.
    pub fn new(store: Store, engine: Engine, dispatcher: Arc<Dispatcher>) -> std::io::Result<Self> {
        Ok(Outbox {
            enqueuer: enqueue::start(store.clone())?,
            store,
            engine,
            wake: dispatcher.waker(),
            dispatcher,
        })
    }

    /// Which of the outbox's committer threads has stopped, if one has (for `/healthz`).
    pub fn stopped_committer(&self) -> Option<&'static str> {
        if !self.enqueuer.is_alive() {
            Some("the committer of accepted messages has stopped")
        } else if !self.dispatcher.committer_alive() {
            Some("the committer of vendors' answers has stopped")
        } else {
            None
        }
    }

    /// Accepts a message (or answers a repeat of an earlier request).
    pub async fn accept(
        &self,
        request: &MessageRequest,
        caller: &Caller,
        now: i64,
    ) -> Result<Answer, ServiceError> {
        let key = required_text("idempotency_key", &request.idempotency_key, 200)?;
        let kind = required_text("kind", &request.kind, 64)?;
        request.content.validate()?;
        if request
            .not_before
            .is_some_and(|t| t < 0 || t > now + MAX_DELAY_MS)
        {
            return Err(ServiceError::invalid(
                "not_before",
                "ms since the epoch, at most a year ahead",
            ));
        }
        let digest = digest(&MessageRequest {
            idempotency_key: key.clone(),
            ..request.clone()
        })?;
        if let Some(answer) = self.earlier(&key, &digest).await? {
            return Ok(answer);
        }

        let at = request.not_before.unwrap_or(now).max(now);
        let selection = self
            .engine
            .select(
                &SelectRequest {
                    contact_id: request.contact_id,
                    urgency: request.urgency,
                    kind: kind.clone(),
                    at: Some(at),
                    explore: false,
                    seed: None,
                },
                now,
            )
            .await?;
        let planned = plan(&selection, &request.content, request.allow_fallback);
        let message_id = super::random_id("msg_");
        let (status, status_reason) = match planned.first_at {
            Some(_) => (MessageStatus::Pending, None),
            None => (
                MessageStatus::Failed,
                Some(format!(
                    "no channel can carry it: {}",
                    reasons(&planned.skipped)
                )),
            ),
        };
        let accepted = Accepted {
            message_id: message_id.clone(),
            status,
            status_reason: status_reason.clone(),
            plan: planned.order.clone(),
            skipped: planned.skipped,
            first_attempt_at: planned.first_at,
        };
        let accepted_json = serde_json::to_string(&accepted)
            .map_err(|e| StoreError::Corrupt(format!("accepted: {e}")))?;
        let content = serde_json::to_string(&request.content)
            .map_err(|e| StoreError::Corrupt(format!("content: {e}")))?;
        let channels: Vec<Channel> = planned.order.iter().map(|p| p.channel).collect();

        let message = Message {
            id: message_id,
            idempotency_key: key.to_string(),
            request_digest: digest.clone(),
            contact_id: request.contact_id,
            urgency: request.urgency.as_str().to_string(),
            kind: kind.to_string(),
            content,
            allow_fallback: request.allow_fallback,
            not_before: request.not_before,
            plan: channels,
            accepted: accepted_json,
            status,
            status_reason,
            created_by: caller.actor(),
            accepted_detail: json!({ "plan": accepted.plan, "skipped": accepted.skipped }),
            first_attempt_at: planned.first_at,
            now,
        };
        if let Enqueued::KeyTaken(stored) = self.enqueuer.record(message).await? {
            return replay(stored, &digest);
        }
        self.wake.notify_one();
        Ok(Answer {
            accepted,
            replayed: false,
        })
    }

    /// A message with its attempts and history.
    pub async fn message(&self, id: &str) -> Result<MessageView, ServiceError> {
        let mut conn = self.store.reader().await?;
        outbox::view(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::Unknown {
                what: "message",
                name: id.to_string(),
            })
    }

    async fn earlier(&self, key: &str, digest: &str) -> Result<Option<Answer>, ServiceError> {
        let mut conn = self.store.reader().await?;
        match outbox::by_idempotency_key(&mut conn, key).await? {
            Some(stored) => replay(stored, digest).map(Some),
            None => Ok(None),
        }
    }
}

/// The first answer to a key, if this request is the same one; a conflict otherwise.
fn replay(stored: outbox::Stored, digest: &str) -> Result<Answer, ServiceError> {
    if stored.request_digest != digest {
        return Err(ServiceError::Conflict(format!(
            "idempotency_key was used for message {} with a different request",
            stored.id
        )));
    }
    let accepted = serde_json::from_str(&stored.accepted)
        .map_err(|e| StoreError::Corrupt(format!("accepted answer of {}: {e}", stored.id)))?;
    Ok(Answer {
        accepted,
        replayed: true,
    })
}

/// The request's SHA-256, over its JSON as parsed (so spacing and key order do not matter).
fn digest(request: &MessageRequest) -> Result<String, StoreError> {
    let canonical =
        serde_json::to_vec(request).map_err(|e| StoreError::Corrupt(format!("request: {e}")))?;
    Ok(switchboard_core::hashing::sha256_hex(&canonical))
}

/// Channels in the order to try, those left out, and when the first is due.
struct Plan {
    order: Vec<PlannedChannel>,
    skipped: Vec<PlannedChannel>,
    first_at: Option<i64>,
}

/// Orders the channels the message has content for: selection's choice first, then the other
/// usable ones by rank. Without fallback only the choice is kept.
fn plan(selection: &Selection, content: &Content, allow_fallback: bool) -> Plan {
    let with_content = content.channels();
    let mut usable: Vec<&RankedChannel> = Vec::new();
    let mut skipped = Vec::new();
    for ranked in &selection.ranked {
        if !with_content.contains(&ranked.channel) {
            skipped.push(PlannedChannel {
                channel: ranked.channel,
                reason: format!("{}: the message has no content for it", ranked.channel),
            });
        } else if ranked.status == ChannelStatus::Excluded {
            skipped.push(planned(ranked));
        } else {
            usable.push(ranked);
        }
    }
    // Selection's choice goes first when the message can use it; otherwise the best usable one.
    if let Some(chosen) = selection.decision.channel
        && let Some(position) = usable.iter().position(|r| r.channel == chosen)
    {
        let first = usable.remove(position);
        usable.insert(0, first);
    }
    if !allow_fallback {
        for ranked in usable.drain(1.min(usable.len())..) {
            skipped.push(PlannedChannel {
                channel: ranked.channel,
                reason: format!("{}: fallback not allowed", ranked.channel),
            });
        }
    }
    let first_at = usable.first().map(|first| {
        let deferred_to = match (selection.decision.action, selection.decision.channel) {
            (Action::Defer, Some(channel)) if channel == first.channel => {
                selection.decision.send_at
            }
            _ => first.available_at,
        };
        deferred_to.unwrap_or(selection.at).max(selection.at)
    });
    Plan {
        order: usable.into_iter().map(planned).collect(),
        skipped,
        first_at,
    }
}

fn planned(ranked: &RankedChannel) -> PlannedChannel {
    PlannedChannel {
        channel: ranked.channel,
        reason: ranked.reason.clone(),
    }
}

fn reasons(skipped: &[PlannedChannel]) -> String {
    skipped
        .iter()
        .map(|p| p.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
