//! The staff call queue (`call_tasks`): a phone attempt becomes a call for staff to make.
//! A task is open, then claimed by one of staff, then done when they log how the call went
//! (or cancelled when the message reached the person another way).

use sqlx::{AnyConnection, Row};

use super::StoreError;
pub use switchboard_core::records::CallTask;

const COLUMNS: &str = "id, message_id, contact_id, phone, script, urgency, status, claimed_by, \
    claimed_at, outcome, interaction_id, created_at, completed_at";

/// The vendor message id a task's call is logged under, so that the call settles the attempt.
pub fn call_reference(task_id: i64) -> String {
    format!("call_task_{task_id}")
}

/// A new open task for attempt `attempt_id`.
pub struct NewTask<'a> {
    pub attempt_id: i64,
    pub message_id: &'a str,
    pub contact_id: i64,
    pub phone: &'a str,
    pub script: &'a str,
    pub urgency: &'a str,
    pub now: i64,
}

pub async fn create(conn: &mut AnyConnection, task: &NewTask<'_>) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO call_tasks (attempt_id, message_id, contact_id, phone, script, urgency,
             status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING id",
    )
    .bind(task.attempt_id)
    .bind(task.message_id)
    .bind(task.contact_id)
    .bind(task.phone)
    .bind(task.script)
    .bind(task.urgency)
    .bind(task.now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("id")?)
}

/// Tasks with one of `statuses`, most urgent first, then oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    statuses: &[&str],
    limit: i64,
) -> Result<Vec<CallTask>, StoreError> {
    let mut params = super::sql::Params::for_connection(conn)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM call_tasks WHERE status IN ({}) ORDER BY
             CASE urgency WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, created_at, id
         LIMIT {}",
        params.list(statuses.len()),
        params.one()
    );
    let mut query = super::sql::dynamic(sql);
    for status in statuses {
        query = query.bind(status.to_string());
    }
    query
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(task_of)
        .collect()
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<CallTask>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM call_tasks WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(task_of)
        .transpose()
}

/// Claims an open task (or one already claimed by the same person); false otherwise.
pub async fn claim(
    conn: &mut AnyConnection,
    id: i64,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let claimed = sqlx::query(
        "UPDATE call_tasks SET status = 'claimed', claimed_by = $1, claimed_at = $2
         WHERE id = $3 AND (status = 'open' OR (status = 'claimed' AND claimed_by = $1))",
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Marks an open or claimed task done with the call logged for it; false if it was not.
pub async fn complete(
    conn: &mut AnyConnection,
    id: i64,
    outcome: &str,
    interaction_id: Option<i64>,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE call_tasks SET status = 'done', outcome = $1, interaction_id = $2,
             claimed_by = COALESCE(claimed_by, $3), completed_at = $4
         WHERE id = $5 AND status IN ('open', 'claimed')",
    )
    .bind(outcome)
    .bind(interaction_id)
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn task_of(row: &sqlx::any::AnyRow) -> Result<CallTask, StoreError> {
    Ok(CallTask {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        contact_id: row.try_get("contact_id")?,
        phone: row.try_get("phone")?,
        script: row.try_get("script")?,
        urgency: row.try_get("urgency")?,
        status: row.try_get("status")?,
        claimed_by: row.try_get("claimed_by")?,
        claimed_at: row.try_get("claimed_at")?,
        outcome: row.try_get("outcome")?,
        interaction_id: row.try_get("interaction_id")?,
        created_at: row.try_get("created_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}
