//! `cally simulate`: a scripted call played through the real sandbox, for a
//! tenant developer trying a plugin before uploading it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::component::{CompiledPlugin, ComponentError, World};
use crate::protocol::{CallEvent, CallSummary};
use crate::sandbox::Sandbox;
use crate::session::{CallOptions, EventOutcome, FlowInstance, PluginFailure, TagOutcome, TaggerRun};

/// Occurs when a simulation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// Occurs when a call script or summary is not valid JSON of the expected shape.
    #[error("{source_name}: {message}")]
    BadInput {
        /// Where the input came from, such as its file name.
        source_name: String,
        /// What is wrong with it.
        message: String,
    },
    /// Occurs when the component cannot be loaded or targets the wrong world.
    #[error(transparent)]
    Component(#[from] ComponentError),
}

/// A scripted call: the events the platform would send, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallScript {
    /// The events, beginning with `started`.
    pub events: Vec<CallEvent>,
}

impl CallScript {
    /// Parses and checks a call script; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, SimulateError> {
        let bad = |message: String| SimulateError::BadInput {
            source_name: source_name.to_owned(),
            message,
        };
        let script: CallScript =
            serde_json::from_str(text).map_err(|e| bad(format!("not a valid call script: {e}")))?;
        match script.events.first() {
            None => return Err(bad("the script has no events; the first must be `started`".into())),
            Some(CallEvent::Started(_)) => {}
            Some(other) => {
                return Err(bad(format!(
                    "event 1 is `{}`, but a call must begin with `started`",
                    other.kind()
                )));
            }
        }
        for (index, event) in script.events.iter().enumerate() {
            let number = index + 1;
            event.validate().map_err(|e| bad(format!("event {number}: {e}")))?;
            if index > 0 && matches!(event, CallEvent::Started(_)) {
                return Err(bad(format!("event {number}: a call can only start once")));
            }
            if matches!(event, CallEvent::Ended { .. }) && number != script.events.len() {
                return Err(bad(format!("event {number}: `ended` must be the last event")));
            }
        }
        Ok(script)
    }
}

/// Parses a call summary for a lead tagger; `source_name` names it in errors.
pub fn parse_summary(text: &str, source_name: &str) -> Result<CallSummary, SimulateError> {
    serde_json::from_str(text).map_err(|e| SimulateError::BadInput {
        source_name: source_name.to_owned(),
        message: format!("not a valid call summary: {e}"),
    })
}

/// One event of a simulated call and what the plugin made of it.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    /// The event's position in the script, from 1.
    pub number: usize,
    /// The event.
    pub event: CallEvent,
    /// The plugin's actions, log lines, timings and failure if any.
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// The trace of a simulated call.
#[derive(Debug, Clone, Serialize)]
pub struct CallTrace {
    /// The component's digest.
    pub component: String,
    /// Always `call-flow`.
    pub world: World,
    /// Each event in order.
    pub steps: Vec<TraceStep>,
    /// Why the plugin failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<PluginFailure>,
}

/// The trace of a simulated lead-tagger run.
#[derive(Debug, Clone, Serialize)]
pub struct TaggerTrace {
    /// The component's digest.
    pub component: String,
    /// Always `lead-tagger`.
    pub world: World,
    /// The summary the plugin was given.
    pub summary: CallSummary,
    /// What it returned.
    #[serde(flatten)]
    pub outcome: TagOutcome,
}

/// Plays `script` through a fresh instance of `plugin`, exactly as a live call would.
pub async fn run_call(
    sandbox: Arc<Sandbox>,
    plugin: &CompiledPlugin,
    script: &CallScript,
    options: CallOptions,
) -> Result<CallTrace, SimulateError> {
    let mut instance = FlowInstance::start(sandbox, plugin, options).await?;
    let mut steps = Vec::with_capacity(script.events.len());
    for (index, event) in script.events.iter().enumerate() {
        let outcome = instance.handle(event).await;
        steps.push(TraceStep {
            number: index + 1,
            event: event.clone(),
            outcome,
        });
    }
    let record = instance.finish();
    Ok(CallTrace {
        component: plugin.digest.to_string(),
        world: World::CallFlow,
        steps,
        failure: record.failure,
    })
}

/// Runs a lead tagger on `summary`.
pub async fn run_tagger(
    sandbox: Arc<Sandbox>,
    plugin: &CompiledPlugin,
    summary: &CallSummary,
    options: &CallOptions,
) -> Result<TaggerTrace, SimulateError> {
    let outcome = TaggerRun::run(sandbox, plugin, options, summary).await?;
    Ok(TaggerTrace {
        component: plugin.digest.to_string(),
        world: World::LeadTagger,
        summary: summary.clone(),
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_must_start_with_started() {
        let err = CallScript::parse(r#"{"events": [{"type": "interrupted"}]}"#, "call.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "call.json: event 1 is `interrupted`, but a call must begin with `started`"
        );
    }

    #[test]
    fn a_bad_event_is_named_by_number() {
        let text = r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "digits", "digits": "9x"}
        ]}"#;
        let err = CallScript::parse(text, "call.json").unwrap_err();
        assert!(err.to_string().starts_with("call.json: event 2: invalid call event: digits"), "{err}");
    }

    #[test]
    fn ended_must_be_last() {
        let text = r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "ended", "reason": "caller_hung_up"},
            {"type": "interrupted"}
        ]}"#;
        let err = CallScript::parse(text, "s").unwrap_err();
        assert_eq!(err.to_string(), "s: event 2: `ended` must be the last event");
    }

    #[test]
    fn unknown_event_type_is_reported_by_serde() {
        let err = CallScript::parse(r#"{"events": [{"type": "dance"}]}"#, "s").unwrap_err();
        assert!(err.to_string().contains("unknown variant `dance`"), "{err}");
    }
}
