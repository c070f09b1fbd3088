//! `cally simulate`: a scripted call played through the real sandbox, for a
//! tenant developer trying a plugin before uploading it.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditRecord, AuditWriter, Pseudonymizer};
use crate::capabilities::gate::{CallScope, DataGate, DataServices, Declared, TranscriptLine};
use crate::component::{CompiledPlugin, ComponentError, World};
use crate::consent::{Channel, Purpose};
use crate::manifest::Manifest;
use crate::protocol::{CallEvent, CallSummary};
use crate::sandbox::Sandbox;
use crate::session::{
    CallOptions, EventOutcome, FlowInstance, PluginFailure, TagOutcome, TaggerRun,
};
use crate::store::{AuditFilter, AuditStore, Lead, NewConsent, SqliteStore, Store};

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
    /// Occurs when the plugin cannot be started (the wrong world, or no room).
    #[error(transparent)]
    Start(#[from] crate::session::StartError),
    /// Occurs when the simulation's database cannot be prepared.
    #[error("cannot prepare the simulated lead's data: {0}")]
    Data(String),
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
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let script = Self::from_value(value).map_err(bad)?;
        match script.events.first() {
            None => {
                return Err(bad(
                    "the script has no events; the first must be `started`".into()
                ));
            }
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
            event
                .validate()
                .map_err(|e| bad(format!("event {number}: {e}")))?;
            if index > 0 && matches!(event, CallEvent::Started(_)) {
                return Err(bad(format!("event {number}: a call can only start once")));
            }
            if matches!(event, CallEvent::Ended { .. }) && number != script.events.len() {
                return Err(bad(format!(
                    "event {number}: `ended` must be the last event"
                )));
            }
        }
        Ok(script)
    }
}

