//! Retention: [`RetentionStore`], each tenant's policy and the purge that
//! applies it. What a purge run audits is [`crate::retention`]'s.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A tenant's retention policy: how many days ended calls (with their stored
/// results) and the message log (outbox rows) are kept; `None` keeps them until
/// the lead is erased. Audit records are never purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// The tenant.
    pub tenant: String,
    /// Days a call is kept after it ended (1 to 36500); `None`: kept.
    pub calls_days: Option<u32>,
    /// Days a message is kept after it was queued (1 to 36500); `None`: kept.
    pub messages_days: Option<u32>,
    /// Host clock at the last change.
    pub updated_at_ms: i64,
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Calls deleted (with their stored results).
    pub calls: u64,
    /// Outbox rows deleted.
    pub messages: u64,
}

/// Each tenant's retention policy and the purge of calls and messages older than
/// it allows.
///
/// `async_trait` because callers hold an `Arc<dyn RetentionStore>`.
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Creates or replaces the tenant's retention policy.
    async fn set_retention_policy(&self, policy: &RetentionPolicy) -> Result<(), StoreError>;

    /// The tenant's retention policy, if one was set.
    async fn retention_policy(&self, tenant: &str) -> Result<Option<RetentionPolicy>, StoreError>;

    /// Every tenant's retention policy, by tenant.
    async fn retention_policies(&self) -> Result<Vec<RetentionPolicy>, StoreError>;

    /// Deletes, in ONE transaction, the tenant's calls that ended before
    /// `calls_before_ms` (and calls never ended that started before it: a host
    /// stopped mid-call) and its outbox rows queued before `messages_before_ms`;
    /// `None` deletes nothing of that kind. Returns how many rows went. As for an
    /// erasure, a backend removes any copy of the deleted rows from its files
    /// before this returns (if it cannot, it logs a warning and removes them at
    /// its next such cleanup: the rows are gone either way).
    async fn purge_before(
        &self,
        tenant: &str,
        calls_before_ms: Option<i64>,
        messages_before_ms: Option<i64>,
    ) -> Result<PurgeCounts, StoreError>;
}
