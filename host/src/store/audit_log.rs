//! The audit log as stored: [`AuditStore`], each tenant's hash-chained records
//! and its chain head. The chain itself (sealing, verifying) is [`crate::audit`]'s.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::audit::{AuditEntry, AuditRecord};

/// Which audit records to read. Every field narrows; the default reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only records about this lead pseudonym.
    pub lead: Option<String>,
    /// Only records of this person's API key (its id): what the key's holder did.
    pub actor: Option<String>,
    /// Only records at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only records before this time (ms).
    pub to_ms: Option<i64>,
}

/// The newest record of a tenant's chain, as the store last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    /// The tenant.
    pub tenant: String,
    /// The newest record's sequence number.
    pub last_seq: i64,
    /// The newest record's hash.
    pub last_hash: String,
}

/// A tenant's audit records in sequence order and its head, from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChain {
    /// Every record of the tenant, in sequence order.
    pub records: Vec<AuditRecord>,
    /// The stored head, if any.
    pub head: Option<AuditHead>,
}

/// Each tenant's audit chain: appended in batches by the group-commit writer
/// ([`crate::audit::AuditWriter`]), read by `verify`, export, checkpoints and the
/// people's audit queries. Records are never changed or deleted.
///
/// `async_trait` because callers hold an `Arc<dyn AuditStore>`.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends entries (of any tenants) to their tenants' chains in ONE transaction:
    /// each tenant's chain continues from its stored head, and the heads are updated in
    /// the same transaction. Returns the records in the order of `entries`, durable
    /// once this returns `Ok`. On error nothing of the batch is stored.
    async fn append_audit_batch(
        &self,
        entries: &[AuditEntry],
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// A tenant's audit records matching `filter`, in sequence order.
    async fn audit_records(
        &self,
        tenant: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// A tenant's whole chain and its head, read from one consistent snapshot (so an
    /// append running meanwhile is either wholly in both or in neither).
    async fn audit_chain(&self, tenant: &str) -> Result<AuditChain, StoreError>;

    /// The head of a tenant's chain, if it has records.
    async fn audit_head(&self, tenant: &str) -> Result<Option<AuditHead>, StoreError>;

    /// Every tenant with an audit chain (a head or any record), sorted.
    async fn audit_tenants(&self) -> Result<Vec<String>, StoreError>;
}
