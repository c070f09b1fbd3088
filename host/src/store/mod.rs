//! Persistence behind one interface, [`Store`]: leads, consents, calls, tags, the
//! message outbox and the audit log. [`SqliteStore`] (one file under the data
//! directory, nothing to install) is the backend today; a PostgreSQL backend for
//! several hosts implements the same trait next, so callers hold an
//! `Arc<dyn Store>` and never see SQL.
//!
//! Capabilities do not call this directly for personal data: they go through
//! [`crate::consent`] and [`crate::audit`], which call this.

mod lead_cache;
mod private_files;
mod sqlite;

pub use private_files::{OWNER_ONLY, ensure_owner_only};
pub use sqlite::{DB_FILE_NAME, SqliteStore};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{AuditEntry, AuditRecord};
use crate::consent::{
    AgeStatus, Channel, ConsentRecord, DataField, LeadState, ParseError, Purpose,
};

/// Errors from the store. Messages name the tenant, lead or row involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Occurs when the data directory cannot be created.
    #[error("cannot create data directory '{path}': {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Occurs when the database file cannot be opened or configured.
    #[error("cannot open database '{path}': {source}")]
    Open {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// Occurs when the migrations cannot be applied (for example, the database was
    /// written by a newer Cally, or a released migration was edited).
    #[error("cannot migrate database '{path}': {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Occurs when a file that holds personal data or keys (the database, its WAL
    /// and shared-memory files) cannot be made readable by its owner only.
    #[error(
        "cannot make '{path}' readable by its owner only (mode 0600): {source}; fix its ownership or permissions"
    )]
    Private {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Occurs when a consent, tag or message names a lead the tenant does not have.
    #[error("unknown lead '{lead}' for tenant '{tenant}'")]
    UnknownLead {
        /// The tenant.
        tenant: String,
        /// The lead id.
        lead: String,
    },
    /// Occurs when writing to a lead that was erased: an erased lead is never
    /// brought back (a returning person gets a new lead id).
    #[error("lead '{lead}' of tenant '{tenant}' was erased; it cannot be changed or given consent")]
    LeadErased {
        /// The tenant.
        tenant: String,
        /// The lead id.
        lead: String,
    },
    /// Occurs when a consent, call or message id is not the tenant's.
    #[error("{what} not found for tenant '{tenant}'")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// What was looked for: `consent 7`, `call 'c-1'`, ...
        what: String,
    },
    /// Occurs when something to create already exists (a tenant, a plugin version).
    #[error("{what} already exists for tenant '{tenant}'")]
    Conflict {
        /// The tenant.
        tenant: String,
        /// What exists already: `plugin 'x' version 1.0.0`, ...
        what: String,
    },
    /// Occurs when a value to store is malformed (for example, an expiry before the
    /// grant).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid: `consent for lead 'x'`, ...
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Occurs when a stored value cannot be read back as its type (a database edited
    /// by hand, or written by a newer version).
    #[error("stored {table}.{column} of {row} holds {value:?}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Which row: `tenant 'acme' lead 'l-1'`, ...
        row: String,
        /// The stored value.
        value: String,
        /// Why it cannot be read.
        detail: String,
    },
    /// Occurs when the database refuses or fails an operation (disk full, I/O error,
    /// locked for longer than the busy timeout, a trigger aborting, ...).
    #[error("database error while {action}: {source}")]
    Database {
        /// What the store was doing: `appending 12 audit records`, ...
        action: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
}

/// A lead as stored. Personal fields are `None` when unknown or erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lead {
    /// The tenant owning it.
    pub tenant: String,
    /// The tenant-chosen lead id.
    pub lead_id: String,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Location.
    #[serde(default)]
    pub location: Option<String>,
    /// Preferred language.
    #[serde(default)]
    pub language: Option<String>,
    /// Free-form preferences (`preferred_time`, ...), a JSON object.
    #[serde(default)]
    pub preferences: Option<Map<String, Value>>,
    /// Known age; unknown is treated as a minor.
    #[serde(default = "unknown_age")]
    pub age: AgeStatus,
    /// The lead restricted processing: every read is denied.
    #[serde(default)]
    pub restricted: bool,
    /// When the lead was erased. Output only: set by [`Store::erase_lead`].
    #[serde(default)]
    pub erased_at_ms: Option<i64>,
    /// When the row was created (host clock). Output only.
    #[serde(default)]
    pub created_at_ms: i64,
    /// When the row was last written (host clock). Output only.
    #[serde(default)]
    pub updated_at_ms: i64,
}

