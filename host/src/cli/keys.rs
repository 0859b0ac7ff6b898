//! `switchboard keys create|list|revoke`: API keys for the staff routes.

use std::collections::BTreeSet;

use super::Common;
use switchboard::auth::{self, Scope};
use switchboard::clock::now_ms;
use switchboard::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key and print its token (shown this once; only its hash is stored).
    Create {
        /// A name that says who or what uses the key.
        #[arg(long)]
        name: String,
        /// Scopes: admin, staff, sender, analyst, privacy, portal (repeat or comma-separate).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List keys (never their tokens).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a key by name or id.
    Revoke {
        key: String,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            json,
            common,
        } => {
            let store = common.open_store().await?;
            let scopes: BTreeSet<Scope> = auth::parse_scopes(&scopes)?;
            let key = auth::create_key(&store, &name, &scopes, now_ms()).await?;
            audit(&store, "key.create", &key.info).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&key)?);
            } else {
                println!("{}", key.token);
                eprintln!(
                    "key {} ({}) created with scopes {}; the token above is not shown again",
                    key.info.id,
                    key.info.name,
                    words(&key.info.scopes)
                );
            }
        }
        KeysCommand::List { json, common } => {
            let store = common.open_store().await?;
            let keys = auth::list_keys(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(());
            }
            for key in keys {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:>4}  {:<24} {}…  {:<8} {}",
                    key.id,
                    key.name,
                    key.prefix,
                    state,
                    words(&key.scopes)
                );
            }
        }
        KeysCommand::Revoke { key, common } => {
            let store = common.open_store().await?;
            let revoked = auth::revoke_key(&store, &key, now_ms()).await?;
            audit(&store, "key.revoke", &revoked).await?;
            println!("revoked key {} ({})", revoked.id, revoked.name);
        }
    }
    Ok(())
}

async fn audit(store: &Store, action: &str, key: &auth::KeyInfo) -> anyhow::Result<()> {
    let detail = serde_json::json!({ "key_id": key.id, "name": key.name, "scopes": key.scopes });
    let mut tx = store.begin_write().await?;
    switchboard::store::audit::record(tx.conn(), now_ms(), "cli", action, None, &detail).await?;
    tx.commit().await?;
    Ok(())
}

fn words(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
