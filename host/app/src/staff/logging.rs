//! Channels staff log by hand, and records from systems without a plugin: phone calls, automated
//! VoIP call records, event attendance and in-person conversations. All of them land in the
//! interaction log like any vendor's events, with `created_by` naming the staff key.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::contacts::referenced;
use super::identifiers::Identifiers;
use super::intents::{intent_name, raise_in};
use crate::auth::Caller;
use crate::identity::{Linking, Subject, resolve_batch};
use crate::log;
use crate::service_error::ServiceError;
use switchboard_core::domain::{Channel, Direction, Hints, Outcome, required_text, text_field};
use switchboard_store::Store;
use switchboard_store::interactions::NewInteraction;

/// Most attendees or VoIP records in one request.
pub const MAX_BATCH: usize = 5_000;

/// How a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Answered,
    Voicemail,
    NoAnswer,
    Busy,
}

impl CallOutcome {
    fn outcome(self) -> Outcome {
        match self {
            CallOutcome::Answered => Outcome::Answered,
            CallOutcome::Voicemail => Outcome::Voicemail,
            CallOutcome::NoAnswer => Outcome::NoAnswer,
            CallOutcome::Busy => Outcome::Busy,
        }
    }
}

/// The call-queue task a call was made for.
#[derive(Debug, Clone)]
pub struct CallTaskLink {
    pub task_id: i64,
    pub message_id: String,
    /// The vendor message id of the task's attempt.
    pub reference: String,
}

/// A phone call staff made or took.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallLog {
    /// The contact; or give `phone` and the number finds (or creates) them.
    pub contact_id: Option<i64>,
    pub phone: Option<String>,
    /// `outbound` (default) or `inbound`.
    #[schema(value_type = Option<String>)]
    pub direction: Option<Direction>,
    pub outcome: CallOutcome,
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
    /// Who called; defaults to the API key's name.
    pub called_by: Option<String>,
    /// When, in ms since the epoch; defaults to now.
    pub occurred_at: Option<i64>,
    /// An intent the call was about; raises it (or counts another attempt).
    pub intent: Option<String>,
}

/// One call from a VoIP system's records.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoipRecord {
    /// The system's id for the call: a record sent twice is logged once.
    pub call_id: String,
    /// The other party's number.
    pub phone: String,
    #[schema(value_type = String)]
    pub direction: Direction,
    pub outcome: CallOutcome,
    pub duration_seconds: Option<u32>,
    pub occurred_at: i64,
}

/// A batch of VoIP records.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoipBatch {
    /// The VoIP system's name (`3cx`, `ringcentral`).
    pub system: String,
    pub records: Vec<VoipRecord>,
}

/// Who came to an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendance {
    pub event_name: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "2026-11-20")]
    pub event_date: String,
    /// When, in ms since the epoch; defaults to now.
    pub occurred_at: Option<i64>,
    pub attendees: Vec<i64>,
}

/// What a conversation was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Concern,
    Feedback,
    Question,
}

/// A conversation in person (or at the counter, or on a visit).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    pub contact_id: i64,
    pub topic: Topic,
    pub notes: Option<String>,
    pub occurred_at: Option<i64>,
    pub intent: Option<String>,
}

/// What a logging request recorded.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Logged {
    /// The new interactions' ids.
    pub interaction_ids: Vec<i64>,
    /// The contacts they were recorded for, in the same order.
    pub contact_ids: Vec<i64>,
    /// Records already in the log (sent before).
    pub duplicates: u64,
    /// Records naming an erased person, not recorded.
    pub suppressed: u64,
    /// The intent raised, when one was given.
    pub intent_id: Option<i64>,
}

/// Staff's logging of what happened off the vendors' channels, over the store, reading phone
/// numbers with the operator's default.
#[derive(Clone)]
pub struct Logging {
    store: Store,
    identifiers: Identifiers,
}

impl Logging {
    pub fn new(store: Store, identifiers: Identifiers) -> Self {
        Logging { store, identifiers }
    }

