//! Why a plugin's call ended early, named so a developer can act on it.

use serde::Serialize;
use wasmtime::Trap;

use crate::protocol::InvalidOutput;
use crate::sandbox::PluginState;

/// Occurs when an event (or an instantiation) runs past the host's hard
/// wall-clock limit, whatever the plugin or the host was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the event ran past the host's wall-clock limit of {} ms", limit.as_millis())]
pub struct WallLimitExceeded {
    /// The limit in force.
    pub limit: std::time::Duration,
}

/// Why a plugin was stopped. Shown in `cally simulate`, logged, and kept with
/// the call's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PluginFailure {
    /// Occurs when the plugin's own code ran past its per-event deadline.
    #[error("plugin exceeded its deadline of {deadline_ms} ms for one event")]
    DeadlineExceeded {
        /// The deadline in force.
        deadline_ms: u64,
    },
    /// Occurs when the event as a whole (plugin time, host time and anything
    /// waited on) ran past the host's hard wall-clock limit.
    #[error(
        "the event ran past the host's wall-clock limit of {limit_ms} ms (the plugin used {plugin_ms} ms, the host {host_ms} ms on its behalf)"
    )]
    WallClockExceeded {
        /// The limit in force.
        limit_ms: u64,
        /// CPU time the plugin's own code used in the event.
        plugin_ms: u64,
        /// Time the host spent on the plugin's behalf in the event.
        host_ms: u64,
    },
    /// Occurs when the plugin made more host calls, or audited data uses, in
    /// one event than the platform allows.
    #[error(
        "plugin made more than {limit} {what} in one event; read several fields in one call with get-many, or spread the work over several events"
    )]
    HostCallLimit {
        /// What was counted: `host calls` or `audited data uses`.
        what: String,
        /// The cap in force.
        limit: u32,
    },
    /// Occurs when the plugin tried to grow its memory past its limit.
    #[error(
        "plugin ran out of memory: it requested {requested_bytes} bytes, but its limit is {limit_bytes} bytes"
    )]
    MemoryExhausted {
        /// What it asked for.
        requested_bytes: usize,
        /// The limit in force.
        limit_bytes: usize,
    },
    /// Occurs when the plugin recursed past its stack limit.
    #[error("plugin overflowed its stack (limit {limit_bytes} bytes)")]
    StackOverflow {
        /// The stack limit in force.
        limit_bytes: usize,
    },
    /// Occurs when the plugin trapped: a panic, an `unreachable`, an
    /// out-of-bounds access, a bad handle.
    #[error("plugin trapped: {message}")]
    Trap {
        /// What wasmtime reported, with the plugin's last words if it printed any.
        message: String,
    },
    /// Occurs when the plugin returned output the host will not act on.
    #[error("plugin returned invalid output: {message}")]
    InvalidOutput {
        /// What was wrong with it.
        message: String,
    },
    /// Occurs when no instance could be created for the call.
    #[error("plugin could not be started: {message}")]
    Instantiation {
        /// Why.
        message: String,
    },
}

impl PluginFailure {
    /// A short, stable name for metrics and filters, such as `deadline_exceeded`.
    pub fn reason(&self) -> &'static str {
        match self {
            PluginFailure::DeadlineExceeded { .. } => "deadline_exceeded",
            PluginFailure::WallClockExceeded { .. } => "wall_clock_exceeded",
            PluginFailure::HostCallLimit { .. } => "host_call_limit",
            PluginFailure::MemoryExhausted { .. } => "memory_exhausted",
            PluginFailure::StackOverflow { .. } => "stack_overflow",
            PluginFailure::Trap { .. } => "trap",
            PluginFailure::InvalidOutput { .. } => "invalid_output",
            PluginFailure::Instantiation { .. } => "instantiation",
        }
    }

    /// Names what went wrong in a call into the plugin, from wasmtime's error
    /// and what the store observed (deadline check, memory limiter).
    pub(crate) fn classify(
        error: &wasmtime::Error,
        state: &PluginState,
        stack_bytes: usize,
    ) -> Self {
        if let Some(wall) = error.downcast_ref::<WallLimitExceeded>() {
            return PluginFailure::WallClockExceeded {
                limit_ms: wall.limit.as_millis() as u64,
                plugin_ms: state.budget.plugin_time().as_millis() as u64,
                host_ms: state.budget.host_time().as_millis() as u64,
            };
        }
        if let Some(calls) = state.budget.calls_exceeded {
            return PluginFailure::HostCallLimit {
                what: calls.what.to_owned(),
                limit: calls.limit,
            };
        }
        if state.budget.exceeded {
            return PluginFailure::DeadlineExceeded {
                deadline_ms: state.budget.deadline.as_millis() as u64,
            };
        }
        if let Some(requested) = state.limiter.refused {
            return PluginFailure::MemoryExhausted {
                requested_bytes: requested,
                limit_bytes: state.limiter.limit(),
            };
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::StackOverflow) {
            return PluginFailure::StackOverflow {
                limit_bytes: stack_bytes,
            };
        }
        let mut message = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        if let Some(last_words) = state.log.lines().last() {
            message = format!("{message}; its last output: {}", last_words.message);
        }
        PluginFailure::Trap { message }
    }
}

impl From<InvalidOutput> for PluginFailure {
    fn from(error: InvalidOutput) -> Self {
        PluginFailure::InvalidOutput {
            message: error.to_string(),
        }
    }
}
