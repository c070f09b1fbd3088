//! Retention: each tenant's policy says how many days ended calls (with their
//! stored results) and the message log (outbox rows) are kept; a purge deletes
//! exactly what is older than that, on demand (`POST /v1/retention/purge`) and
//! on a schedule inside `cally serve` ([`Schedule`]).
//!
//! Every purge run of a tenant appends ONE audit record through the
//! [`crate::audit::AuditWriter`], so the tenant's chain stays valid: plugin
//! [`AUDIT_ACTOR`], call id `retention-purge:<trigger>`, no lead, and the
//! resource naming what was removed, such as `retention:calls>30d=3,messages>90d=0`
//! (a kind the policy does not limit is left out). Audit records themselves are
//! never purged: they hold pseudonyms, not personal data.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::audit::{AuditDecision, AuditEntry, AuditError};
use crate::capabilities::gate::DataServices;
use crate::consent::Purpose;
use crate::store::{PurgeCounts, RetentionPolicy, StoreError};

/// One day in milliseconds: the policy's unit.
pub const DAY_MS: i64 = 86_400_000;

/// The longest limit a policy may set, in days (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// How often `cally serve` purges by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// The `plugin` of a purge's audit record: the host's retention task, a name
/// no plugin can have (plugin names are kebab-case).
pub const AUDIT_ACTOR: &str = "cally:retention";

/// What started a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A tenant admin's `POST /v1/retention/purge`.
    OnDemand,
    /// The schedule inside `cally serve`.
    Scheduled,
}

impl Trigger {
    /// `on-demand` or `scheduled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::OnDemand => "on-demand",
            Trigger::Scheduled => "scheduled",
        }
    }
}

/// What a purge did to one kind of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KindPurge {
    /// The policy's limit, in days.
    pub limit_days: u32,
    /// Rows older than this (ms since the Unix epoch) were removed.
    pub cutoff_ms: i64,
    /// How many were removed.
    pub removed: u64,
}

/// One purge run of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    /// The tenant.
    pub tenant: String,
    /// When it ran (host clock).
    pub run_at_ms: i64,
    /// What started it.
    pub trigger: Trigger,
    /// Ended calls and their stored results; `None` if the policy keeps them.
    pub calls: Option<KindPurge>,
    /// Outbox rows; `None` if the policy keeps them.
    pub messages: Option<KindPurge>,
    /// The sequence number of the run's audit record in the tenant's chain.
    pub audit_seq: i64,
}

/// Occurs when a purge fails.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// Occurs when the store cannot delete; nothing was removed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Occurs when the rows were removed but the audit record could not be made
    /// durable (the error is logged; the next run is audited as usual).
    #[error("removed {} calls and {} messages of tenant '{tenant}', but could not audit it: {source}", .counts.calls, .counts.messages)]
    Audit {
        /// The tenant.
        tenant: String,
        /// What was removed.
        counts: PurgeCounts,
        /// Why the record could not be written.
        #[source]
        source: AuditError,
    },
}

/// The cutoff for a limit of `days` at `now_ms`: rows strictly older go.
pub fn cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms - i64::from(days) * DAY_MS
}

/// The audit resource naming what a run removed, such as
/// `retention:calls>30d=3,messages>90d=0`.
pub fn audit_resource(calls: Option<KindPurge>, messages: Option<KindPurge>) -> String {
    let parts: Vec<String> = [("calls", calls), ("messages", messages)]
        .into_iter()
        .filter_map(|(kind, purge)| {
            purge.map(|p| format!("{kind}>{}d={}", p.limit_days, p.removed))
        })
        .collect();
    format!("retention:{}", parts.join(","))
}

