//! Command-line interface: `serve`, `plugins list`, `plugin new|check|test`, `keys`, `replay`,
//! `send`, `prefs rebuild`.

mod analytics;
mod keys;
mod plugin;
mod plugins;
mod prefs;
mod replay;
mod scaffold;
mod send;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use switchboard_runtime::config;
use switchboard_runtime::{Plugins, Runtime, RuntimeSettings};

/// Switchboard: one view of every conversation an organisation has with the people it serves.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: webhooks in, interactions into the log.
    Serve(serve::ServeArgs),
    /// Inspect the plugins in plugins.toml.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Tools for plugin authors: check a component, run it on recorded webhooks.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Manage API keys for the staff routes.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Reprocess stored webhooks that failed (after fixing a plugin or its configuration).
    Replay(replay::ReplayArgs),
    /// Send one message through a plugin now, and record it in the log.
    Send(send::SendArgs),
    /// The preference engine's counters.
    #[command(subcommand)]
    Prefs(prefs::PrefsCommand),
    /// Analytics tools that work on files (the reports themselves are at /api/analytics).
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommand),
}

/// Where Switchboard keeps things; shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The database: a SQLite file path or sqlite:// URL.
    #[arg(
        long,
        env = "SWITCHBOARD_DATABASE",
        default_value = "switchboard-data/switchboard.db"
    )]
    database: String,
    /// The server key (for the suppression list's hashes; see README "The server key"). By
    /// default `<database file>.key`; generated on the first start.
    #[arg(long, env = "SWITCHBOARD_SERVER_KEY_FILE")]
    server_key_file: Option<PathBuf>,
    /// The plugin manifest.
    #[arg(long, env = "SWITCHBOARD_PLUGINS", default_value = "plugins.toml")]
    plugins: PathBuf,
    /// Where compiled plugins are cached.
    #[arg(
        long,
        env = "SWITCHBOARD_CACHE_DIR",
        default_value = "switchboard-data/cache"
    )]
    cache_dir: PathBuf,
    /// How many plugin instances may run at once.
    #[arg(long, env = "SWITCHBOARD_INSTANCE_SLOTS", default_value_t = 128)]
    instance_slots: u32,
    /// Country calling code assumed for phone numbers given without one (e.g. 1 or 44).
    #[arg(long, env = "SWITCHBOARD_DEFAULT_COUNTRY_CODE")]
    default_country_code: Option<String>,
}

impl Common {
    /// Opens the database, bringing its schema up to date.
    async fn open_store(&self) -> anyhow::Result<switchboard_store::Store> {
        switchboard_store::Store::open_with_key(&self.database, self.server_key_file.as_deref())
            .await
            .with_context(|| format!("opening the database {}", self.database))
    }

    /// Reads plugins.toml and loads every enabled plugin.
    async fn load_plugins(&self) -> anyhow::Result<(config::LoadedManifest, Arc<Plugins>)> {
        let (manifest, _runtime, plugins) = self.load_plugins_with_runtime().await?;
        Ok((manifest, Arc::new(plugins)))
    }

    /// Reads plugins.toml and loads every enabled plugin, keeping the runtime for reloads.
    async fn load_plugins_with_runtime(
        &self,
    ) -> anyhow::Result<(config::LoadedManifest, Runtime, Plugins)> {
        let manifest = config::load(&self.plugins)?;
        let runtime = Runtime::new(RuntimeSettings {
            cache_dir: self.cache_dir.clone(),
            instance_slots: self.instance_slots,
        })
        .context("starting the plugin runtime")?;
        let plugins = Plugins::load(&runtime, &manifest).await?;
        Ok((manifest, runtime, plugins))
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Plugins(command) => plugins::run(command).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Plugin(command) => plugin::run(command).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::Prefs(command) => prefs::run(command).await,
        Command::Analytics(command) => analytics::run(command).await,
    }
}
