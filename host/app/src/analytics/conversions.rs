//! Recording conversions through the API: a person reached one of the declared goals.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::settings::AnalyticsSettings;
use crate::service_error::ServiceError;
use crate::staff::contacts::referenced;
use switchboard_store::conversions::{self, Conversion, NewConversion, Recorded};
use switchboard_store::{Store, StoreError};

/// A conversion to record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConversion {
    pub contact_id: i64,
    /// One of the goals declared in the analytics settings (default: `enrolled`, `paid`,
    /// `booked`).
    pub goal: String,
    /// What it was worth, 0 or more (default 0).
    pub value: Option<f64>,
    /// When, in ms since the epoch; defaults to now.
    pub occurred_at: Option<i64>,
    /// Names this conversion: the same request again records nothing more.
    pub idempotency_key: String,
}

/// A recorded conversion.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversionView {
    pub id: i64,
    pub contact_id: i64,
    pub goal: String,
    pub value: f64,
    pub occurred_at: i64,
    pub idempotency_key: String,
    pub created_by: String,
    pub created_at: i64,
}

impl From<Conversion> for ConversionView {
    fn from(c: Conversion) -> Self {
        ConversionView {
            id: c.id,
            contact_id: c.contact_id,
            goal: c.goal,
            value: c.value,
            occurred_at: c.occurred_at,
            idempotency_key: c.idempotency_key,
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

/// Records `request`; the answer says whether it was new (false: the same request again).
pub async fn record(
    store: &Store,
    settings: &AnalyticsSettings,
    request: &RecordConversion,
    actor: &str,
    now: i64,
) -> Result<(ConversionView, bool), ServiceError> {
    check(settings, request, now)?;
    let canonical = serde_json::to_vec(request)
        .map_err(|e| StoreError::Corrupt(format!("conversion request: {e}")))?;
    let digest = switchboard_core::hashing::sha256_hex(&canonical);
    let mut tx = store.begin_write().await?;
    referenced(tx.conn(), request.contact_id, "contact_id").await?;
    let recorded = conversions::record(
        tx.conn(),
        &NewConversion {
            contact_id: request.contact_id,
            goal: &request.goal,
            value: request.value.unwrap_or(0.0),
            occurred_at: request.occurred_at.unwrap_or(now),
            idempotency_key: &request.idempotency_key,
            request_digest: &digest,
            created_by: actor,
            now,
        },
    )
    .await?;
    tx.commit().await?;
    match recorded {
        Recorded::New(conversion) => Ok((conversion.into(), true)),
        Recorded::Repeat(conversion) => Ok((conversion.into(), false)),
        Recorded::KeyReused => Err(ServiceError::Conflict(
            "idempotency_key was used for a different conversion".into(),
        )),
    }
}

fn check(
    settings: &AnalyticsSettings,
    request: &RecordConversion,
    now: i64,
) -> Result<(), ServiceError> {
    if !settings.goals.contains_key(&request.goal) {
        let declared: Vec<&str> = settings.goals.keys().map(String::as_str).collect();
        return Err(ServiceError::invalid(
            "goal",
            format!(
                "is not a declared goal (declared: {}; see --analytics-settings)",
                declared.join(", ")
            ),
        ));
    }
    if request
        .value
        .is_some_and(|v| !v.is_finite() || !(0.0..=1e15).contains(&v))
    {
        return Err(ServiceError::invalid("value", "a number from 0 to 1e15"));
    }
    const YEAR_2000_MS: i64 = 946_684_800_000;
    if request
        .occurred_at
        .is_some_and(|at| at < YEAR_2000_MS || at > now.saturating_add(86_400_000))
    {
        return Err(ServiceError::invalid(
            "occurred_at",
            "milliseconds since the epoch, not in the future",
        ));
    }
    let key = request.idempotency_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(ServiceError::invalid(
            "idempotency_key",
            "1 to 200 characters",
        ));
    }
    Ok(())
}
