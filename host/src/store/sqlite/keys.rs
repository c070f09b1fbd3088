//! [`KeyStore`] for [`SqliteStore`]: tenants and their API keys' hashes.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::{SqliteStore, database, get, now_ms};
use crate::store::{ApiKeyRecord, KeyStore, StoreError};

#[async_trait]
impl KeyStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn ensure_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
        ensure_tenant_in(&mut conn, tenant, now_ms()).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn create_tenant(&self, tenant: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tenants (id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(tenant)
        .bind(at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(role = %key.role), err(level = "debug"))]
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_hash, tenant, role, label, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&key.key_hash)
        .bind(&key.tenant)
        .bind(&key.role)
        .bind(&key.label)
        .bind(key.created_at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| database(format!("storing a {} key", key.role), e))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, tenant, role, label, created_at_ms FROM api_keys WHERE key_hash = ?1",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database("looking up an API key", e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            key_hash: get(&row, "api_keys", "key_hash")?,
            tenant: get(&row, "api_keys", "tenant")?,
            role: get(&row, "api_keys", "role")?,
            label: get(&row, "api_keys", "label")?,
            created_at_ms: get(&row, "api_keys", "created_at_ms")?,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn has_platform_admin_key(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'platform-admin')")
            .fetch_one(&self.reader)
            .await
            .map_err(|e| database("looking for a platform admin key", e))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_hash, tenant, role, label, created_at_ms FROM api_keys \
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at_ms, key_hash",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database("listing API keys", e))?;
        rows.iter()
            .map(|row| {
                Ok(ApiKeyRecord {
                    key_hash: get(row, "api_keys", "key_hash")?,
                    tenant: get(row, "api_keys", "tenant")?,
                    role: get(row, "api_keys", "role")?,
                    label: get(row, "api_keys", "label")?,
                    created_at_ms: get(row, "api_keys", "created_at_ms")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn delete_api_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE key_hash = ?1")
            .bind(key_hash)
            .execute(&self.writer)
            .await
            .map_err(|e| database("revoking an API key", e))?;
        Ok(done.rows_affected() == 1)
    }
}

/// Creates the tenant inside `conn`'s transaction if it does not exist yet: every
/// write that names a tenant for the first time makes its row.
pub(super) async fn ensure_tenant_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenants (id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(tenant)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
    Ok(())
}
