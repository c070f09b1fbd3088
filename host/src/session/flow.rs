//! A call-flow plugin's instance for one call.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasmtime::Store;

use super::{CallOptions, PluginFailure, StartError, WallLimitExceeded};
use crate::bindings::call_flow::CallFlow;
use crate::capabilities::actions;
use crate::capabilities::gate::{DataUse, TranscriptLine};
use crate::component::{CompiledPlugin, ComponentError, PluginPre, World};
use crate::protocol::{Action, CallEvent, validate_actions};
use crate::sandbox::{AdmissionTicket, LogLine, PluginState, Sandbox};

/// What the plugin made of one event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventOutcome {
    /// What the platform should do: the plugin's actions, or the fallback if
    /// it failed on this event.
    pub actions: Vec<Action>,
    /// Log lines the plugin wrote (and printed) while handling the event.
    pub log: Vec<LogLine>,
    /// CPU time the plugin's own code used (what its deadline limits).
    #[serde(rename = "plugin_time_us", serialize_with = "super::micros")]
    #[schema(value_type = u64)]
    pub plugin_time: Duration,
    /// Time the host spent on the plugin's behalf.
    #[serde(rename = "host_time_us", serialize_with = "super::micros")]
    #[schema(value_type = u64)]
    pub host_time: Duration,
    /// Every use of personal data during the event (reads, messages, tags),
    /// as decided and audited.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataUse>,
    /// Set when the plugin failed on this event and the fallback was returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure: Option<PluginFailure>,
}

/// What happened on a call, kept for its result and for the lead tagger.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CallRecord {
    /// Events handed to the plugin.
    pub events: u32,
    /// Every action returned to the platform, fallback included.
    pub actions: Vec<Action>,
    /// Why the plugin failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure: Option<PluginFailure>,
    /// The last disposition the flow set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub disposition: Option<String>,
    /// Keypad input the caller gave, in order.
    pub digits: Vec<String>,
    /// Why the call ended, once the platform said so.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub end_reason: Option<crate::protocol::EndReason>,
    /// Every use of personal data on the call.
    pub data: Vec<DataUse>,
    /// What was said: the caller's final words and the flow's `say`s.
    #[serde(skip)]
    pub transcript: Vec<TranscriptLine>,
}

/// A fresh instance of a call-flow plugin, for one call only. Nothing in it is
/// shared with any other call: its memory, handles and log die with it.
pub struct FlowInstance {
    /// The live instance; `None` once the plugin failed or the call ended, so
    /// its pool slot is freed at once.
    running: Option<Running>,
    options: CallOptions,
    sandbox: Arc<Sandbox>,
    /// A failure that happened before any event (at instantiation), whose
    /// fallback is still owed to the platform.
    fallback_owed: bool,
    record: CallRecord,
}

struct Running {
    store: Store<PluginState>,
    bindings: CallFlow,
    /// The instance's share of the tenant's and the host's caps, given back
    /// when the instance is dropped.
    _admission: AdmissionTicket,
}

impl FlowInstance {
    /// Instantiates `plugin` for a new call. A plugin that cannot be
    /// instantiated still yields a `FlowInstance`: its first event answers
    /// with the fallback and the reason. When the tenant or the host has no
    /// room for another instance, nothing is started: [`StartError::Busy`].
    pub async fn start(
        sandbox: Arc<Sandbox>,
        plugin: &CompiledPlugin,
        options: CallOptions,
    ) -> Result<Self, StartError> {
        let PluginPre::CallFlow(pre) = &plugin.pre else {
            return Err(ComponentError::WrongWorld {
                expected: World::CallFlow,
                found: plugin.world(),
            }
            .into());
        };
        let admission = super::admit(&sandbox, &options)?;
        let mut store = super::call_store(&sandbox, &options);
        let wall_limit = sandbox.config().event_wall_limit;
        let mut instance = Self {
            running: None,
            options,
            sandbox: sandbox.clone(),
            fallback_owed: false,
            record: CallRecord::default(),
        };
        let instantiated = tokio::time::timeout(wall_limit, pre.instantiate_async(&mut store))
            .await
            .unwrap_or_else(|_| Err(WallLimitExceeded { limit: wall_limit }.into()));
        match instantiated {
            Ok(bindings) => {
                instance.running = Some(Running {
                    store,
                    bindings,
                    _admission: admission,
                })
            }
            Err(error) => {
                let failure = match PluginFailure::classify(
                    &error,
                    store.data(),
                    sandbox.config().wasm_stack_bytes,
                ) {
                    PluginFailure::Trap { message } => PluginFailure::Instantiation { message },
                    other => other,
                };
                // The reason's kind only: its text can quote the plugin's output.
                tracing::warn!(reason = failure.reason(), "plugin instantiation failed");
                instance.record.failure = Some(failure);
                instance.fallback_owed = true;
            }
        }
        Ok(instance)
    }

