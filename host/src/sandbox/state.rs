//! What a call's `Store` holds: the plugin's WASI context, its handles, its
//! memory limiter, its log and the time budget of the event in progress.

use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::budget::EventBudget;
use super::limits::PluginLimits;
use super::wasi::{self, CapturedOutput};
use crate::capabilities::gate::DataGate;
use crate::capabilities::personal_data::PersonalData;

/// The data of one call's `Store`: everything the host keeps per plugin instance.
pub struct PluginState {
    /// WASI with nothing granted: frozen clock, no entropy, stdout and stderr
    /// captured into the call's log.
    wasi: WasiCtx,
    /// Handles the host gave this instance; dropped with the call.
    pub table: ResourceTable,
    /// Enforces the plugin's memory limit and remembers when it was hit.
    pub limiter: MemoryLimiter,
    /// Log lines the plugin wrote during this call.
    pub log: PluginLog,
    /// What the plugin printed to stdout and stderr.
    pub output: CapturedOutput,
    /// Time budget of the event being handled.
    pub budget: EventBudget,
    /// The call's access to personal data, and the uses made of it.
    pub personal_data: PersonalData,
}

/// Most handles a plugin may hold at once; a plugin that keeps asking for
/// more traps instead of growing the host's memory.
const MAX_HANDLES: usize = 1_000;

impl PluginState {
    /// Fresh state for one call: nothing granted but personal data through
    /// `gate` (if any), `limits` enforced, the WASI wall clock frozen at
    /// `clock_ms` (milliseconds since the Unix epoch), time and host calls
    /// accounted by `budget`.
    pub fn new(
        limits: &PluginLimits,
        max_log_bytes: usize,
        clock_ms: u64,
        gate: Option<DataGate>,
        budget: EventBudget,
    ) -> Self {
        let output = CapturedOutput::new(max_log_bytes);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        Self {
            wasi: wasi::no_authority_ctx(&output, clock_ms),
            table,
            limiter: MemoryLimiter::new(limits.memory_bytes),
            log: PluginLog::new(max_log_bytes),
            output,
            budget,
            personal_data: PersonalData::new(gate),
        }
    }

    /// Wires the memory limiter and the deadline check into `store`.
    pub fn install(store: &mut Store<Self>) {
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut context| {
            let budget = &mut context.data_mut().budget;
            if budget.tick_exceeded() {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            Ok(match budget.yield_point() {
                Some(yield_now) => wasmtime::UpdateDeadline::YieldCustom(1, yield_now),
                None => wasmtime::UpdateDeadline::Continue(1),
            })
        });
    }

    /// Moves what the plugin printed since the last call into its log.
    pub fn collect_output(&mut self) {
        for line in self.output.take_lines() {
            self.log.push(LogLevel::Info, line);
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

/// Enforces a plugin's memory limit and remembers the request that broke it,
/// so a failure can be reported as memory exhaustion rather than a bare trap.
///
/// The limit is on all the instance's linear memories together: admission
/// reserves one limit per instance, and a component may define more than
/// one memory (the pool allows two), each of which would otherwise grow to
/// the limit on its own.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    /// Bytes all the instance's memories have grown to so far.
    committed: usize,
    /// The size of the first growth that was refused, in bytes (the total
    /// the instance's memories would have had).
    pub refused: Option<usize>,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            committed: 0,
            refused: None,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Occurs when a plugin asks for more linear memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("plugin requested {requested} bytes of memory, which exceeds its limit of {limit} bytes")]
pub struct MemoryLimitExceeded {
    /// The size asked for.
    pub requested: usize,
    /// The limit in force.
    pub limit: usize,
}

/// The largest table a plugin may grow; Rust components use a few hundred entries.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .committed
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.limit {
            self.refused.get_or_insert(total);
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                requested: total,
                limit: self.limit,
            }));
        }
        self.committed = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail for the developer.
    Debug,
    /// Normal progress; also what the plugin printed.
    Info,
    /// Something unexpected the plugin handled.
    Warn,
    /// Something the plugin could not handle, or a host note about a failure.
    Error,
}

/// One line of a call's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// How much it matters.
    pub level: LogLevel,
    /// The text, whole (a line that would pass the call's limit is dropped).
    pub message: String,
}

/// The log lines of one call, bounded in total size. Lines past the bound are
/// dropped whole and counted, so a chatty plugin cannot exhaust the host's
/// memory; the first drop adds one host line saying so (outside the bound).
#[derive(Debug)]
pub struct PluginLog {
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    /// Lines dropped because the bound was reached.
    pub dropped: usize,
    /// Index of the first line not yet handed out by [`PluginLog::take_new`].
    taken: usize,
}

impl PluginLog {
    fn new(max_bytes: usize) -> Self {
        Self {
            lines: Vec::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
            taken: 0,
        }
    }

    /// Appends a line, or counts it as dropped once the call's bound is reached
    /// (noting the first drop in a host line).
    pub fn push(&mut self, level: LogLevel, message: String) {
        if self.bytes + message.len() > self.max_bytes {
            if self.dropped == 0 {
                self.lines.push(LogLine {
                    level: LogLevel::Warn,
                    message: format!(
                        "log limit reached: the call's log holds {} bytes of lines, its limit; later lines are dropped",
                        self.max_bytes
                    ),
                });
            }
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
    }

    /// Lines written since the last call, for the current event's outcome.
    pub fn take_new(&mut self) -> Vec<LogLine> {
        let new = self.lines[self.taken..].to_vec();
        self.taken = self.lines.len();
        new
    }

    /// Every line of the call so far.
    pub fn lines(&self) -> &[LogLine] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_drops_lines_past_its_bound() {
        let mut log = PluginLog::new(10);
        log.push(LogLevel::Info, "12345".into());
        log.push(LogLevel::Info, "67890".into());
        log.push(LogLevel::Info, "x".into());
        log.push(LogLevel::Info, "y".into());
        assert_eq!(log.dropped, 2);
        let messages: Vec<&str> = log.lines().iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "two lines and one note: {messages:?}");
        assert_eq!(&messages[..2], ["12345", "67890"]);
        assert!(messages[2].starts_with("log limit reached"), "{messages:?}");
    }

    #[test]
    fn take_new_hands_out_each_line_once() {
        let mut log = PluginLog::new(100);
        log.push(LogLevel::Info, "a".into());
        assert_eq!(log.take_new().len(), 1);
        log.push(LogLevel::Warn, "b".into());
        let new = log.take_new();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].message, "b");
        assert!(log.take_new().is_empty());
    }

    #[test]
    fn memory_limiter_refuses_and_remembers() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 19, None).unwrap());
        let err = limiter.memory_growing(1 << 19, 2 << 20, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("exceeds its limit of 1048576 bytes")
        );
        assert_eq!(limiter.refused, Some(2 << 20));
    }

    #[test]
    fn memory_limit_covers_all_of_an_instances_memories() {
        // A hand-built component with two memories, each grown to the limit,
        // used to commit twice what admission reserved for the instance.
        let mut limiter = MemoryLimiter::new(16 << 20);
        assert!(limiter.memory_growing(0, 16 << 20, None).unwrap());
        let err = limiter.memory_growing(0, 16 << 20, None).unwrap_err();
        assert!(err.to_string().contains("33554432 bytes"), "{err}");
        // The first memory still grows within what is left, counted once.
        let mut limiter = MemoryLimiter::new(16 << 20);
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 8 << 20, None).unwrap());
        assert!(limiter.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert!(limiter.memory_growing(8 << 20, 9 << 20, None).is_err());
    }
}
