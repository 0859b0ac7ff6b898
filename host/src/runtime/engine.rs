//! The one wasmtime engine: Cranelift, the pooling allocator, async calls, epoch interruption.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a runaway guest yields to the host at least this often, so a
/// call's timeout is honoured within about this much.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

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
        .max_memory_size(max_memory_bytes);

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
