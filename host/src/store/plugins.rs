//! Plugin versions and their release history: [`PluginStore`], the uploads
//! exactly as checked and the reviewers' decisions replayed over them.

use std::str::FromStr;

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use crate::consent::ParseError;

/// One uploaded plugin version, exactly as it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPluginVersion {
    /// The tenant.
    pub tenant: String,
    /// The plugin's name (the manifest's).
    pub plugin: String,
    /// The manifest's version.
    pub version: String,
    /// The world's name (`call-flow`, `lead-tagger`).
    pub world: String,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The manifest's text, exactly as uploaded.
    pub manifest: String,
    /// `sha256:<hex>` of `component`.
    pub component_digest: String,
    /// `sha256:<hex>` of `manifest`.
    pub manifest_digest: String,
    /// The uploading key's label.
    pub uploaded_by: String,
    /// Host clock at upload.
    pub uploaded_at_ms: i64,
    /// Hex HMAC over every field above but the bytes (their digests stand for
    /// them), under the host's approval key; `None` in rows written before
    /// records were signed.
    pub mac: Option<String>,
}

/// What a reviewer did to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseEventKind {
    /// Approved one version's digests.
    Approve,
    /// Made one version active.
    Activate,
    /// Rolled the active version back.
    RollBack,
}

impl ReleaseEventKind {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReleaseEventKind::Approve => "approve",
            ReleaseEventKind::Activate => "activate",
            ReleaseEventKind::RollBack => "roll-back",
        }
    }
}

impl FromStr for ReleaseEventKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "approve" => Ok(ReleaseEventKind::Approve),
            "activate" => Ok(ReleaseEventKind::Activate),
            "roll-back" => Ok(ReleaseEventKind::RollBack),
            _ => Err(ParseError {
                kind: "release event",
                value: s.to_owned(),
                allowed: "approve, activate, roll-back".to_owned(),
            }),
        }
    }
}

/// One reviewer decision on a plugin, as stored; replayed in order over the uploads
/// to rebuild the plugin's release state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseEvent {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// What was done.
    pub kind: ReleaseEventKind,
    /// The version it was done to; `None` for a roll-back.
    pub version: Option<String>,
    /// The reviewer key's label.
    pub actor: String,
    /// For an approval: the component digest approved.
    pub component_digest: Option<String>,
    /// For an approval: the manifest digest approved.
    pub manifest_digest: Option<String>,
    /// Host clock.
    pub at_ms: i64,
    /// Hex HMAC over every field above, under the host's approval key; `None`
    /// in rows written before records were signed.
    #[serde(skip)]
    pub mac: Option<String>,
}

/// The release records (uploads and reviewer decisions, of every tenant) that
/// carry no MAC yet, by row id, and how many do carry one: what the first start
/// after the upgrade that added MACs signs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsealedReleaseRecords {
    /// Upload rows without a MAC; their `component` is left empty (a MAC
    /// covers the component's digest, not its bytes).
    pub uploads: Vec<(i64, StoredPluginVersion)>,
    /// Reviewer decisions without a MAC.
    pub events: Vec<(i64, ReleaseEvent)>,
    /// How many upload rows and reviewer decisions have a MAC.
    pub sealed: u64,
}

/// Uploaded plugin versions and each plugin's reviewer decisions (approve,
/// activate, roll back), with the MACs that bind them to the host's approval
/// key: what the plugin registry rebuilds a plugin's release state from.
///
/// Every method but the two that sign old records touches only the named
/// tenant's rows; `async_trait` because callers hold an `Arc<dyn PluginStore>`.
#[async_trait]
pub trait PluginStore: Send + Sync + 'static {
    /// Stores an uploaded plugin version; [`StoreError::Conflict`] if the tenant's
    /// plugin has that version already (nothing is changed then).
    async fn insert_plugin_version(&self, version: &StoredPluginVersion) -> Result<(), StoreError>;

    /// Every uploaded version of the tenant's plugin, in upload order.
    async fn plugin_versions(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<StoredPluginVersion>, StoreError>;

    /// The names of the tenant's plugins that have an uploaded version, sorted.
    async fn plugin_names(&self, tenant: &str) -> Result<Vec<String>, StoreError>;

    /// Appends a reviewer decision to the plugin's history.
    async fn append_release_event(&self, event: &ReleaseEvent) -> Result<(), StoreError>;

    /// The plugin's reviewer decisions, oldest first.
    async fn release_events(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<ReleaseEvent>, StoreError>;

    /// Every upload row and reviewer decision, of every tenant, that has no
    /// MAC, and how many have one.
    async fn unsealed_release_records(&self) -> Result<UnsealedReleaseRecords, StoreError>;

    /// Sets the MAC of each upload row and reviewer decision named by id, in
    /// ONE transaction, only where none is set; returns how many were set.
    async fn seal_release_records(
        &self,
        uploads: &[(i64, String)],
        events: &[(i64, String)],
    ) -> Result<u64, StoreError>;
}
