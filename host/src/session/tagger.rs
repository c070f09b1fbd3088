//! A lead-tagger plugin run once for a finished call.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{CallOptions, PluginFailure, StartError, WallLimitExceeded};
use crate::capabilities::actions;
use crate::capabilities::gate::DataUse;
use crate::component::{CompiledPlugin, ComponentError, PluginPre, World};
use crate::protocol::Action;
use crate::protocol::{CallSummary, validate_tags};
use crate::sandbox::{LogLine, Sandbox};

/// What a lead tagger made of a call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagOutcome {
    /// The tags the plugin returned (valid ones only); empty if it failed.
    pub tags: Vec<String>,
    /// The tags written to the lead: those the data gate allowed. Empty when
    /// the call has no lead.
    pub written: Vec<String>,
    /// Every use of personal data: transcript and lead reads, and each tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataUse>,
    /// Log lines the plugin wrote.
    pub log: Vec<LogLine>,
    /// CPU time the plugin's own code used, instantiation included.
    #[serde(rename = "plugin_time_us", serialize_with = "super::micros")]
    #[schema(value_type = u64)]
    pub plugin_time: Duration,
    /// Why the plugin failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure: Option<PluginFailure>,
}

/// Runs lead-tagger plugins: a fresh instance per finished call.
pub struct TaggerRun;

impl TaggerRun {
    /// Instantiates `plugin`, hands it `summary` and checks the tags it returns;
    /// each tag then goes through the data gate (declared, consent for the
    /// purpose, never for a minor) and is written and audited, or dropped.
    /// A failing tagger yields no tags and the reason; it never fails the host.
    /// The call's transcript is what `options.data`'s scope holds. The run,
    /// instantiation and tag writes included, ends within the host's
    /// wall-clock limit for one event. When the tenant or the host has no
    /// room for another instance, nothing runs: [`StartError::Busy`].
    pub async fn run(
        sandbox: Arc<Sandbox>,
        plugin: &CompiledPlugin,
        options: &CallOptions,
        summary: &CallSummary,
    ) -> Result<TagOutcome, StartError> {
        let PluginPre::LeadTagger(pre) = &plugin.pre else {
            return Err(ComponentError::WrongWorld {
                expected: World::LeadTagger,
                found: plugin.world(),
            }
            .into());
        };
        let config = sandbox.config();
        let _admission = super::admit(&sandbox, options)?;
        let mut store = super::call_store(&sandbox, options);
        let wall_limit = config.event_wall_limit;
        let wall_deadline = tokio::time::Instant::now() + wall_limit;
        let wall_exceeded = || WallLimitExceeded { limit: wall_limit }.into();

        let run = async {
            let bindings = pre.instantiate_async(&mut store).await?;
            bindings.call_tag_call(&mut store, &summary.into()).await
        };
        let result = tokio::time::timeout_at(wall_deadline, run)
            .await
            .unwrap_or_else(|_| Err(wall_exceeded()));
        let state = store.data_mut();
        state.collect_output();
        let plugin_time = state.budget.plugin_time();
        let checked = match result {
            Ok(tags) => validate_tags(&tags, config.max_actions_per_event)
                .map(|()| tags)
                .map_err(PluginFailure::from),
            Err(error) => Err(PluginFailure::classify(
                &error,
                state,
                config.wasm_stack_bytes,
            )),
        };
        let mut data = state.personal_data.take_uses();
        let (tags, written, failure) = match checked {
            Ok(tags) => {
                let proposed = tags
                    .iter()
                    .cloned()
                    .map(|tag| Action::TagLead { tag })
                    .collect();
                let performed = tokio::time::timeout_at(
                    wall_deadline,
                    actions::perform(options.data.as_ref(), proposed),
                )
                .await;
                let state = store.data_mut();
                let Ok(performed) = performed else {
                    let failure =
                        PluginFailure::classify(&wall_exceeded(), state, config.wasm_stack_bytes);
                    return Ok(Self::failed(options, state, data, plugin_time, failure));
                };
                data.extend(performed.uses);
                for note in performed.notes {
                    state.log.push(crate::sandbox::LogLevel::Warn, note);
                }
                let written = performed
                    .actions
                    .into_iter()
                    .filter_map(|action| match action {
                        Action::TagLead { tag } => Some(tag),
                        _ => None,
                    })
                    .collect();
                (tags, written, None)
            }
            Err(failure) => {
                // The reason's kind only: its text can quote the plugin's output.
                tracing::warn!(
                    reason = failure.reason(),
                    "lead tagger failed; no tags written"
                );
                (Vec::new(), Vec::new(), Some(failure))
            }
        };
        if let Some(gate) = &options.data {
            gate.scope.end();
        }
        let log = store.data_mut().log.take_new();
        Ok(TagOutcome {
            tags,
            written,
            data,
            log,
            plugin_time,
            failure,
        })
    }

    /// The outcome of a run that failed after the plugin returned: no tags.
    fn failed(
        options: &CallOptions,
        state: &mut crate::sandbox::PluginState,
        data: Vec<DataUse>,
        plugin_time: Duration,
        failure: PluginFailure,
    ) -> TagOutcome {
        tracing::warn!(
            reason = failure.reason(),
            "lead tagger failed; no tags written"
        );
        if let Some(gate) = &options.data {
            gate.scope.end();
        }
        TagOutcome {
            tags: Vec::new(),
            written: Vec::new(),
            data,
            log: state.log.take_new(),
            plugin_time,
            failure: Some(failure),
        }
    }
}
