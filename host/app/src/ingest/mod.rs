//! Ingestion: a vendor's webhook, through its plugin, into the interaction log.
//!
//! The plugin verifies and parses the request; the host checks what it returned, then commits the
//! raw request and the interactions together. What is stored follows one rule: storage is for
//! requests that proved they are the vendor's. A request the host saw verified is kept —
//! processed, rejected as malformed (the vendor hears 400 and why), or failed because the plugin
//! failed (503; `switchboard replay` reprocesses it once the plugin is fixed). A request nobody
//! verified is kept only when our own side kept the plugin from verifying it (a secret unset, a
//! trap, a timeout), within a byte budget per plugin, and counted in the metrics; a bad signature,
//! and a "malformed" answer to a request that was never verified, store nothing.
//!
//! Of the request's headers only those a replay needs are stored ([`stored_headers`]).

#[cfg(test)]
mod fuzz_tests;
mod group_commit;
mod record;
pub mod redact;
mod replay;
mod validate;

use std::sync::Arc;

pub use record::{Committed, Recorded};
pub use replay::{ReplayReport, replay};
pub use switchboard_store::raw_webhooks::RawRequest;
pub use validate::{MAX_INTERACTIONS, ReportedInteraction};

use group_commit::{Accepted, Committer};
use record::{Keep, Kept, RawRow, Source, record_unprocessed};
use validate::{Expectations, check_interactions, check_reply};

use switchboard_core::clock::now_ms;
use switchboard_runtime::bindings::{
    Header, HttpResponse, WebhookAccepted, WebhookRejection, WebhookRequest,
};
use switchboard_runtime::{LivePlugins, Plugin, Plugins};
use switchboard_store::nonces::Nonce;
use switchboard_store::raw_webhooks::RawStatus;
use switchboard_store::{Store, StoreError};

/// Ingestion's settings.
#[derive(Debug, Clone, Default)]
pub struct IngestSettings {
    /// The country calling code (`1`, `44`) for phone numbers that vendors report without one.
    pub default_country_code: Option<String>,
}

/// Ingestion: the store, the plugins and the settings.
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    committer: Committer,
    plugins: Arc<LivePlugins>,
    settings: Arc<IngestSettings>,
}

/// A webhook request as the HTTP layer received it.
#[derive(Debug, Clone)]
pub struct InboundRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The longest a once-only value is kept: signatures are fresh for minutes, not days.
const MAX_NONCE_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// What became of a webhook, for the HTTP layer to answer.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// Committed; answer the vendor with the plugin's reply.
    Accepted {
        reply: HttpResponse,
        recorded: Recorded,
    },
    /// Not authentic (or a replay of a once-only signature); nothing was stored.
    BadSignature { reason: String },
    /// Not understood. Stored as rejected if its signature was verified; otherwise nothing was
    /// stored (`raw_webhook_id` is `None`).
    Malformed {
        reason: String,
        raw_webhook_id: Option<i64>,
    },
    /// The plugin failed; stored as failed for replay, unless it was unverified and its plugin's
    /// budget for unverified requests is spent (`raw_webhook_id` is `None`).
    Failed {
        code: &'static str,
        reason: String,
        raw_webhook_id: Option<i64>,
    },
}

impl WebhookOutcome {
    /// The outcome as the `status` label of `switchboard_webhooks_total` says it.
    pub fn status(&self) -> &'static str {
        use switchboard_core::metrics::webhook_status as status;
        match self {
            WebhookOutcome::Accepted { .. } => status::ACCEPTED,
            WebhookOutcome::BadSignature { .. } => status::BAD_SIGNATURE,
            WebhookOutcome::Malformed { .. } => status::MALFORMED,
            WebhookOutcome::Failed { .. } => status::FAILED,
        }
    }
}

/// What the plugin made of a request, after the host's checks.
#[derive(Debug)]
pub enum Verdict {
    Accepted {
        interactions: Vec<ReportedInteraction>,
        reply: HttpResponse,
    },
    BadSignature(String),
    Malformed(String),
    Failed {
        code: &'static str,
        reason: String,
    },
}

/// A verdict with what the host saw during the call.
#[derive(Debug)]
pub struct Judged {
    pub verdict: Verdict,
    /// The host saw the request's signature verified (`verify-hmac`, `verify-signature`).
    pub verified: bool,
    /// Values the plugin registered as usable once.
    pub nonces: Vec<Nonce>,
}

