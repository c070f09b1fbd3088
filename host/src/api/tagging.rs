//! Lead taggers run when a call ends: every active `lead-tagger` plugin of the
//! tenant gets the call's summary and, through its own data gate, the call's
//! transcript; its tags go through the same checks as any tag (declared in its
//! manifest, consent for its purpose, never for a minor) and are written and
//! audited, or dropped.

use std::sync::Arc;

use serde::Serialize;

use super::registry::RegistryError;
use super::{ApiError, ApiHost};
use crate::capabilities::gate::{CallScope, DataGate, Declared};
use crate::component::World;
use crate::protocol::{CallSummary, Direction, EndReason};
use crate::session::{CallOptions, CallRecord, TagOutcome, TaggerRun};

/// What one lead tagger made of a finished call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaggerResult {
    /// The lead tagger.
    pub plugin: String,
    /// Its active version.
    pub plugin_version: String,
    /// Its tags, what was written, its data uses and failure if any.
    #[serde(flatten)]
    pub outcome: TagOutcome,
}

/// What the platform told us about a call when it started, for its summary.
#[derive(Debug, Clone)]
pub struct CallFacts {
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign.
    pub campaign: Option<String>,
    /// When the call started (host clock, ms).
    pub started_at_ms: u64,
}

/// The summary a lead tagger receives for a finished call.
pub fn summary(
    call_id: &str,
    facts: &CallFacts,
    record: &CallRecord,
    ended_at_ms: u64,
) -> CallSummary {
    CallSummary {
        call_id: call_id.to_owned(),
        direction: facts.direction,
        campaign: facts.campaign.clone(),
        duration_ms: ended_at_ms.saturating_sub(facts.started_at_ms),
        end_reason: record.end_reason.unwrap_or(if record.failure.is_some() {
            EndReason::PluginFailed
        } else {
            EndReason::CallerHungUp
        }),
        disposition: record.disposition.clone(),
        digits: record.digits.clone(),
        event_count: record.events,
    }
}

/// Runs every active lead tagger of `tenant` on the finished call with
/// `lead_id`, adding each one's result to `results`; a tagger already in
/// `results` (from an earlier try) is not run again. A tagger that fails
/// yields no tags and its reason; it never fails the call's end. When there
/// is no room to start a tagger now, the answer is `503 busy` and `results`
/// keeps what ran, so a retry runs only the rest.
pub async fn run_lead_taggers(
    host: &ApiHost,
    tenant: &str,
    lead_id: &str,
    summary: &CallSummary,
    record: &CallRecord,
    results: &mut Vec<TaggerResult>,
) -> Result<(), ApiError> {
    for plugin in host.registry.list(tenant).await? {
        if plugin.active_version.is_none() || results.iter().any(|r| r.plugin == plugin.name) {
            continue;
        }
        let version = match host.registry.active(tenant, &plugin.name).await {
            Ok(version) => version,
            // A refused version never runs; the refusal was logged when it was loaded.
            Err(RegistryError::Refused(_)) => continue,
            Err(other) => return Err(other.into()),
        };
        let manifest = &version.manifest;
        if manifest.world != World::LeadTagger {
            continue;
        }
        let compiled = host.registry.compiled(&version).await?;
        let sandbox = host.cache.sandbox().clone();
        let plugin_version = manifest.version.to_string();
        let digest = compiled.digest.to_string();
        let scope = CallScope::new(
            &host.services,
            tenant,
            &summary.call_id,
            Some(lead_id.to_owned()),
            (&manifest.name, &plugin_version, &digest),
            manifest.purpose,
            Declared::from_manifest(manifest),
            None,
        );
        scope.set_transcript(record.transcript.clone());
        let mut options = CallOptions::new(manifest.plugin_limits(sandbox.config())?);
        options.data = Some(DataGate {
            services: host.services.clone(),
            scope: Arc::new(scope),
        });
        let outcome = TaggerRun::run(sandbox, &compiled, &options, summary).await?;
        tracing::info!(tenant, call_id = %summary.call_id, plugin = %manifest.name, tags = outcome.written.len(), "lead tagger ran");
        results.push(TaggerResult {
            plugin: manifest.name.clone(),
            plugin_version,
            outcome,
        });
    }
    Ok(())
}
