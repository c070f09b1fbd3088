//! [`KeyStore`]'s contract: tenants are created once, keys are stored by hash,
//! listed per tenant or all together, and revoked.

use std::sync::Arc;

use crate::store::{ApiKeyRecord, KeyStore, Store};

/// `ensure_tenant` creates a tenant silently and again changes nothing;
/// `create_tenant` says whether it created one. Keys list oldest first, per
/// tenant or (for `None`) all of them, platform admins' included; a revoked
/// key is gone, and revoking it again says there was none.
pub(crate) async fn tenants_and_keys_are_created_listed_and_revoked(store: Arc<dyn Store>) {
    let keys: Arc<dyn KeyStore> = store;
    keys.ensure_tenant("acme").await.unwrap();
    keys.ensure_tenant("acme").await.unwrap();
    assert!(
        !keys.create_tenant("acme", 1).await.unwrap(),
        "exists already"
    );
    assert!(keys.create_tenant("zeta", 1).await.unwrap());
    let key = |hash: char, tenant: Option<&str>, role: &str, at: i64| ApiKeyRecord {
        key_hash: hash.to_string().repeat(64),
        tenant: tenant.map(str::to_owned),
        role: role.into(),
        label: format!("{role} key"),
        created_at_ms: at,
    };
    let admin = key('a', None, "platform-admin", 1);
    let developer = key('b', Some("acme"), "developer", 2);
    let reviewer = key('c', Some("zeta"), "reviewer", 3);
    for record in [&reviewer, &admin, &developer] {
        keys.insert_api_key(record).await.unwrap();
    }
    assert!(keys.has_platform_admin_key().await.unwrap());
    assert_eq!(
        keys.api_keys(Some("acme")).await.unwrap(),
        std::slice::from_ref(&developer)
    );
    assert_eq!(
        keys.api_keys(None).await.unwrap(),
        [admin.clone(), developer.clone(), reviewer.clone()]
    );
    assert_eq!(keys.api_key(&"d".repeat(64)).await.unwrap(), None);
    assert!(keys.delete_api_key(&developer.key_hash).await.unwrap());
    assert!(!keys.delete_api_key(&developer.key_hash).await.unwrap());
    assert_eq!(keys.api_key(&developer.key_hash).await.unwrap(), None);
    assert!(keys.api_keys(Some("acme")).await.unwrap().is_empty());
    assert!(keys.delete_api_key(&admin.key_hash).await.unwrap());
    assert!(!keys.has_platform_admin_key().await.unwrap());
}
