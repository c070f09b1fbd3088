//! [`LeadStore`]'s contract: leads and their updates, imports, consents, the
//! snapshot every decision reads, the minor rule and erasure.

use std::sync::Arc;

use serde_json::json;

use super::{EMAIL, NAME, PHONE, consent, lead, zebulon};
use crate::consent::{AgeStatus, Channel, DataField, LeadState, Purpose};
use crate::store::{
    CallStart, Lead, LeadStore, LeadUpdate, MessageStatus, NewConsent, NewMessage, NewTag, Store,
    StoreError, erased_call_result,
};

pub(crate) async fn leads_round_trip_and_are_per_tenant(store: Arc<dyn Store>) {
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

/// An update writes only the fields it names; an erased lead gets nothing back.
pub(crate) async fn updates_write_only_the_named_fields(store: Arc<dyn Store>) {
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    let restrict = LeadUpdate {
        restricted: Some(true),
        ..LeadUpdate::default()
    };
    let lead = store.update_lead("acme", "l-1", &restrict).await.unwrap();
    assert!(lead.restricted);
    assert_eq!(lead.name.as_deref(), Some(NAME), "untouched");
    let correct = LeadUpdate {
        name: Some(None),
        phone: Some(Some("+15550111".into())),
        ..LeadUpdate::default()
    };
    let lead = store.update_lead("acme", "l-1", &correct).await.unwrap();
    assert_eq!(
        (lead.name, lead.phone.as_deref(), lead.restricted),
        (None, Some("+15550111"), true),
        "the restriction written before stays"
    );
    assert_eq!(
        store
            .lead("acme", "l-1")
            .await
            .unwrap()
            .unwrap()
            .phone
            .as_deref(),
        Some("+15550111")
    );
    assert!(matches!(
        store.update_lead("acme", "nobody", &correct).await,
        Err(StoreError::UnknownLead { .. })
    ));
    store.erase_lead("acme", "l-1", 9).await.unwrap();
    assert!(matches!(
        store.update_lead("acme", "l-1", &correct).await,
        Err(StoreError::LeadErased { .. })
    ));
    let erased = store.lead("acme", "l-1").await.unwrap().unwrap();
    assert_eq!((erased.name, erased.phone), (None, None));
}

/// An import stores every lead or none: a lead id that exists already is named,
/// and the leads before it in the batch are not kept. Leads list by id.
pub(crate) async fn a_lead_import_is_all_or_nothing(store: Arc<dyn Store>) {
    let leads: Arc<dyn LeadStore> = store;
    assert!(leads.leads("acme").await.unwrap().is_empty());
    let erased = leads
        .insert_leads("acme", &[lead("acme", "l-2"), lead("acme", "l-1")])
        .await
        .unwrap();
    assert!(erased.is_empty());
    let err = leads
        .insert_leads("acme", &[lead("acme", "l-3"), lead("acme", "l-1")])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "lead 'l-1' already exists for tenant 'acme'"
    );
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(
        leads.lead("acme", "l-3").await.unwrap(),
        None,
        "rolled back"
    );
    let ids: Vec<String> = leads
        .leads("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.lead_id)
        .collect();
    assert_eq!(ids, ["l-1", "l-2"]);
    assert!(leads.leads("other").await.unwrap().is_empty());
}

pub(crate) async fn consents_are_granted_withdrawn_once_and_checked(store: Arc<dyn Store>) {
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

/// The snapshot a decision reads holds the lead and its consents as committed
/// by the last write before it: a grant, a withdrawal, a restriction and an
/// erasure each show in the very next snapshot. A lead the tenant does not
/// have reads as no lead and no consents.
pub(crate) async fn a_snapshot_shows_every_committed_write(store: Arc<dyn Store>) {
    let leads: Arc<dyn LeadStore> = store;
    let none = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert!(none.lead.is_none() && none.consents.is_empty());
    leads.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    let fresh = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert_eq!(fresh.lead.as_ref().unwrap().lead_id, "l-1");
    let granted = leads
        .grant_consent(&consent("acme", "l-1", Purpose::CallHandling, None))
        .await
        .unwrap();
    let after_grant = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert_eq!(after_grant.consents, std::slice::from_ref(&granted));
    leads
        .withdraw_consent("acme", granted.id, 4_000)
        .await
        .unwrap();
    let after_withdrawal = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert_eq!(after_withdrawal.consents[0].withdrawn_at_ms, Some(4_000));
    let restrict = LeadUpdate {
        restricted: Some(true),
        ..LeadUpdate::default()
    };
    leads.update_lead("acme", "l-1", &restrict).await.unwrap();
    let restricted = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert!(restricted.lead.as_ref().unwrap().state().restricted);
    leads.erase_lead("acme", "l-1", 5_000).await.unwrap();
    let erased = leads.lead_snapshot("acme", "l-1").await.unwrap();
    assert!(erased.lead.as_ref().unwrap().state().erased);
    assert_eq!(erased.consents.len(), 1, "consents stay as evidence");
    assert!(
        leads
            .lead_snapshot("other", "l-1")
            .await
            .unwrap()
            .lead
            .is_none()
    );
}

/// The minor rule at the store: an inserted minor is erased in the insert
/// (and named), an adult is not; a correction to minor erases unless a
/// parental consent is in force (an expired or withdrawn one does not count,
/// nor a non-parental one), and a snapshot cached before the correction is
/// dropped, so the next decision sees the erasure.
pub(crate) async fn a_minor_written_without_parental_consent_is_erased_in_the_same_write(
    store: Arc<dyn Store>,
) {
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

pub(crate) async fn erasure_clears_personal_data_and_is_final(store: Arc<dyn Store>) {
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

/// An erasure replaces the stored result of the lead's calls, and of any other
/// call of the tenant whose result quotes its name, phone or email; results
/// quoting none of them, and other tenants' calls, are kept.
pub(crate) async fn erasure_redacts_every_call_result_quoting_the_lead(store: Arc<dyn Store>) {
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    store.upsert_lead(&zebulon("l-2")).await.unwrap();
    let calls = [
        ("acme", "c-1", Some("l-1"), json!({"said": "hello"})),
        ("acme", "c-2", Some("l-2"), json!({"said": "someone else"})),
        (
            "acme",
            "c-3",
            None,
            json!({"said": format!("{EMAIL} {PHONE}")}),
        ),
        (
            "acme",
            "c-4",
            None,
            json!({"said": format!("Hello {NAME}")}),
        ),
        ("other", "c-5", None, json!({"said": NAME})),
    ];
    for (tenant, call_id, lead_id, result) in &calls {
        store
            .record_call_start(&CallStart {
                tenant: (*tenant).into(),
                call_id: (*call_id).into(),
                plugin: "reads-data".into(),
                plugin_version: "1.0.0".into(),
                component_digest: "sha256:00".into(),
                lead_id: lead_id.map(str::to_owned),
                started_at_ms: 1_000,
            })
            .await
            .unwrap();
        store
            .record_call_end(tenant, call_id, 2_000, result)
            .await
            .unwrap();
    }
    store.erase_lead("acme", "l-1", 3_000).await.unwrap();
    for (tenant, call_id, _, result) in &calls {
        let stored = store.call(tenant, call_id).await.unwrap().unwrap().result;
        let expected = match *call_id {
            "c-1" | "c-3" | "c-4" => erased_call_result(),
            _ => result.clone(),
        };
        assert_eq!(stored, Some(expected), "{call_id}");
    }
}

/// Live leads of unknown age are counted and the first ones named by id; an
/// erased one, a known age and another tenant's leads are not.
pub(crate) async fn unknown_age_leads_are_counted_and_named(store: Arc<dyn Store>) {
    let leads: Arc<dyn LeadStore> = store;
    let unknown = |id: &str| Lead::new("acme", id);
    leads
        .insert_leads(
            "acme",
            &[
                unknown("u-3"),
                unknown("u-1"),
                unknown("u-2"),
                lead("acme", "adult"),
            ],
        )
        .await
        .unwrap();
    leads.upsert_lead(&Lead::new("other", "u-0")).await.unwrap();
    leads.erase_lead("acme", "u-2", 10).await.unwrap();
    let found = leads.unknown_age_leads("acme", 1).await.unwrap();
    assert_eq!((found.count, found.lead_ids), (2, vec!["u-1".to_owned()]));
    let all = leads.unknown_age_leads("acme", 10).await.unwrap();
    assert_eq!(all.lead_ids, ["u-1", "u-3"]);
    assert_eq!(
        leads.unknown_age_leads("nobody", 10).await.unwrap().count,
        0
    );
}
