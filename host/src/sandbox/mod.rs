//! The wasmtime engine every plugin runs in, and the limits that bound each call.
//!
//! One [`Sandbox`] per host: one `Engine` with a pooling allocator sized for
//! thousands of concurrent calls, copy-on-write memory images, epoch
//! interruption driven by a ticker thread, and one `Linker` that offers plugins
//! the `cally:plugin` interfaces plus a WASI that grants nothing.

mod limits;
mod state;
mod wasi;

pub use limits::{LimitError, PluginLimits, SandboxConfig};
pub use state::{EventBudget, LogLevel, LogLine, PluginLog, PluginState};
pub use wasi::CapturedOutput;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Occurs when the sandbox cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Occurs when the sandbox configuration is outside what the platform allows.
    #[error("invalid sandbox configuration: {0}")]
    Config(#[from] LimitError),
    /// Occurs when wasmtime refuses the engine configuration or the linker setup.
    #[error("cannot create the wasmtime engine: {0:#}")]
    Engine(wasmtime::Error),
    /// Occurs when the epoch ticker thread cannot be started.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

/// The host's one wasmtime engine, its linker and its platform limits.
///
/// Cheap to share behind an `Arc`; every call's `Store` is created from it.
pub struct Sandbox {
    /// Compiles and runs every plugin; its configuration must match the one
    /// precompiled artifacts were built with.
    engine: Engine,
    /// What a plugin may import: `cally:plugin` interfaces and a WASI subset
    /// with no filesystem and no sockets.
    linker: Linker<PluginState>,
    /// Platform-wide limits and defaults.
    config: SandboxConfig,
    /// Advances the engine's epoch so per-event deadlines can fire.
    ticker: EpochTicker,
}

impl Sandbox {
    /// Creates the engine, the linker and the epoch ticker for `config`.
    pub fn new(config: SandboxConfig) -> Result<Arc<Self>, SandboxError> {
        config.validate()?;
        let engine = Engine::new(&engine_config(&config)).map_err(SandboxError::Engine)?;
        let linker = plugin_linker(&engine).map_err(SandboxError::Engine)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        Ok(Arc::new(Self {
            engine,
            linker,
            config,
            ticker,
        }))
    }

    /// The wasmtime engine, for compiling components.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every plugin is instantiated with.
    pub fn linker(&self) -> &Linker<PluginState> {
        &self.linker
    }

    /// The platform limits this sandbox enforces.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// How often the epoch advances; deadlines are checked at this granularity.
    pub fn epoch_tick(&self) -> std::time::Duration {
        self.ticker.tick
    }
}

/// The engine configuration. Precompiled artifacts are only valid for an
/// engine built from the same configuration, so this is the one place it lives.
fn engine_config(config: &SandboxConfig) -> Config {
    let mut wasmtime = Config::new();
    wasmtime
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .max_wasm_stack(config.wasm_stack_bytes)
        // Fibers need room for the wasm stack plus the host functions it calls.
        .async_stack_size(config.wasm_stack_bytes + 512 * 1024)
        .memory_init_cow(true)
        // Linear memories never exceed the platform maximum, so reserving more
        // address space than that per slot would only shrink the pool.
        .memory_reservation(config.max_memory_bytes as u64)
        .memory_reservation_for_growth(0)
        .memory_guard_size(64 * 1024)
        // Plugins use no component-model async features; skipping their
        // per-store bookkeeping makes instantiation cheaper.
        .concurrency_support(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(config)));
    wasmtime
}

/// Pool sizes for `max_concurrent_calls` live plugin instances. A Rust
/// component holds a handful of core instances (the program and its
/// adapter shims), one or two memories and a few tables.
fn pooling_config(config: &SandboxConfig) -> PoolingAllocationConfig {
    let calls = config.max_concurrent_calls;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(calls)
        .total_core_instances(calls.saturating_mul(8))
        .total_memories(calls.saturating_mul(2))
        .total_tables(calls.saturating_mul(4))
        .total_stacks(calls)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_memory_size(config.max_memory_bytes)
        // Keep a little of each released slot's memory resident so the next
        // call on it does not fault every page in again.
        .linear_memory_keep_resident(64 * 1024)
        .table_keep_resident(16 * 1024);
    pool
}

/// The linker: `cally:plugin` host interfaces plus WASI with nothing granted.
/// Filesystem and socket interfaces are not linked at all, so a component
/// that imports them cannot be instantiated.
fn plugin_linker(engine: &Engine) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    crate::capabilities::log::add_to_linker(&mut linker)?;
    crate::capabilities::personal_data::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A thread that advances the engine's epoch at a fixed tick, so that
/// per-event deadlines fire while a plugin runs.
struct EpochTicker {
    tick: std::time::Duration,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: std::time::Duration) -> Result<Self, SandboxError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cally-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .map_err(SandboxError::Ticker)?;
        Ok(Self {
            tick,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
