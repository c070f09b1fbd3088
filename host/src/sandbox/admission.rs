//! Who may start a plugin instance now: per-tenant caps on live instances and
//! on memory, and a host-wide memory budget, checked before instantiation.
//!
//! An instance is admitted with its memory limit reserved in full, so every
//! admitted instance can grow to its limit without taking memory another
//! call was promised; an instance that does not fit is refused at once,
//! before any work is done (the caller answers "busy, retry"), rather than
//! failing half-way. One tenant can therefore hold at most its caps, and the
//! host never promises more plugin memory than its budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Occurs when a new plugin instance does not fit in the caps now. Nothing
/// was started; the same request may succeed once calls end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// Occurs when the tenant already has as many live instances as it may.
    #[error(
        "tenant '{tenant}' already has {live} live plugin instances, its cap; retry when one of its calls ends, or raise --max-instances-per-tenant"
    )]
    TenantInstances {
        /// The tenant.
        tenant: String,
        /// Its live instances (the cap).
        live: u32,
    },
    /// Occurs when the tenant's live instances hold as much memory as it may.
    #[error(
        "tenant '{tenant}' has {committed_mib} MiB of plugin memory committed and asks {asked_mib} MiB more, past its cap of {cap_mib} MiB; retry when one of its calls ends, or raise --memory-per-tenant-mib"
    )]
    TenantMemory {
        /// The tenant.
        tenant: String,
        /// Memory its live instances may use, in MiB.
        committed_mib: u64,
        /// The new instance's memory limit, in MiB.
        asked_mib: u64,
        /// Its cap, in MiB.
        cap_mib: u64,
    },
    /// Occurs when every tenant's live instances together hold the host's budget.
    #[error(
        "the host has {committed_mib} MiB of plugin memory committed and a new instance asks {asked_mib} MiB more, past its budget of {budget_mib} MiB; retry shortly, or raise --memory-budget-mib"
    )]
    HostMemory {
        /// Memory all live instances may use, in MiB.
        committed_mib: u64,
        /// The new instance's memory limit, in MiB.
        asked_mib: u64,
        /// The host's budget, in MiB.
        budget_mib: u64,
    },
    /// Occurs when the instance pool is full.
    #[error(
        "the host runs {live} plugin instances, its pool size; retry shortly, or raise --max-concurrent-calls"
    )]
    HostInstances {
        /// Live instances (the pool size).
        live: u32,
    },
}

impl Busy {
    /// Whether the tenant's own caps refused it (its instances or memory), as
    /// opposed to the host's: only that tenant must slow down, others go on.
    pub fn is_tenant_cap(&self) -> bool {
        matches!(
            self,
            Busy::TenantInstances { .. } | Busy::TenantMemory { .. }
        )
    }
}

/// The caps [`Admission`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCaps {
    /// Live instances on the host (the pool size).
    pub host_instances: u32,
    /// Bytes of plugin memory all live instances may use together.
    pub host_memory_bytes: u64,
    /// Live instances one tenant may have.
    pub tenant_instances: u32,
    /// Bytes of plugin memory one tenant's live instances may use together.
    pub tenant_memory_bytes: u64,
}

/// What is committed, host-wide or for one tenant.
#[derive(Debug, Default, Clone, Copy)]
struct Committed {
    instances: u32,
    memory_bytes: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    host: Committed,
    tenants: HashMap<String, Committed>,
}

/// The host's admission control; one per sandbox.
#[derive(Debug, Clone)]
pub struct Admission {
    caps: AdmissionCaps,
    ledger: Arc<Mutex<Ledger>>,
}

/// One admitted instance's share of the caps, given back when it is dropped
/// (when the call ends or its plugin fails).
#[derive(Debug)]
pub struct AdmissionTicket {
    tenant: String,
    memory_bytes: u64,
    ledger: Arc<Mutex<Ledger>>,
}

const MIB: u64 = 1 << 20;

impl Admission {
    /// Admission control enforcing `caps`.
    pub fn new(caps: AdmissionCaps) -> Self {
        Self {
            caps,
            ledger: Arc::default(),
        }
    }

    /// The caps enforced.
    pub fn caps(&self) -> AdmissionCaps {
        self.caps
    }

