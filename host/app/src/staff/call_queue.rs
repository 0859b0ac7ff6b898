//! The staff call queue: phone attempts of the outbox as calls for staff to make. Staff list
//! the open calls, claim one, and complete it by logging how the call went; the logged call
//! settles the message (answered or voicemail: delivered; no answer or busy: next channel).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::logging::{CallLog, CallOutcome, CallTaskLink, Logged, Logging};
use crate::auth::Caller;
use crate::service_error::ServiceError;
use switchboard_core::domain::Direction;
use switchboard_store::Store;
use switchboard_store::call_tasks::{self, CallTask};

/// `?status=` of the queue listing.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// `open`, `claimed`, `done` or `cancelled`; open and claimed tasks by default.
    pub status: Option<String>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// How the call went: `POST /api/call-tasks/{id}/complete`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskOutcome {
    pub outcome: CallOutcome,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
}

/// A completed task and the call logged for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletedTask {
    pub task: CallTask,
    pub logged: Logged,
}

/// The staff call queue, over the store; a completed task's call is logged through [`Logging`].
#[derive(Clone)]
pub struct CallQueue {
    store: Store,
    logging: Logging,
}

impl CallQueue {
    pub fn new(store: Store, logging: Logging) -> Self {
        CallQueue { store, logging }
    }

    /// The queue, most urgent and oldest first.
    pub async fn list(&self, query: &TaskQuery) -> Result<Vec<CallTask>, ServiceError> {
        let statuses: Vec<&str> = match query.status.as_deref() {
            None => vec!["open", "claimed"],
            Some(status @ ("open" | "claimed" | "done" | "cancelled")) => vec![status],
            Some(_) => {
                return Err(ServiceError::invalid(
                    "status",
                    "one of open, claimed, done, cancelled",
                ));
            }
        };
        let limit = query.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "between 1 and 500"));
        }
        let mut conn = self.store.reader().await?;
        Ok(call_tasks::list(&mut conn, &statuses, limit).await?)
    }

    /// Takes a task for the caller; a task someone else holds, or one done, is a conflict.
    pub async fn claim(
        &self,
        id: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<CallTask, ServiceError> {
        let actor = caller.actor();
        let mut tx = self.store.begin_write().await?;
        let task = existing_task(tx.conn(), id).await?;
        if !call_tasks::claim(tx.conn(), id, &actor, now).await? {
            return Err(ServiceError::Conflict(format!(
                "call task {id} is {}{}",
                task.status,
                task.claimed_by
                    .map(|by| format!(" by {by}"))
                    .unwrap_or_default()
            )));
        }
        let task = existing_task(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Logs the call made for a task and closes it; the call settles the message's attempt in
    /// the same transaction.
    pub async fn complete(
        &self,
        id: i64,
        outcome: &TaskOutcome,
        caller: &Caller,
        now: i64,
    ) -> Result<CompletedTask, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let task = existing_task(tx.conn(), id).await?;
        if !matches!(task.status.as_str(), "open" | "claimed") {
            return Err(ServiceError::Conflict(format!(
                "call task {id} is {}",
                task.status
            )));
        }
        let actor = caller.actor();
        if let Some(holder) = task.claimed_by.as_deref().filter(|by| *by != actor) {
            return Err(ServiceError::Conflict(format!(
                "call task {id} is claimed by {holder}"
            )));
        }
        let call = CallLog {
            contact_id: Some(task.contact_id),
            phone: None,
            direction: Some(Direction::Outbound),
            outcome: outcome.outcome,
            duration_seconds: outcome.duration_seconds,
            notes: outcome.notes.clone(),
            called_by: None,
            occurred_at: None,
            intent: None,
        };
        let link = CallTaskLink {
            task_id: id,
            message_id: task.message_id.clone(),
            reference: call_tasks::call_reference(id),
        };
        let logged = self
            .logging
            .record_call(tx.conn(), &call, Some(&link), caller, now)
            .await?;
        let word = serde_json::to_value(outcome.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        call_tasks::complete(
            tx.conn(),
            id,
            &word,
            logged.interaction_ids.first().copied(),
            &actor,
            now,
        )
        .await?;
        let task = existing_task(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(CompletedTask { task, logged })
    }
}

async fn existing_task(conn: &mut sqlx::AnyConnection, id: i64) -> Result<CallTask, ServiceError> {
    call_tasks::get(conn, id)
        .await?
        .ok_or(ServiceError::NotFound {
            what: "call task",
            id,
        })
}
