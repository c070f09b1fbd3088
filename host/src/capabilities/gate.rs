//! The one path every use of personal data takes: decide, make the audit record
//! durable, and only then release.
//!
//! Reads (`personal-data`), messages (`send_message` actions) and tags
//! (`tag_lead` actions) all come through [`DataGate::check`]: it loads the
//! lead's state and consents afresh (so a withdrawal counts on the very next
//! use, even inside a running call), asks [`consent::decide`] about each use,
//! appends one audit record per use in one group commit, and answers only
//! once that commit is durable. If the audit store cannot write, every use is
//! denied `audit-unavailable`: nothing is released unaudited.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::audit::{AuditContext, AuditWriter, Pseudonymizer};
use crate::consent::{self, AccessRequest, Decision, DenyReason, Purpose, Resource};
pub use crate::store::LeadSnapshot;
use crate::store::Store;

/// What every call's personal-data access shares: the store, the audit
/// writer and the pseudonym key. One per host.
pub struct DataServices {
    /// Leads, consents, tags and the outbox.
    pub store: Arc<dyn Store>,
    /// The group-commit writer every audit record goes through.
    pub audit: AuditWriter,
    /// Turns lead ids into the pseudonyms audit records and plugins see.
    pub pseudonyms: Pseudonymizer,
}

/// What a plugin's manifest declares it uses, for the purpose it runs under.
/// Nothing is granted by omission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    resources: HashSet<Resource>,
    tags: HashSet<String>,
}

impl Declared {
    /// Declares nothing: every use is denied `not-declared`.
    pub fn nothing() -> Self {
        Self::default()
    }

    /// Declares exactly `resources`, and the tags in `tags` (a `Resource::Tag`
    /// use is declared only for those).
    pub fn new(
        resources: impl IntoIterator<Item = Resource>,
        tags: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            resources: resources.into_iter().collect(),
            tags: tags.into_iter().collect(),
        }
    }

    /// What `manifest` declares: its field reads, transcript, recording,
    /// message channels and tags.
    pub fn from_manifest(manifest: &crate::manifest::Manifest) -> Self {
        let mut resources: Vec<Resource> = crate::consent::DataField::ALL
            .iter()
            .map(|field| Resource::Field(*field))
            .chain([Resource::Transcript, Resource::Recording])
            .chain(
                crate::consent::Channel::ALL
                    .iter()
                    .map(|c| Resource::Message(*c)),
            )
            .collect();
        resources.retain(|resource| manifest.declares(resource));
        Self::new(
            resources,
            manifest.tags.iter().map(|grant| grant.tag.clone()),
        )
    }

    /// Whether `resource` is declared; a tag needs [`Declared::declares_tag`].
    pub fn declares(&self, resource: &Resource) -> bool {
        match resource {
            Resource::Tag => !self.tags.is_empty(),
            other => self.resources.contains(other),
        }
    }

    /// Whether the manifest lists `tag` among the tags the plugin may write.
    pub fn declares_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }
}

/// Who is asking, for one call: tenant, call, lead, plugin and purpose.
pub struct CallScope {
    /// The tenant the call belongs to.
    pub tenant: String,
    /// The call.
    pub call_id: String,
    /// The lead the call is with, if the platform named one.
    pub lead_id: Option<String>,
    /// The purpose the plugin runs for, from its manifest.
    pub purpose: Purpose,
    /// What the plugin's manifest declares.
    pub declared: Declared,
    /// Filled into every audit record: plugin, version, digest, call, pseudonym.
    pub audit: AuditContext,
    /// The platform's reference to the call's recording, if it is recorded.
    pub recording: Option<String>,
    /// The call's transcript so far: caller's final words and the flow's `say`s.
    transcript: Mutex<Vec<TranscriptLine>>,
    /// False once the call has ended: handles then refuse every use.
    live: AtomicBool,
}

/// One line of a call's transcript, as the host recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    /// True for the caller, false for the flow.
    pub caller: bool,
    /// What was said.
    pub text: String,
}

impl CallScope {
    /// The scope of call `call_id` of `tenant` with `lead_id`, for a plugin
    /// identified by `plugin`, `version` and `digest`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        services: &DataServices,
        tenant: impl Into<String>,
        call_id: impl Into<String>,
        lead_id: Option<String>,
        plugin: (&str, &str, &str),
        purpose: Purpose,
        declared: Declared,
        recording: Option<String>,
    ) -> Self {
        let tenant = tenant.into();
        let call_id = call_id.into();
        let pseudonym = lead_id
            .as_deref()
            .map(|lead| services.pseudonyms.pseudonym(&tenant, lead));
        let (plugin, plugin_version, component_digest) = plugin;
        Self {
            audit: AuditContext {
                tenant: tenant.clone(),
                plugin: plugin.to_owned(),
                plugin_version: plugin_version.to_owned(),
                component_digest: component_digest.to_owned(),
                call_id: call_id.clone(),
                lead: pseudonym,
            },
            tenant,
            call_id,
            lead_id,
            purpose,
            declared,
            recording,
            transcript: Mutex::new(Vec::new()),
            live: AtomicBool::new(true),
        }
    }

    /// The lead's pseudonym, safe to log.
    pub fn pseudonym(&self) -> Option<&str> {
        self.audit.lead.as_deref()
    }

    /// Appends a line to the call's transcript.
    pub fn record_line(&self, caller: bool, text: &str) {
        self.lock_transcript().push(TranscriptLine {
            caller,
            text: text.to_owned(),
        });
    }

    /// The transcript so far.
    pub fn transcript(&self) -> Vec<TranscriptLine> {
        self.lock_transcript().clone()
    }

    /// Replaces the transcript, for a lead tagger run on a finished call.
    pub fn set_transcript(&self, lines: Vec<TranscriptLine>) {
        *self.lock_transcript() = lines;
    }

    fn lock_transcript(&self) -> std::sync::MutexGuard<'_, Vec<TranscriptLine>> {
        self.transcript.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the call: every handle of it refuses further use.
    pub fn end(&self) {
        self.live.store(false, Ordering::SeqCst);
    }

    /// Whether the call is still running.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
}