    /// Hands one event to the plugin and returns what to do. After a failure,
    /// the fallback is returned once and later events get no actions.
    pub async fn handle(&mut self, event: &CallEvent) -> EventOutcome {
        self.note_event(event);
        let Some(running) = &mut self.running else {
            return self.after_failure();
        };
        if let (
            CallEvent::Speech {
                text,
                is_final: true,
                ..
            },
            Some(gate),
        ) = (event, running.store.data().personal_data.gate())
        {
            gate.scope.record_line(true, text);
        }
        let state = running.store.data_mut();
        state.budget.start_event();
        running.store.set_epoch_deadline(1);
        let wall_limit = self.sandbox.config().event_wall_limit;
        let wall_deadline = tokio::time::Instant::now() + wall_limit;
        let wit_event = event.to_wit(self.options.clock_ms);
        // The hard bound: whatever the plugin runs or waits on (its own code
        // is stopped by the epoch deadline; a host call by this), the event
        // ends here. Dropping the call unwinds the plugin's stack; the
        // instance is then dropped with the call's fallback.
        let result = tokio::time::timeout_at(
            wall_deadline,
            running
                .bindings
                .call_on_event(&mut running.store, &wit_event),
        )
        .await
        .unwrap_or_else(|_| Err(WallLimitExceeded { limit: wall_limit }.into()));

        let state = running.store.data_mut();
        state.collect_output();
        let plugin_time = state.budget.plugin_time();
        let host_time = state.budget.host_time();
        let config = self.sandbox.config().clone();
        let checked = match result {
            Ok(actions) => {
                let actions: Vec<Action> = actions.into_iter().map(Action::from).collect();
                validate_actions(
                    &actions,
                    config.max_actions_per_event,
                    config.max_string_bytes,
                )
                .map(|()| actions)
                .map_err(PluginFailure::from)
            }
            Err(error) => Err(PluginFailure::classify(
                &error,
                state,
                config.wasm_stack_bytes,
            )),
        };
        let gate = state.personal_data.gate().cloned();
        let performed = match checked {
            Ok(actions) => {
                // Messages and tags wait on their audit commit: within the
                // same bound. Past it none of them is performed.
                match tokio::time::timeout_at(
                    wall_deadline,
                    actions::perform(gate.as_ref(), actions),
                )
                .await
                {
                    Ok(performed) => Ok(performed),
                    Err(_) => Err(PluginFailure::classify(
                        &WallLimitExceeded { limit: wall_limit }.into(),
                        running.store.data(),
                        config.wasm_stack_bytes,
                    )),
                }
            }
            Err(failure) => Err(failure),
        };
        let state = running.store.data_mut();
        let outcome = match performed {
            Ok(performed) => {
                for note in performed.notes {
                    state.log.push(crate::sandbox::LogLevel::Warn, note);
                }
                if let Some(gate) = &gate {
                    for action in &performed.actions {
                        if let Action::Say { text } = action {
                            gate.scope.record_line(false, text);
                        }
                    }
                }
                let mut data = state.personal_data.take_uses();
                data.extend(performed.uses);
                let log = state.log.take_new();
                let host_time = state.budget.host_time();
                if matches!(event, CallEvent::Ended { .. }) {
                    self.end_plugin();
                }
                EventOutcome {
                    actions: performed.actions,
                    log,
                    plugin_time,
                    host_time,
                    data,
                    failure: None,
                }
            }
            Err(failure) => {
                // The reason's kind only: its text can quote the plugin's output.
                tracing::warn!(
                    reason = failure.reason(),
                    event = event.kind(),
                    "plugin failed; performing the fallback"
                );
                let data = state.personal_data.take_uses();
                let log = state.log.take_new();
                self.end_plugin();
                self.record.failure = Some(failure.clone());
                EventOutcome {
                    actions: self.options.fallback.clone(),
                    log,
                    plugin_time,
                    host_time,
                    data,
                    failure: Some(failure),
                }
            }
        };
        self.record.data.extend(outcome.data.iter().cloned());
        self.note_actions(&outcome.actions);
        outcome
    }

    /// The outcome for an event that arrives once the plugin is gone.
    fn after_failure(&mut self) -> EventOutcome {
        let owed = std::mem::take(&mut self.fallback_owed);
        let actions = if owed {
            self.options.fallback.clone()
        } else {
            Vec::new()
        };
        self.note_actions(&actions);
        EventOutcome {
            actions,
            log: Vec::new(),
            plugin_time: Duration::ZERO,
            host_time: Duration::ZERO,
            data: Vec::new(),
            failure: if owed {
                self.record.failure.clone()
            } else {
                None
            },
        }
    }

    /// Drops the instance (freeing its pool slot now) and ends the call's
    /// handles, keeping the transcript for the call's record.
    fn end_plugin(&mut self) {
        if let Some(running) = self.running.take()
            && let Some(gate) = running.store.data().personal_data.gate()
        {
            self.record.transcript = gate.scope.transcript();
            gate.scope.end();
        }
    }

    fn note_event(&mut self, event: &CallEvent) {
        self.record.events += 1;
        match event {
            CallEvent::Digits { digits } => self.record.digits.push(digits.clone()),
            CallEvent::Ended { reason } => self.record.end_reason = Some(*reason),
            _ => {}
        }
    }

    fn note_actions(&mut self, actions: &[Action]) {
        for action in actions {
            if let Action::SetDisposition { disposition } = action {
                self.record.disposition = Some(disposition.clone());
            }
        }
        self.record.actions.extend_from_slice(actions);
    }

    /// A tracing span for everything this call does, with its tenant, call id
    /// and plugin when the call has a data scope.
    pub fn span(&self) -> tracing::Span {
        match &self.options.data {
            Some(gate) => {
                let scope = &gate.scope;
                tracing::info_span!(
                    "call",
                    tenant = %scope.tenant,
                    call_id = %scope.call_id,
                    plugin = %scope.audit.plugin,
                    version = %scope.audit.plugin_version,
                )
            }
            None => tracing::info_span!("call"),
        }
    }

    /// Whether the plugin is still alive (not failed, call not ended).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// What happened on the call so far.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }

    /// Ends the call, freeing the instance, and returns what happened.
    pub fn finish(mut self) -> CallRecord {
        self.end_plugin();
        if let Some(gate) = &self.options.data {
            gate.scope.end();
            if self.record.transcript.is_empty() {
                self.record.transcript = gate.scope.transcript();
            }
        }
        self.record
    }
}
