//! Calls as recorded: [`CallStore`], their start, end and result.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::StoreError;

/// What an erased lead's stored calls keep as their result: a call's actions and
/// data uses can quote what its plugin read, so nothing of the result is kept.
pub fn erased_call_result() -> Value {
    serde_json::json!({"redacted": "the call's lead was erased"})
}

/// The start of a call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    /// The tenant.
    pub tenant: String,
    /// The platform's call id.
    pub call_id: String,
    /// The plugin that runs it.
    pub plugin: String,
    /// Its version.
    pub plugin_version: String,
    /// Its component digest.
    pub component_digest: String,
    /// The lead called, if known.
    pub lead_id: Option<String>,
    /// Host clock.
    pub started_at_ms: i64,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = StoredCall)]
pub struct CallRecord {
    /// The tenant.
    pub tenant: String,
    /// The platform's call id.
    pub call_id: String,
    /// The plugin that ran it.
    pub plugin: String,
    /// Its version.
    pub plugin_version: String,
    /// Its component digest.
    pub component_digest: String,
    /// The lead called, if known.
    pub lead_id: Option<String>,
    /// Host clock at start.
    pub started_at_ms: i64,
    /// Host clock at end, once ended.
    pub ended_at_ms: Option<i64>,
    /// The call's result, once ended.
    pub result: Option<Value>,
}

/// Each call's record: which plugin version ran it for which lead, when it
/// started and ended, and its result. Retention purges old calls (see
/// [`super::RetentionStore::purge_before`]); an erasure replaces the results
/// that could quote the lead (see [`super::LeadStore::erase_lead`]).
///
/// Every method touches only the named tenant's rows; `async_trait` because
/// callers hold an `Arc<dyn CallStore>`.
#[async_trait]
pub trait CallStore: Send + Sync + 'static {
    /// Records the start of a call (creating the tenant on first use).
    async fn record_call_start(&self, call: &CallStart) -> Result<(), StoreError>;

    /// Records the end of a call and its result; for a call whose lead was erased
    /// meanwhile, [`erased_call_result`] instead (decided in the write itself).
    async fn record_call_end(
        &self,
        tenant: &str,
        call_id: &str,
        ended_at_ms: i64,
        result: &Value,
    ) -> Result<(), StoreError>;

    /// A call, if recorded.
    async fn call(&self, tenant: &str, call_id: &str) -> Result<Option<CallRecord>, StoreError>;
}
