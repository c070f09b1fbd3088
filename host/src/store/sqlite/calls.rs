//! [`CallStore`] for [`SqliteStore`]: each call's record and result.

use async_trait::async_trait;
use serde_json::Value;

use super::keys::ensure_tenant_in;
use super::{SqliteStore, commit_error, database, get, now_ms, parse_json};
use crate::store::{CallRecord, CallStart, CallStore, StoreError, erased_call_result};

#[async_trait]
impl CallStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %call.tenant, call_id = %call.call_id), err(level = "debug"))]
    async fn record_call_start(&self, call: &CallStart) -> Result<(), StoreError> {
        let action = format!(
            "recording the start of call '{}' of tenant '{}'",
            call.call_id, call.tenant
        );
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &call.tenant, now_ms()).await?;
        sqlx::query(
            "INSERT INTO calls (tenant, call_id, plugin, plugin_version, component_digest, \
                 lead_id, started_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&call.tenant)
        .bind(&call.call_id)
        .bind(&call.plugin)
        .bind(&call.plugin_version)
        .bind(&call.component_digest)
        .bind(&call.lead_id)
        .bind(call.started_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, call_id = %call_id), err(level = "debug"))]
    async fn record_call_end(
        &self,
        tenant: &str,
        call_id: &str,
        ended_at_ms: i64,
        result: &Value,
    ) -> Result<(), StoreError> {
        // Whether the lead was erased is decided in the write itself, so an erasure
        // committed while the call ended cannot be followed by the call's result.
        let done = sqlx::query(
            "UPDATE calls SET ended_at_ms = ?3, result = CASE WHEN EXISTS ( \
                 SELECT 1 FROM leads WHERE leads.tenant = calls.tenant \
                 AND leads.lead_id = calls.lead_id AND leads.erased_at_ms IS NOT NULL) \
                 THEN ?5 ELSE ?4 END \
             WHERE tenant = ?1 AND call_id = ?2",
        )
        .bind(tenant)
        .bind(call_id)
        .bind(ended_at_ms)
        .bind(result.to_string())
        .bind(erased_call_result().to_string())
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!("recording the end of call '{call_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                tenant: tenant.into(),
                what: format!("call '{call_id}'"),
            });
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, call_id = %call_id), err(level = "debug"))]
    async fn call(&self, tenant: &str, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, call_id, plugin, plugin_version, component_digest, lead_id, \
                 started_at_ms, ended_at_ms, result FROM calls WHERE tenant = ?1 AND call_id = ?2",
        )
        .bind(tenant)
        .bind(call_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database(format!("reading call '{call_id}' of tenant '{tenant}'"), e))?;
        let Some(row) = row else { return Ok(None) };
        let which = || format!("call '{call_id}' of tenant '{tenant}'");
        let result = match get::<Option<String>>(&row, "calls", "result")? {
            None => None,
            Some(text) => Some(parse_json("calls", "result", which, text)?),
        };
        Ok(Some(CallRecord {
            tenant: get(&row, "calls", "tenant")?,
            call_id: get(&row, "calls", "call_id")?,
            plugin: get(&row, "calls", "plugin")?,
            plugin_version: get(&row, "calls", "plugin_version")?,
            component_digest: get(&row, "calls", "component_digest")?,
            lead_id: get(&row, "calls", "lead_id")?,
            started_at_ms: get(&row, "calls", "started_at_ms")?,
            ended_at_ms: get(&row, "calls", "ended_at_ms")?,
            result,
        }))
    }
}
