//! The platform limits whoever runs `cally serve` may set: the pool size, the
//! hard wall-clock bound on an event, the host's memory budget, the
//! per-tenant caps and the host-call caps per event.

use std::time::Duration;

use crate::sandbox::{LimitError, SandboxConfig};

/// Flags for the sandbox's platform limits; each unset one keeps its default.
#[derive(Debug, Default, clap::Args)]
pub struct SandboxArgs {
    /// Plugin instances alive at once on this host (the pool size) [default: 4096].
    #[arg(long, env = "CALLY_MAX_CONCURRENT_CALLS")]
    max_concurrent_calls: Option<u32>,
    /// The hard wall-clock bound on one event, plugin and host time together,
    /// in ms; at most 10000 [default: 1000].
    #[arg(long, env = "CALLY_EVENT_WALL_LIMIT_MS")]
    event_wall_limit_ms: Option<u64>,
    /// MiB of plugin memory all live instances may reserve together
    /// [default: three quarters of physical memory].
    #[arg(long, env = "CALLY_MEMORY_BUDGET_MIB")]
    memory_budget_mib: Option<u64>,
    /// Live plugin instances one tenant may have [default: 1024].
    #[arg(long, env = "CALLY_MAX_INSTANCES_PER_TENANT")]
    max_instances_per_tenant: Option<u32>,
    /// MiB of plugin memory one tenant's instances may reserve together
    /// [default: a quarter of the memory budget].
    #[arg(long, env = "CALLY_MEMORY_PER_TENANT_MIB")]
    memory_per_tenant_mib: Option<u64>,
    /// Calls through the data gate one event may make [default: 256].
    #[arg(long, env = "CALLY_MAX_HOST_CALLS_PER_EVENT")]
    max_host_calls_per_event: Option<u32>,
    /// Audited data uses one event may make [default: 64].
    #[arg(long, env = "CALLY_MAX_AUDITED_USES_PER_EVENT")]
    max_audited_uses_per_event: Option<u32>,
}

impl SandboxArgs {
    /// The sandbox configuration: the defaults with each given flag applied,
    /// checked against the platform's bounds.
    pub fn config(&self) -> Result<SandboxConfig, LimitError> {
        let mut config = SandboxConfig::default();
        if let Some(calls) = self.max_concurrent_calls {
            config.max_concurrent_calls = calls;
        }
        if let Some(ms) = self.event_wall_limit_ms {
            config.event_wall_limit = Duration::from_millis(ms);
        }
        if let Some(mib) = self.memory_budget_mib {
            config.memory_budget_bytes = mib.saturating_mul(1 << 20);
            if self.memory_per_tenant_mib.is_none() {
                config.max_memory_per_tenant_bytes = config.memory_budget_bytes / 4;
            }
        }
        if let Some(instances) = self.max_instances_per_tenant {
            config.max_instances_per_tenant = instances;
        }
        if let Some(mib) = self.memory_per_tenant_mib {
            config.max_memory_per_tenant_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some(calls) = self.max_host_calls_per_event {
            config.max_host_calls_per_event = calls;
        }
        if let Some(uses) = self.max_audited_uses_per_event {
            config.max_audited_uses_per_event = uses;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_flags_keep_the_defaults() {
        assert_eq!(
            SandboxArgs::default().config().unwrap(),
            SandboxConfig::default()
        );
    }

    #[test]
    fn a_wall_limit_past_the_platform_maximum_is_refused_by_name() {
        let args = SandboxArgs {
            event_wall_limit_ms: Some(60_000),
            ..SandboxArgs::default()
        };
        assert_eq!(
            args.config().unwrap_err().to_string(),
            "event_wall_limit is 60000 ms, but it must be between 200 ms and 10000 ms"
        );
    }

    #[test]
    fn a_smaller_budget_shrinks_the_tenant_share_with_it() {
        let args = SandboxArgs {
            memory_budget_mib: Some(1024),
            ..SandboxArgs::default()
        };
        let config = args.config().unwrap();
        assert_eq!(config.memory_budget_bytes, 1 << 30);
        assert_eq!(config.max_memory_per_tenant_bytes, 256 << 20);
    }
}
