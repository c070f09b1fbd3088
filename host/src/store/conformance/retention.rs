//! [`RetentionStore`]'s contract: policies, and a purge that removes exactly what
//! is older than its cutoffs, of its tenant only.

use std::sync::Arc;

use serde_json::json;

use crate::consent::Channel;
use crate::store::{CallStart, Lead, NewMessage, RetentionPolicy, RetentionStore, Store};

const DAY: i64 = 86_400_000;

pub(crate) async fn purge_removes_only_what_is_older_and_only_of_its_tenant(store: Arc<dyn Store>) {
    let now = 100 * DAY;
    for tenant in ["a", "b"] {
        store.upsert_lead(&Lead::new(tenant, "l")).await.unwrap();
        for (id, at) in [("old", now - 31 * DAY), ("new", now - 29 * DAY)] {
            store
                .record_call_start(&CallStart {
                    tenant: tenant.into(),
                    call_id: id.into(),
                    plugin: "p".into(),
                    plugin_version: "1.0.0".into(),
                    component_digest: "sha256:00".into(),
                    lead_id: Some("l".into()),
                    started_at_ms: at - 1000,
                })
                .await
                .unwrap();
            store
                .record_call_end(tenant, id, at, &json!({"actions": []}))
                .await
                .unwrap();
            store
                .enqueue_message(&NewMessage {
                    tenant: tenant.into(),
                    lead_id: "l".into(),
                    channel: Channel::Sms,
                    template: "t".into(),
                    params: json!({}),
                    call_id: id.into(),
                    created_at_ms: at,
                })
                .await
                .unwrap();
        }
    }
    let policy = RetentionPolicy {
        tenant: "a".into(),
        calls_days: Some(30),
        messages_days: None,
        updated_at_ms: now,
    };
    store.set_retention_policy(&policy).await.unwrap();
    assert_eq!(store.retention_policy("a").await.unwrap(), Some(policy));
    assert_eq!(store.retention_policy("b").await.unwrap(), None);

    let counts = store
        .purge_before("a", Some(now - 30 * DAY), None)
        .await
        .unwrap();
    assert_eq!((counts.calls, counts.messages), (1, 0));
    assert!(store.call("a", "old").await.unwrap().is_none());
    assert!(store.call("a", "new").await.unwrap().is_some());
    assert_eq!(store.outbox("a", "l").await.unwrap().len(), 2);
    let counts = store
        .purge_before("a", None, Some(now - 30 * DAY))
        .await
        .unwrap();
    assert_eq!((counts.calls, counts.messages), (0, 1));
    assert_eq!(store.outbox("a", "l").await.unwrap().len(), 1);
    assert!(store.call("b", "old").await.unwrap().is_some());
    assert_eq!(store.outbox("b", "l").await.unwrap().len(), 2);
}

/// A policy set again replaces the first; every tenant's policy lists by
/// tenant. A call that never ended (its host stopped mid-call) goes once it
/// started before the cutoff; one started after it stays.
pub(crate) async fn policies_are_replaced_and_listed_and_unended_calls_purged(
    store: Arc<dyn Store>,
) {
    let retention: Arc<dyn RetentionStore> = store.clone();
    assert!(retention.retention_policies().await.unwrap().is_empty());
    let policy = |tenant: &str, calls_days| RetentionPolicy {
        tenant: tenant.into(),
        calls_days,
        messages_days: Some(90),
        updated_at_ms: 5,
    };
    retention
        .set_retention_policy(&policy("b", Some(7)))
        .await
        .unwrap();
    retention
        .set_retention_policy(&policy("a", Some(30)))
        .await
        .unwrap();
    retention
        .set_retention_policy(&policy("a", None))
        .await
        .unwrap();
    assert_eq!(
        retention.retention_policies().await.unwrap(),
        [policy("a", None), policy("b", Some(7))]
    );
    for (call_id, started_at_ms) in [("stale", 1_000), ("recent", 9_000)] {
        store
            .record_call_start(&CallStart {
                tenant: "a".into(),
                call_id: call_id.into(),
                plugin: "p".into(),
                plugin_version: "1.0.0".into(),
                component_digest: "sha256:00".into(),
                lead_id: None,
                started_at_ms,
            })
            .await
            .unwrap();
    }
    let counts = retention
        .purge_before("a", Some(5_000), None)
        .await
        .unwrap();
    assert_eq!((counts.calls, counts.messages), (1, 0));
    assert!(store.call("a", "stale").await.unwrap().is_none());
    assert!(store.call("a", "recent").await.unwrap().is_some());
    let nothing = retention.purge_before("a", None, None).await.unwrap();
    assert_eq!((nothing.calls, nothing.messages), (0, 0));
}
