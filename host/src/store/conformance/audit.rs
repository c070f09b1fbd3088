//! [`AuditStore`]'s contract: a batch continues each tenant's chain from its
//! stored head and moves the head in the same write; reads come back in
//! sequence order, filtered and per tenant.

use std::sync::Arc;

use crate::audit::{AuditActor, AuditContext, AuditEntry, AuditRecord, GENESIS_HASH};
use crate::consent::{Decision, DenyReason, Purpose};
use crate::store::{AuditFilter, AuditHead, AuditStore, Store};

/// A use of `phone` by tenant's plugin about lead `lead` at `time_ms`.
fn entry(tenant: &str, lead: &str, time_ms: i64) -> AuditEntry {
    let context = AuditContext {
        tenant: tenant.into(),
        plugin: "reminder".into(),
        plugin_version: "1.0.0".into(),
        component_digest: "sha256:abcd".into(),
        call_id: "call-1".into(),
        lead: Some(lead.into()),
    };
    let decision = if time_ms % 2 == 0 {
        Decision::Allow { consent_id: 4 }
    } else {
        Decision::Deny(DenyReason::LeadRestricted)
    };
    context.entry("phone", Purpose::CallHandling, &decision, time_ms)
}

fn head_of(record: &AuditRecord) -> AuditHead {
    AuditHead {
        tenant: record.tenant.clone(),
        last_seq: record.seq,
        last_hash: record.hash.clone(),
    }
}

/// The first record of a tenant follows the genesis hash at seq 1; a batch
/// mixing tenants continues each one's chain, returns the records in the order
/// of the entries, and leaves each head at its tenant's newest record; a second
/// batch continues from there. An empty batch stores nothing.
pub(crate) async fn a_batch_continues_each_tenants_chain_and_moves_its_head(store: Arc<dyn Store>) {
    let audit: Arc<dyn AuditStore> = store;
    assert!(audit.append_audit_batch(&[]).await.unwrap().is_empty());
    assert_eq!(audit.audit_head("acme").await.unwrap(), None);
    assert!(audit.audit_tenants().await.unwrap().is_empty());

    let first = audit
        .append_audit_batch(&[
            entry("acme", "p-1", 10),
            entry("zeta", "p-9", 11),
            entry("acme", "p-2", 12),
        ])
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|r| (r.tenant.as_str(), r.seq))
            .collect::<Vec<_>>(),
        [("acme", 1), ("zeta", 1), ("acme", 2)]
    );
    assert_eq!(first[0].prev_hash, GENESIS_HASH);
    assert_eq!(first[1].prev_hash, GENESIS_HASH);
    assert_eq!(first[2].prev_hash, first[0].hash);
    for record in &first {
        assert_eq!(record.hash, record.compute_hash(), "sealed as stored");
    }
    let second = audit
        .append_audit_batch(&[entry("acme", "p-1", 13)])
        .await
        .unwrap();
    assert_eq!((second[0].seq, &second[0].prev_hash), (3, &first[2].hash));

    assert_eq!(
        audit.audit_head("acme").await.unwrap(),
        Some(head_of(&second[0]))
    );
    assert_eq!(
        audit.audit_head("zeta").await.unwrap(),
        Some(head_of(&first[1]))
    );
    assert_eq!(audit.audit_tenants().await.unwrap(), ["acme", "zeta"]);
    let chain = audit.audit_chain("acme").await.unwrap();
    assert_eq!(
        chain.records,
        [first[0].clone(), first[2].clone(), second[0].clone()]
    );
    assert_eq!(chain.head, Some(head_of(&second[0])));
    let empty = audit.audit_chain("nobody").await.unwrap();
    assert!(empty.records.is_empty() && empty.head.is_none());
}

/// Records read back exactly as written, in sequence order, narrowed by lead
/// pseudonym, by actor key, and by time (from inclusive, to exclusive), and
/// never another tenant's.
pub(crate) async fn audit_records_are_filtered_and_per_tenant(store: Arc<dyn Store>) {
    let audit: Arc<dyn AuditStore> = store;
    let mut by_person = entry("acme", "p-1", 30);
    by_person.actor = Some(AuditActor {
        key_id: "0123456789abcdef".into(),
        role: "tenant-admin".into(),
        address: "127.0.0.1".into(),
        operation: "lead.read".into(),
    });
    let written = audit
        .append_audit_batch(&[
            entry("acme", "p-1", 10),
            entry("acme", "p-2", 20),
            by_person,
            entry("other", "p-1", 10),
        ])
        .await
        .unwrap();
    let read = |filter: AuditFilter| {
        let audit = audit.clone();
        async move {
            audit
                .audit_records("acme", &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>()
        }
    };
    let all = audit
        .audit_records("acme", &AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(all, written[..3]);
    let by_lead = AuditFilter {
        lead: Some("p-1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(read(by_lead).await, [1, 3]);
    let by_actor = AuditFilter {
        actor: Some("0123456789abcdef".into()),
        ..AuditFilter::default()
    };
    assert_eq!(read(by_actor).await, [3]);
    let window = AuditFilter {
        from_ms: Some(20),
        to_ms: Some(30),
        ..AuditFilter::default()
    };
    assert_eq!(read(window).await, [2]);
    assert_eq!(
        audit
            .audit_records("nobody", &AuditFilter::default())
            .await
            .unwrap(),
        []
    );
}
