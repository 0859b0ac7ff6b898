//! The one wasmtime engine: Cranelift, the pooling allocator, async calls, epoch interruption.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a runaway guest yields to the host at least this often, so a
/// call's timeout is honoured within about this much.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of each plugin instance's linear memory stays resident in its slot between calls.
const KEEP_RESIDENT_MEMORY_BYTES: usize = 1 << 20;
/// How much of each instance's tables stays resident between calls.
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// Builds the engine with room for `slots` plugin instances alive at once, each with up to
/// `max_memory_bytes` of linear memory.
pub fn build(slots: u32, max_memory_bytes: usize) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        // A Rust component instantiates a few core modules (the program and its adapter shims).
        .total_core_instances(slots * 4)
        .total_tables(slots * 4)
        .total_memories(slots * 2)
        .total_stacks(slots)
        .max_memory_size(max_memory_bytes)
        // Every call gets a fresh instance in a recycled slot. By default a freed slot's memory is
        // handed back to the kernel, and the next call takes a page fault for every page it
        // touches again; keeping the first MiB of each memory (and the tables) resident, and
        // resetting only the pages the last call dirtied (found with PAGEMAP_SCAN on Linux 6.7+,
        // by a memset of the kept part on older kernels), cut the cost of a fresh instance from
        // ~25 to ~10 µs and a 50-event SendGrid call by about a fifth (BENCHMARKS.md §1).
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread, for as long as the
/// engine lives.
pub fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchboard-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(())
}
