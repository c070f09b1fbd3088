//! The wasmtime engine every plugin runs in, and the limits that bound each call.
//!
//! One [`Sandbox`] per host: one `Engine` with a pooling allocator sized for
//! thousands of concurrent calls, copy-on-write memory images, epoch
//! interruption driven by a ticker thread, and one `Linker` that offers plugins
//! the `cally:plugin` interfaces plus a WASI that grants nothing.

mod admission;
mod budget;
mod limits;
mod state;
mod wasi;

pub use admission::{Admission, AdmissionCaps, AdmissionTicket, Busy};
pub use budget::{EventBudget, HostCallCaps, HostCallLimitExceeded};
pub use limits::{
    LimitError, MAX_EVENT_WALL_LIMIT, PluginLimits, SandboxConfig, default_memory_budget,
};
pub use state::{LogLevel, LogLine, PluginLog, PluginState};
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
    /// Per-tenant caps and the host-wide memory budget, checked before
    /// every instantiation.
    admission: Admission,
}

impl Sandbox {
    /// Creates the engine, the linker and the epoch ticker for `config`.
    pub fn new(config: SandboxConfig) -> Result<Arc<Self>, SandboxError> {
        config.validate()?;
        let engine = match Engine::new(&engine_config(&config, Reservation::for_pool(&config))) {
            Ok(engine) => engine,
            // The address space for full reservations may be refused (a
            // `ulimit -v`, another pool in the process): fall back to the
            // smallest reservation, paying bounds checks instead.
            Err(error) if Reservation::for_pool(&config) == Reservation::Full => {
                tracing::warn!(error = %format!("{error:#}"), "cannot reserve 4 GiB per plugin memory; using bounds-checked memories");
                Engine::new(&engine_config(&config, Reservation::Tight))
                    .map_err(SandboxError::Engine)?
            }
            Err(error) => return Err(SandboxError::Engine(error)),
        };
        let linker = plugin_linker(&engine).map_err(SandboxError::Engine)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        let admission = Admission::new(AdmissionCaps {
            host_instances: config.max_concurrent_calls,
            host_memory_bytes: config.memory_budget_bytes,
            tenant_instances: config.max_instances_per_tenant,
            tenant_memory_bytes: config.max_memory_per_tenant_bytes,
        });
        Ok(Arc::new(Self {
            engine,
            linker,
            config,
            ticker,
            admission,
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

    /// Admission control: who may start an instance now.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The host-call caps every event runs under.
    pub fn host_call_caps(&self) -> HostCallCaps {
        HostCallCaps {
            host_calls: self.config.max_host_calls_per_event,
            audited_uses: self.config.max_audited_uses_per_event,
        }
    }
}

/// How much address space each linear memory's slot in the pool reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reservation {
    /// 4 GiB, all a 32-bit memory can address: compiled code then needs no
    /// bounds check on a memory access (an access past the memory lands in
    /// unmapped address space and traps), which makes plugin code faster.
    Full,
    /// Just the platform's memory cap: every access is bounds-checked.
    Tight,
}

/// The most address space the memory pool may reserve with [`Reservation::Full`]:
/// half of x86-64's 128 TiB user address space, leaving room for the rest of
/// the process (a reservation is address space only, never memory).
const MAX_POOL_RESERVATION: u64 = 64 << 40;

/// Bytes of address space one [`Reservation::Full`] slot takes.
const FULL_RESERVATION: u64 = 4 << 30;

/// Unmapped bytes after each memory, catching accesses just past its end.
const GUARD_BYTES: u64 = 64 * 1024;

impl Reservation {
    /// Full when the pool's memories fit in [`MAX_POOL_RESERVATION`], else tight.
    fn for_pool(config: &SandboxConfig) -> Reservation {
        let slots = u64::from(total_memories(config));
        if slots.saturating_mul(FULL_RESERVATION + GUARD_BYTES) <= MAX_POOL_RESERVATION {
            Reservation::Full
        } else {
            Reservation::Tight
        }
    }

    fn bytes(self, config: &SandboxConfig) -> u64 {
        match self {
            Reservation::Full => FULL_RESERVATION,
            Reservation::Tight => config.max_memory_bytes as u64,
        }
    }
}

/// Linear memories in the pool: a Rust component has one or two.
fn total_memories(config: &SandboxConfig) -> u32 {
    config.max_concurrent_calls.saturating_mul(2)
}

/// The engine configuration. Precompiled artifacts are only valid for an
/// engine built from the same configuration, so this is the one place it lives.
fn engine_config(config: &SandboxConfig, reservation: Reservation) -> Config {
    let mut wasmtime = Config::new();
    wasmtime
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .max_wasm_stack(config.wasm_stack_bytes)
        // Fibers need room for the wasm stack plus the host functions it calls.
        .async_stack_size(config.wasm_stack_bytes + 512 * 1024)
        .memory_init_cow(true)
        // Memories never grow past the platform maximum (the store's limiter
        // refuses it), so a slot never needs room to move.
        .memory_reservation(reservation.bytes(config))
        .memory_reservation_for_growth(0)
        .memory_guard_size(GUARD_BYTES)
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
        .total_memories(total_memories(config))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_reserve_4_gib_unless_the_pool_would_take_too_much_address_space() {
        let default = SandboxConfig::default();
        assert_eq!(Reservation::for_pool(&default), Reservation::Full);
        assert_eq!(Reservation::Full.bytes(&default), 4 << 30);
        let huge = SandboxConfig {
            max_concurrent_calls: 10_000,
            ..SandboxConfig::default()
        };
        assert_eq!(Reservation::for_pool(&huge), Reservation::Tight);
        assert_eq!(
            Reservation::Tight.bytes(&huge),
            huge.max_memory_bytes as u64
        );
    }
}
