use serde_json::json;

use super::*;
use crate::consent::{AgeStatus, Channel, DataField, LeadState, Purpose};
use crate::store::{
    ApiKeyRecord, CallStart, CallStore, KeyStore, Lead, LeadStore, LeadUpdate, MessageStatus,
    NewConsent, NewMessage, NewTag, OutboxStore, PluginStore, ReleaseEvent, StoredPluginVersion,
    TagStore, UnsealedReleaseRecords,
};

fn lead(tenant: &str, id: &str) -> Lead {
    Lead {
        name: Some("Ada Lovelace".into()),
        phone: Some("+44 20 7946 0000".into()),
        email: Some("ada@example.org".into()),
        location: Some("London".into()),
        language: Some("en".into()),
        preferences: Some(
            json!({"preferred_time": "mornings"})
                .as_object()
                .cloned()
                .unwrap(),
        ),
        age: AgeStatus::Adult,
        ..Lead::new(tenant, id)
    }
}

fn consent(tenant: &str, lead_id: &str, purpose: Purpose, channel: Option<Channel>) -> NewConsent {
    NewConsent {
        tenant: tenant.into(),
        lead_id: lead_id.into(),
        purpose,
        channel,
        granted_at_ms: 1_000,
        expires_at_ms: Some(9_000),
        source: "web-form".into(),
        evidence: "form-17".into(),
        parental: false,
    }
}

/// The minor rule at the store: an inserted minor is erased in the insert
/// (and named), an adult is not; a correction to minor erases unless a
/// parental consent is in force (an expired or withdrawn one does not count,
/// nor a non-parental one), and a snapshot cached before the correction is
/// dropped, so the next decision sees the erasure.
#[tokio::test]
async fn a_minor_written_without_parental_consent_is_erased_in_the_same_write() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let child = Lead {
        age: AgeStatus::Minor,
        ..lead("acme", "l-child")
    };
    let erased = store
        .insert_leads("acme", &[lead("acme", "l-1"), child, lead("acme", "l-2")])
        .await
        .unwrap();
    assert_eq!(erased, ["l-child"]);
    let stored = store.lead("acme", "l-child").await.unwrap().unwrap();
    assert!(
        stored.erased_at_ms.is_some() && stored.name.is_none(),
        "{stored:?}"
    );
    assert_eq!(stored.age, AgeStatus::Minor);

    let to_minor = LeadUpdate {
        age: Some(AgeStatus::Minor),
        ..LeadUpdate::default()
    };
    let in_force = |parental| NewConsent {
        expires_at_ms: None,
        parental,
        ..consent("acme", "l-1", Purpose::CallHandling, None)
    };
    // l-1: a non-parental consent in force, a parental one expired, a
    // parental one withdrawn: none counts.
    store.grant_consent(&in_force(false)).await.unwrap();
    store
        .grant_consent(&NewConsent {
            parental: true,
            ..consent("acme", "l-1", Purpose::CallHandling, None)
        })
        .await
        .unwrap();
    let withdrawn = store.grant_consent(&in_force(true)).await.unwrap();
    store
        .withdraw_consent("acme", withdrawn.id, 2_000)
        .await
        .unwrap();
    let before = store.lead_snapshot("acme", "l-1").await.unwrap();
    assert!(before.lead.as_ref().unwrap().erased_at_ms.is_none());
    let corrected = store.update_lead("acme", "l-1", &to_minor).await.unwrap();
    assert!(
        corrected.erased_at_ms.is_some() && corrected.phone.is_none(),
        "{corrected:?}"
    );
    let after = store.lead_snapshot("acme", "l-1").await.unwrap();
    assert!(
        after.lead.as_ref().unwrap().erased_at_ms.is_some(),
        "the cached snapshot was dropped"
    );

    // l-2: a parental consent in force keeps the lead.
    store
        .grant_consent(&NewConsent {
            lead_id: "l-2".into(),
            ..in_force(true)
        })
        .await
        .unwrap();
    let kept = store.update_lead("acme", "l-2", &to_minor).await.unwrap();
    assert!(kept.erased_at_ms.is_none(), "{kept:?}");
    assert_eq!((kept.age, kept.phone.is_some()), (AgeStatus::Minor, true));
}

