//! Helpers for tests that reach personal data: a real SQLite store in a
//! temporary directory, the real audit writer, a lead with consents, and calls
//! of the `reads-data` probe through a real data gate.

use std::sync::Arc;

use cally_host::audit::{AuditRecord, AuditWriter, Pseudonymizer};
use cally_host::capabilities::gate::{CallScope, DataGate, DataServices, Declared};
use cally_host::component::{CompiledPlugin, ComponentCache};
use cally_host::consent::{AgeStatus, Channel, DataField, Purpose, Resource};
use cally_host::store::{AuditFilter, Lead, NewConsent, SqliteStore, Store};

use crate::common::*;

/// The tenant these tests use.
pub const TENANT: &str = "acme-clinic";
/// The lead these tests use.
pub const LEAD: &str = "lead-42";
/// Its phone number, the value most tests read.
pub const PHONE: &str = "+15550100";

/// A data directory with a store, an audit writer and a lead.
pub struct World {
    pub dir: tempfile::TempDir,
    pub services: Arc<DataServices>,
    store: Arc<dyn Store>,
}

impl World {
    /// A fresh world with an adult lead and no consents.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        store.ensure_tenant(TENANT).await.unwrap();
        let mut lead = Lead::new(TENANT, LEAD);
        lead.name = Some("Ada Lovelace".into());
        lead.phone = Some(PHONE.into());
        lead.email = Some("ada@example.com".into());
        lead.age = AgeStatus::Adult;
        let mut preferences = serde_json::Map::new();
        preferences.insert("preferred-time".into(), "mornings".into());
        lead.preferences = Some(preferences);
        store.upsert_lead(&lead).await.unwrap();
        let pseudonyms = Pseudonymizer::load_or_create(dir.path()).unwrap();
        let audit = AuditWriter::spawn(store.clone());
        Self {
            dir,
            services: Arc::new(DataServices::new(store.clone(), audit, pseudonyms)),
            store,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Records a consent for `purpose` (and `channel`), granted a day ago.
    pub async fn consent(&self, purpose: Purpose, channel: Option<Channel>) -> i64 {
        self.consent_with(purpose, channel, None, false).await
    }

    /// Records a consent with an expiry and the parental flag.
    pub async fn consent_with(
        &self,
        purpose: Purpose,
        channel: Option<Channel>,
        expires_at_ms: Option<i64>,
        parental: bool,
    ) -> i64 {
        let now = cally_host::clock::now_ms();
        self.store()
            .grant_consent(&NewConsent {
                tenant: TENANT.into(),
                lead_id: LEAD.into(),
                purpose,
                channel,
                granted_at_ms: now - 86_400_000,
                expires_at_ms,
                source: "web-form".into(),
                evidence: "form-1".into(),
                parental,
            })
            .await
            .unwrap()
            .id
    }

    /// Changes the lead with `change`.
    pub async fn update_lead(&self, change: impl FnOnce(&mut Lead)) {
        let mut lead = self.store().lead(TENANT, LEAD).await.unwrap().unwrap();
        change(&mut lead);
        self.store().upsert_lead(&lead).await.unwrap();
    }

    /// A gate for call `call_id` of `plugin`, running for `purpose` with `declared`.
    pub fn gate(
        &self,
        call_id: &str,
        plugin: &CompiledPlugin,
        purpose: Purpose,
        declared: Declared,
    ) -> DataGate {
        let scope = CallScope::new(
            &self.services,
            TENANT,
            call_id,
            Some(LEAD.into()),
            ("reads-data", "1.0.0", &plugin.digest.to_string()),
            purpose,
            declared,
            Some(format!("rec-{call_id}")),
        );
        DataGate {
            services: self.services.clone(),
            scope: Arc::new(scope),
        }
    }

    /// Every audit record of the tenant.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store()
            .audit_records(TENANT, &AuditFilter::default())
            .await
            .unwrap()
    }
}

/// Declares every field, the transcript and the recording.
pub fn declare_everything() -> Declared {
    let resources = DataField::ALL
        .iter()
        .map(|f| Resource::Field(*f))
        .chain([Resource::Transcript, Resource::Recording])
        .chain(Channel::ALL.iter().map(|c| Resource::Message(*c)));
    Declared::new(resources, ["hot-lead".to_owned()])
}

/// A running call of the `reads-data` probe.
pub struct Probe {
    pub call: cally_host::session::FlowInstance,
}

impl Probe {
    /// Starts a call of `reads-data` for `purpose` with `declared`.
    pub async fn start(
        world: &World,
        cache: &ComponentCache,
        call_id: &str,
        purpose: Purpose,
        declared: Declared,
    ) -> Self {
        let plugin = test_plugin(cache, "reads-data");
        let mut options = options(cache);
        options.data = Some(world.gate(call_id, &plugin, purpose, declared));
        let mut call =
            cally_host::session::FlowInstance::start(cache.sandbox().clone(), &plugin, options)
                .await
                .unwrap();
        let ready = call.handle(&started(call_id)).await;
        assert_eq!(said(&ready), ["ready"]);
        Self { call }
    }

    /// Sends `command` as the caller's words; returns the probe's answers.
    pub async fn ask(&mut self, command: &str) -> Vec<String> {
        let outcome = self.call.handle(&speech(command)).await;
        assert!(
            outcome.failure.is_none(),
            "{command}: {:?}",
            outcome.failure
        );
        said(&outcome)
    }
}
