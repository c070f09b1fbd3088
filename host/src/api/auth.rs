//! API keys and roles: keys are random, shown once, stored only as their SHA-256;
//! every request is authenticated by [`Auth`], which checks the key's role before
//! anything else of the request is read, and yields the key's tenant.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ApiError, ApiHost};
use crate::store::{ApiKeyRecord, KeyStore, StoreError};

/// What a key may do. See the README's role matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the platform: creates tenants and their first admin key. Belongs to no tenant.
    PlatformAdmin,
    /// Runs one tenant: issues keys, loads leads and consents.
    TenantAdmin,
    /// Uploads plugins.
    Developer,
    /// Inspects, diffs, approves, activates and rolls back plugins; reads the audit log.
    Reviewer,
    /// The voice platform: starts calls, posts their events, ends them.
    Runtime,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Developer,
        Role::Reviewer,
        Role::Runtime,
    ];

    /// The role's spelling in JSON and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::Developer => "developer",
            Role::Reviewer => "reviewer",
            Role::Runtime => "runtime",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}'"))
    }
}

/// The prefix of every key, so a leaked one is easy to recognise (and scan for).
pub const KEY_PREFIX: &str = "cally_";

/// A key just issued: the only time the key itself is known to the host.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// The key's id: what `GET /v1/keys` lists and `DELETE /v1/keys/{id}`
    /// revokes (the first 16 hex digits of its SHA-256; not a secret).
    pub id: String,
    /// The key: `cally_` and 64 hex digits. Shown once; only its hash is stored.
    pub key: String,
    /// Its role.
    pub role: Role,
    /// Its tenant; `None` for a platform admin.
    pub tenant: Option<String>,
    /// Who holds it.
    pub label: String,
    /// When it was issued.
    pub created_at_ms: i64,
}

/// The SHA-256 of `key`, in lowercase hex: what the store keeps.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// How many hex digits of a key's hash make its id.
const KEY_ID_LEN: usize = 16;

/// A key's id, from its stored hash: the hash's first 16 hex digits. It names
/// the key in listings and revocations and reveals nothing of the key (the
/// key has 256 random bits; its hash cannot be turned back into it).
pub fn key_id(key_hash: &str) -> String {
    key_hash.chars().take(KEY_ID_LEN).collect()
}

/// Occurs when a key cannot be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Occurs when the operating system gives no random bytes.
    #[error("cannot draw random bytes for a key: {0}")]
    Random(String),
    /// Occurs when the key's record cannot be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IssueError> for ApiError {
    fn from(error: IssueError) -> Self {
        match error {
            IssueError::Store(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

/// Issues a new key for `role` in `tenant` (`None` only for a platform admin),
/// stores its hash and returns it.
pub async fn issue_key(
    store: &dyn KeyStore,
    tenant: Option<&str>,
    role: Role,
    label: &str,
) -> Result<IssuedKey, IssueError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| IssueError::Random(e.to_string()))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let created_at_ms = crate::clock::now_ms();
    store
        .insert_api_key(&ApiKeyRecord {
            key_hash: key_hash(&key),
            tenant: tenant.map(str::to_owned),
            role: role.as_str().to_owned(),
            label: label.to_owned(),
            created_at_ms,
        })
        .await?;
    Ok(IssuedKey {
        id: key_id(&key_hash(&key)),
        key,
        role,
        tenant: tenant.map(str::to_owned),
        label: label.to_owned(),
        created_at_ms,
    })
}

/// Keys already looked up, by hash, so a busy runtime key does not cost a
/// database read per event. A revocation ([`KeyCache::revoke`]) deletes the
/// key's row and drops its entry, so the very next request with it gets 401.
#[derive(Default)]
pub struct KeyCache {
    known: RwLock<HashMap<String, Arc<Caller>>>,
    /// Counts revocations. A lookup that read the store before a revocation
    /// finished must not put the revoked key (back) into `known`: it caches
    /// only if no revocation happened since it began.
    revocations: AtomicU64,
}

impl KeyCache {
    /// Revokes the key whose hash is `key_hash`: deletes its row, then drops
    /// it from the cache. Returns whether a key was deleted.
    pub(super) async fn revoke(
        &self,
        store: &dyn KeyStore,
        key_hash: &str,
    ) -> Result<bool, StoreError> {
        let deleted = store.delete_api_key(key_hash).await?;
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        known.remove(key_hash);
        self.revocations.fetch_add(1, Ordering::SeqCst);
        Ok(deleted)
    }

    async fn caller(&self, store: &dyn KeyStore, key: &str) -> Result<Arc<Caller>, ApiError> {
        let hash = key_hash(key);
        if let Some(caller) = self
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(caller.clone());
        }
        let revocations = self.revocations.load(Ordering::SeqCst);
        let Some(record) = store.api_key(&hash).await? else {
            return Err(ApiError::unauthorized("unknown API key"));
        };
        let role = record
            .role
            .parse()
            .map_err(|e: String| ApiError::internal(&e))?;
        let caller = Arc::new(Caller {
            key_id: key_id(&hash),
            tenant: record.tenant,
            role,
            label: record.label,
        });
        self.remember(hash, caller.clone(), revocations);
        Ok(caller)
    }

    /// Caches `caller` under `hash`, unless a revocation happened since the
    /// lookup began (when the count of revocations was `seen`): the row the
    /// lookup read may be the one just deleted.
    fn remember(&self, hash: String, caller: Arc<Caller>, seen: u64) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if self.revocations.load(Ordering::SeqCst) == seen {
            known.insert(hash, caller);
        }
    }
}

