//! A lead-tagger plugin run once for a finished call.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{CallOptions, PluginFailure};
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
    /// Wall-clock time the plugin's own code ran, instantiation included.
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
    /// The call's transcript is what `options.data`'s scope holds.
    pub async fn run(
        sandbox: Arc<Sandbox>,
        plugin: &CompiledPlugin,
        options: &CallOptions,
        summary: &CallSummary,
    ) -> Result<TagOutcome, ComponentError> {
        let PluginPre::LeadTagger(pre) = &plugin.pre else {
            return Err(ComponentError::WrongWorld {
                expected: World::LeadTagger,
                found: plugin.world(),
            });
        };
        let config = sandbox.config();
        let mut store = super::call_store(&sandbox, options);

        let result = match pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings.call_tag_call(&mut store, &summary.into()).await,
            Err(error) => Err(error),
        };
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
                let performed = actions::perform(options.data.as_ref(), proposed).await;
                data.extend(performed.uses);
                let state = store.data_mut();
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
                tracing::warn!(%failure, "lead tagger failed; no tags written");
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
}
