//! The message outbox: [`OutboxStore`], the messages allowed `send_message`
//! actions queue, and their status.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreError;
use crate::consent::{Channel, ParseError};

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MessageStatus {
    /// Waiting for the sender.
    Queued,
    /// Handed to the channel's provider.
    Sent,
    /// The provider refused it.
    Failed,
    /// Dropped before sending (the lead was erased).
    Cancelled,
}

impl MessageStatus {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageStatus {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "queued" => Ok(MessageStatus::Queued),
            "sent" => Ok(MessageStatus::Sent),
            "failed" => Ok(MessageStatus::Failed),
            "cancelled" => Ok(MessageStatus::Cancelled),
            _ => Err(ParseError {
                kind: "message status",
                value: s.to_owned(),
                allowed: "queued, sent, failed, cancelled".to_owned(),
            }),
        }
    }
}

/// A message to queue (after `decide` allowed it on its channel). It carries no
/// address: the host resolves that from the lead record when it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The tenant.
    pub tenant: String,
    /// The recipient lead.
    pub lead_id: String,
    /// The channel (consent was checked for exactly this one).
    pub channel: Channel,
    /// The tenant's template name.
    pub template: String,
    /// Template parameters (any JSON value).
    pub params: Value,
    /// The call whose plugin asked for it.
    pub call_id: String,
    /// Host clock.
    pub created_at_ms: i64,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Row id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The recipient lead.
    pub lead_id: String,
    /// The channel.
    pub channel: Channel,
    /// The template name.
    pub template: String,
    /// Template parameters; `None` once the lead was erased.
    pub params: Option<Value>,
    /// The call whose plugin asked for it.
    pub call_id: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// The address it was sent to, filled by the host at send time.
    pub address: Option<String>,
    /// Host clock at enqueue.
    pub created_at_ms: i64,
    /// Host clock at the last status change.
    pub updated_at_ms: i64,
}

/// The message outbox: messages queued after the data gate allowed them on their
/// channel, their status as the sender reports it, and a lead's messages for its
/// access and portability requests. An erasure strips and cancels a lead's
/// messages (see [`super::LeadStore::erase_lead`]).
///
/// Every method touches only the named tenant's rows; `async_trait` because
/// callers hold an `Arc<dyn OutboxStore>`.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Queues a message; returns its id.
    async fn enqueue_message(&self, message: &NewMessage) -> Result<i64, StoreError>;

    /// Sets a message's status, and the address it was sent to.
    async fn set_message_status(
        &self,
        tenant: &str,
        message_id: i64,
        status: MessageStatus,
        address: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// A lead's messages, oldest first.
    async fn outbox(&self, tenant: &str, lead_id: &str) -> Result<Vec<OutboxMessage>, StoreError>;
}
