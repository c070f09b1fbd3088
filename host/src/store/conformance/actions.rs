//! [`TagStore`](crate::store::TagStore) and [`OutboxStore`]'s contract: what an
//! allowed data action writes about a lead, and the calls it happened in.

use std::sync::Arc;

use serde_json::json;

use super::lead;
use crate::consent::Channel;
use crate::store::{CallStart, MessageStatus, NewMessage, NewTag, OutboxStore, Store, StoreError};

pub(crate) async fn tags_messages_and_calls(store: Arc<dyn Store>) {
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    let tag = NewTag {
        tenant: "acme".into(),
        lead_id: "l-1".into(),
        tag: "hot".into(),
        call_id: "c-1".into(),
        plugin: "qualifier".into(),
        created_at_ms: 5,
    };
    let id = store.insert_tag(&tag).await.unwrap();
    assert_eq!(store.lead_tags("acme", "l-1").await.unwrap()[0].id, id);
    let err = store
        .insert_tag(&NewTag {
            tenant: "other".into(),
            ..tag
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown lead 'l-1' for tenant 'other'");

    let message = NewMessage {
        tenant: "acme".into(),
        lead_id: "l-1".into(),
        channel: Channel::Sms,
        template: "reminder".into(),
        params: json!(["a", 1]),
        call_id: "c-1".into(),
        created_at_ms: 7,
    };
    let id = store.enqueue_message(&message).await.unwrap();
    let queued = &store.outbox("acme", "l-1").await.unwrap()[0];
    assert_eq!(
        (
            queued.id,
            queued.status,
            queued.address.as_deref(),
            queued.params.clone()
        ),
        (id, MessageStatus::Queued, None, Some(json!(["a", 1])))
    );
    assert!(matches!(
        store
            .set_message_status("other", id, MessageStatus::Sent, None, 8)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let start = CallStart {
        tenant: "acme".into(),
        call_id: "c-1".into(),
        plugin: "reminder".into(),
        plugin_version: "1.0.0".into(),
        component_digest: "sha256:00".into(),
        lead_id: Some("l-1".into()),
        started_at_ms: 100,
    };
    store.record_call_start(&start).await.unwrap();
    assert!(
        matches!(
            store.record_call_start(&start).await,
            Err(StoreError::Database { .. })
        ),
        "a call starts once"
    );
    store
        .record_call_end("acme", "c-1", 200, &json!({"actions": 2}))
        .await
        .unwrap();
    let call = store.call("acme", "c-1").await.unwrap().unwrap();
    assert_eq!(
        (call.ended_at_ms, call.result),
        (Some(200), Some(json!({"actions": 2})))
    );
    assert_eq!(store.call("other", "c-1").await.unwrap(), None);
    let err = store
        .record_call_end("acme", "c-2", 1, &json!(null))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "call 'c-2' not found for tenant 'acme'");
}

/// A status change records the address the message went to and keeps it when a
/// later change gives none; a message id of another tenant is not found.
pub(crate) async fn a_message_status_records_its_address(store: Arc<dyn Store>) {
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    let outbox: Arc<dyn OutboxStore> = store;
    let message = NewMessage {
        tenant: "acme".into(),
        lead_id: "l-1".into(),
        channel: Channel::Email,
        template: "receipt".into(),
        params: json!({}),
        call_id: "c-1".into(),
        created_at_ms: 7,
    };
    let id = outbox.enqueue_message(&message).await.unwrap();
    outbox
        .set_message_status("acme", id, MessageStatus::Sent, Some("ada@example.org"), 8)
        .await
        .unwrap();
    outbox
        .set_message_status("acme", id, MessageStatus::Failed, None, 9)
        .await
        .unwrap();
    let stored = &outbox.outbox("acme", "l-1").await.unwrap()[0];
    assert_eq!(
        (
            stored.status,
            stored.address.as_deref(),
            stored.updated_at_ms
        ),
        (MessageStatus::Failed, Some("ada@example.org"), 9)
    );
    let err = outbox
        .set_message_status("acme", id + 1, MessageStatus::Sent, None, 10)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("message {} not found for tenant 'acme'", id + 1)
    );
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(outbox.outbox("other", "l-1").await.unwrap().is_empty());
}
