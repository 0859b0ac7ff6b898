//! `switchboard serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::Common;
use switchboard::api::listen::{self, ListenSettings};
use switchboard::api::{AppState, EdgeSettings, metrics_router, router};
use switchboard_app::analytics::settings::AnalyticsSettings;
use switchboard_app::ingest::{Ingest, IngestSettings};
use switchboard_app::prefs::Engine;
use switchboard_app::prefs::settings::Settings;
use switchboard_app::send::accept::Outbox;
use switchboard_app::send::dispatch::{DispatchSettings, Dispatcher};
use switchboard_app::send::policy::RetryPolicy;
use switchboard_app::staff::identify::IdentifySettings;
use switchboard_runtime::{LivePlugins, Reloader};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How often to look for changes to plugins.toml and the plugin files, which reload the
    /// plugins without a restart; 0 turns the watcher off (`switchboard plugins reload` still
    /// works).
    #[arg(long, env = "SWITCHBOARD_WATCH_INTERVAL_MS", default_value_t = 2000)]
    watch_interval_ms: u64,
    /// A TOML file of identity-resolution weights and thresholds (see README, "Identity
    /// resolution"); the built-in defaults otherwise.
    #[arg(long, env = "SWITCHBOARD_IDENTIFY_SETTINGS")]
    identify_settings: Option<std::path::PathBuf>,
    /// A TOML file of preference and selection settings (window, quiet hours, urgency weights,
    /// default time zone; see README, "Preferences and channel selection"); defaults otherwise.
    #[arg(long, env = "SWITCHBOARD_PREFERENCE_SETTINGS")]
    preference_settings: Option<std::path::PathBuf>,
    /// A TOML file of analytics settings (the goals conversions name, the interaction kinds that
    /// are conversions or touches, the attribution lookback; see README, "Analytics");
    /// defaults otherwise.
    #[arg(long, env = "SWITCHBOARD_ANALYTICS_SETTINGS")]
    analytics_settings: Option<std::path::PathBuf>,
    /// Milliseconds between folds of new interactions into the channel report's pre-aggregates,
    /// in the background; 0 folds only when a report is asked for (which always folds what is
    /// pending first, so reports are current either way).
    #[arg(long, env = "SWITCHBOARD_ANALYTICS_FOLD_MS", default_value_t = 2_000)]
    analytics_fold_ms: u64,
    /// Tries per attempt (the first included) before a retryable failure counts as a failure
    /// and the message falls back.
    #[arg(long, env = "SWITCHBOARD_SEND_MAX_TRIES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    send_max_tries: u32,
    /// The wait before the second try, in ms; doubled for each further one (with jitter), and
    /// never shorter than the vendor's Retry-After.
    #[arg(long, env = "SWITCHBOARD_SEND_RETRY_BASE_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    send_retry_base_ms: u64,
    /// Connections open at once; beyond it new connections wait in the listen backlog until
    /// one closes.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// The time a request's headers may take to arrive (also how long a kept-alive connection
    /// may stay idle), in ms; a client slower than this is disconnected.
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    header_timeout_ms: u64,
    /// The time a request's whole body may take to arrive, in ms; a slower one is answered 408
    /// and its connection closed.
    #[arg(long, env = "SWITCHBOARD_BODY_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    body_timeout_ms: u64,
    /// Webhook requests handled at once; more are answered 503 with Retry-After: 1.
    #[arg(long, env = "SWITCHBOARD_MAX_INFLIGHT_WEBHOOKS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_inflight_webhooks: u32,
    /// Staff API requests handled at once; more are answered 503 with Retry-After: 1.
    #[arg(long, env = "SWITCHBOARD_MAX_INFLIGHT_API", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_inflight_api: u32,
    /// A second address serving only `GET /metrics`, without a key (for a scraper on a network
    /// only operators reach). Without it, /metrics is on the main address for a key with the
    /// `metrics` or `admin` scope.
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    common: Common,
}

/// Connections the metrics address keeps open at once: one scraper, a few people.
const METRICS_CONNECTIONS: usize = 16;

