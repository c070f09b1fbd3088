//! Persistence behind small traits, one per concern, each in its own module with
//! the data types it owns:
//!
//! | trait | module | owns |
//! |---|---|---|
//! | [`LeadStore`] | `leads` | leads, their erasure, their consents, the snapshot every decision reads |
//! | [`TagStore`] | `tags` | CRM tags a lead-tagger writes |
//! | [`OutboxStore`] | `outbox` | the messages queued for a lead |
//! | [`CallStore`] | `calls` | each call's record and result |
//! | [`AuditStore`] | `audit_log` | each tenant's audit chain and its head |
//! | [`KeyStore`] | `keys` | tenants and their API keys |
//! | [`PluginStore`] | `plugins` | plugin versions and their release history |
//! | [`RetentionStore`] | `retention` | retention policies and the purge |
//!
//! A caller holds the narrow trait it uses (`Arc<dyn LeadStore>`, `&dyn
//! AuditStore`, ...): the data gate reads leads, the audit writer appends, the
//! registry keeps plugins. Only the API host, which serves every concern, holds
//! the umbrella [`Store`], which every type implementing all eight traits has; an
//! `Arc<dyn Store>` coerces to any one of them.
//!
//! [`SqliteStore`] (one file under the data directory, nothing to install) is the
//! backend today, one file per concern under `sqlite/`. A PostgreSQL backend for
//! several hosts implements the same eight traits next, and proves it by passing
//! the same conformance suite (`conformance`, compiled for tests: see its module
//! documentation for how a backend runs it).
//!
//! Capabilities do not call this directly for personal data: they go through
//! [`crate::consent`] and [`crate::audit`], which call this.

mod audit_log;
mod calls;
#[cfg(test)]
pub(crate) mod conformance;
mod error;
mod keys;
mod lead_cache;
mod leads;
mod outbox;
mod plugins;
mod private_files;
mod retention;
mod sqlite;
mod tags;

pub use audit_log::{AuditChain, AuditFilter, AuditHead, AuditStore};
pub use calls::{CallRecord, CallStart, CallStore, erased_call_result};
pub use error::StoreError;
pub use keys::{ApiKeyRecord, KeyStore};
pub use leads::{Lead, LeadSnapshot, LeadStore, LeadUpdate, NewConsent, UnknownAgeLeads};
pub use outbox::{MessageStatus, NewMessage, OutboxMessage, OutboxStore};
pub use plugins::{
    PluginStore, ReleaseEvent, ReleaseEventKind, StoredPluginVersion, UnsealedReleaseRecords,
};
pub use private_files::{OWNER_ONLY, ensure_owner_only};
pub use retention::{PurgeCounts, RetentionPolicy, RetentionStore};
pub use sqlite::{DB_FILE_NAME, SqliteStore};
pub use tags::{LeadTag, NewTag, TagStore};

/// Everything the host persists: every narrow store trait at once. Held only where
/// one caller serves every concern (the API host, `cally simulate`); everything else
/// takes the narrow trait it uses. Implemented for every type that implements all
/// eight, so a backend never implements it by hand.
pub trait Store:
    LeadStore
    + TagStore
    + OutboxStore
    + CallStore
    + AuditStore
    + KeyStore
    + PluginStore
    + RetentionStore
{
}

impl<T> Store for T where
    T: LeadStore
        + TagStore
        + OutboxStore
        + CallStore
        + AuditStore
        + KeyStore
        + PluginStore
        + RetentionStore
        + ?Sized
{
}
