//! `switchboard serve`.

use std::net::SocketAddr;

use anyhow::Context as _;

use super::Common;
use switchboard::api::{AppState, router};
use switchboard::ingest::{Ingest, IngestSettings};
use switchboard::staff::identify::IdentifySettings;
use switchboard::store::Store;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A TOML file of identity-resolution weights and thresholds (see README, "Identity
    /// resolution"); the built-in defaults otherwise.
    #[arg(long, env = "SWITCHBOARD_IDENTIFY_SETTINGS")]
    identify_settings: Option<std::path::PathBuf>,
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

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.common.database)
        .await
        .with_context(|| format!("opening the database {}", args.common.database))?;
    let (_manifest, plugins) = args.common.load_plugins().await?;
    let ingest = Ingest::new(
        store,
        plugins,
        IngestSettings {
            default_country_code: args.common.default_country_code.clone(),
        },
    );
    let identify = identify_settings(args.identify_settings.as_deref())?;
    let state = AppState::new(ingest, identify, args.common.default_country_code.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("switchboard listening on http://{address}");
    tracing::info!(%address, "serving");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
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