fn unknown_age() -> AgeStatus {
    AgeStatus::Unknown
}

impl Lead {
    /// A lead with no personal data and unknown age (so treated as a minor until told).
    pub fn new(tenant: impl Into<String>, lead_id: impl Into<String>) -> Lead {
        Lead {
            tenant: tenant.into(),
            lead_id: lead_id.into(),
            name: None,
            phone: None,
            email: None,
            location: None,
            language: None,
            preferences: None,
            age: AgeStatus::Unknown,
            restricted: false,
            erased_at_ms: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    /// What [`crate::consent::decide`] needs to know about the lead.
    pub fn state(&self) -> LeadState {
        LeadState {
            age: self.age,
            restricted: self.restricted,
            erased: self.erased_at_ms.is_some(),
        }
    }

    /// The value of one field as text (preferences as a JSON object). Call only after
    /// `decide` allowed it and its audit record is durable.
    pub fn field(&self, field: DataField) -> Option<String> {
        match field {
            DataField::Name => self.name.clone(),
            DataField::Phone => self.phone.clone(),
            DataField::Email => self.email.clone(),
            DataField::Location => self.location.clone(),
            DataField::Language => self.language.clone(),
            DataField::Preferences => self
                .preferences
                .as_ref()
                .map(|p| Value::Object(p.clone()).to_string()),
        }
    }

    /// One preference (`preferences.<key>`). Same rule as [`Lead::field`].
    pub fn preference(&self, key: &str) -> Option<&Value> {
        self.preferences.as_ref()?.get(key)
    }
}

/// A change to some of a lead's fields, as a correction or a restriction makes it:
/// each `Some` is written, each `None` is left as stored. [`Store::update_lead`]
/// writes it as ONE statement over the stored row, so two changes to different
/// fields made at the same time (a restriction and a correction) never undo each
/// other, as a read, change and write back of the whole lead would.
///
/// As a request body it takes the fields of a lead by name; `null` clears a
/// personal field (it cannot clear `age` or `restricted`), and any other key is refused.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadUpdate {
    /// Full name; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    /// Phone number; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    /// Email address; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    /// Location; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub location: Option<Option<String>>,
    /// Preferred language; `Some(None)` clears it.
    #[serde(default, deserialize_with = "present")]
    pub language: Option<Option<String>>,
    /// Preferences (replaced whole); `Some(None)` clears them.
    #[serde(default, deserialize_with = "present")]
    pub preferences: Option<Option<Map<String, Value>>>,
    /// Known age.
    #[serde(default, deserialize_with = "present")]
    pub age: Option<AgeStatus>,
    /// Restriction of processing.
    #[serde(default, deserialize_with = "present")]
    pub restricted: Option<bool>,
}

/// A field that is present in a body is `Some`, whatever it holds (`null` too,
/// for a field whose type allows it); an absent one is `None` through `default`.
fn present<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// What an erased lead's stored calls keep as their result: a call's actions and
/// data uses can quote what its plugin read, so nothing of the result is kept.
pub fn erased_call_result() -> Value {
    serde_json::json!({"redacted": "the call's lead was erased"})
}

/// A consent to record; the store assigns the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConsent {
    /// The tenant.
    pub tenant: String,
    /// The lead (must exist and not be erased).
    pub lead_id: String,
    /// See [`ConsentRecord::purpose`].
    pub purpose: Purpose,
    /// See [`ConsentRecord::channel`].
    #[serde(default)]
    pub channel: Option<Channel>,
    /// See [`ConsentRecord::granted_at_ms`].
    pub granted_at_ms: i64,
    /// See [`ConsentRecord::expires_at_ms`]; must be after `granted_at_ms`.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    /// See [`ConsentRecord::source`].
    pub source: String,
    /// See [`ConsentRecord::evidence`].
    pub evidence: String,
    /// See [`ConsentRecord::parental`].
    #[serde(default)]
    pub parental: bool,
}

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

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MessageStatus {
    /// Waiting for the sender.
    Queued,
    /// Handed to the channel's provider.
    Sent,
    /// The provider refused it.
    Failed,
    /// Dropped before sending (the lead was erased).
    Cancelled,
}

