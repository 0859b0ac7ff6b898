//! `switchboard replay`.

use super::Common;
use anyhow::Context as _;
use switchboard_app::ingest::{Ingest, IngestSettings, replay};
use switchboard_runtime::LivePlugins;
use switchboard_store::raw_webhooks::ReplayFilter;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Only webhooks of this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only the webhook with this id.
    #[arg(long)]
    id: Option<i64>,
    /// Also replay webhooks the plugin rejected as malformed.
    #[arg(long)]
    include_rejected: bool,
    #[command(flatten)]
    common: Common,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let store = args.common.open_store().await?;
    let (_manifest, _runtime, plugins) = args.common.load_plugins_with_runtime().await?;
    let ingest = Ingest::new(
        store,
        std::sync::Arc::new(LivePlugins::new(plugins)),
        IngestSettings {
            default_country_code: args.common.default_country_code.clone(),
        },
    )
    .context("starting the webhook committer")?;
    let filter = ReplayFilter {
        plugin_id: args.plugin,
        id: args.id,
        include_rejected: args.include_rejected,
    };
    let report = replay(&ingest, &filter).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