impl Ingest {
    /// Ingestion over `store`; starts the thread that commits accepted webhooks.
    pub fn new(
        store: Store,
        plugins: Arc<LivePlugins>,
        settings: IngestSettings,
    ) -> std::io::Result<Self> {
        Ok(Ingest {
            committer: group_commit::start(store.clone())?,
            store,
            plugins,
            settings: Arc::new(settings),
        })
    }

    /// The plugins serving now (a reload may swap them; this set stays whole).
    pub fn plugins(&self) -> Arc<Plugins> {
        self.plugins.current()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the committer thread is still running (for `/healthz` and `/metrics`).
    pub fn committer_alive(&self) -> bool {
        self.committer.is_alive()
    }

    /// Accepted webhooks waiting for the committer (for `/metrics`).
    pub fn committer_queued(&self) -> usize {
        self.committer.queued()
    }

    /// Handles one webhook for `plugin`.
    pub async fn receive(
        &self,
        plugin: &Plugin,
        request: InboundRequest,
    ) -> Result<WebhookOutcome, StoreError> {
        let received_at = now_ms();
        let stored = stored_headers(&request.headers, &plugin.spec.keep_headers);
        let mut raw = RawRequest {
            plugin_id: plugin.id().to_string(),
            received_at,
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let judged = judge(plugin, &raw, self.settings.default_country_code.as_deref()).await;
        // The plugin saw every header; storage keeps only what a replay needs.
        raw.headers = stored;
        let outcome = self.keep(plugin, raw, judged).await?;
        log_outcome(plugin.id(), &outcome);
        Ok(outcome)
    }

    /// Stores what the storage rule allows (see the module's documentation) and says what became
    /// of the request.
    async fn keep(
        &self,
        plugin: &Plugin,
        raw: RawRequest,
        judged: Judged,
    ) -> Result<WebhookOutcome, StoreError> {
        let Judged {
            verdict,
            verified,
            nonces,
        } = judged;
        let keep = Keep {
            verified,
            unverified_budget: plugin.spec.limits.unverified_kept_bytes,
            nonces: &nonces,
        };
        Ok(match verdict {
            Verdict::Accepted {
                interactions,
                reply,
            } => {
                let committed = self
                    .committer
                    .record(Accepted {
                        plugin_id: plugin.id().to_string(),
                        vendor: plugin.description.vendor.clone(),
                        raw,
                        interactions,
                        nonces,
                    })
                    .await?;
                match committed {
                    Committed::Recorded(recorded) => WebhookOutcome::Accepted { reply, recorded },
                    Committed::Replayed { nonce } => replayed(&nonce),
                }
            }
            Verdict::BadSignature(reason) => WebhookOutcome::BadSignature { reason },
            Verdict::Malformed(reason) if !verified => WebhookOutcome::Malformed {
                reason: format!("{reason} (not stored: its signature was not verified)"),
                raw_webhook_id: None,
            },
            Verdict::Malformed(reason) => {
                let kept = record_unprocessed(
                    &self.store,
                    RawRow::New(&raw),
                    RawStatus::Rejected,
                    &reason,
                    keep,
                )
                .await?;
                match kept {
                    Kept::Replayed { nonce } => replayed(&nonce),
                    Kept::Stored(id) => WebhookOutcome::Malformed {
                        reason,
                        raw_webhook_id: Some(id),
                    },
                    Kept::OverBudget => WebhookOutcome::Malformed {
                        reason,
                        raw_webhook_id: None,
                    },
                }
            }
            Verdict::Failed { code, reason } => {
                let kept = record_unprocessed(
                    &self.store,
                    RawRow::New(&raw),
                    RawStatus::Failed,
                    &reason,
                    keep,
                )
                .await?;
                match kept {
                    Kept::Replayed { nonce } => replayed(&nonce),
                    Kept::Stored(id) => {
                        if !verified {
                            switchboard_core::metrics::webhook_stored_unverified(plugin.id());
                        }
                        WebhookOutcome::Failed {
                            code,
                            reason,
                            raw_webhook_id: Some(id),
                        }
                    }
                    Kept::OverBudget => {
                        tracing::warn!(
                            plugin = plugin.id(),
                            "unverified webhook not stored: the plugin's budget is spent"
                        );
                        WebhookOutcome::Failed {
                            code,
                            reason: format!(
                                "{reason} (not stored: this plugin's budget for requests it \
                                 could not verify is spent; fix its configuration and the \
                                 vendor's retries will be accepted)"
                            ),
                            raw_webhook_id: None,
                        }
                    }
                }
            }
        })
    }
}

/// The answer to a request that reused a once-only signature value.
fn replayed(nonce: &str) -> WebhookOutcome {
    let shown: String = nonce.chars().take(16).collect();
    WebhookOutcome::BadSignature {
        reason: format!(
            "this signature's token ({shown}…) was already used by an earlier request: a replay"
        ),
    }
}

/// Header names stored with every webhook: what the repository's plugins read to verify a
/// request (and so need again on replay), without credentials, cookies or proxies' client
/// addresses.
fn is_replay_header(name: &str) -> bool {
    name == "content-type"
        || name.starts_with("webhook-")
        || name.contains("signature")
        || name.contains("timestamp")
}

/// The headers of a request that are stored: [`is_replay_header`] ones and the plugin's
/// `keep_headers`.
pub fn stored_headers(headers: &[(String, String)], keep: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| is_replay_header(name) || keep.iter().any(|k| k == name))
        .cloned()
        .collect()
}

/// Runs the plugin on a request and checks its answer, storing nothing: the server's first step,
/// and all of `switchboard plugin test`.
pub async fn judge(
    plugin: &Plugin,
    raw: &RawRequest,
    default_country_code: Option<&str>,
) -> Judged {
    let request = WebhookRequest {
        method: raw.method.clone(),
        path: raw.path.clone(),
        query: raw.query.clone(),
        headers: raw
            .headers
            .iter()
            .map(|(name, value)| Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        body: raw.body.clone(),
        received_at: raw.received_at,
    };
    match plugin.handle_webhook(&request).await {
        // A call that failed says nothing about the request: it counts as unverified.
        Err(error) => Judged {
            verdict: Verdict::Failed {
                code: error.code(),
                reason: error.to_string(),
            },
            verified: false,
            nonces: Vec::new(),
        },
        Ok(call) => Judged {
            verdict: verdict_of(plugin, raw, call.answer, default_country_code),
            verified: call.verified,
            nonces: call
                .nonces
                .into_iter()
                .map(|n| Nonce {
                    value: n.value,
                    // A plugin cannot keep a value in the table for longer than a day.
                    expires_at: n.expires_at.min(raw.received_at + MAX_NONCE_LIFETIME_MS),
                })
                .collect(),
        },
    }
}

/// The plugin's answer, after the host's checks of its output.
fn verdict_of(
    plugin: &Plugin,
    raw: &RawRequest,
    answer: Result<WebhookAccepted, WebhookRejection>,
    default_country_code: Option<&str>,
) -> Verdict {
    let accepted = match answer {
        Err(WebhookRejection::BadSignature(reason)) => return Verdict::BadSignature(reason),
        Err(WebhookRejection::Malformed(reason)) => return Verdict::Malformed(reason),
        Err(WebhookRejection::Misconfigured(reason)) => {
            return Verdict::Failed {
                code: "plugin_misconfigured",
                reason: format!("plugin `{}` is misconfigured: {reason}", plugin.id()),
            };
        }
        Ok(accepted) => accepted,
    };
    let expect = Expectations {
        channels: &plugin.spec.channels,
        received_at: raw.received_at,
        default_country_code,
    };
    let checked = check_interactions(accepted.interactions, expect)
        .and_then(|interactions| check_reply(&accepted.reply).map(|()| interactions));
    match checked {
        Ok(interactions) => Verdict::Accepted {
            interactions,
            reply: accepted.reply,
        },
        Err(reason) => Verdict::Failed {
            code: "plugin_invalid_output",
            reason: format!("plugin `{}` returned invalid output: {reason}", plugin.id()),
        },
    }
}

fn source(plugin: &Plugin) -> Source<'_> {
    Source {
        plugin_id: plugin.id(),
        vendor: &plugin.description.vendor,
    }
}

fn log_outcome(plugin: &str, outcome: &WebhookOutcome) {
    match outcome {
        WebhookOutcome::Accepted { recorded, .. } => tracing::info!(
            plugin,
            raw_webhook_id = recorded.raw_webhook_id,
            interactions = recorded.interactions,
            duplicates = recorded.duplicates,
            suppressed = recorded.suppressed,
            "webhook processed"
        ),
        WebhookOutcome::BadSignature { reason } => {
            tracing::warn!(plugin, %reason, "webhook refused: bad signature")
        }
        WebhookOutcome::Malformed {
            reason,
            raw_webhook_id,
        } => tracing::warn!(plugin, ?raw_webhook_id, %reason, "webhook rejected: malformed"),
        WebhookOutcome::Failed {
            code,
            reason,
            raw_webhook_id,
        } => {
            tracing::error!(plugin, ?raw_webhook_id, code, %reason, "webhook failed")
        }
    }
}