#[tokio::test]
async fn the_file_is_durable_wal_and_checks_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data")).await.unwrap();
    assert_eq!(store.path(), dir.path().join("data").join(DB_FILE_NAME));
    let mut conn = store.writer.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk, busy), ("wal", 2, 1, 5000));
    drop(conn);

    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    store.close().await;
    // Reopening runs the migrations again (a no-op) and finds the data.
    let reopened = SqliteStore::open(&dir.path().join("data")).await.unwrap();
    assert_eq!(
        reopened
            .lead("acme", "l-1")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Ada Lovelace")
    );
}

#[tokio::test]
async fn leads_round_trip_and_are_per_tenant() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let written = lead("acme", "l-1");
    store.upsert_lead(&written).await.unwrap();
    let read = store.lead("acme", "l-1").await.unwrap().unwrap();
    assert_eq!(
        read.field(DataField::Phone).as_deref(),
        Some("+44 20 7946 0000")
    );
    assert_eq!(
        read.field(DataField::Preferences).as_deref(),
        Some(r#"{"preferred_time":"mornings"}"#)
    );
    assert_eq!(read.preference("preferred_time"), Some(&json!("mornings")));
    assert_eq!(
        read.state(),
        LeadState {
            age: AgeStatus::Adult,
            restricted: false,
            erased: false
        }
    );
    assert!(read.created_at_ms > 0 && read.updated_at_ms >= read.created_at_ms);
    assert_eq!(
        Lead {
            created_at_ms: 0,
            updated_at_ms: 0,
            ..read.clone()
        },
        written
    );
    assert_eq!(
        store.lead("other", "l-1").await.unwrap(),
        None,
        "another tenant sees nothing"
    );

    let changed = Lead {
        restricted: true,
        email: None,
        age: AgeStatus::Minor,
        ..written
    };
    store.upsert_lead(&changed).await.unwrap();
    let read = store.lead("acme", "l-1").await.unwrap().unwrap();
    assert_eq!(
        (read.restricted, read.email, read.age),
        (true, None, AgeStatus::Minor)
    );
}

#[tokio::test]
async fn consents_are_granted_withdrawn_once_and_checked() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    let granted = store
        .grant_consent(&consent(
            "acme",
            "l-1",
            Purpose::Marketing,
            Some(Channel::Whatsapp),
        ))
        .await
        .unwrap();
    let second = store
        .grant_consent(&NewConsent {
            parental: true,
            expires_at_ms: None,
            ..consent("acme", "l-1", Purpose::CallHandling, None)
        })
        .await
        .unwrap();
    assert_eq!(
        store.consents("acme", "l-1").await.unwrap(),
        vec![granted.clone(), second.clone()]
    );

    let withdrawn = store
        .withdraw_consent("acme", granted.id, 5_000)
        .await
        .unwrap();
    assert_eq!(withdrawn.withdrawn_at_ms, Some(5_000));
    let again = store
        .withdraw_consent("acme", granted.id, 6_000)
        .await
        .unwrap();
    assert_eq!(
        again.withdrawn_at_ms,
        Some(5_000),
        "the first withdrawal time stays"
    );
    assert_eq!(store.consents("acme", "l-1").await.unwrap()[0], withdrawn);

    let err = store
        .withdraw_consent("other", granted.id, 1)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("consent {} not found for tenant 'other'", granted.id)
    );
    let err = store
        .grant_consent(&consent("acme", "nobody", Purpose::Marketing, None))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown lead 'nobody' for tenant 'acme'");
    let err = store
        .grant_consent(&NewConsent {
            expires_at_ms: Some(1_000),
            ..consent("acme", "l-1", Purpose::Marketing, None)
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expires at 1000 ms, not after it is granted at 1000 ms"),
        "{err}"
    );
    assert!(store.consents("other", "l-1").await.unwrap().is_empty());
}

