//! Running Switchboard: swapping plugins in without a restart, the audit trail, and the reads
//! the health check and the metrics exposition make. The HTTP layer reaches the store for these
//! only through here.

use std::sync::Arc;

use switchboard_core::domain::AttemptStatus;
use switchboard_runtime::reload::{ReloadReport, Reloader};
use switchboard_store::audit::{self, AuditEntry};
use switchboard_store::{Store, StoreError, outbox};

/// The operator's service.
#[derive(Clone)]
pub struct Operations {
    store: Store,
    reloader: Arc<Reloader>,
}

impl Operations {
    pub fn new(store: Store, reloader: Arc<Reloader>) -> Self {
        Self { store, reloader }
    }

    /// Re-reads `plugins.toml` and the plugin files and swaps in what changed (a plugin that
    /// fails to load keeps its previous version serving); the report goes to the audit log as
    /// `plugins.reload`.
    pub async fn reload_plugins(&self, actor: &str, now: i64) -> Result<ReloadReport, StoreError> {
        let report = self.reloader.reload().await;
        let detail = serde_json::to_value(&report)
            .map_err(|e| StoreError::Corrupt(format!("reload report: {e}")))?;
        let mut tx = self.store.begin_write().await?;
        audit::record(tx.conn(), now, actor, "plugins.reload", None, &detail).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The audit log, newest first: entries older than `before`, about `contact_id` if given.
    pub async fn audit_log(
        &self,
        contact_id: Option<i64>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        audit::recent(self.store.pool(), contact_id, before, limit).await
    }

    /// Whether the database answers a query (for the health check).
    pub async fn database_answers(&self) -> Result<(), StoreError> {
        let mut reader = self.store.reader().await?;
        sqlx::query("SELECT 1").execute(&mut *reader).await?;
        Ok(())
    }

    /// How many attempts are queued and in flight (for the metrics).
    pub async fn outbox_depth(&self) -> Result<Vec<(AttemptStatus, i64)>, StoreError> {
        outbox::unfinished_attempts(&self.store).await
    }
}
