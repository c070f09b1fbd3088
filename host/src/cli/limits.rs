//! The platform limits whoever runs `cally serve` may set: the pool size, the
//! hard wall-clock bound on an event, the host's memory budget, the
//! per-tenant caps and the host-call caps per event.

use std::time::Duration;

use crate::sandbox::{LimitError, SandboxConfig};

/// The sandbox's platform limits, as flags (with their environment variables) and
/// as the `[limits]` table of `cally serve --config` (same names, in snake case);
/// each unset one keeps its default. A flag or variable wins over the file.
#[derive(Debug, Default, Clone, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxArgs {
    /// Plugin instances alive at once on this host (the pool size) [default: 4096].
    #[arg(long, env = "CALLY_MAX_CONCURRENT_CALLS")]
    #[serde(default)]
    max_concurrent_calls: Option<u32>,
    /// The hard wall-clock bound on one event, plugin and host time together,
    /// in ms; at most 10000 [default: 1000].
    #[arg(long, env = "CALLY_EVENT_WALL_LIMIT_MS")]
    #[serde(default)]
    event_wall_limit_ms: Option<u64>,
    /// The longest per-event deadline a plugin's manifest may ask for, in ms;
    /// at most the wall-clock bound [default: 200].
    #[arg(long, env = "CALLY_MAX_EVENT_DEADLINE_MS")]
    #[serde(default)]
    max_event_deadline_ms: Option<u64>,
    /// The most linear memory a plugin's manifest may ask for, in MiB; also the
    /// size of each memory slot of the pool; 1 to 1024 [default: 64].
    #[arg(long, env = "CALLY_MAX_MEMORY_MIB")]
    #[serde(default)]
    max_memory_mib: Option<u64>,
    /// MiB of plugin memory all live instances may reserve together
    /// [default: three quarters of physical memory].
    #[arg(long, env = "CALLY_MEMORY_BUDGET_MIB")]
    #[serde(default)]
    memory_budget_mib: Option<u64>,
    /// Live plugin instances one tenant may have; past it that tenant's new
    /// calls are answered 429 [default: 1024].
    #[arg(long, env = "CALLY_MAX_INSTANCES_PER_TENANT")]
    #[serde(default)]
    max_instances_per_tenant: Option<u32>,
    /// MiB of plugin memory one tenant's instances may reserve together
    /// [default: a quarter of the memory budget].
    #[arg(long, env = "CALLY_MEMORY_PER_TENANT_MIB")]
    #[serde(default)]
    memory_per_tenant_mib: Option<u64>,
    /// Calls through the data gate one event may make [default: 256].
    #[arg(long, env = "CALLY_MAX_HOST_CALLS_PER_EVENT")]
    #[serde(default)]
    max_host_calls_per_event: Option<u32>,
    /// Audited data uses one event may make [default: 64].
    #[arg(long, env = "CALLY_MAX_AUDITED_USES_PER_EVENT")]
    #[serde(default)]
    max_audited_uses_per_event: Option<u32>,
}

/// Occurs when a platform limit is out of its range; names the setting as the
/// operator wrote it (flag, variable and config key).
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid platform limit {key} (--{flag}, CALLY_{env}, or `{key}` under [limits] in the config file): {source}",
    flag = .key.replace('_', "-"),
    env = .key.to_uppercase()
)]
pub struct InvalidLimit {
    /// The config-file key, such as `event_wall_limit_ms`.
    pub key: &'static str,
    /// What is wrong with it.
    #[source]
    pub source: Box<LimitError>,
}

/// The operator's setting behind each checked name of [`SandboxConfig::validate`].
const SETTING_OF: &[(&str, &str)] = &[
    ("max_concurrent_calls", "max_concurrent_calls"),
    ("event_wall_limit", "event_wall_limit_ms"),
    ("memory_limit", "max_memory_mib"),
    ("max_memory_bytes", "max_memory_mib"),
    ("event_deadline", "max_event_deadline_ms"),
    ("memory_budget", "memory_budget_mib"),
    ("max_memory_per_tenant", "memory_per_tenant_mib"),
    ("max_instances_per_tenant", "max_instances_per_tenant"),
    ("max_host_calls_per_event", "max_host_calls_per_event"),
    ("max_audited_uses_per_event", "max_audited_uses_per_event"),
];

