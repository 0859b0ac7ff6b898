//! `switchboard prefs rebuild`: recount every engagement counter from the log.

use std::time::Instant;

use anyhow::Context as _;

use switchboard::store::{Store, engagement};

#[derive(Debug, clap::Subcommand)]
pub enum PrefsCommand {
    /// Drop the engagement counters and count the whole interaction log again. The result is
    /// what the server counted as interactions arrived; run it after restoring a backup or
    /// changing how engagement is counted. Safe beside a running server (it holds the write lock
    /// while it works, so ingest waits).
    Rebuild {
        /// The database: a SQLite file path or sqlite:// URL.
        #[arg(
            long,
            env = "SWITCHBOARD_DATABASE",
            default_value = "switchboard-data/switchboard.db"
        )]
        database: String,
    },
}

pub async fn run(command: PrefsCommand) -> anyhow::Result<()> {
    match command {
        PrefsCommand::Rebuild { database } => {
            let store = Store::open(&database)
                .await
                .with_context(|| format!("opening the database {database}"))?;
            let started = Instant::now();
            let mut tx = store.begin_write().await?;
            let rebuilt = engagement::rebuild(tx.conn()).await?;
            tx.commit().await?;
            let report = serde_json::json!({
                "interactions": rebuilt.interactions,
                "counters": rebuilt.counters,
                "seconds": started.elapsed().as_secs_f64(),
            });
            println!("{report}");
            Ok(())
        }
    }
}
