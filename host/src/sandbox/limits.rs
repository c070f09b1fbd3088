//! The limits a plugin runs under: platform-wide maxima and each plugin's own.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Occurs when a limit is outside what the platform allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Occurs when a limit is zero or above its platform maximum.
    #[error("{name} is {found}, but it must be between {min} and {max}")]
    OutOfRange {
        /// The setting that is wrong, such as `memory_limit`.
        name: &'static str,
        /// The value that was given, with its unit.
        found: String,
        /// The smallest value allowed, with its unit.
        min: String,
        /// The platform maximum, with its unit.
        max: String,
    },
}

/// The limits one plugin version runs under, chosen by the tenant within the
/// platform maxima of [`SandboxConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginLimits {
    /// Wall-clock time the plugin's own code may run per event. Time the host
    /// spends on the plugin's behalf is not counted.
    #[serde(with = "duration_ms", rename = "event_deadline_ms")]
    pub event_deadline: Duration,
    /// Largest linear memory the plugin may grow to, in bytes.
    pub memory_bytes: usize,
}

/// Platform-wide settings of the sandbox: maxima every plugin is held to, the
/// defaults a plugin gets when it asks for nothing, and the pool size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Limits for plugins that do not choose their own.
    pub default_limits: PluginLimits,
    /// The longest per-event deadline any plugin may ask for.
    pub max_event_deadline: Duration,
    /// The most linear memory any plugin may ask for, in bytes; also the size
    /// of each memory slot in the pool.
    pub max_memory_bytes: usize,
    /// Native stack available to a plugin's wasm frames, in bytes; deeper
    /// recursion traps with a stack overflow.
    pub wasm_stack_bytes: usize,
    /// Most actions one event may return; more is invalid output.
    pub max_actions_per_event: usize,
    /// Longest string (speech text, ids, tags, template params) in an action,
    /// in bytes; longer is invalid output.
    pub max_string_bytes: usize,
    /// Bytes of log lines and stdout/stderr kept per call; the rest is dropped
    /// and the truncation noted.
    pub max_log_bytes_per_call: usize,
    /// How many plugin instances may be alive at once; sizes the pool.
    pub max_concurrent_calls: u32,
    /// How often the epoch advances; deadlines fire within one tick.
    pub epoch_tick: Duration,
    /// A call that receives no event for this long is ended and its sandbox freed.
    pub idle_timeout: Duration,
    /// The hard wall-clock bound on one event: plugin time, host time and
    /// anything the plugin waits on together. Past it the event ends and the
    /// call gets its fallback, whatever the plugin is doing. At most
    /// [`MAX_EVENT_WALL_LIMIT`].
    pub event_wall_limit: Duration,
    /// Bytes of plugin memory all live instances may use together: each
    /// instance reserves its memory limit when it starts, and an instance
    /// that does not fit is refused (busy) before it starts.
    pub memory_budget_bytes: u64,
    /// Live instances one tenant may have at once.
    pub max_instances_per_tenant: u32,
    /// Bytes of plugin memory one tenant's live instances may reserve together.
    pub max_memory_per_tenant_bytes: u64,
    /// Most calls into the host's `cally:plugin` interfaces one event may make.
    pub max_host_calls_per_event: u32,
    /// Most audited data uses (field reads, transcript, recording) one event
    /// may make; each is a durable audit record.
    pub max_audited_uses_per_event: u32,
}

/// The longest hard wall-clock bound on one event any host may configure.
pub const MAX_EVENT_WALL_LIMIT: Duration = Duration::from_secs(10);

/// The host memory budget when none is configured: three quarters of the
/// machine's physical memory (8 GiB where it cannot be read).
pub fn default_memory_budget() -> u64 {
    physical_memory_bytes().map_or(8 << 30, |bytes| bytes / 4 * 3)
}

/// The machine's physical memory, from `/proc/meminfo` where there is one.
fn physical_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            default_limits: PluginLimits {
                event_deadline: Duration::from_millis(20),
                memory_bytes: 16 << 20,
            },
            max_event_deadline: Duration::from_millis(200),
            max_memory_bytes: 64 << 20,
            wasm_stack_bytes: 512 << 10,
            max_actions_per_event: 32,
            max_string_bytes: 4096,
            max_log_bytes_per_call: 64 << 10,
            max_concurrent_calls: 4096,
            epoch_tick: Duration::from_millis(1),
            idle_timeout: Duration::from_secs(300),
            event_wall_limit: Duration::from_secs(1),
            memory_budget_bytes: default_memory_budget(),
            max_instances_per_tenant: 1024,
            max_memory_per_tenant_bytes: default_memory_budget() / 4,
            max_host_calls_per_event: 256,
            max_audited_uses_per_event: 64,
        }
    }
}

