//! [`AuditStore`] for [`SqliteStore`]: reading each tenant's chain and head; the
//! batched append is in `audit_append`.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, audit_append, database, get};
use crate::audit::{AuditActor, AuditEntry, AuditRecord};
use crate::store::{AuditChain, AuditFilter, AuditHead, AuditStore, StoreError};

#[async_trait]
impl AuditStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(records = entries.len()), err(level = "debug"))]
    async fn append_audit_batch(
        &self,
        entries: &[AuditEntry],
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit_append::append_batch(self, entries).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_records(
        &self,
        tenant: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, seq, time_ms, plugin, plugin_version, component_digest, call_id, \
                 lead, resource, purpose, decision, reason, consent_id, prev_hash, hash, \
                 actor_key, actor_role, client_address, operation \
             FROM audit_log \
             WHERE tenant = ?1 AND (?2 IS NULL OR lead = ?2) \
               AND (?3 IS NULL OR time_ms >= ?3) AND (?4 IS NULL OR time_ms < ?4) \
               AND (?5 IS NULL OR actor_key = ?5) \
             ORDER BY seq",
        )
        .bind(tenant)
        .bind(&filter.lead)
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(&filter.actor)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("reading audit records of tenant '{tenant}'"), e))?;
        rows.iter().map(audit_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_chain(&self, tenant: &str) -> Result<AuditChain, StoreError> {
        let action = || format!("reading the audit chain of tenant '{tenant}'");
        // A read transaction: WAL gives it one snapshot for both statements.
        let mut tx = self
            .reader
            .begin()
            .await
            .map_err(|e| database(action(), e))?;
        let rows = sqlx::query(
            "SELECT tenant, seq, time_ms, plugin, plugin_version, component_digest, call_id, \
                 lead, resource, purpose, decision, reason, consent_id, prev_hash, hash, \
                 actor_key, actor_role, client_address, operation \
             FROM audit_log WHERE tenant = ?1 ORDER BY seq",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| database(action(), e))?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_heads WHERE tenant = ?1")
                .bind(tenant)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| database(action(), e))?;
        tx.commit().await.map_err(|e| database(action(), e))?;
        Ok(AuditChain {
            records: rows.iter().map(audit_from_row).collect::<Result<_, _>>()?,
            head: head.map(|(last_seq, last_hash)| AuditHead {
                tenant: tenant.to_owned(),
                last_seq,
                last_hash,
            }),
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_head(&self, tenant: &str) -> Result<Option<AuditHead>, StoreError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_heads WHERE tenant = ?1")
                .bind(tenant)
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| database(format!("reading the audit head of tenant '{tenant}'"), e))?;
        Ok(head.map(|(last_seq, last_hash)| AuditHead {
            tenant: tenant.to_owned(),
            last_seq,
            last_hash,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT tenant FROM audit_heads UNION SELECT DISTINCT tenant FROM audit_log ORDER BY 1",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database("listing audit tenants", e))
    }
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        tenant: get(row, "audit_log", "tenant")?,
        seq: get(row, "audit_log", "seq")?,
        time_ms: get(row, "audit_log", "time_ms")?,
        plugin: get(row, "audit_log", "plugin")?,
        plugin_version: get(row, "audit_log", "plugin_version")?,
        component_digest: get(row, "audit_log", "component_digest")?,
        call_id: get(row, "audit_log", "call_id")?,
        lead: get(row, "audit_log", "lead")?,
        resource: get(row, "audit_log", "resource")?,
        purpose: get(row, "audit_log", "purpose")?,
        decision: get(row, "audit_log", "decision")?,
        reason: get(row, "audit_log", "reason")?,
        consent_id: get(row, "audit_log", "consent_id")?,
        prev_hash: get(row, "audit_log", "prev_hash")?,
        hash: get(row, "audit_log", "hash")?,
        actor: audit_actor_from_row(row)?,
    })
}

/// The actor of a person's record: all four columns set, or all four NULL (a
/// plugin's use). Anything between was edited by hand and is refused.
fn audit_actor_from_row(row: &SqliteRow) -> Result<Option<AuditActor>, StoreError> {
    let key_id: Option<String> = get(row, "audit_log", "actor_key")?;
    let role: Option<String> = get(row, "audit_log", "actor_role")?;
    let address: Option<String> = get(row, "audit_log", "client_address")?;
    let operation: Option<String> = get(row, "audit_log", "operation")?;
    match (key_id, role, address, operation) {
        (None, None, None, None) => Ok(None),
        (Some(key_id), Some(role), Some(address), Some(operation)) => Ok(Some(AuditActor {
            key_id,
            role,
            address,
            operation,
        })),
        (key_id, ..) => Err(StoreError::Corrupt {
            table: "audit_log",
            column: "actor_key",
            row: format!(
                "tenant '{}' seq {}",
                get::<String>(row, "audit_log", "tenant")?,
                get::<i64>(row, "audit_log", "seq")?
            ),
            value: key_id.unwrap_or_default(),
            detail: "a person's record sets actor_key, actor_role, client_address and operation together".into(),
        }),
    }
}
