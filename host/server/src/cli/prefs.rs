//! `switchboard prefs rebuild`: recount every engagement counter from the log.

use std::time::Instant;

use super::Common;
use switchboard_app::prefs::counting;

#[derive(Debug, clap::Subcommand)]
pub enum PrefsCommand {
    /// Drop the engagement counters and count the whole interaction log again. The result is
    /// what the server counted as interactions arrived; run it after restoring a backup or
    /// changing how engagement is counted. Safe beside a running server (it holds the write lock
    /// while it works, so ingest waits).
    Rebuild {
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: PrefsCommand) -> anyhow::Result<()> {
    match command {
        PrefsCommand::Rebuild { common } => {
            let store = common.open_store().await?;
            let started = Instant::now();
            let mut tx = store.begin_write().await?;
            let rebuilt = counting::rebuild(tx.conn()).await?;
            tx.commit().await?;
            // The rebuild rewrote whole tables through the write-ahead log; fold it back into the
            // database now rather than leave readers to search a log of gigabytes.
            store.checkpoint().await?;
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
