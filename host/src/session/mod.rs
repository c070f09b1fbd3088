//! One call: its `Store`, its plugin instance, its events in and actions out.
//!
//! A [`FlowInstance`] is a fresh instance of a call-flow plugin for one call;
//! [`CallSession`] gives it a task of its own that owns it until the call ends
//! or goes idle. A [`TaggerRun`] runs a lead tagger once for a finished call.
//! Whatever a plugin does (loop, exhaust memory, overflow its stack, trap,
//! return garbage) ends only its own call, with the tenant's fallback actions
//! and a [`PluginFailure`] naming the reason.

mod failure;
mod flow;
mod tagger;
mod task;

pub use failure::{PluginFailure, WallLimitExceeded};
pub use flow::{CallRecord, EventOutcome, FlowInstance};
pub use tagger::{TagOutcome, TaggerRun};
pub use task::{CallSession, SessionClosed};

use serde::Serialize;

use crate::capabilities::gate::DataGate;
use crate::component::ComponentError;
use crate::protocol::Action;
use crate::sandbox::{AdmissionTicket, Busy, EventBudget, PluginLimits, PluginState, Sandbox};

/// Occurs when a plugin instance cannot be started for a call.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Occurs when the component is not of the world the call needs (a lead
    /// tagger started as a call flow, or the reverse).
    #[error(transparent)]
    Component(#[from] ComponentError),
    /// Occurs when the tenant or the host has no room for another instance
    /// now: nothing was started, and the same request may succeed later.
    #[error("no room to start the plugin now: {0}")]
    Busy(#[from] Busy),
}

/// How one call's plugin runs: its limits, what to do if it fails, and its
/// access to personal data.
#[derive(Clone, Serialize)]
pub struct CallOptions {
    /// The plugin's deadline and memory limit.
    pub limits: PluginLimits,
    /// Actions performed instead when the plugin fails: the tenant's choice,
    /// by default a polite apology and a hang-up.
    pub fallback: Vec<Action>,
    /// The call's start, in milliseconds since the Unix epoch: what the
    /// plugin's (frozen) clock shows and the start time when the platform gives none.
    pub clock_ms: u64,
    /// The call's gate to personal data; `None` gives the plugin no handles
    /// and drops its data actions.
    #[serde(skip)]
    pub data: Option<DataGate>,
}

impl CallOptions {
    /// The tenant the call's instance counts against: the data scope's
    /// tenant, or the empty name for a call without one (a local simulation).
    pub fn tenant(&self) -> &str {
        self.data
            .as_ref()
            .map_or("", |gate| gate.scope.tenant.as_str())
    }

    /// Options with `limits`, the default fallback and the host's clock.
    pub fn new(limits: PluginLimits) -> Self {
        Self {
            limits,
            fallback: default_fallback(),
            clock_ms: crate::clock::now_ms_unsigned(),
            data: None,
        }
    }
}

/// Admits one instance for `options`' tenant (per-tenant caps and the host's
/// memory budget, before any work is done), or says why there is no room.
fn admit(sandbox: &Sandbox, options: &CallOptions) -> Result<AdmissionTicket, Busy> {
    sandbox
        .admission()
        .admit(options.tenant(), options.limits.memory_bytes as u64)
}

/// A fresh `Store` for one call of a plugin: nothing granted but what
/// `options` carries, limits and the deadline check installed, and the clock
/// of the first event (instantiation counts against it) started.
fn call_store(sandbox: &Sandbox, options: &CallOptions) -> wasmtime::Store<PluginState> {
    let budget = EventBudget::new(options.limits.event_deadline)
        .with_tick(sandbox.epoch_tick())
        .with_caps(sandbox.host_call_caps());
    let state = PluginState::new(
        &options.limits,
        sandbox.config().max_log_bytes_per_call,
        options.clock_ms,
        options.data.clone(),
        budget,
    );
    let mut store = wasmtime::Store::new(sandbox.engine(), state);
    PluginState::install(&mut store);
    store.data_mut().budget.start_event();
    // Set before instantiating, or the first call would trap at once.
    store.set_epoch_deadline(1);
    store
}

/// Serialises a `Duration` as whole microseconds, for traces and results.
fn micros<S: serde::Serializer>(
    value: &std::time::Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_micros() as u64)
}

/// The fallback when a tenant configured none: apologise and hang up.
pub fn default_fallback() -> Vec<Action> {
    vec![
        Action::say(
            "I'm sorry, something went wrong on our side. Please call us again later. Goodbye.",
        ),
        Action::HangUp,
    ]
}
