//! `switchboard plugins list`.

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
}

pub async fn run(command: PluginsCommand) -> anyhow::Result<()> {
    let PluginsCommand::List { json, common } = command;
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