#[tokio::test]
async fn erasure_clears_personal_data_and_is_final() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    store
        .grant_consent(&consent("acme", "l-1", Purpose::CrmTagging, None))
        .await
        .unwrap();
    let tag = NewTag {
        tenant: "acme".into(),
        lead_id: "l-1".into(),
        tag: "wants-loan".into(),
        call_id: "c-1".into(),
        plugin: "qualifier".into(),
        created_at_ms: 10,
    };
    store.insert_tag(&tag).await.unwrap();
    let message = NewMessage {
        tenant: "acme".into(),
        lead_id: "l-1".into(),
        channel: Channel::Whatsapp,
        template: "follow-up".into(),
        params: json!({"slot": "9:00"}),
        call_id: "c-1".into(),
        created_at_ms: 10,
    };
    let sent = store.enqueue_message(&message).await.unwrap();
    store
        .set_message_status(
            "acme",
            sent,
            MessageStatus::Sent,
            Some("+44 20 7946 0000"),
            11,
        )
        .await
        .unwrap();
    let queued = store.enqueue_message(&message).await.unwrap();

    store.erase_lead("acme", "l-1", 20).await.unwrap();
    let erased = store.lead("acme", "l-1").await.unwrap().unwrap();
    assert_eq!(
        erased,
        Lead {
            age: AgeStatus::Adult,
            erased_at_ms: Some(20),
            created_at_ms: erased.created_at_ms,
            updated_at_ms: 20,
            ..Lead::new("acme", "l-1")
        }
    );
    assert!(erased.state().erased);
    assert!(store.lead_tags("acme", "l-1").await.unwrap().is_empty());
    let outbox = store.outbox("acme", "l-1").await.unwrap();
    assert_eq!(
        outbox
            .iter()
            .map(|m| (m.id, m.status, m.address.clone(), m.params.clone()))
            .collect::<Vec<_>>(),
        vec![
            (sent, MessageStatus::Sent, None, None),
            (queued, MessageStatus::Cancelled, None, None)
        ]
    );
    assert_eq!(
        store.consents("acme", "l-1").await.unwrap().len(),
        1,
        "consents stay as evidence"
    );

    let err = store.upsert_lead(&lead("acme", "l-1")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "lead 'l-1' of tenant 'acme' was erased; it cannot be changed or given consent"
    );
    assert!(matches!(
        store.insert_tag(&tag).await,
        Err(StoreError::LeadErased { .. })
    ));
    assert!(matches!(
        store.enqueue_message(&message).await,
        Err(StoreError::LeadErased { .. })
    ));
    assert!(matches!(
        store
            .grant_consent(&consent("acme", "l-1", Purpose::Marketing, None))
            .await,
        Err(StoreError::LeadErased { .. })
    ));
    assert!(matches!(
        store.erase_lead("acme", "nobody", 1).await,
        Err(StoreError::UnknownLead { .. })
    ));
}

#[tokio::test]
async fn tags_messages_and_calls() {
    let store = SqliteStore::open_in_memory().await.unwrap();
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

#[tokio::test]
async fn a_bad_stored_value_is_named() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    // The CHECK constraints stop the host itself; drop them to simulate a foreign writer.
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&store.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE leads SET age_status = 'teen'")
        .execute(&store.writer)
        .await
        .unwrap();
    let err = store.lead("acme", "l-1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored leads.age_status of tenant 'acme' lead 'l-1' holds \"teen\": unknown age status 'teen': expected one of adult, minor, unknown"
    );
}

#[tokio::test]
async fn api_keys_plugin_versions_and_release_events_round_trip() {
    let store = SqliteStore::open_in_memory().await.unwrap();
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
        kind: crate::store::ReleaseEventKind::Approve,
        version: Some("1.0.0".into()),
        actor: "rita".into(),
        component_digest: Some("sha256:c".into()),
        manifest_digest: Some("sha256:m".into()),
        at_ms: 5,
        mac: Some("abcd".into()),
    };
    let roll_back = ReleaseEvent {
        kind: crate::store::ReleaseEventKind::RollBack,
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