impl SandboxArgs {
    /// These settings, each unset one taken from `file` (the config file's
    /// `[limits]`).
    pub fn or_file(&self, file: &SandboxArgs) -> SandboxArgs {
        SandboxArgs {
            max_concurrent_calls: self.max_concurrent_calls.or(file.max_concurrent_calls),
            event_wall_limit_ms: self.event_wall_limit_ms.or(file.event_wall_limit_ms),
            max_event_deadline_ms: self.max_event_deadline_ms.or(file.max_event_deadline_ms),
            max_memory_mib: self.max_memory_mib.or(file.max_memory_mib),
            memory_budget_mib: self.memory_budget_mib.or(file.memory_budget_mib),
            max_instances_per_tenant: self
                .max_instances_per_tenant
                .or(file.max_instances_per_tenant),
            memory_per_tenant_mib: self.memory_per_tenant_mib.or(file.memory_per_tenant_mib),
            max_host_calls_per_event: self
                .max_host_calls_per_event
                .or(file.max_host_calls_per_event),
            max_audited_uses_per_event: self
                .max_audited_uses_per_event
                .or(file.max_audited_uses_per_event),
        }
    }

    /// The sandbox configuration: the defaults with each given setting applied,
    /// checked against the platform's bounds. A maximum set below a plugin
    /// default (a 10 ms maximum deadline, say) lowers that default with it.
    pub fn config(&self) -> Result<SandboxConfig, InvalidLimit> {
        let mut config = SandboxConfig::default();
        if let Some(calls) = self.max_concurrent_calls {
            config.max_concurrent_calls = calls;
        }
        if let Some(ms) = self.event_wall_limit_ms {
            config.event_wall_limit = Duration::from_millis(ms);
        }
        if let Some(ms) = self.max_event_deadline_ms {
            config.max_event_deadline = Duration::from_millis(ms);
            let default = &mut config.default_limits.event_deadline;
            *default = (*default).min(config.max_event_deadline);
        }
        if let Some(mib) = self.max_memory_mib {
            config.max_memory_bytes =
                usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
            let default = &mut config.default_limits.memory_bytes;
            *default = (*default).min(config.max_memory_bytes);
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
        config.validate().map_err(|source| {
            let LimitError::OutOfRange { name, .. } = &source;
            let key = SETTING_OF
                .iter()
                .find(|(checked, _)| checked == name)
                .map_or(*name, |(_, key)| *key);
            InvalidLimit {
                key,
                source: Box::new(source),
            }
        })?;
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
            "invalid platform limit event_wall_limit_ms (--event-wall-limit-ms, \
             CALLY_EVENT_WALL_LIMIT_MS, or `event_wall_limit_ms` under [limits] in the config \
             file): event_wall_limit is 60000 ms, but it must be between 200 ms and 10000 ms"
        );
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_the_rest() {
        let file: SandboxArgs =
            toml::from_str("max_instances_per_tenant = 2\nmax_memory_mib = 32\n").unwrap();
        let flags = SandboxArgs {
            max_instances_per_tenant: Some(5),
            ..SandboxArgs::default()
        };
        let config = flags.or_file(&file).config().unwrap();
        assert_eq!(config.max_instances_per_tenant, 5);
        assert_eq!(config.max_memory_bytes, 32 << 20);
        let unknown = toml::from_str::<SandboxArgs>("max_instance_per_tenant = 2\n").unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("unknown field `max_instance_per_tenant`"),
            "{unknown}"
        );
    }

    #[test]
    fn a_maximum_below_the_plugin_default_lowers_the_default() {
        let args = SandboxArgs {
            max_event_deadline_ms: Some(10),
            max_memory_mib: Some(8),
            ..SandboxArgs::default()
        };
        let config = args.config().unwrap();
        assert_eq!(
            config.default_limits.event_deadline,
            Duration::from_millis(10)
        );
        assert_eq!(config.default_limits.memory_bytes, 8 << 20);
        let past = SandboxArgs {
            max_memory_mib: Some(4096),
            ..SandboxArgs::default()
        };
        let error = past.config().unwrap_err();
        assert_eq!(error.key, "max_memory_mib", "{error}");
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