    pub async fn log_call(
        &self,
        call: &CallLog,
        caller: &Caller,
        now: i64,
    ) -> Result<Logged, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let logged = self.record_call(tx.conn(), call, None, caller, now).await?;
        tx.commit().await?;
        Ok(logged)
    }

    /// Logs a call inside the caller's transaction; a call made for a task of the staff call
    /// queue carries the task's reference, which settles the message's attempt.
    pub(crate) async fn record_call(
        &self,
        conn: &mut AnyConnection,
        call: &CallLog,
        task: Option<&CallTaskLink>,
        caller: &Caller,
        now: i64,
    ) -> Result<Logged, ServiceError> {
        let notes = text_field("notes", call.notes.as_deref(), 10_000)?;
        let called_by = text_field("called_by", call.called_by.as_deref(), 200)?
            .unwrap_or_else(|| caller.key_name.clone());
        let intent = call.intent.as_deref().map(intent_name).transpose()?;
        let occurred_at = when("occurred_at", call.occurred_at, now)?;
        let hints = self.call_hints(call.contact_id, call.phone.as_deref())?;
        let direction = call.direction.unwrap_or(Direction::Outbound);
        let outcome = call.outcome.outcome();
        let contact_id = self
            .one_contact(conn, &hints, outcome, occurred_at, caller, now)
            .await?;
        let mut summary = format!(
            "Call {}",
            describe_call(call.outcome, call.duration_seconds)
        );
        if let Some(notes) = &notes {
            summary.push_str(": ");
            summary.push_str(&preview(notes));
        }
        let metadata = serde_json::json!({
            "duration_seconds": call.duration_seconds,
            "notes": notes,
            "called_by": called_by,
            "phone": hints.identities.first().map(|k| k.value.clone()),
            "message_id": task.map(|t| t.message_id.clone()),
            "call_task_id": task.map(|t| t.task_id),
        });
        let mut row = staff_row(
            contact_id,
            occurred_at,
            now,
            Channel::Phone,
            direction,
            outcome,
            summary,
            metadata,
            caller,
        );
        row.vendor_message_id = task.map(|t| t.reference.clone());
        let mut logged = insert(conn, vec![row]).await?;
        if let Some(intent) = intent {
            let raised = raise_in(
                conn,
                contact_id,
                &intent,
                Channel::Phone,
                notes,
                &caller.actor(),
                now,
            )
            .await?;
            logged.intent_id = Some(raised.id);
        }
        Ok(logged)
    }

    pub async fn log_voip(
        &self,
        batch: &VoipBatch,
        caller: &Caller,
        now: i64,
    ) -> Result<Logged, ServiceError> {
        let system = system_name(&batch.system)?;
        if batch.records.is_empty() || batch.records.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "records",
                format!("1 to {MAX_BATCH} records"),
            ));
        }
        let mut hints = Vec::with_capacity(batch.records.len());
        for (i, record) in batch.records.iter().enumerate() {
            required_text(&format!("records[{i}].call_id"), &record.call_id, 200)?;
            when(
                &format!("records[{i}].occurred_at"),
                Some(record.occurred_at),
                now,
            )?;
            hints.push(Hints {
                contact_id: None,
                identities: vec![
                    self.identifiers
                        .phone(&format!("records[{i}].phone"), &record.phone)?,
                ],
            });
        }
        let subjects: Vec<Subject<'_>> = batch
            .records
            .iter()
            .zip(&hints)
            .map(|(record, hints)| Subject {
                channel: Channel::Phone,
                outcome: record.outcome.outcome(),
                occurred_at: record.occurred_at,
                vendor_message_id: None,
                hints,
            })
            .collect();
        let mut tx = self.store.begin_write().await?;
        let resolved = resolve_batch(
            tx.conn(),
            self.store.key(),
            &subjects,
            Linking::Staff,
            &caller.actor(),
            now,
        )
        .await?;
        let mut rows = Vec::new();
        let mut suppressed = 0;
        for (record, resolution) in batch.records.iter().zip(resolved) {
            let Some(contact_id) = resolution.contact_id.filter(|_| !resolution.suppressed) else {
                suppressed += 1;
                continue;
            };
            let summary = format!(
                "Call {}",
                describe_call(record.outcome, record.duration_seconds)
            );
            let metadata = serde_json::json!({
                "duration_seconds": record.duration_seconds,
                "phone": record.phone,
                "call_id": record.call_id,
            });
            let mut row = staff_row(
                contact_id,
                record.occurred_at,
                now,
                Channel::Phone,
                record.direction,
                record.outcome.outcome(),
                summary,
                metadata,
                caller,
            );
            row.vendor = Some(system.clone());
            row.vendor_event_id = Some(record.call_id.trim().to_string());
            rows.push(row);
        }
        let mut logged = insert(tx.conn(), rows).await?;
        logged.suppressed = suppressed;
        tx.commit().await?;
        Ok(logged)
    }

    pub async fn log_attendance(
        &self,
        event: &Attendance,
        caller: &Caller,
        now: i64,
    ) -> Result<Logged, ServiceError> {
        let name = required_text("event_name", &event.event_name, 200)?;
        let date = event_date(&event.event_date)?;
        let occurred_at = when("occurred_at", event.occurred_at, now)?;
        if event.attendees.is_empty() || event.attendees.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "attendees",
                format!("1 to {MAX_BATCH} contact ids"),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let mut rows = Vec::with_capacity(event.attendees.len());
        for (i, contact_id) in event.attendees.iter().enumerate() {
            referenced(tx.conn(), *contact_id, &format!("attendees[{i}]")).await?;
            let metadata = serde_json::json!({ "event_name": name, "event_date": date });
            let mut row = staff_row(
                *contact_id,
                occurred_at,
                now,
                Channel::InPerson,
                Direction::Inbound,
                Outcome::Attended,
                format!("Attended {name} ({date})"),
                metadata,
                caller,
            );
            row.kind = "in_person_attended".into();
            // Posting the same attendance again records nothing new.
            row.vendor = Some("switchboard:attendance".into());
            row.vendor_event_id = Some(format!("{date}/{name}/{contact_id}"));
            rows.push(row);
        }
        let logged = insert(tx.conn(), rows).await?;
        tx.commit().await?;
        Ok(logged)
    }

    pub async fn log_conversation(
        &self,
        talk: &Conversation,
        caller: &Caller,
        now: i64,
    ) -> Result<Logged, ServiceError> {
        let notes = text_field("notes", talk.notes.as_deref(), 10_000)?;
        let occurred_at = when("occurred_at", talk.occurred_at, now)?;
        let intent = talk.intent.as_deref().map(intent_name).transpose()?;
        let topic = match talk.topic {
            Topic::Concern => "Concern",
            Topic::Feedback => "Feedback",
            Topic::Question => "Question",
        };
        let summary = match &notes {
            Some(notes) => format!("{topic}: {}", preview(notes)),
            None => topic.to_string(),
        };
        let metadata = serde_json::json!({ "topic": talk.topic, "notes": notes });
        let mut tx = self.store.begin_write().await?;
        referenced(tx.conn(), talk.contact_id, "contact_id").await?;
        let mut row = staff_row(
            talk.contact_id,
            occurred_at,
            now,
            Channel::InPerson,
            Direction::Inbound,
            Outcome::Completed,
            summary,
            metadata,
            caller,
        );
        row.kind = "in_person_conversation".into();
        let mut logged = insert(tx.conn(), vec![row]).await?;
        if let Some(intent) = intent {
            let raised = raise_in(
                tx.conn(),
                talk.contact_id,
                &intent,
                Channel::InPerson,
                notes,
                &caller.actor(),
                now,
            )
            .await?;
            logged.intent_id = Some(raised.id);
        }
        tx.commit().await?;
        Ok(logged)
    }

    fn call_hints(
        &self,
        contact_id: Option<i64>,
        phone: Option<&str>,
    ) -> Result<Hints, ServiceError> {
        let identities = phone
            .map(|p| self.identifiers.phone("phone", p))
            .transpose()?
            .into_iter()
            .collect();
        if contact_id.is_none() && phone.is_none() {
            return Err(ServiceError::invalid(
                "contact_id",
                "give contact_id or phone",
            ));
        }
        Ok(Hints {
            contact_id,
            identities,
        })
    }

    /// The contact a staff record is about: the given id (which must exist), else the owner of
    /// the number, else a new contact for it.
    async fn one_contact(
        &self,
        conn: &mut AnyConnection,
        hints: &Hints,
        outcome: Outcome,
        occurred_at: i64,
        caller: &Caller,
        now: i64,
    ) -> Result<i64, ServiceError> {
        if let Some(id) = hints.contact_id {
            referenced(conn, id, "contact_id").await?;
        }
        let subject = Subject {
            channel: Channel::Phone,
            outcome,
            occurred_at,
            vendor_message_id: None,
            hints,
        };
        let resolved = resolve_batch(
            conn,
            self.store.key(),
            std::slice::from_ref(&subject),
            Linking::Staff,
            &caller.actor(),
            now,
        )
        .await?;
        match resolved.first() {
            Some(r) if r.suppressed => Err(ServiceError::Conflict(
                "this number belonged to an erased person; create the contact explicitly first"
                    .into(),
            )),
            Some(r) => r
                .contact_id
                .ok_or_else(|| ServiceError::invalid("contact_id", "give contact_id or phone")),
            None => Err(ServiceError::invalid(
                "contact_id",
                "give contact_id or phone",
            )),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn staff_row(
    contact_id: i64,
    occurred_at: i64,
    now: i64,
    channel: Channel,
    direction: Direction,
    outcome: Outcome,
    summary: String,
    metadata: serde_json::Value,
    caller: &Caller,
) -> NewInteraction {
    NewInteraction {
        contact_id: Some(contact_id),
        occurred_at,
        received_at: now,
        kind: format!("{}_{}", channel.as_str(), outcome.as_str()),
        channel,
        direction,
        outcome,
        vendor_status: None,
        plugin_id: None,
        vendor: None,
        vendor_message_id: None,
        vendor_event_id: None,
        raw_webhook_id: None,
        time_to_action_ms: None,
        summary: Some(summary),
        metadata: metadata.to_string(),
        created_by: caller.actor(),
    }
}

/// Appends the rows one by one, so that each is known to be new or a repeat.
async fn insert(
    conn: &mut AnyConnection,
    rows: Vec<NewInteraction>,
) -> Result<Logged, ServiceError> {
    let mut logged = Logged::default();
    for row in rows {
        let contact_id = row.contact_id.unwrap_or_default();
        match log::append(conn, vec![row.into()]).await?.ids().first() {
            Some(id) => {
                logged.interaction_ids.push(*id);
                logged.contact_ids.push(contact_id);
            }
            None => logged.duplicates += 1,
        }
    }
    Ok(logged)
}

/// A VoIP system's name, lowercase.
fn system_name(raw: &str) -> Result<String, ServiceError> {
    let name = raw.trim().to_ascii_lowercase();
    let ok = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !ok {
        return Err(ServiceError::invalid(
            "system",
            "1 to 40 letters, digits, `_`, `-` or `.`",
        ));
    }
    Ok(name)
}

/// A time given by staff: not before 2000, not more than a day ahead.
fn when(field: &str, at: Option<i64>, now: i64) -> Result<i64, ServiceError> {
    let Some(at) = at else { return Ok(now) };
    const YEAR_2000_MS: i64 = 946_684_800_000;
    if at < YEAR_2000_MS || at > now + 86_400_000 {
        return Err(ServiceError::invalid(
            field,
            "milliseconds since the epoch, not in the future",
        ));
    }
    Ok(at)
}

/// `YYYY-MM-DD` with a real month and day.
fn event_date(text: &str) -> Result<String, ServiceError> {
    let bad = || {
        ServiceError::invalid(
            "event_date",
            format!("{text:?} is not a date like 2026-11-20"),
        )
    };
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) || !digits(m, 2) || !digits(d, 2) {
        return Err(bad());
    }
    let (year, month, day): (u32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days {
        return Err(bad());
    }
    Ok(format!("{y}-{m}-{d}"))
}

fn describe_call(outcome: CallOutcome, duration: Option<u32>) -> String {
    let what = match outcome {
        CallOutcome::Answered => "answered",
        CallOutcome::Voicemail => "went to voicemail",
        CallOutcome::NoAnswer => "not answered",
        CallOutcome::Busy => "busy",
    };
    match duration {
        Some(secs) => format!("{what} ({}m {:02}s)", secs / 60, secs % 60),
        None => what.to_string(),
    }
}

fn preview(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(140) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_dates_are_real_dates() {
        assert_eq!(event_date("2024-02-29").unwrap(), "2024-02-29");
        assert!(event_date("2023-02-29").is_err());
        assert!(event_date("2026-13-01").is_err());
        assert!(event_date("26-11-01").is_err());
    }

    #[test]
    fn calls_are_described_for_the_timeline() {
        assert_eq!(
            describe_call(CallOutcome::Answered, Some(312)),
            "answered (5m 12s)"
        );
        assert_eq!(describe_call(CallOutcome::NoAnswer, None), "not answered");
    }

    #[test]
    fn staff_times_are_bounded() {
        let now = 1_800_000_000_000;
        assert_eq!(when("t", None, now).unwrap(), now);
        assert!(when("t", Some(5), now).is_err());
        assert!(when("t", Some(now + 2 * 86_400_000), now).is_err());
    }
}
