//! Ingestion: a vendor's webhook, through its plugin, into the interaction log.
//!
//! The plugin verifies and parses the request; the host checks what it returned, then commits the
//! raw request and the interactions together. Every authenticated request is kept: processed,
//! rejected as malformed (the vendor hears 400 and why), or failed because the plugin failed (503;
//! `switchboard replay` reprocesses it once the plugin is fixed). A request with a bad signature
//! is refused with 401 and not stored: it is not the vendor's.

mod group_commit;
mod record;
mod replay;
mod validate;

use std::sync::Arc;

pub use crate::store::raw_webhooks::RawRequest;
pub use record::Recorded;
pub use replay::{ReplayReport, replay};
pub use validate::{CheckedInteraction, MAX_INTERACTIONS};

use group_commit::Committer;
use record::{RawRow, Source, record_unprocessed};
use validate::{Expectations, check_interactions, check_reply};

use crate::clock::now_ms;
use crate::runtime::bindings::{Header, HttpResponse, WebhookRejection, WebhookRequest};
use crate::runtime::{LivePlugins, Plugin, Plugins};
use crate::store::raw_webhooks::RawStatus;
use crate::store::{Store, StoreError};

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

/// What became of a webhook, for the HTTP layer to answer.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// Committed; answer the vendor with the plugin's reply.
    Accepted {
        reply: HttpResponse,
        recorded: Recorded,
    },
    /// Not authentic; nothing was stored.
    BadSignature { reason: String },
    /// Authentic but not understood; stored as rejected.
    Malformed { reason: String, raw_webhook_id: i64 },
    /// The plugin failed; stored as failed, for replay.
    Failed {
        code: &'static str,
        reason: String,
        raw_webhook_id: i64,
    },
}

/// What the plugin made of a request, after the host's checks.
#[derive(Debug)]
pub enum Verdict {
    Accepted {
        interactions: Vec<CheckedInteraction>,
        reply: HttpResponse,
    },
    BadSignature(String),
    Malformed(String),
    Failed {
        code: &'static str,
        reason: String,
    },
}

impl Ingest {
    /// Ingestion over `store`; starts the thread that commits accepted webhooks.
    pub fn new(
        store: Store,
        plugins: Arc<LivePlugins>,
        settings: IngestSettings,
    ) -> std::io::Result<Self> {
        Ok(Ingest {
            committer: Committer::start(store.clone())?,
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

    /// Handles one webhook for `plugin`.
    pub async fn receive(
        &self,
        plugin: &Plugin,
        request: InboundRequest,
    ) -> Result<WebhookOutcome, StoreError> {
        let raw = RawRequest {
            plugin_id: plugin.id().to_string(),
            received_at: now_ms(),
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let verdict = judge(plugin, &raw, self.settings.default_country_code.as_deref()).await;
        let outcome = match verdict {
            Verdict::Accepted {
                interactions,
                reply,
            } => {
                let recorded = self
                    .committer
                    .record(source(plugin), raw, interactions)
                    .await?;
                WebhookOutcome::Accepted { reply, recorded }
            }
            Verdict::BadSignature(reason) => WebhookOutcome::BadSignature { reason },
            Verdict::Malformed(reason) => {
                let raw_webhook_id = record_unprocessed(
                    &self.store,
                    RawRow::New(&raw),
                    RawStatus::Rejected,
                    &reason,
                )
                .await?;
                WebhookOutcome::Malformed {
                    reason,
                    raw_webhook_id,
                }
            }
            Verdict::Failed { code, reason } => {
                let raw_webhook_id =
                    record_unprocessed(&self.store, RawRow::New(&raw), RawStatus::Failed, &reason)
                        .await?;
                WebhookOutcome::Failed {
                    code,
                    reason,
                    raw_webhook_id,
                }
            }
        };
        log_outcome(plugin.id(), &outcome);
        Ok(outcome)
    }
}

/// Runs the plugin on a request and checks its answer, storing nothing: the server's first step,
/// and all of `switchboard plugin test`.
pub async fn judge(
    plugin: &Plugin,
    raw: &RawRequest,
    default_country_code: Option<&str>,
) -> Verdict {
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
    let accepted = match plugin.handle_webhook(&request).await {
        Err(error) => {
            return Verdict::Failed {
                code: error.code(),
                reason: error.to_string(),
            };
        }
        Ok(Err(WebhookRejection::BadSignature(reason))) => {
            return Verdict::BadSignature(reason);
        }
        Ok(Err(WebhookRejection::Malformed(reason))) => return Verdict::Malformed(reason),
        Ok(Err(WebhookRejection::Misconfigured(reason))) => {
            return Verdict::Failed {
                code: "plugin_misconfigured",
                reason: format!("plugin `{}` is misconfigured: {reason}", plugin.id()),
            };
        }
        Ok(Ok(accepted)) => accepted,
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
        } => tracing::warn!(plugin, raw_webhook_id, %reason, "webhook rejected: malformed"),
        WebhookOutcome::Failed {
            code,
            reason,
            raw_webhook_id,
        } => {
            tracing::error!(plugin, raw_webhook_id, code, %reason, "webhook failed; kept for replay")
        }
    }
}