impl CallScript {
    /// The script in `value`, each event read on its own so that an error
    /// names the event's number, its type and the field that is wrong.
    fn from_value(value: serde_json::Value) -> Result<Self, String> {
        const SHAPE: &str =
            "a call script is a JSON object with one key, `events`: a list of events";
        let serde_json::Value::Object(mut object) = value else {
            return Err(format!("not a valid call script: {SHAPE}"));
        };
        if let Some(unknown) = object.keys().find(|key| *key != "events") {
            return Err(format!(
                "not a valid call script: unknown key `{unknown}`; {SHAPE}"
            ));
        }
        let Some(serde_json::Value::Array(events)) = object.remove("events") else {
            return Err(format!("not a valid call script: {SHAPE}"));
        };
        let events = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                serde_json::from_value::<CallEvent>(event.clone()).map_err(|error| {
                    format!("event {}: {}", index + 1, event_error(&event, &error))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { events })
    }
}

/// Every `type` a call event can have, as scripts spell it.
const EVENT_TYPES: &[&str] = &[
    "started",
    "speech",
    "digits",
    "silence",
    "interrupted",
    "ended",
];

/// What is wrong with `event`, which failed to parse with `error`, naming
/// its type and the field at fault. Serde names a missing or unknown field
/// itself; for a value of the wrong type or spelling it does not, so the
/// field is found by elimination: the one whose removal changes the error.
fn event_error(event: &serde_json::Value, error: &serde_json::Error) -> String {
    let message = error.to_string();
    let Some(object) = event.as_object() else {
        return format!("an event is a JSON object with a `type`, but found {event}");
    };
    let kind = match object.get("type").and_then(serde_json::Value::as_str) {
        Some(kind) if EVENT_TYPES.contains(&kind) => kind,
        Some(kind) => {
            return format!(
                "field `type`: {kind:?} is not an event type; expected one of {}",
                EVENT_TYPES.join(", ")
            );
        }
        None => {
            return format!(
                "field `type` is missing or not a string; expected one of {}",
                EVENT_TYPES.join(", ")
            );
        }
    };
    if message.contains("field `") {
        return format!("`{kind}`: {message}");
    }
    let culprit = object.keys().filter(|key| *key != "type").find(|key| {
        let mut without = object.clone();
        without.remove(*key);
        serde_json::from_value::<CallEvent>(serde_json::Value::Object(without))
            .err()
            .is_none_or(|other| other.to_string() != message)
    });
    match culprit {
        Some(field) => format!("`{kind}`: field `{field}`: {message}"),
        None => format!("`{kind}`: {message}"),
    }
}

/// A call summary for a lead tagger, with the call's transcript if the file gives one.
#[derive(Debug, Clone)]
pub struct SummaryInput {
    /// The summary.
    pub summary: CallSummary,
    /// The call's transcript (`"transcript": [{"speaker": "caller", "text": ".."}]`).
    pub transcript: Vec<TranscriptLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnInput {
    speaker: Speaker,
    text: String,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Speaker {
    Caller,
    Agent,
}

/// Parses a call summary for a lead tagger; `source_name` names it in errors.
pub fn parse_summary(text: &str, source_name: &str) -> Result<SummaryInput, SimulateError> {
    let bad = |message: String| SimulateError::BadInput {
        source_name: source_name.to_owned(),
        message,
    };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let turns = value
        .as_object_mut()
        .and_then(|object| object.remove("transcript"));
    let summary: CallSummary =
        serde_json::from_value(value).map_err(|e| bad(format!("not a valid call summary: {e}")))?;
    summary
        .check_ids()
        .map_err(|e| bad(format!("not a valid call summary: {e}")))?;
    let transcript = match turns {
        None => Vec::new(),
        Some(turns) => serde_json::from_value::<Vec<TurnInput>>(turns)
            .map_err(|e| bad(format!("transcript: {e}")))?
            .into_iter()
            .map(|turn| TranscriptLine {
                caller: turn.speaker == Speaker::Caller,
                text: turn.text,
            })
            .collect(),
    };
    Ok(SummaryInput {
        summary,
        transcript,
    })
}

/// The tenant simulated calls belong to.
pub const SIMULATION_TENANT: &str = "simulation";

/// A lead record and its consents, as `cally simulate --lead` reads them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadFixture {
    /// The lead's record (`lead_id`, `name`, `phone`, ..., `age`, `restricted`).
    pub lead: serde_json::Map<String, serde_json::Value>,
    /// The consents on record.
    #[serde(default)]
    pub consents: Vec<ConsentFixture>,
}

/// One consent of a [`LeadFixture`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFixture {
    /// What it allows.
    pub purpose: Purpose,
    /// The channel it covers, for messages.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// When it was given.
    pub granted_at_ms: i64,
    /// When it lapses.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    /// When it was withdrawn.
    #[serde(default)]
    pub withdrawn_at_ms: Option<i64>,
    /// Where it was collected.
    pub source: String,
    /// The evidence kept.
    pub evidence: String,
    /// A verifiable parental consent.
    #[serde(default)]
    pub parental: bool,
}

impl LeadFixture {
    /// Parses a lead fixture; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, SimulateError> {
        serde_json::from_str(text).map_err(|e| SimulateError::BadInput {
            source_name: source_name.to_owned(),
            message: format!("not a valid lead fixture: {e}"),
        })
    }

    fn lead(&self, source_name: &str) -> Result<Lead, SimulateError> {
        let bad = |message: String| SimulateError::BadInput {
            source_name: source_name.to_owned(),
            message: format!("lead: {message}"),
        };
        let mut record = self.lead.clone();
        record.insert("tenant".into(), SIMULATION_TENANT.into());
        let lead: Lead = serde_json::from_value(serde_json::Value::Object(record))
            .map_err(|e| bad(e.to_string()))?;
        crate::ids::check_id("lead_id", &lead.lead_id).map_err(|e| bad(e.to_string()))?;
        Ok(lead)
    }
}

/// A real store, audit writer and pseudonym key for a simulated call, in a
/// directory of its own (temporary unless the developer keeps it).
pub struct SimulationData {
    /// The services a call's data gate uses.
    pub services: Arc<DataServices>,
    /// The simulated lead.
    pub lead_id: String,
    /// The audit log the simulation's records go to, for the trace.
    audit_log: Arc<dyn AuditStore>,
    _temporary: Option<tempfile::TempDir>,
}

