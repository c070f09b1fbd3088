//! [`PluginStore`] for [`SqliteStore`]: uploaded plugin versions and reviewer
//! decisions, and the signing of records written before they carried a MAC.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

use super::keys::ensure_tenant_in;
use super::{SqliteStore, commit_error, database, get, now_ms, parse};
use crate::store::{
    PluginStore, ReleaseEvent, StoreError, StoredPluginVersion, UnsealedReleaseRecords,
};

#[async_trait]
impl PluginStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %version.tenant, plugin = %version.plugin), err(level = "debug"))]
    async fn insert_plugin_version(&self, version: &StoredPluginVersion) -> Result<(), StoreError> {
        let action = format!(
            "storing plugin '{}' version {} of tenant '{}'",
            version.plugin, version.version, version.tenant
        );
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &version.tenant, now_ms()).await?;
        let done = sqlx::query(
            "INSERT INTO plugin_versions (tenant, plugin, version, world, component, manifest, \
                 component_digest, manifest_digest, uploaded_by, uploaded_at_ms, mac) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (tenant, plugin, version) DO NOTHING",
        )
        .bind(&version.tenant)
        .bind(&version.plugin)
        .bind(&version.version)
        .bind(&version.world)
        .bind(&version.component)
        .bind(&version.manifest)
        .bind(&version.component_digest)
        .bind(&version.manifest_digest)
        .bind(&version.uploaded_by)
        .bind(version.uploaded_at_ms)
        .bind(&version.mac)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                tenant: version.tenant.clone(),
                what: format!("plugin '{}' version {}", version.plugin, version.version),
            });
        }
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, plugin = %plugin), err(level = "debug"))]
    async fn plugin_versions(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<StoredPluginVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, plugin, version, world, component, manifest, component_digest, \
                 manifest_digest, uploaded_by, uploaded_at_ms, mac \
             FROM plugin_versions WHERE tenant = ?1 AND plugin = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(plugin)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("reading plugin '{plugin}' of tenant '{tenant}'"), e))?;
        rows.iter()
            .map(|row| plugin_version_from_row(row, true))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn plugin_names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT DISTINCT plugin FROM plugin_versions WHERE tenant = ?1 ORDER BY plugin",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("listing the plugins of tenant '{tenant}'"), e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %event.tenant, plugin = %event.plugin), err(level = "debug"))]
    async fn append_release_event(&self, event: &ReleaseEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plugin_release_events (tenant, plugin, kind, version, actor, \
                 component_digest, manifest_digest, at_ms, mac) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&event.tenant)
        .bind(&event.plugin)
        .bind(event.kind.as_str())
        .bind(&event.version)
        .bind(&event.actor)
        .bind(&event.component_digest)
        .bind(&event.manifest_digest)
        .bind(event.at_ms)
        .bind(&event.mac)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!(
                    "recording {} of plugin '{}' of tenant '{}'",
                    event.kind.as_str(),
                    event.plugin,
                    event.tenant
                ),
                e,
            )
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, plugin = %plugin), err(level = "debug"))]
    async fn release_events(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<ReleaseEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, plugin, kind, version, actor, component_digest, manifest_digest, \
                 at_ms, mac FROM plugin_release_events WHERE tenant = ?1 AND plugin = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(plugin)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading the releases of plugin '{plugin}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter().map(release_event_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn unsealed_release_records(&self) -> Result<UnsealedReleaseRecords, StoreError> {
        let action = || "reading the release records that have no MAC".to_owned();
        let uploads = sqlx::query(
            "SELECT id, tenant, plugin, version, world, X'' AS component, manifest, \
                 component_digest, manifest_digest, uploaded_by, uploaded_at_ms, mac \
             FROM plugin_versions WHERE mac IS NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        let events = sqlx::query(
            "SELECT id, tenant, plugin, kind, version, actor, component_digest, manifest_digest, \
                 at_ms, mac FROM plugin_release_events WHERE mac IS NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        let sealed: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM plugin_versions WHERE mac IS NOT NULL) \
                  + (SELECT COUNT(*) FROM plugin_release_events WHERE mac IS NOT NULL)",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        Ok(UnsealedReleaseRecords {
            uploads: uploads
                .iter()
                .map(|row| {
                    Ok((
                        get(row, "plugin_versions", "id")?,
                        plugin_version_from_row(row, false)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            events: events
                .iter()
                .map(|row| {
                    Ok((
                        get(row, "plugin_release_events", "id")?,
                        release_event_from_row(row)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            sealed: sealed as u64,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(uploads = uploads.len(), events = events.len()), err(level = "debug"))]
    async fn seal_release_records(
        &self,
        uploads: &[(i64, String)],
        events: &[(i64, String)],
    ) -> Result<u64, StoreError> {
        let action = "signing the release records written before records were signed".to_owned();
        let mut tx = self.begin(&action).await?;
        let mut sealed = 0;
        for (sql, rows) in [
            (
                "UPDATE plugin_versions SET mac = ?2 WHERE id = ?1 AND mac IS NULL",
                uploads,
            ),
            (
                "UPDATE plugin_release_events SET mac = ?2 WHERE id = ?1 AND mac IS NULL",
                events,
            ),
        ] {
            for (id, mac) in rows {
                sealed += sqlx::query(sql)
                    .bind(id)
                    .bind(mac)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| database(action.clone(), e))?
                    .rows_affected();
            }
        }
        tx.commit().await.map_err(commit_error(action))?;
        Ok(sealed)
    }
}

/// An upload row; its component bytes only if `with_component` (the query
/// must select a `component` column either way).
fn plugin_version_from_row(
    row: &SqliteRow,
    with_component: bool,
) -> Result<StoredPluginVersion, StoreError> {
    let table = "plugin_versions";
    Ok(StoredPluginVersion {
        tenant: get(row, table, "tenant")?,
        plugin: get(row, table, "plugin")?,
        version: get(row, table, "version")?,
        world: get(row, table, "world")?,
        component: if with_component {
            get(row, table, "component")?
        } else {
            Vec::new()
        },
        manifest: get(row, table, "manifest")?,
        component_digest: get(row, table, "component_digest")?,
        manifest_digest: get(row, table, "manifest_digest")?,
        uploaded_by: get(row, table, "uploaded_by")?,
        uploaded_at_ms: get(row, table, "uploaded_at_ms")?,
        mac: get(row, table, "mac")?,
    })
}

/// A reviewer decision row (the query selects `id` too, for messages).
fn release_event_from_row(row: &SqliteRow) -> Result<ReleaseEvent, StoreError> {
    let table = "plugin_release_events";
    let id: i64 = get(row, table, "id")?;
    Ok(ReleaseEvent {
        tenant: get(row, table, "tenant")?,
        plugin: get(row, table, "plugin")?,
        kind: parse(
            table,
            "kind",
            || format!("event {id}"),
            get(row, table, "kind")?,
        )?,
        version: get(row, table, "version")?,
        actor: get(row, table, "actor")?,
        component_digest: get(row, table, "component_digest")?,
        manifest_digest: get(row, table, "manifest_digest")?,
        at_ms: get(row, table, "at_ms")?,
        mac: get(row, table, "mac")?,
    })
}
