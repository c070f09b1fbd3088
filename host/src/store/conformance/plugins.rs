//! [`PluginStore`](crate::store::PluginStore)'s contract (with the API keys a
//! release's actor holds): uploads, conflicts, reviewer decisions and the MACs
//! set once on records written before they were signed.

use std::sync::Arc;

use crate::store::{
    ApiKeyRecord, ReleaseEvent, ReleaseEventKind, Store, StoredPluginVersion,
    UnsealedReleaseRecords,
};

pub(crate) async fn api_keys_plugin_versions_and_release_events_round_trip(store: Arc<dyn Store>) {
    assert!(store.create_tenant("acme", 1).await.unwrap());
    assert!(
        !store.create_tenant("acme", 2).await.unwrap(),
        "a second create changes nothing"
    );
    assert!(!store.has_platform_admin_key().await.unwrap());
    let key = ApiKeyRecord {
        key_hash: "ab".repeat(32),
        tenant: None,
        role: "platform-admin".into(),
        label: "ops".into(),
        created_at_ms: 3,
    };
    store.insert_api_key(&key).await.unwrap();
    assert!(store.has_platform_admin_key().await.unwrap());
    assert_eq!(
        store.api_key(&key.key_hash).await.unwrap(),
        Some(key.clone())
    );
    // A tenant key without a tenant is refused by the schema.
    let orphan = ApiKeyRecord {
        key_hash: "cd".repeat(32),
        role: "developer".into(),
        ..key
    };
    assert!(store.insert_api_key(&orphan).await.is_err());

    let version = StoredPluginVersion {
        tenant: "acme".into(),
        plugin: "greeter".into(),
        version: "1.0.0".into(),
        world: "call-flow".into(),
        component: vec![0, 97, 115, 109],
        manifest: "name = \"greeter\"".into(),
        component_digest: "sha256:c".into(),
        manifest_digest: "sha256:m".into(),
        uploaded_by: "dev".into(),
        uploaded_at_ms: 4,
        mac: Some("00ff".into()),
    };
    store.insert_plugin_version(&version).await.unwrap();
    let again = StoredPluginVersion {
        component: vec![1],
        ..version.clone()
    };
    let err = store.insert_plugin_version(&again).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin 'greeter' version 1.0.0 already exists for tenant 'acme'"
    );
    assert_eq!(
        store.plugin_versions("acme", "greeter").await.unwrap(),
        [version]
    );
    assert!(
        store
            .plugin_versions("other", "greeter")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.plugin_names("acme").await.unwrap(), ["greeter"]);

    let approve = ReleaseEvent {
        tenant: "acme".into(),
        plugin: "greeter".into(),
        kind: ReleaseEventKind::Approve,
        version: Some("1.0.0".into()),
        actor: "rita".into(),
        component_digest: Some("sha256:c".into()),
        manifest_digest: Some("sha256:m".into()),
        at_ms: 5,
        mac: Some("abcd".into()),
    };
    let roll_back = ReleaseEvent {
        kind: ReleaseEventKind::RollBack,
        version: None,
        component_digest: None,
        manifest_digest: None,
        mac: None,
        ..approve.clone()
    };
    store.append_release_event(&approve).await.unwrap();
    store.append_release_event(&roll_back).await.unwrap();
    assert_eq!(
        store.release_events("acme", "greeter").await.unwrap(),
        [approve.clone(), roll_back.clone()]
    );
    // Only the roll-back has no MAC; signing sets it once, never over one.
    let unsealed = store.unsealed_release_records().await.unwrap();
    assert_eq!(
        unsealed,
        UnsealedReleaseRecords {
            uploads: vec![],
            events: vec![(2, roll_back.clone())],
            sealed: 2,
        }
    );
    let sealed = store
        .seal_release_records(
            &[(1, "0000".into())],
            &[(1, "0000".into()), (2, "beef".into())],
        )
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    let events = store.release_events("acme", "greeter").await.unwrap();
    assert_eq!(events[0].mac.as_deref(), Some("abcd"));
    assert_eq!(events[1].mac.as_deref(), Some("beef"));
    assert_eq!(
        store.plugin_versions("acme", "greeter").await.unwrap()[0]
            .mac
            .as_deref(),
        Some("00ff")
    );
    assert!(
        store
            .release_events("other", "greeter")
            .await
            .unwrap()
            .is_empty()
    );
}