impl MessageStatus {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageStatus {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "queued" => Ok(MessageStatus::Queued),
            "sent" => Ok(MessageStatus::Sent),
            "failed" => Ok(MessageStatus::Failed),
            "cancelled" => Ok(MessageStatus::Cancelled),
            _ => Err(ParseError {
                kind: "message status",
                value: s.to_owned(),
                allowed: "queued, sent, failed, cancelled".to_owned(),
            }),
        }
    }
}

/// A message to queue (after `decide` allowed it on its channel). It carries no
/// address: the host resolves that from the lead record when it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The tenant.
    pub tenant: String,
    /// The recipient lead.
    pub lead_id: String,
    /// The channel (consent was checked for exactly this one).
    pub channel: Channel,
    /// The tenant's template name.
    pub template: String,
    /// Template parameters (any JSON value).
    pub params: Value,
    /// The call whose plugin asked for it.
    pub call_id: String,
    /// Host clock.
    pub created_at_ms: i64,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Row id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The recipient lead.
    pub lead_id: String,
    /// The channel.
    pub channel: Channel,
    /// The template name.
    pub template: String,
    /// Template parameters; `None` once the lead was erased.
    pub params: Option<Value>,
    /// The call whose plugin asked for it.
    pub call_id: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// The address it was sent to, filled by the host at send time.
    pub address: Option<String>,
    /// Host clock at enqueue.
    pub created_at_ms: i64,
    /// Host clock at the last status change.
    pub updated_at_ms: i64,
}

/// The start of a call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    /// The tenant.
    pub tenant: String,
    /// The platform's call id.
    pub call_id: String,
    /// The plugin that runs it.
    pub plugin: String,
    /// Its version.
    pub plugin_version: String,
    /// Its component digest.
    pub component_digest: String,
    /// The lead called, if known.
    pub lead_id: Option<String>,
    /// Host clock.
    pub started_at_ms: i64,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = StoredCall)]
pub struct CallRecord {
    /// The tenant.
    pub tenant: String,
    /// The platform's call id.
    pub call_id: String,
    /// The plugin that ran it.
    pub plugin: String,
    /// Its version.
    pub plugin_version: String,
    /// Its component digest.
    pub component_digest: String,
    /// The lead called, if known.
    pub lead_id: Option<String>,
    /// Host clock at start.
    pub started_at_ms: i64,
    /// Host clock at end, once ended.
    pub ended_at_ms: Option<i64>,
    /// The call's result, once ended.
    pub result: Option<Value>,
}

/// Which audit records to read. Every field narrows; the default reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only records about this lead pseudonym.
    pub lead: Option<String>,
    /// Only records of this person's API key (its id): what the key's holder did.
    pub actor: Option<String>,
    /// Only records at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only records before this time (ms).
    pub to_ms: Option<i64>,
}

/// The newest record of a tenant's chain, as the store last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    /// The tenant.
    pub tenant: String,
    /// The newest record's sequence number.
    pub last_seq: i64,
    /// The newest record's hash.
    pub last_hash: String,
}

/// A tenant's audit records in sequence order and its head, from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChain {
    /// Every record of the tenant, in sequence order.
    pub records: Vec<AuditRecord>,
    /// The stored head, if any.
    pub head: Option<AuditHead>,
}

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

/// A tenant's retention policy: how many days ended calls (with their stored
/// results) and the message log (outbox rows) are kept; `None` keeps them until
/// the lead is erased. Audit records are never purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// The tenant.
    pub tenant: String,
    /// Days a call is kept after it ended (1 to 36500); `None`: kept.
    pub calls_days: Option<u32>,
    /// Days a message is kept after it was queued (1 to 36500); `None`: kept.
    pub messages_days: Option<u32>,
    /// Host clock at the last change.
    pub updated_at_ms: i64,
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Calls deleted (with their stored results).
    pub calls: u64,
    /// Outbox rows deleted.
    pub messages: u64,
}

