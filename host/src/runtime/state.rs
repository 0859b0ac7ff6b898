//! What one call into a plugin runs with: the plugin's fixed context (config, secrets, egress
//! policy) and the per-call state in its store (a WASI context that grants nothing, a memory
//! limiter, captured stderr, a log budget, the deadline).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::egress::{Egress, EgressPolicy};
use super::secrets::Secrets;

/// The most a plugin may log in one call; further entries are dropped.
pub const LOG_ENTRIES_PER_CALL: u32 = 100;
/// How much of a plugin's stderr is kept to explain a trap.
const STDERR_CAPTURE_BYTES: usize = 4096;

/// What a loaded plugin may use, the same for every call.
#[derive(Debug)]
pub struct PluginContext {
    pub id: String,
    pub config: BTreeMap<String, String>,
    pub secrets: Secrets,
    pub egress: EgressPolicy,
    pub memory_limit_bytes: usize,
}

/// The data of one call's store.
pub struct PluginState {
    pub(super) plugin: Arc<PluginContext>,
    pub(super) egress: Egress,
    pub(super) deadline: Instant,
    pub(super) limiter: MemoryLimiter,
    pub(super) stderr: StderrCapture,
    pub(super) log_entries_left: u32,
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
            wasi,
            table: ResourceTable::new(),
        }
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