impl SandboxConfig {
    /// Checks that the defaults lie within the maxima and that every size is usable.
    pub fn validate(&self) -> Result<(), LimitError> {
        self.check_limits(&self.default_limits)?;
        in_range(
            "max_concurrent_calls",
            self.max_concurrent_calls as u64,
            1,
            1 << 20,
            "",
        )?;
        in_range(
            "max_actions_per_event",
            self.max_actions_per_event as u64,
            1,
            10_000,
            "",
        )?;
        in_range(
            "max_string_bytes",
            self.max_string_bytes as u64,
            16,
            1 << 20,
            " bytes",
        )?;
        in_range(
            "wasm_stack_bytes",
            self.wasm_stack_bytes as u64,
            64 << 10,
            8 << 20,
            " bytes",
        )?;
        in_range(
            "max_memory_bytes",
            self.max_memory_bytes as u64,
            1 << 20,
            1 << 30,
            " bytes",
        )?;
        let tick = self.epoch_tick.as_micros() as u64;
        in_range("epoch_tick", tick, 100, 100_000, " µs")?;
        in_range(
            "event_wall_limit",
            self.event_wall_limit.as_millis() as u64,
            self.max_event_deadline.as_millis() as u64,
            MAX_EVENT_WALL_LIMIT.as_millis() as u64,
            " ms",
        )?;
        let memory = self.max_memory_bytes as u64;
        in_range(
            "memory_budget",
            self.memory_budget_bytes,
            memory,
            1 << 50,
            " bytes",
        )?;
        in_range(
            "max_memory_per_tenant",
            self.max_memory_per_tenant_bytes,
            memory,
            self.memory_budget_bytes,
            " bytes",
        )?;
        in_range(
            "max_instances_per_tenant",
            self.max_instances_per_tenant as u64,
            1,
            1 << 20,
            "",
        )?;
        in_range(
            "max_host_calls_per_event",
            self.max_host_calls_per_event as u64,
            1,
            1 << 20,
            "",
        )?;
        in_range(
            "max_audited_uses_per_event",
            self.max_audited_uses_per_event as u64,
            1,
            1 << 20,
            "",
        )?;
        Ok(())
    }

    /// Checks one plugin's limits against the platform maxima.
    pub fn check_limits(&self, limits: &PluginLimits) -> Result<(), LimitError> {
        let deadline = limits.event_deadline.as_millis() as u64;
        let max_deadline = self.max_event_deadline.as_millis() as u64;
        in_range("event_deadline", deadline, 1, max_deadline, " ms")?;
        in_range(
            "memory_limit",
            limits.memory_bytes as u64,
            1 << 20,
            self.max_memory_bytes as u64,
            " bytes",
        )
    }
}

fn in_range(
    name: &'static str,
    found: u64,
    min: u64,
    max: u64,
    unit: &str,
) -> Result<(), LimitError> {
    if (min..=max).contains(&found) {
        Ok(())
    } else {
        Err(LimitError::OutOfRange {
            name,
            found: format!("{found}{unit}"),
            min: format!("{min}{unit}"),
            max: format!("{max}{unit}"),
        })
    }
}

/// Serialises a `Duration` as whole milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        SandboxConfig::default().validate().unwrap();
    }

    #[test]
    fn deadline_above_platform_maximum_is_named() {
        let config = SandboxConfig::default();
        let limits = PluginLimits {
            event_deadline: Duration::from_millis(5_000),
            ..config.default_limits
        };
        let err = config.check_limits(&limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event_deadline is 5000 ms, but it must be between 1 ms and 200 ms"
        );
    }

    #[test]
    fn memory_above_platform_maximum_is_named() {
        let config = SandboxConfig::default();
        let limits = PluginLimits {
            memory_bytes: 1 << 30,
            ..config.default_limits
        };
        let err = config.check_limits(&limits).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("memory_limit is 1073741824 bytes"),
            "{err}"
        );
    }

    #[test]
    fn zero_deadline_is_refused() {
        let config = SandboxConfig::default();
        let limits = PluginLimits {
            event_deadline: Duration::ZERO,
            ..config.default_limits
        };
        assert!(config.check_limits(&limits).is_err());
    }
}