/// One use of personal data as it was decided and audited; shown in
/// `cally simulate` and kept with the call's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DataUse {
    /// What was used, as in the audit log: `name`, `preferences.preferred-time`,
    /// `transcript`, `message:whatsapp`, `tag:hot-lead`.
    pub resource: String,
    /// The purpose it was used for.
    pub purpose: Purpose,
    /// `allowed` or `denied`.
    #[schema(value_type = crate::audit::AuditDecision)]
    pub decision: &'static str,
    /// The denial code, when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<&'static str>,
    /// What would allow it, when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub message: Option<String>,
    /// The consent record that allowed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub consent_id: Option<i64>,
    /// The audit record's sequence number in the tenant's chain; absent only
    /// when the audit store could not write (and nothing was released).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub audit_seq: Option<i64>,
}

/// The checkpoint between a plugin and personal data, for one call.
#[derive(Clone)]
pub struct DataGate {
    /// Shared host services.
    pub services: Arc<DataServices>,
    /// The call being served.
    pub scope: Arc<CallScope>,
}

impl DataGate {
    /// Decides every use in `uses` (resource and its audit name), appends
    /// their audit records in one durable commit, and returns the decisions
    /// (all `audit-unavailable` if the commit failed) with the lead snapshot
    /// they were made on.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(tenant = %self.scope.tenant, call_id = %self.scope.call_id, plugin = %self.scope.audit.plugin, uses = uses.len())
    )]
    pub async fn check(
        &self,
        uses: &[(Resource, String)],
    ) -> (Vec<Decision>, Arc<LeadSnapshot>, Vec<DataUse>) {
        let now_ms = crate::session::now_ms() as i64;
        let snapshot = match self.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, call = %self.scope.call_id, "cannot read the lead's consents; denying");
                return self.unavailable(uses, Arc::default());
            }
        };
        let state = match &snapshot.lead {
            Some(lead) => lead.state(),
            None => consent::LeadState {
                age: consent::AgeStatus::Unknown,
                restricted: false,
                erased: true,
            },
        };
        let scope = &self.scope;
        let decisions: Vec<Decision> = uses
            .iter()
            .map(|(resource, name)| {
                let declared = match (resource, name.strip_prefix("tag:")) {
                    (Resource::Tag, Some(tag)) => scope.declared.declares_tag(tag),
                    _ => scope.declared.declares(resource),
                };
                let request = AccessRequest {
                    resource: *resource,
                    purpose: scope.purpose,
                    declared,
                    now_ms,
                };
                consent::decide(&request, &state, &snapshot.consents)
            })
            .collect();
        let entries = uses
            .iter()
            .zip(&decisions)
            .map(|((_, name), decision)| {
                scope
                    .audit
                    .entry(name.clone(), scope.purpose, decision, now_ms)
            })
            .collect();
        match self.services.audit.append(entries).await {
            Ok(records) => {
                let trace = uses
                    .iter()
                    .zip(&decisions)
                    .zip(records)
                    .map(|(((_, name), decision), record)| {
                        data_use(name, scope.purpose, decision, Some(record.seq))
                    })
                    .collect();
                (decisions, snapshot, trace)
            }
            Err(error) => {
                tracing::warn!(%error, call = %scope.call_id, "audit store unavailable; releasing nothing");
                self.unavailable(uses, snapshot)
            }
        }
    }

    fn unavailable(
        &self,
        uses: &[(Resource, String)],
        snapshot: Arc<LeadSnapshot>,
    ) -> (Vec<Decision>, Arc<LeadSnapshot>, Vec<DataUse>) {
        let decision = Decision::Deny(DenyReason::AuditUnavailable);
        let trace = uses
            .iter()
            .map(|(_, name)| data_use(name, self.scope.purpose, &decision, None))
            .collect();
        (vec![decision; uses.len()], snapshot, trace)
    }

    async fn snapshot(&self) -> Result<Arc<LeadSnapshot>, crate::store::StoreError> {
        let scope = &self.scope;
        let Some(lead_id) = &scope.lead_id else {
            return Ok(Arc::default());
        };
        self.services
            .store
            .lead_snapshot(&scope.tenant, lead_id)
            .await
    }
}

fn data_use(name: &str, purpose: Purpose, decision: &Decision, audit_seq: Option<i64>) -> DataUse {
    match decision {
        Decision::Allow { consent_id } => DataUse {
            resource: name.to_owned(),
            purpose,
            decision: "allowed",
            reason: None,
            message: None,
            consent_id: Some(*consent_id),
            audit_seq,
        },
        Decision::Deny(reason) => DataUse {
            resource: name.to_owned(),
            purpose,
            decision: "denied",
            reason: Some(reason.as_str()),
            message: Some(reason.to_string()),
            consent_id: None,
            audit_seq,
        },
    }
}
