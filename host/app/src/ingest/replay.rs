//! Replaying stored webhooks through their (fixed) plugins.
//!
//! A replay hands the stored request to the plugin exactly as it first arrived, with its original
//! time of receipt, so signature freshness checks judge it as they would have then. It is
//! idempotent: a webhook that is processed is not picked again, and events the log already holds
//! are skipped.

use serde::Serialize;

use super::record::{
    AcceptedWebhook, Committed, Keep, RawRow, record_accepted, record_unprocessed,
};
use super::{Ingest, Verdict, judge, source};
use switchboard_core::clock::now_ms;
use switchboard_store::StoreError;
use switchboard_store::raw_webhooks::{self, RawStatus, ReplayFilter};

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayReport {
    pub examined: u64,
    pub processed: u64,
    pub rejected: u64,
    pub still_failed: u64,
    /// Webhooks whose plugin is not loaded (disabled or removed): left as they were.
    pub skipped: u64,
    pub interactions: u64,
    pub duplicates: u64,
    pub webhooks: Vec<ReplayedWebhook>,
}

/// What became of one webhook.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayedWebhook {
    pub raw_webhook_id: i64,
    pub plugin_id: String,
    pub result: String,
}

/// Replays the stored webhooks `filter` selects.
pub async fn replay(ingest: &Ingest, filter: &ReplayFilter) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    for stored in raw_webhooks::replayable(ingest.store(), filter).await? {
        report.examined += 1;
        let plugin_id = stored.request.plugin_id.clone();
        let plugins = ingest.plugins();
        let Some(plugin) = plugins.get(&plugin_id) else {
            report.skipped += 1;
            report.note(stored.id, &plugin_id, "skipped: plugin not loaded".into());
            continue;
        };
        let raw = RawRow::Stored(stored.id);
        let country = ingest.settings.default_country_code.as_deref();
        let judged = judge(plugin, &stored.request, country).await;
        let keep = Keep {
            verified: judged.verified || stored.verified,
            unverified_budget: u64::MAX,
            nonces: &judged.nonces,
        };
        let result = match judged.verdict {
            Verdict::Accepted { interactions, .. } => {
                let webhook = AcceptedWebhook {
                    raw,
                    received_at: stored.request.received_at,
                    interactions: &interactions,
                    nonces: &judged.nonces,
                };
                match record_accepted(ingest.store(), source(plugin), webhook, now_ms()).await? {
                    Committed::Recorded(recorded) => {
                        report.processed += 1;
                        report.interactions += recorded.interactions;
                        report.duplicates += recorded.duplicates;
                        format!(
                            "processed: {} interactions, {} already recorded",
                            recorded.interactions, recorded.duplicates
                        )
                    }
                    Committed::Replayed { .. } => {
                        let reason = "refused on replay: its signature's token was already used \
                                      by another request";
                        record_unprocessed(ingest.store(), raw, RawStatus::Failed, reason, keep)
                            .await?;
                        report.still_failed += 1;
                        reason.to_string()
                    }
                }
            }
            Verdict::Malformed(reason) => {
                record_unprocessed(ingest.store(), raw, RawStatus::Rejected, &reason, keep).await?;
                report.rejected += 1;
                format!("rejected: {reason}")
            }
            Verdict::BadSignature(reason) => {
                let reason = match stored.redacted_at {
                    Some(_) => format!(
                        "signature refused on replay: an erasure cut someone's events from its \
                         body, so it no longer matches its signature ({reason})"
                    ),
                    None => format!("signature refused on replay: {reason}"),
                };
                record_unprocessed(ingest.store(), raw, RawStatus::Failed, &reason, keep).await?;
                report.still_failed += 1;
                reason
            }
            Verdict::Failed { reason, .. } => {
                record_unprocessed(ingest.store(), raw, RawStatus::Failed, &reason, keep).await?;
                report.still_failed += 1;
                format!("failed: {reason}")
            }
        };
        tracing::info!(raw_webhook_id = stored.id, plugin = %plugin_id, %result, "replayed webhook");
        report.note(stored.id, &plugin_id, result);
    }
    Ok(report)
}

impl ReplayReport {
    fn note(&mut self, raw_webhook_id: i64, plugin_id: &str, result: String) {
        self.webhooks.push(ReplayedWebhook {
            raw_webhook_id,
            plugin_id: plugin_id.to_string(),
            result,
        });
    }
}
