//! `switchboard plugins list` and `plugins reload`.

use anyhow::Context as _;

use super::Common;

#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {
    /// Load every plugin in plugins.toml and print what each one's `describe` says.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Ask a running server to re-read plugins.toml and the plugin files and swap in what
    /// changed, without a restart (the server also does this by itself when files change).
    Reload {
        /// The server.
        #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An API key with the `admin` scope.
        #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
        key: String,
    },
}

pub async fn run(command: PluginsCommand) -> anyhow::Result<()> {
    match command {
        PluginsCommand::List { json, common } => list(json, common).await,
        PluginsCommand::Reload { url, key } => reload(&url, &key).await,
    }
}

async fn reload(url: &str, key: &str) -> anyhow::Result<()> {
    let endpoint = format!("{}/api/plugins/reload", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("calling {endpoint}"))?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{endpoint} answered {status} with something that is not JSON"))?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if !status.is_success() {
        anyhow::bail!("{endpoint} answered {status}");
    }
    let failed = answer["failed"].as_array().is_some_and(|f| !f.is_empty());
    if failed || !answer["error"].is_null() {
        anyhow::bail!("not every plugin was reloaded; the previous versions keep serving");
    }
    Ok(())
}

async fn list(json: bool, common: Common) -> anyhow::Result<()> {
    let (manifest, plugins) = common.load_plugins().await?;
    let mut entries = Vec::new();
    for spec in &manifest.plugins {
        let entry = match plugins.get(&spec.id) {
            Some(plugin) => serde_json::json!({
                "id": spec.id,
                "enabled": true,
                "path": spec.wasm_path,
                "sha256": plugin.sha256,
                "channels": spec.channels,
                "describe": plugin.description,
                "unset_secrets": plugin.unset_secrets(),
            }),
            None => serde_json::json!({ "id": spec.id, "enabled": false, "path": spec.wasm_path }),
        };
        entries.push(entry);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for spec in &manifest.plugins {
        let Some(plugin) = plugins.get(&spec.id) else {
            println!("{}  (disabled)", spec.id);
            continue;
        };
        let d = &plugin.description;
        let channels: Vec<&str> = spec.channels.iter().map(|c| c.as_str()).collect();
        println!("{}", spec.id);
        println!("  plugin     {} {} ({})", d.name, d.version, d.description);
        println!("  vendor     {}", d.vendor);
        println!("  channels   {}", channels.join(", "));
        println!("  interface  switchboard:channel@{}", d.interface_version);
        println!("  sha256     {}", plugin.sha256);
        let unset = plugin.unset_secrets();
        if !unset.is_empty() {
            println!("  unset      {}", unset.join(", "));
        }
    }
    Ok(())
}