/// Who is calling: the key's id, tenant, role and label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id ([`key_id`]): what the audit log names a person's request by.
    pub key_id: String,
    /// The key's tenant; `None` for a platform admin.
    pub tenant: Option<String>,
    /// The key's role.
    pub role: Role,
    /// Who holds the key (recorded as the uploader or reviewer).
    pub label: String,
}

impl ApiHost {
    /// The caller whose key the `Authorization: Bearer <key>` header carries, whatever
    /// its role; 401 without a header, with a malformed one, or with an unknown or
    /// revoked key.
    pub(super) async fn identify(&self, headers: &HeaderMap) -> Result<Arc<Caller>, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing `Authorization: Bearer <key>` header",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| k.starts_with(KEY_PREFIX))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the Authorization header must be `Bearer cally_<64 hex digits>`",
                )
            })?;
        self.keys.caller(self.store(), key).await
    }
}

/// A caller already identified from this request's key (by the middleware that
/// records people's access), so [`Auth`] does not look the key up twice. Only the
/// host inserts it: a client cannot set a request's extensions.
#[derive(Debug, Clone)]
pub(super) struct Identified(pub(super) Arc<Caller>);

/// The roles one endpoint admits; implemented by the marker types below.
pub trait Roles: Send + Sync + 'static {
    /// The admitted roles.
    const ROLES: &'static [Role];
}

macro_rules! roles {
    ($($(#[$meta:meta])* $name:ident = [$($role:ident),+];)+) => {
        $(
            $(#[$meta])*
            #[derive(Debug)]
            pub struct $name;

            impl Roles for $name {
                const ROLES: &'static [Role] = &[$(Role::$role),+];
            }
        )+
    };
}

roles! {
    /// Platform admins only.
    PlatformAdmins = [PlatformAdmin];
    /// Tenant admins only.
    TenantAdmins = [TenantAdmin];
    /// Developers only.
    Developers = [Developer];
    /// Reviewers only.
    Reviewers = [Reviewer];
    /// Developers and reviewers: reading plugins.
    PluginReaders = [Developer, Reviewer];
    /// The runtime only.
    Runtimes = [Runtime];
    /// Who manages keys: a tenant admin its tenant's, a platform admin any.
    KeyManagers = [PlatformAdmin, TenantAdmin];
}

/// An authenticated request by a key whose role is one of `R`'s. Extracted
/// before the path and body, so a request without a key gets 401 and one with
/// the wrong role 403, whatever else is wrong with it.
pub struct Auth<R: Roles> {
    /// The caller.
    pub caller: Arc<Caller>,
    _roles: PhantomData<R>,
}

impl<R: Roles> Auth<R> {
    /// The caller's tenant (every role but platform admin has one).
    pub fn tenant(&self) -> &str {
        self.caller.tenant.as_deref().unwrap_or_default()
    }
}

impl<R: Roles> FromRequestParts<Arc<ApiHost>> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        host: &Arc<ApiHost>,
    ) -> Result<Self, Self::Rejection> {
        let caller = match parts.extensions.get::<Identified>() {
            Some(Identified(caller)) => caller.clone(),
            None => host.identify(&parts.headers).await?,
        };
        if !R::ROLES.contains(&caller.role) {
            let needed: Vec<&str> = R::ROLES.iter().map(|r| r.as_str()).collect();
            return Err(ApiError::forbidden(format!(
                "this endpoint needs a key with role {}; this key has role {}",
                needed.join(" or "),
                caller.role
            )));
        }
        if caller.role != Role::PlatformAdmin && caller.tenant.is_none() {
            return Err(ApiError::internal(&"a tenant key without a tenant"));
        }
        tracing::Span::current().record("tenant", caller.tenant.as_deref().unwrap_or("-"));
        Ok(Self {
            caller,
            _roles: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_their_spelling() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(
            "root".parse::<Role>(),
            Err("unknown role 'root'".to_owned())
        );
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_at_once_even_if_a_lookup_raced_it() {
        let store = crate::store::SqliteStore::open_in_memory().await.unwrap();
        store.create_tenant("acme", 1).await.unwrap();
        let cache = KeyCache::default();
        let issued = issue_key(&store, Some("acme"), Role::Runtime, "rt")
            .await
            .unwrap();
        let hash = key_hash(&issued.key);
        assert_eq!(issued.id, key_id(&hash));

        // Cached by a first use, then revoked: the next lookup is refused.
        let caller = cache.caller(&store, &issued.key).await.unwrap();
        assert!(cache.revoke(&store, &hash).await.unwrap());
        let refused = cache.caller(&store, &issued.key).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::UNAUTHORIZED);
        assert!(!cache.revoke(&store, &hash).await.unwrap(), "revoked once");

        // A lookup that read the row before a revocation finished must not
        // cache the key afterwards.
        let other = issue_key(&store, Some("acme"), Role::Runtime, "rt2")
            .await
            .unwrap();
        let other_hash = key_hash(&other.key);
        let seen = cache.revocations.load(Ordering::SeqCst);
        assert!(cache.revoke(&store, &other_hash).await.unwrap());
        cache.remember(other_hash, caller, seen);
        let refused = cache.caller(&store, &other.key).await.unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_issued_key_is_stored_only_as_its_hash() {
        let store = crate::store::SqliteStore::open_in_memory().await.unwrap();
        store.create_tenant("acme", 1).await.unwrap();
        let issued = issue_key(&store, Some("acme"), Role::Developer, "dev@acme")
            .await
            .unwrap();
        assert!(issued.key.starts_with(KEY_PREFIX) && issued.key.len() == 70);
        let record = store
            .api_key(&key_hash(&issued.key))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.role, "developer");
        assert_eq!(record.tenant.as_deref(), Some("acme"));
        assert!(store.api_key(&issued.key).await.unwrap().is_none());
    }
}