impl SimulationData {
    /// Stores `fixture` (from `source_name`) in `data_dir`, or in a temporary
    /// directory removed afterwards.
    pub async fn prepare(
        fixture: &LeadFixture,
        source_name: &str,
        data_dir: Option<&Path>,
    ) -> Result<Self, SimulateError> {
        let lead = fixture.lead(source_name)?;
        let data = |e: &dyn std::fmt::Display| SimulateError::Data(e.to_string());
        let temporary = match data_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().map_err(|e| data(&e))?),
        };
        let dir = data_dir
            .or(temporary.as_ref().map(|t| t.path()))
            .expect("a directory");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).await.map_err(|e| data(&e))?);
        store
            .ensure_tenant(SIMULATION_TENANT)
            .await
            .map_err(|e| data(&e))?;
        store.upsert_lead(&lead).await.map_err(|e| data(&e))?;
        for consent in &fixture.consents {
            let granted = store
                .grant_consent(&NewConsent {
                    tenant: SIMULATION_TENANT.into(),
                    lead_id: lead.lead_id.clone(),
                    purpose: consent.purpose,
                    channel: consent.channel,
                    granted_at_ms: consent.granted_at_ms,
                    expires_at_ms: consent.expires_at_ms,
                    source: consent.source.clone(),
                    evidence: consent.evidence.clone(),
                    parental: consent.parental,
                })
                .await
                .map_err(|e| data(&e))?;
            if let Some(at) = consent.withdrawn_at_ms {
                store
                    .withdraw_consent(SIMULATION_TENANT, granted.id, at)
                    .await
                    .map_err(|e| data(&e))?;
            }
        }
        let pseudonyms = Pseudonymizer::load_or_create(dir).map_err(|e| data(&e))?;
        let audit = AuditWriter::spawn(store.clone());
        Ok(Self {
            services: Arc::new(DataServices::new(store.clone(), audit, pseudonyms)),
            audit_log: store,
            lead_id: lead.lead_id,
            _temporary: temporary,
        })
    }

    /// The data gate of call `call_id` for `plugin`, declared by `manifest`.
    pub fn gate(
        &self,
        call_id: &str,
        plugin: &CompiledPlugin,
        manifest: Option<&Manifest>,
    ) -> DataGate {
        let (name, version, purpose, declared) = match manifest {
            Some(m) => (
                m.name.clone(),
                m.version.to_string(),
                m.purpose,
                Declared::from_manifest(m),
            ),
            None => (
                "unnamed-plugin".to_owned(),
                "0.0.0".to_owned(),
                match plugin.world() {
                    World::CallFlow => Purpose::CallHandling,
                    World::LeadTagger => Purpose::CrmTagging,
                },
                Declared::nothing(),
            ),
        };
        let scope = CallScope::new(
            &self.services,
            SIMULATION_TENANT,
            call_id,
            Some(self.lead_id.clone()),
            (&name, &version, &plugin.digest.to_string()),
            purpose,
            declared,
            Some(format!("recording-of-{call_id}")),
        );
        DataGate {
            services: self.services.clone(),
            scope: Arc::new(scope),
        }
    }

    /// Every audit record the simulation wrote.
    pub async fn audit_records(&self) -> Result<Vec<AuditRecord>, SimulateError> {
        self.audit_log
            .audit_records(SIMULATION_TENANT, &AuditFilter::default())
            .await
            .map_err(|e| SimulateError::Data(e.to_string()))
    }
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
    /// The audit records the call produced (with `--lead`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditRecord>,
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
    /// The audit records the run produced (with `--lead`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditRecord>,
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
        audit: Vec::new(),
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
        audit: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_must_start_with_started() {
        let err =
            CallScript::parse(r#"{"events": [{"type": "interrupted"}]}"#, "call.json").unwrap_err();
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
        assert!(
            err.to_string()
                .starts_with("call.json: event 2: invalid call event: digits"),
            "{err}"
        );
    }

    #[test]
    fn ended_must_be_last() {
        let text = r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "ended", "reason": "caller_hung_up"},
            {"type": "interrupted"}
        ]}"#;
        let err = CallScript::parse(text, "s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s: event 2: `ended` must be the last event"
        );
    }

    #[test]
    fn ids_outside_the_grammar_are_refused_by_name() {
        for call_id in ["-", "--", "a\\u0000b", "a\\nb", "=HYPERLINK(1)"] {
            let text = format!(
                r#"{{"events": [{{"type": "started", "call_id": "{call_id}", "direction": "inbound", "locale": "en-US"}}]}}"#
            );
            let err = CallScript::parse(&text, "call.json")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("call.json: event 1: invalid call event: started: call_id "),
                "{call_id}: {err}"
            );
        }
        let summary = r#"{"call_id": "c\nERROR forged", "direction": "inbound",
            "duration_ms": 1, "end_reason": "caller_hung_up"}"#;
        let err = parse_summary(summary, "summary.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("summary.json: not a valid call summary: call_id \"c\\nERROR forged\""),
            "{err}"
        );
        let fixture = LeadFixture::parse(
            r#"{"lead": {"lead_id": "--", "age": "adult"}}"#,
            "lead.json",
        )
        .unwrap();
        let err = fixture.lead("lead.json").unwrap_err().to_string();
        assert!(err.starts_with("lead.json: lead: lead_id \"--\""), "{err}");
    }

    #[test]
    fn an_unknown_event_type_is_named_with_the_known_ones() {
        let err = CallScript::parse(r#"{"events": [{"type": "dance"}]}"#, "s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s: event 1: field `type`: \"dance\" is not an event type; expected one of started, speech, digits, silence, interrupted, ended"
        );
    }

    /// The script of `events`, after a valid `started`.
    fn after_started(events: &str) -> String {
        format!(
            r#"{{"events": [
            {{"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"}},
            {events}
        ]}}"#
        )
    }

    #[test]
    fn a_parse_error_names_the_file_the_event_and_the_field() {
        let cases = [
            (
                r#"{"type": "started", "call_id": "c1", "direction": "inbound"}"#.to_owned(),
                "call.json: event 1: `started`: missing field `locale`",
            ),
            (
                after_started(r#"{"type": "silence", "ms": "5000"}"#),
                "call.json: event 2: `silence`: field `ms`: invalid type: string \"5000\", expected u32",
            ),
            (
                after_started(r#"{"type": "ended", "reason": "hung_up"}"#),
                "call.json: event 2: `ended`: field `reason`: unknown variant `hung_up`",
            ),
            (
                after_started(
                    r#"{"type": "speech", "text": "hi", "confidence": 0.5, "final": "yes"}"#,
                ),
                "call.json: event 2: `speech`: field `final`: invalid type: string \"yes\", expected a boolean",
            ),
            (
                after_started(r#"{"type": "digits", "digits": "1", "extra": 1}"#),
                "call.json: event 2: `digits`: unknown field `extra`",
            ),
        ];
        for (text, expected) in cases {
            let text = if text.starts_with("{\"type\"") {
                format!(r#"{{"events": [{text}]}}"#)
            } else {
                text
            };
            let err = CallScript::parse(&text, "call.json")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err}\nexpected: {expected}");
            assert!(!err.contains("line 1 column"), "{err}");
        }
    }

    #[test]
    fn the_script_shape_is_named() {
        let err = CallScript::parse(r#"{"event": []}"#, "s").unwrap_err();
        assert!(err.to_string().contains("unknown key `event`"), "{err}");
        let err = CallScript::parse("[1]", "s").unwrap_err();
        assert!(err.to_string().contains("one key, `events`"), "{err}");
        let err = CallScript::parse("{", "s").unwrap_err();
        assert!(err.to_string().starts_with("s: not valid JSON: "), "{err}");
    }
}
