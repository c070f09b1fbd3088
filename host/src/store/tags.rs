//! CRM tags a lead-tagger's allowed `tag_lead` actions write: [`TagStore`] and
//! its data types.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// A CRM tag to write (after `decide` allowed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTag {
    /// The tenant.
    pub tenant: String,
    /// The lead tagged.
    pub lead_id: String,
    /// The tag text.
    pub tag: String,
    /// The call whose plugin wrote it.
    pub call_id: String,
    /// The plugin that wrote it.
    pub plugin: String,
    /// Host clock.
    pub created_at_ms: i64,
}

/// A stored CRM tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeadTag {
    /// Row id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The lead tagged.
    pub lead_id: String,
    /// The tag text.
    pub tag: String,
    /// The call whose plugin wrote it.
    pub call_id: String,
    /// The plugin that wrote it.
    pub plugin: String,
    /// Host clock.
    pub created_at_ms: i64,
}

/// CRM tags on a lead, written after the data gate allowed them and read back by
/// the lead's access and portability requests. An erasure deletes a lead's tags
/// (see [`super::LeadStore::erase_lead`]).
///
/// Every method touches only the named tenant's rows; `async_trait` because
/// callers hold an `Arc<dyn TagStore>`.
#[async_trait]
pub trait TagStore: Send + Sync + 'static {
    /// Writes a CRM tag; returns its id.
    async fn insert_tag(&self, tag: &NewTag) -> Result<i64, StoreError>;

    /// A lead's tags, oldest first.
    async fn lead_tags(&self, tenant: &str, lead_id: &str) -> Result<Vec<LeadTag>, StoreError>;
}
