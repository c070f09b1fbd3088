//! [`OutboxStore`] for [`SqliteStore`]: the message outbox, queued only for a live lead.

use async_trait::async_trait;

use super::leads::require_live_lead;
use super::{SqliteStore, commit_error, database, get, parse, parse_json};
use crate::store::{MessageStatus, NewMessage, OutboxMessage, OutboxStore, StoreError};

#[async_trait]
impl OutboxStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %message.tenant, call_id = %message.call_id, channel = %message.channel), err(level = "debug"))]
    async fn enqueue_message(&self, message: &NewMessage) -> Result<i64, StoreError> {
        let action = format!(
            "queueing a {} message for lead '{}' of tenant '{}'",
            message.channel, message.lead_id, message.tenant
        );
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &message.tenant, &message.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO message_outbox (tenant, lead_id, channel, template, params, call_id, \
                 status, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7) RETURNING id",
        )
        .bind(&message.tenant)
        .bind(&message.lead_id)
        .bind(message.channel.as_str())
        .bind(&message.template)
        .bind(message.params.to_string())
        .bind(&message.call_id)
        .bind(message.created_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, message_id = message_id), err(level = "debug"))]
    async fn set_message_status(
        &self,
        tenant: &str,
        message_id: i64,
        status: MessageStatus,
        address: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE message_outbox SET status = ?3, address = COALESCE(?4, address), \
                 updated_at_ms = ?5 WHERE tenant = ?1 AND id = ?2",
        )
        .bind(tenant)
        .bind(message_id)
        .bind(status.as_str())
        .bind(address)
        .bind(at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!("updating message {message_id} of tenant '{tenant}'"),
                e,
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                tenant: tenant.into(),
                what: format!("message {message_id}"),
            });
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn outbox(&self, tenant: &str, lead_id: &str) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, channel, template, params, call_id, status, address, \
                 created_at_ms, updated_at_ms \
             FROM message_outbox WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading messages of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter()
            .map(|row| {
                let id: i64 = get(row, "message_outbox", "id")?;
                let which = || format!("message {id}");
                let params = match get::<Option<String>>(row, "message_outbox", "params")? {
                    None => None,
                    Some(text) => Some(parse_json("message_outbox", "params", which, text)?),
                };
                Ok(OutboxMessage {
                    id,
                    tenant: get(row, "message_outbox", "tenant")?,
                    lead_id: get(row, "message_outbox", "lead_id")?,
                    channel: parse(
                        "message_outbox",
                        "channel",
                        which,
                        get(row, "message_outbox", "channel")?,
                    )?,
                    template: get(row, "message_outbox", "template")?,
                    params,
                    call_id: get(row, "message_outbox", "call_id")?,
                    status: parse(
                        "message_outbox",
                        "status",
                        which,
                        get(row, "message_outbox", "status")?,
                    )?,
                    address: get(row, "message_outbox", "address")?,
                    created_at_ms: get(row, "message_outbox", "created_at_ms")?,
                    updated_at_ms: get(row, "message_outbox", "updated_at_ms")?,
                })
            })
            .collect()
    }
}
