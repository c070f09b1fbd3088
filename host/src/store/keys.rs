//! Tenants and the API keys that act for them: [`KeyStore`] and [`ApiKeyRecord`].

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// An API key as stored: only its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Lowercase hex SHA-256 of the key.
    pub key_hash: String,
    /// The tenant it belongs to; `None` only for a platform admin's key.
    pub tenant: Option<String>,
    /// Its role's spelling (`tenant-admin`, `developer`, ...).
    pub role: String,
    /// Who or what holds it, for people and approvals.
    pub label: String,
    /// Host clock at issue.
    pub created_at_ms: i64,
}

/// Tenants and their API keys (stored as hashes only): what the API's
/// authentication reads on every request and what key management writes.
///
/// `async_trait` because callers hold an `Arc<dyn KeyStore>`.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Creates the tenant if it does not exist yet.
    async fn ensure_tenant(&self, tenant: &str) -> Result<(), StoreError>;

    /// Creates the tenant; `Ok(false)` if it existed already (nothing changed).
    async fn create_tenant(&self, tenant: &str, at_ms: i64) -> Result<bool, StoreError>;

    /// Stores an API key's record (its tenant must exist).
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// The key whose SHA-256 is `key_hash`, if issued.
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Whether any platform admin key was issued.
    async fn has_platform_admin_key(&self) -> Result<bool, StoreError>;

    /// The keys of `tenant`, or every key (platform admins' too) for `None`,
    /// oldest first. Records hold hashes only, never a key.
    async fn api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Deletes the key whose SHA-256 is `key_hash` (a revocation); `Ok(false)`
    /// if there was none.
    async fn delete_api_key(&self, key_hash: &str) -> Result<bool, StoreError>;
}