/// Everything the host persists. Implemented by [`SqliteStore`] now and by a PostgreSQL
/// backend next; callers hold an `Arc<dyn Store>`.
///
/// Every method takes the tenant (directly or in its argument) and touches only that
/// tenant's rows. Async because every call waits on the database; `async_trait` because
/// callers need `dyn Store`.
/// A lead's record and consents as one decision saw them.
#[derive(Debug, Clone, Default)]
pub struct LeadSnapshot {
    /// The lead's record; `None` if it does not exist (treated as erased).
    pub lead: Option<Lead>,
    /// Every consent on record for the lead.
    pub consents: Vec<ConsentRecord>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the tenant if it does not exist yet.
    async fn ensure_tenant(&self, tenant: &str) -> Result<(), StoreError>;

    /// Creates or replaces a lead's fields, age and restriction (creating the tenant on
    /// first use). Fails with [`StoreError::LeadErased`] for an erased lead.
    async fn upsert_lead(&self, lead: &Lead) -> Result<(), StoreError>;

    /// Changes only the fields `update` names, in one statement over the stored
    /// row, and returns the lead as written. [`StoreError::UnknownLead`] if the
    /// tenant has no such lead, [`StoreError::LeadErased`] if it was erased
    /// (nothing is written then: an erased lead never gets values back). An
    /// update setting the age to [`AgeStatus::Minor`](crate::consent::AgeStatus::Minor)
    /// while the lead has no verifiable parental consent in force erases the lead
    /// in the same transaction, as [`Store::erase_lead`] does (old copies removed
    /// before this returns); the lead returned is then erased.
    async fn update_lead(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError>;

    /// The lead, if the tenant has it.
    async fn lead(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError>;

    /// Erases a lead, in ONE transaction: clears its personal fields, deletes its
    /// tags, strips and cancels its queued messages, replaces the stored result of
    /// its calls (and of any other call of the tenant whose result quotes its name,
    /// phone or email) by [`erased_call_result`], and marks it erased (every later
    /// read is denied `lead-erased`). Then no earlier copy is left in the files: a
    /// backend that keeps old versions of rows (a write-ahead log, free pages) or
    /// copies of them removes them before this returns. Its consents stay as
    /// evidence; its audit records never held personal data. Erasing again is
    /// allowed and does it all again.
    async fn erase_lead(&self, tenant: &str, lead_id: &str, at_ms: i64) -> Result<(), StoreError>;

    /// Records a consent and returns it with its id.
    async fn grant_consent(&self, consent: &NewConsent) -> Result<ConsentRecord, StoreError>;

    /// Withdraws a consent from `at_ms` (withdrawing again keeps the first time) and
    /// returns it.
    async fn withdraw_consent(
        &self,
        tenant: &str,
        consent_id: i64,
        at_ms: i64,
    ) -> Result<ConsentRecord, StoreError>;

    /// All of a lead's consents, withdrawn and expired ones included, oldest first.
    async fn consents(&self, tenant: &str, lead_id: &str)
    -> Result<Vec<ConsentRecord>, StoreError>;

    /// The lead's record and consents together, as every personal-data decision
    /// reads them. Shared rather than copied, because a busy host makes this read
    /// for every use of personal data; a backend that caches it must drop its copy
    /// when any write to the lead or its consents commits.
    async fn lead_snapshot(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<std::sync::Arc<LeadSnapshot>, StoreError> {
        Ok(std::sync::Arc::new(LeadSnapshot {
            lead: self.lead(tenant, lead_id).await?,
            consents: self.consents(tenant, lead_id).await?,
        }))
    }

    /// Writes a CRM tag; returns its id.
    async fn insert_tag(&self, tag: &NewTag) -> Result<i64, StoreError>;

    /// A lead's tags, oldest first.
    async fn lead_tags(&self, tenant: &str, lead_id: &str) -> Result<Vec<LeadTag>, StoreError>;

    /// Queues a message; returns its id.
    async fn enqueue_message(&self, message: &NewMessage) -> Result<i64, StoreError>;

    /// Sets a message's status, and the address it was sent to.
    async fn set_message_status(
        &self,
        tenant: &str,
        message_id: i64,
        status: MessageStatus,
        address: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// A lead's messages, oldest first.
    async fn outbox(&self, tenant: &str, lead_id: &str) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Records the start of a call (creating the tenant on first use).
    async fn record_call_start(&self, call: &CallStart) -> Result<(), StoreError>;

    /// Records the end of a call and its result; for a call whose lead was erased
    /// meanwhile, [`erased_call_result`] instead (decided in the write itself).
    async fn record_call_end(
        &self,
        tenant: &str,
        call_id: &str,
        ended_at_ms: i64,
        result: &Value,
    ) -> Result<(), StoreError>;

    /// A call, if recorded.
    async fn call(&self, tenant: &str, call_id: &str) -> Result<Option<CallRecord>, StoreError>;

    /// Appends entries (of any tenants) to their tenants' chains in ONE transaction:
    /// each tenant's chain continues from its stored head, and the heads are updated in
    /// the same transaction. Returns the records in the order of `entries`, durable
    /// once this returns `Ok`. On error nothing of the batch is stored.
    async fn append_audit_batch(
        &self,
        entries: &[AuditEntry],
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// A tenant's audit records matching `filter`, in sequence order.
    async fn audit_records(
        &self,
        tenant: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// A tenant's whole chain and its head, read from one consistent snapshot (so an
    /// append running meanwhile is either wholly in both or in neither).
    async fn audit_chain(&self, tenant: &str) -> Result<AuditChain, StoreError>;

    /// The head of a tenant's chain, if it has records.
    async fn audit_head(&self, tenant: &str) -> Result<Option<AuditHead>, StoreError>;

    /// Every tenant with an audit chain (a head or any record), sorted.
    async fn audit_tenants(&self) -> Result<Vec<String>, StoreError>;

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

    /// Every lead of the tenant, by lead id.
    async fn leads(&self, tenant: &str) -> Result<Vec<Lead>, StoreError>;

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

    /// Creates every lead of `leads` (all of one tenant) in ONE transaction:
    /// all or nothing. [`StoreError::Conflict`] names the first lead id that
    /// exists already; nothing is stored then. A lead of age
    /// [`AgeStatus::Minor`](crate::consent::AgeStatus::Minor) (a new lead has no
    /// parental consent on record) is erased in that same transaction, as
    /// [`Store::erase_lead`] erases, old copies removed before this returns;
    /// returns the ids of the leads so erased.
    async fn insert_leads(&self, tenant: &str, leads: &[Lead]) -> Result<Vec<String>, StoreError>;

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

    /// Creates or replaces the tenant's retention policy.
    async fn set_retention_policy(&self, policy: &RetentionPolicy) -> Result<(), StoreError>;

    /// The tenant's retention policy, if one was set.
    async fn retention_policy(&self, tenant: &str) -> Result<Option<RetentionPolicy>, StoreError>;

    /// Every tenant's retention policy, by tenant.
    async fn retention_policies(&self) -> Result<Vec<RetentionPolicy>, StoreError>;

    /// Deletes, in ONE transaction, the tenant's calls that ended before
    /// `calls_before_ms` (and calls never ended that started before it: a host
    /// stopped mid-call) and its outbox rows queued before `messages_before_ms`;
    /// `None` deletes nothing of that kind. Returns how many rows went. As for an
    /// erasure, a backend removes any copy of the deleted rows from its files
    /// before this returns (if it cannot, it logs a warning and removes them at
    /// its next such cleanup: the rows are gone either way).
    async fn purge_before(
        &self,
        tenant: &str,
        calls_before_ms: Option<i64>,
        messages_before_ms: Option<i64>,
    ) -> Result<PurgeCounts, StoreError>;

    /// The tenant's live (not erased) leads whose age is unknown: treated as
    /// minors, so denied without parental consent, and for the tenant to
    /// resolve. Counts them all and names the first `limit` by id.
    async fn unknown_age_leads(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<UnknownAgeLeads, StoreError>;
}

/// A tenant's live leads of unknown age: how many, and the first few ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnknownAgeLeads {
    /// How many live leads have an unknown age.
    pub count: u64,
    /// Their ids, sorted, at most the limit asked for.
    pub lead_ids: Vec<String>,
}
