//! `GET /healthz`: whether the server can do its work — the database answers a query and the
//! committer threads are running (webhooks, accepted messages, vendors' answers). 200 when both
//! are, 503 naming the part that is not:
//! `{"status":"ok","database":"ok","committer":"ok"}` or, say,
//! `{"status":"down","database":"down","committer":"ok","problems":{"database":"..."}}`.
//!
//! One endpoint for liveness and readiness: both parts failing want the same thing from an
//! orchestrator (stop sending traffic; a restart restarts the committer and reopens the database).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::AppState;

/// How long the database may take to answer `SELECT 1` (a connection from the pool included).
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// One part's state: `Ok`, or why it is down.
type Part = Result<(), String>;

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = database(&state).await;
    let committer = if !state.ingest.committer_alive() {
        Err("the webhook committer has stopped".to_string())
    } else if let Some(stopped) = state.outbox.stopped_committer() {
        Err(stopped.to_string())
    } else {
        Ok(())
    };
    report(&[("database", database), ("committer", committer)])
}

async fn database(state: &AppState) -> Part {
    let query = state.operations.database_answers();
    match tokio::time::timeout(DATABASE_TIMEOUT, query).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            // The route is open to anyone: the detail goes to the log only.
            tracing::error!(%error, "health check: the database failed");
            Err("the query failed; see the server log".to_string())
        }
        Err(_) => {
            tracing::error!("health check: the database did not answer in time");
            Err(format!(
                "no answer within {} ms",
                DATABASE_TIMEOUT.as_millis()
            ))
        }
    }
}

/// The answer for the parts' states.
fn report(parts: &[(&str, Part)]) -> (StatusCode, Json<Value>) {
    let mut body = Map::new();
    let mut problems = Map::new();
    for (name, state) in parts {
        let word = match state {
            Ok(()) => "ok",
            Err(why) => {
                problems.insert((*name).to_string(), json!(why));
                "down"
            }
        };
        body.insert((*name).to_string(), json!(word));
    }
    let healthy = problems.is_empty();
    body.insert("status".into(), json!(if healthy { "ok" } else { "down" }));
    if healthy {
        return (StatusCode::OK, Json(Value::Object(body)));
    }
    body.insert("problems".into(), Value::Object(problems));
    (StatusCode::SERVICE_UNAVAILABLE, Json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_parts_ok_is_200_ok() {
        let (status, Json(body)) = report(&[("database", Ok(())), ("committer", Ok(()))]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"status": "ok", "database": "ok", "committer": "ok"})
        );
    }

    #[test]
    fn a_part_down_is_503_naming_it_and_why() {
        let (status, Json(body)) = report(&[
            ("database", Ok(())),
            ("committer", Err("the webhook committer has stopped".into())),
        ]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({
                "status": "down",
                "database": "ok",
                "committer": "down",
                "problems": {"committer": "the webhook committer has stopped"}
            })
        );
    }
}
