//! `switchboard serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::Common;
use switchboard::api::{AppState, router};
use switchboard::ingest::{Ingest, IngestSettings};
use switchboard::prefs::Engine;
use switchboard::prefs::settings::Settings;
use switchboard::runtime::{LivePlugins, Reloader};
use switchboard::send::accept::Outbox;
use switchboard::send::dispatcher::{DispatchSettings, Dispatcher};
use switchboard::send::policy::RetryPolicy;
use switchboard::staff::identify::IdentifySettings;
use switchboard::store::Store;

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
    #[command(flatten)]
    common: Common,
}

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

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.common.database)
        .await
        .with_context(|| format!("opening the database {}", args.common.database))?;
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
    );
    let dispatching = dispatcher.start();
    let outbox = Outbox::new(ingest.store().clone(), engine.clone(), dispatcher.waker());
    let state = AppState::new(
        ingest,
        reloader,
        identify,
        engine,
        outbox,
        args.common.default_country_code.clone(),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("switchboard listening on http://{address}");
    tracing::info!(%address, "serving");
    // On the signal the dispatcher claims nothing more; the sends in flight finish and are
    // recorded before the process ends, so a restart does not repeat them.
    let stopping = dispatcher.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stopping.stop();
        })
        .await?;
    if let Err(error) = dispatching.await {
        tracing::warn!(%error, "the dispatcher did not stop cleanly");
    }
    tracing::info!("stopped");
    Ok(())
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
