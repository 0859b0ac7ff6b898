//! `switchboard keys create|list|revoke`: API keys for the staff routes.

use std::collections::BTreeSet;

use super::Common;
use switchboard_app::auth;
use switchboard_core::clock::now_ms;
use switchboard_core::domain::Scope;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key and print its token (shown this once; only its hash is stored).
    Create {
        /// A name that says who or what uses the key.
        #[arg(long)]
        name: String,
        /// Scopes: admin, staff, sender, analyst, privacy, portal, metrics (repeat or
        /// comma-separate).
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
    /// Revoke a key by name, or by id with `--id`.
    Revoke {
        /// The key's name.
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        name: Option<String>,
        /// The key's id (as `keys list` shows it).
        #[arg(long)]
        id: Option<i64>,
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
            let key = auth::Keys::new(store)
                .create(&name, &scopes, "cli", now_ms())
                .await?;
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
            let keys = auth::Keys::new(store).list().await?;
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
        KeysCommand::Revoke { name, id, common } => {
            let store = common.open_store().await?;
            let key = match (id, name) {
                (Some(id), _) => auth::KeyRef::Id(id),
                (None, Some(name)) => auth::KeyRef::Name(name),
                (None, None) => anyhow::bail!("give the key's name, or --id"),
            };
            let revoked = auth::Keys::new(store).revoke(&key, "cli", now_ms()).await?;
            println!("revoked key {} ({})", revoked.id, revoked.name);
        }
    }
    Ok(())
}

fn words(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
