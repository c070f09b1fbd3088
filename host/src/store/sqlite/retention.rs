//! [`RetentionStore`] for [`SqliteStore`]: retention policies and the purge, which
//! leaves no copy of the purged rows in the WAL.

use async_trait::async_trait;

use super::{SqliteStore, database, get, now_ms};
use crate::store::{PurgeCounts, RetentionPolicy, RetentionStore, StoreError};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn set_retention_policy(&self, policy: &RetentionPolicy) -> Result<(), StoreError> {
        set_policy(self, policy).await
    }

    async fn retention_policy(&self, tenant: &str) -> Result<Option<RetentionPolicy>, StoreError> {
        policy(self, tenant).await
    }

    async fn retention_policies(&self) -> Result<Vec<RetentionPolicy>, StoreError> {
        policies(self).await
    }

    async fn purge_before(
        &self,
        tenant: &str,
        calls_before_ms: Option<i64>,
        messages_before_ms: Option<i64>,
    ) -> Result<PurgeCounts, StoreError> {
        purge_before(self, tenant, calls_before_ms, messages_before_ms).await
    }
}

fn policy_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RetentionPolicy, StoreError> {
    let table = "retention_policies";
    let days = |column: &'static str| -> Result<Option<u32>, StoreError> {
        let value: Option<i64> = get(row, table, column)?;
        value
            .map(|v| {
                u32::try_from(v).map_err(|e| StoreError::Corrupt {
                    table,
                    column,
                    row: "retention policy".into(),
                    value: v.to_string(),
                    detail: e.to_string(),
                })
            })
            .transpose()
    };
    Ok(RetentionPolicy {
        tenant: get(row, table, "tenant")?,
        calls_days: days("calls_days")?,
        messages_days: days("messages_days")?,
        updated_at_ms: get(row, table, "updated_at_ms")?,
    })
}

/// See [`crate::store::RetentionStore::set_retention_policy`].
pub(super) async fn set_policy(
    store: &SqliteStore,
    policy: &RetentionPolicy,
) -> Result<(), StoreError> {
    let action = format!("setting the retention policy of tenant '{}'", policy.tenant);
    let mut tx = store.begin(&action).await?;
    super::keys::ensure_tenant_in(&mut tx, &policy.tenant, now_ms()).await?;
    sqlx::query(
        "INSERT INTO retention_policies (tenant, calls_days, messages_days, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant) DO UPDATE SET \
         calls_days = excluded.calls_days, messages_days = excluded.messages_days, \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(&policy.tenant)
    .bind(policy.calls_days.map(i64::from))
    .bind(policy.messages_days.map(i64::from))
    .bind(policy.updated_at_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| database(action.clone(), e))?;
    tx.commit().await.map_err(super::commit_error(action))
}

/// See [`crate::store::RetentionStore::retention_policy`].
pub(super) async fn policy(
    store: &SqliteStore,
    tenant: &str,
) -> Result<Option<RetentionPolicy>, StoreError> {
    let row = sqlx::query(
        "SELECT tenant, calls_days, messages_days, updated_at_ms FROM retention_policies \
         WHERE tenant = ?1",
    )
    .bind(tenant)
    .fetch_optional(&store.reader)
    .await
    .map_err(|e| {
        database(
            format!("reading the retention policy of tenant '{tenant}'"),
            e,
        )
    })?;
    row.as_ref().map(policy_from_row).transpose()
}

/// See [`crate::store::RetentionStore::retention_policies`].
pub(super) async fn policies(store: &SqliteStore) -> Result<Vec<RetentionPolicy>, StoreError> {
    let rows = sqlx::query(
        "SELECT tenant, calls_days, messages_days, updated_at_ms FROM retention_policies \
         ORDER BY tenant",
    )
    .fetch_all(&store.reader)
    .await
    .map_err(|e| database("reading the retention policies", e))?;
    rows.iter().map(policy_from_row).collect()
}

/// See [`crate::store::RetentionStore::purge_before`].
pub(super) async fn purge_before(
    store: &SqliteStore,
    tenant: &str,
    calls_before_ms: Option<i64>,
    messages_before_ms: Option<i64>,
) -> Result<PurgeCounts, StoreError> {
    let action = format!("purging expired calls and messages of tenant '{tenant}'");
    let mut tx = store.begin(&action).await?;
    let mut counts = PurgeCounts::default();
    if let Some(before) = calls_before_ms {
        counts.calls = sqlx::query(
            "DELETE FROM calls WHERE tenant = ?1 AND (ended_at_ms < ?2 \
             OR (ended_at_ms IS NULL AND started_at_ms < ?2))",
        )
        .bind(tenant)
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?
        .rows_affected();
    }
    if let Some(before) = messages_before_ms {
        counts.messages =
            sqlx::query("DELETE FROM message_outbox WHERE tenant = ?1 AND created_at_ms < ?2")
                .bind(tenant)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(|e| database(action.clone(), e))?
                .rows_affected();
    }
    tx.commit()
        .await
        .map_err(super::commit_error(action.clone()))?;
    if counts.calls + counts.messages > 0 {
        // The rows are gone; a copy left in the WAL goes at the next truncation
        // (the next purge, erasure or shutdown), so a failure here does not undo
        // the purge or keep it from being audited.
        if let Err(error) = store.truncate_wal(&action).await {
            tracing::warn!(tenant, %error, "purged rows may be left in the WAL until the next purge, erasure or shutdown");
        }
    }
    Ok(counts)
}
