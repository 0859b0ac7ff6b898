//! What one call into a plugin runs with: the plugin's fixed context (config, secrets, egress
//! policy, budgets) and the per-call state in its store (a WASI context that grants nothing, a
//! memory limiter, captured stderr, a log budget, the deadline, the facts the host saw).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::egress::{Egress, EgressPolicy};
use super::facts::CallFacts;
use super::secrets::Secrets;

/// The most a plugin may log in one call; further entries are dropped.
pub const LOG_ENTRIES_PER_CALL: u32 = 100;
/// How much of a plugin's stderr is kept to explain a trap.
const STDERR_CAPTURE_BYTES: usize = 4096;
/// The least a plugin may hand the host in one transfer (see [`transfer_budget`]).
pub const MIN_TRANSFER_BUDGET_BYTES: usize = 16 << 20;

/// The most a plugin may hand the host in one transfer: the answer of the export called, or the
/// arguments of one host call (a webhook body passed to `secrets.verify-hmac`, a request body to
/// `http.fetch`). At least 16 MiB, and twice the plugin's largest webhook body, so that the body,
/// and an answer that repeats its parts as metadata, fit.
///
/// Wasmtime counts what it lifts from guest memory against this budget *before* copying it:
/// strings and byte lists by their length, other lists by their length times the host size of an
/// element. A guest whose answer points a thousand strings at one large region of its memory
/// (cheap in the sandbox, a thousand copies in the host) is refused without the copies.
pub fn transfer_budget(max_body_bytes: usize) -> usize {
    max_body_bytes
        .saturating_mul(2)
        .max(MIN_TRANSFER_BUDGET_BYTES)
}

/// What a loaded plugin may use, the same for every call.
#[derive(Debug)]
pub struct PluginContext {
    pub id: String,
    pub config: BTreeMap<String, String>,
    pub secrets: Secrets,
    pub egress: EgressPolicy,
    pub memory_limit_bytes: usize,
    /// The most bytes one transfer from the plugin to the host may lift ([`transfer_budget`]).
    pub transfer_budget_bytes: usize,
}

/// The data of one call's store.
pub struct PluginState {
    pub(super) plugin: Arc<PluginContext>,
    pub(super) egress: Egress,
    pub(super) deadline: Instant,
    pub(super) limiter: MemoryLimiter,
    pub(super) stderr: StderrCapture,
    pub(super) log_entries_left: u32,
    pub(super) facts: CallFacts,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl PluginState {
    pub fn new(plugin: Arc<PluginContext>, egress: Egress, deadline: Instant) -> Self {
        let stderr = StderrCapture::default();
        // No preopened directories, no environment, no arguments, no sockets: WASI is linked
        // because guest toolchains import it, but it grants nothing.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        PluginState {
            limiter: MemoryLimiter::new(plugin.memory_limit_bytes),
            plugin,
            egress,
            deadline,
            stderr,
            log_entries_left: LOG_ENTRIES_PER_CALL,
            facts: CallFacts::default(),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

#[cfg(test)]
impl PluginState {
    /// The state of a call by a plugin with these secrets and nothing else, for host-call tests.
    pub(super) fn for_tests(secrets: Secrets) -> Self {
        let context = PluginContext {
            id: "test".into(),
            config: BTreeMap::new(),
            secrets,
            egress: EgressPolicy::default(),
            memory_limit_bytes: 16 << 20,
            transfer_budget_bytes: MIN_TRANSFER_BUDGET_BYTES,
        };
        let egress = Egress::new().expect("the HTTP clients build");
        PluginState::new(Arc::new(context), egress, Instant::now())
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a plugin's linear memory and remembers whether the cap was hit, so that the trap that
/// follows a refused allocation can be reported as what it is.
pub struct MemoryLimiter {
    limit_bytes: usize,
    refused: Option<usize>,
}

impl MemoryLimiter {
    fn new(limit_bytes: usize) -> Self {
        MemoryLimiter {
            limit_bytes,
            refused: None,
        }
    }

    /// The size of the growth that was refused, if any was.
    pub fn refused(&self) -> Option<usize> {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Keeps the first few KiB a plugin writes to stderr (a panic message, typically) and drops the
/// rest without failing the write.
#[derive(Clone, Default)]
pub struct StderrCapture(Arc<Mutex<Vec<u8>>>);

impl StderrCapture {
    /// What was captured, as text, trimmed.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

impl IsTerminal for StderrCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrCapture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StderrCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Ok(mut kept) = self.0.lock() {
            let room = STDERR_CAPTURE_BYTES.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_budget_is_16_mib_or_twice_the_largest_body() {
        assert_eq!(transfer_budget(1024 * 1024), 16 << 20);
        assert_eq!(transfer_budget(8 << 20), 16 << 20);
        assert_eq!(transfer_budget(64 << 20), 128 << 20);
        assert_eq!(transfer_budget(usize::MAX), usize::MAX);
    }
}