/// Reads identity-resolution settings, refusing unknown keys and values that make no sense.
fn identify_settings(path: Option<&std::path::Path>) -> anyhow::Result<IdentifySettings> {
    let Some(path) = path else {
        return Ok(IdentifySettings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading identity settings {}", path.display()))?;
    let settings: IdentifySettings = toml::from_str(&text)
        .with_context(|| format!("parsing identity settings {}", path.display()))?;
    settings
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(settings)
}

/// Reads preference settings, refusing unknown keys and values that make no sense.
fn preference_settings(path: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading preference settings {}", path.display()))?;
    Settings::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Reads analytics settings, refusing unknown keys and values that make no sense.
fn analytics_settings(path: Option<&std::path::Path>) -> anyhow::Result<AnalyticsSettings> {
    let Some(path) = path else {
        return Ok(AnalyticsSettings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading analytics settings {}", path.display()))?;
    AnalyticsSettings::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = args.common.open_store().await?;
    let (_manifest, runtime, plugins) = args.common.load_plugins_with_runtime().await?;
    let live = Arc::new(LivePlugins::new(plugins));
    let reloader = Arc::new(Reloader::new(
        runtime,
        args.common.plugins.clone(),
        live.clone(),
    ));
    if args.watch_interval_ms > 0 {
        reloader
            .clone()
            .watch(Duration::from_millis(args.watch_interval_ms));
    }
    let ingest = Ingest::new(
        store,
        live.clone(),
        IngestSettings {
            default_country_code: args.common.default_country_code.clone(),
        },
    )
    .context("starting the webhook committer")?;
    let identify = identify_settings(args.identify_settings.as_deref())?;
    let engine = Engine::new(
        ingest.store().clone(),
        preference_settings(args.preference_settings.as_deref())?,
        live.clone(),
    );
    let _refitter = engine.keep_priors_fitted();
    let dispatcher = Dispatcher::new(
        ingest.store().clone(),
        live.clone(),
        engine.clone(),
        DispatchSettings {
            retry: RetryPolicy {
                max_tries: args.send_max_tries,
                base_delay_ms: args.send_retry_base_ms,
                ..RetryPolicy::default()
            },
            ..DispatchSettings::default()
        },
    )
    .context("starting the dispatcher")?;
    let dispatching = dispatcher.start();
    let outbox = Outbox::new(ingest.store().clone(), engine.clone(), dispatcher.clone())
        .context("starting the outbox's committer")?;
    let state = AppState::new(
        ingest,
        reloader,
        identify,
        engine,
        outbox,
        analytics_settings(args.analytics_settings.as_deref())?,
        args.common.default_country_code.clone(),
    );
    let _folder = (args.analytics_fold_ms > 0).then(|| {
        let every = Duration::from_millis(args.analytics_fold_ms);
        state.analytics.rollup().keep_folding(every)
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let limits = ListenSettings {
        max_connections: args.max_connections as usize,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
    };
    let edge = EdgeSettings {
        max_inflight_webhooks: args.max_inflight_webhooks as usize,
        max_inflight_api: args.max_inflight_api as usize,
        body_timeout: Duration::from_millis(args.body_timeout_ms),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics_server = match args.metrics_listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("listening for metrics on {at}"))?;
            let at = listener.local_addr()?;
            println!("switchboard metrics on http://{at}/metrics");
            let limits = ListenSettings {
                max_connections: METRICS_CONNECTIONS,
                ..limits
            };
            let app = metrics_router(state.clone());
            Some(tokio::spawn(listen::serve(
                listener,
                app,
                limits,
                stopping_signal(stopped.clone()),
            )))
        }
        None => None,
    };
    // Scripts and tests read this line to find the port.
    println!("switchboard listening on http://{address}");
    tracing::info!(%address, "serving");
    // On the signal the dispatcher claims nothing more; the sends in flight finish and are
    // recorded before the process ends, so a restart does not repeat them.
    let stopping = dispatcher.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopping.stop();
        let _ = stop.send(true);
    });
    listen::serve(
        listener,
        router(state, edge),
        limits,
        stopping_signal(stopped),
    )
    .await;
    if let Some(metrics_server) = metrics_server
        && let Err(error) = metrics_server.await
    {
        tracing::warn!(%error, "the metrics server did not stop cleanly");
    }
    if let Err(error) = dispatching.await {
        tracing::warn!(%error, "the dispatcher did not stop cleanly");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes once the shutdown signal has come (or its sender is gone).
async fn stopping_signal(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