    /// Admits one instance of `tenant` whose memory limit is `memory_bytes`,
    /// or says which cap it does not fit in.
    pub fn admit(&self, tenant: &str, memory_bytes: u64) -> Result<AdmissionTicket, Busy> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let caps = self.caps;
        let host = ledger.host;
        let tenant_now = ledger.tenants.get(tenant).copied().unwrap_or_default();
        if host.instances >= caps.host_instances {
            return Err(Busy::HostInstances {
                live: host.instances,
            });
        }
        if tenant_now.instances >= caps.tenant_instances {
            return Err(Busy::TenantInstances {
                tenant: tenant.to_owned(),
                live: tenant_now.instances,
            });
        }
        if tenant_now.memory_bytes + memory_bytes > caps.tenant_memory_bytes {
            return Err(Busy::TenantMemory {
                tenant: tenant.to_owned(),
                committed_mib: tenant_now.memory_bytes / MIB,
                asked_mib: memory_bytes.div_ceil(MIB),
                cap_mib: caps.tenant_memory_bytes / MIB,
            });
        }
        if host.memory_bytes + memory_bytes > caps.host_memory_bytes {
            return Err(Busy::HostMemory {
                committed_mib: host.memory_bytes / MIB,
                asked_mib: memory_bytes.div_ceil(MIB),
                budget_mib: caps.host_memory_bytes / MIB,
            });
        }
        ledger.host.instances += 1;
        ledger.host.memory_bytes += memory_bytes;
        let entry = ledger.tenants.entry(tenant.to_owned()).or_default();
        entry.instances += 1;
        entry.memory_bytes += memory_bytes;
        Ok(AdmissionTicket {
            tenant: tenant.to_owned(),
            memory_bytes,
            ledger: self.ledger.clone(),
        })
    }

    /// Live instances of `tenant` now.
    pub fn live_instances(&self, tenant: &str) -> u32 {
        let ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.tenants.get(tenant).map_or(0, |c| c.instances)
    }

    /// Plugin memory committed host-wide now, in bytes.
    pub fn committed_memory_bytes(&self) -> u64 {
        let ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.host.memory_bytes
    }
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.host.instances -= 1;
        ledger.host.memory_bytes -= self.memory_bytes;
        if let Some(entry) = ledger.tenants.get_mut(&self.tenant) {
            entry.instances -= 1;
            entry.memory_bytes -= self.memory_bytes;
            if entry.instances == 0 {
                ledger.tenants.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission() -> Admission {
        Admission::new(AdmissionCaps {
            host_instances: 10,
            host_memory_bytes: 100 * MIB,
            tenant_instances: 3,
            tenant_memory_bytes: 40 * MIB,
        })
    }

    #[test]
    fn a_tenant_at_its_instance_cap_is_busy_while_others_are_admitted() {
        let admission = admission();
        let held: Vec<_> = (0..3)
            .map(|_| admission.admit("greedy", MIB).unwrap())
            .collect();
        assert_eq!(
            admission.admit("greedy", MIB).unwrap_err(),
            Busy::TenantInstances {
                tenant: "greedy".into(),
                live: 3
            }
        );
        let other = admission.admit("other", MIB).unwrap();
        drop(held);
        assert_eq!(admission.live_instances("greedy"), 0);
        admission.admit("greedy", MIB).unwrap();
        drop(other);
    }

    #[test]
    fn memory_is_reserved_at_the_limit_per_tenant_and_host_wide() {
        let admission = admission();
        let _a = admission.admit("a", 30 * MIB).unwrap();
        let error = admission.admit("a", 16 * MIB).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("tenant 'a' has 30 MiB of plugin memory committed and asks 16 MiB more, past its cap of 40 MiB"),
            "{error}"
        );
        let _b = admission.admit("b", 40 * MIB).unwrap();
        let _c = admission.admit("c", 25 * MIB).unwrap();
        assert!(matches!(
            admission.admit("d", 16 * MIB),
            Err(Busy::HostMemory {
                committed_mib: 95,
                ..
            })
        ));
        assert_eq!(admission.committed_memory_bytes(), 95 * MIB);
    }
}
