//! Leads and their consents: [`LeadStore`] and the data types it owns. Every
//! personal-data decision reads a lead through [`LeadStore::lead_snapshot`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::StoreError;
use crate::consent::{AgeStatus, Channel, ConsentRecord, DataField, LeadState, Purpose};

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
    /// When the lead was erased. Output only: set by [`LeadStore::erase_lead`].
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
/// each `Some` is written, each `None` is left as stored. [`LeadStore::update_lead`]
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

/// A lead's record and consents as one decision saw them.
#[derive(Debug, Clone, Default)]
pub struct LeadSnapshot {
    /// The lead's record; `None` if it does not exist (treated as erased).
    pub lead: Option<Lead>,
    /// Every consent on record for the lead.
    pub consents: Vec<ConsentRecord>,
}

/// A tenant's live leads of unknown age: how many, and the first few ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnknownAgeLeads {
    /// How many live leads have an unknown age.
    pub count: u64,
    /// Their ids, sorted, at most the limit asked for.
    pub lead_ids: Vec<String>,
}

/// Leads (their personal fields, age and restriction), their erasure, and their
/// consents: what the data gate reads for every decision and what the people's
/// endpoints (correction, restriction, erasure, consent changes) write.
///
/// Every method takes the tenant (directly or in its argument) and touches only
/// that tenant's rows. Async because every call waits on the database;
/// `async_trait` because callers hold an `Arc<dyn LeadStore>`.
#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    /// Creates or replaces a lead's fields, age and restriction (creating the tenant on
    /// first use). Fails with [`StoreError::LeadErased`] for an erased lead.
    async fn upsert_lead(&self, lead: &Lead) -> Result<(), StoreError>;

    /// Changes only the fields `update` names, in one statement over the stored
    /// row, and returns the lead as written. [`StoreError::UnknownLead`] if the
    /// tenant has no such lead, [`StoreError::LeadErased`] if it was erased
    /// (nothing is written then: an erased lead never gets values back). An
    /// update setting the age to [`AgeStatus::Minor`](crate::consent::AgeStatus::Minor)
    /// while the lead has no verifiable parental consent in force erases the lead
    /// in the same transaction, as [`LeadStore::erase_lead`] does (old copies removed
    /// before this returns); the lead returned is then erased.
    async fn update_lead(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError>;

    /// The lead, if the tenant has it.
    async fn lead(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError>;

    /// Every lead of the tenant, by lead id.
    async fn leads(&self, tenant: &str) -> Result<Vec<Lead>, StoreError>;

    /// Creates every lead of `leads` (all of one tenant) in ONE transaction:
    /// all or nothing. [`StoreError::Conflict`] names the first lead id that
    /// exists already; nothing is stored then. A lead of age
    /// [`AgeStatus::Minor`](crate::consent::AgeStatus::Minor) (a new lead has no
    /// parental consent on record) is erased in that same transaction, as
    /// [`LeadStore::erase_lead`] erases, old copies removed before this returns;
    /// returns the ids of the leads so erased.
    async fn insert_leads(&self, tenant: &str, leads: &[Lead]) -> Result<Vec<String>, StoreError>;

    /// Erases a lead, in ONE transaction: clears its personal fields, deletes its
    /// tags, strips and cancels its queued messages, replaces the stored result of
    /// its calls (and of any other call of the tenant whose result quotes its name,
    /// phone or email) by [`erased_call_result`](super::erased_call_result), and
    /// marks it erased (every later read is denied `lead-erased`). Then no earlier
    /// copy is left in the files: a backend that keeps old versions of rows (a
    /// write-ahead log, free pages) or copies of them removes them before this
    /// returns. Its consents stay as evidence; its audit records never held
    /// personal data. Erasing again is allowed and does it all again.
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

    /// The tenant's live (not erased) leads whose age is unknown: treated as
    /// minors, so denied without parental consent, and for the tenant to
    /// resolve. Counts them all and names the first `limit` by id.
    async fn unknown_age_leads(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<UnknownAgeLeads, StoreError>;
}