/// Purges what `policy` says is older than its limits at `now_ms`, and audits
/// the run with one record.
pub async fn purge(
    services: &DataServices,
    policy: &RetentionPolicy,
    now_ms: i64,
    trigger: Trigger,
) -> Result<PurgeReport, PurgeError> {
    let tenant = policy.tenant.as_str();
    let calls_cutoff = policy.calls_days.map(|d| cutoff(now_ms, d));
    let messages_cutoff = policy.messages_days.map(|d| cutoff(now_ms, d));
    let counts = services
        .retention
        .purge_before(tenant, calls_cutoff, messages_cutoff)
        .await?;
    let kind = |days: Option<u32>, cutoff_ms: Option<i64>, removed| {
        Some(KindPurge {
            limit_days: days?,
            cutoff_ms: cutoff_ms?,
            removed,
        })
    };
    let calls = kind(policy.calls_days, calls_cutoff, counts.calls);
    let messages = kind(policy.messages_days, messages_cutoff, counts.messages);
    let entry = AuditEntry {
        tenant: tenant.to_owned(),
        time_ms: now_ms,
        plugin: AUDIT_ACTOR.to_owned(),
        plugin_version: env!("CARGO_PKG_VERSION").to_owned(),
        component_digest: "-".to_owned(),
        call_id: format!("retention-purge:{}", trigger.as_str()),
        lead: None,
        resource: audit_resource(calls, messages),
        // The audit log's vocabulary has no retention purpose; call handling is
        // what calls and their messages were kept for.
        purpose: Purpose::CallHandling.into(),
        decision: AuditDecision::Allowed,
        reason: None,
        consent_id: None,
        actor: None,
    };
    let record = services
        .audit
        .append_one(entry)
        .await
        .map_err(|source| PurgeError::Audit {
            tenant: tenant.to_owned(),
            counts,
            source,
        })?;
    tracing::info!(
        tenant,
        trigger = trigger.as_str(),
        calls = counts.calls,
        messages = counts.messages,
        audit_seq = record.seq,
        "retention purge"
    );
    Ok(PurgeReport {
        tenant: tenant.to_owned(),
        run_at_ms: now_ms,
        trigger,
        calls,
        messages,
        audit_seq: record.seq,
    })
}

/// Purges every tenant that has a policy (one audited run each); a tenant's
/// failure is logged and does not stop the others. Returns the reports.
pub async fn purge_all(services: &DataServices, now_ms: i64) -> Vec<PurgeReport> {
    let policies = match services.retention.retention_policies().await {
        Ok(policies) => policies,
        Err(error) => {
            tracing::error!(%error, "retention purge: cannot read the policies");
            return Vec::new();
        }
    };
    let mut reports = Vec::with_capacity(policies.len());
    for policy in &policies {
        match purge(services, policy, now_ms, Trigger::Scheduled).await {
            Ok(report) => reports.push(report),
            Err(error) => {
                tracing::error!(tenant = %policy.tenant, %error, "retention purge failed")
            }
        }
    }
    reports
}

/// The scheduled purge inside `cally serve`: [`purge_all`] every interval,
/// the first one interval after the start, until [`Schedule::stop`].
pub struct Schedule {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Schedule {
    /// Starts purging every `every` on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, or if `every` is zero.
    pub fn start(services: Arc<DataServices>, every: Duration) -> Schedule {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        purge_all(&services, crate::clock::now_ms()).await;
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Schedule { stop, task }
    }

    /// Stops the schedule, waiting for a purge under way to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_names_each_limited_kind_with_its_count() {
        let calls = KindPurge {
            limit_days: 30,
            cutoff_ms: 0,
            removed: 3,
        };
        let messages = KindPurge {
            limit_days: 90,
            cutoff_ms: 0,
            removed: 0,
        };
        assert_eq!(
            audit_resource(Some(calls), Some(messages)),
            "retention:calls>30d=3,messages>90d=0"
        );
        assert_eq!(
            audit_resource(None, Some(messages)),
            "retention:messages>90d=0"
        );
        assert_eq!(cutoff(10 * DAY_MS, 3), 7 * DAY_MS);
    }
}
