//! [`TagStore`] for [`SqliteStore`]: CRM tags, written only to a live lead.

use async_trait::async_trait;

use super::leads::require_live_lead;
use super::{SqliteStore, commit_error, database, get};
use crate::store::{LeadTag, NewTag, StoreError, TagStore};

#[async_trait]
impl TagStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tag.tenant, call_id = %tag.call_id), err(level = "debug"))]
    async fn insert_tag(&self, tag: &NewTag) -> Result<i64, StoreError> {
        let action = format!("tagging lead '{}' of tenant '{}'", tag.lead_id, tag.tenant);
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &tag.tenant, &tag.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO lead_tags (tenant, lead_id, tag, call_id, plugin, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(&tag.tenant)
        .bind(&tag.lead_id)
        .bind(&tag.tag)
        .bind(&tag.call_id)
        .bind(&tag.plugin)
        .bind(tag.created_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn lead_tags(&self, tenant: &str, lead_id: &str) -> Result<Vec<LeadTag>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, tag, call_id, plugin, created_at_ms FROM lead_tags \
             WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading tags of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(LeadTag {
                    id: get(row, "lead_tags", "id")?,
                    tenant: get(row, "lead_tags", "tenant")?,
                    lead_id: get(row, "lead_tags", "lead_id")?,
                    tag: get(row, "lead_tags", "tag")?,
                    call_id: get(row, "lead_tags", "call_id")?,
                    plugin: get(row, "lead_tags", "plugin")?,
                    created_at_ms: get(row, "lead_tags", "created_at_ms")?,
                })
            })
            .collect()
    }
}
