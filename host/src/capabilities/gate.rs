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
//!
//! A use is asked for as a [`DataRequest`] and recorded under the
//! [`AuditResource`] that [`Declared::audit_resource`] makes of it: fixed
//! names, and for a preference key or a tag the manifest's own string, or
//! `undeclared` with a keyed hash. Text a plugin chose never reaches the log.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::audit::{
    AuditContext, AuditDecision, AuditLabel, AuditResource, AuditWriter, Pseudonymizer,
};
use crate::consent::{
    self, AccessRequest, Channel, DataField, Decision, DenyReason, Purpose, Resource,
};
pub use crate::store::LeadSnapshot;
use crate::store::{LeadStore, OutboxStore, RetentionStore, Store, TagStore};

/// What every call's personal-data access shares: the parts of the store it
/// uses, the audit writer and the pseudonym key. One per host.
pub struct DataServices {
    /// Each lead's record and consents: the snapshot every decision reads.
    pub leads: Arc<dyn LeadStore>,
    /// Where an allowed `tag_lead` action writes its tag.
    pub tags: Arc<dyn TagStore>,
    /// Where an allowed `send_message` action queues its message.
    pub outbox: Arc<dyn OutboxStore>,
    /// Retention policies and the purge, for the host's retention task.
    pub retention: Arc<dyn RetentionStore>,
    /// The group-commit writer every audit record goes through.
    pub audit: AuditWriter,
    /// Turns lead ids into the pseudonyms audit records and plugins see.
    pub pseudonyms: Pseudonymizer,
}

impl DataServices {
    /// The services over one store (each field the narrow part of it that its
    /// users need), with `audit` writing to that store and `pseudonyms`.
    pub fn new(store: Arc<dyn Store>, audit: AuditWriter, pseudonyms: Pseudonymizer) -> Self {
        Self {
            leads: store.clone(),
            tags: store.clone(),
            outbox: store.clone(),
            retention: store,
            audit,
            pseudonyms,
        }
    }
}

/// What a plugin's manifest declares it uses, for the purpose it runs under.
/// Nothing is granted by omission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    resources: HashSet<Resource>,
    tags: HashSet<String>,
    /// The preference keys the manifest names (`keys` of its `preferences`
    /// read): the only ones the audit log may spell out. They grant nothing
    /// beyond the `preferences` read itself.
    preference_keys: HashSet<String>,
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
            preference_keys: HashSet::new(),
        }
    }

    /// Also names `keys` as reviewed preference keys: reads of them are
    /// audited under their name; any other key is audited as `undeclared`.
    pub fn with_preference_keys(mut self, keys: impl IntoIterator<Item = String>) -> Self {
        self.preference_keys.extend(keys);
        self
    }

    /// What `manifest` declares: its field reads (with their preference
    /// keys), transcript, recording, message channels and tags.
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
        .with_preference_keys(manifest.preference_keys().map(str::to_owned))
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

    /// Whether `request` is declared: a tag must be listed itself; a
    /// preference key needs the `preferences` read (any key may be read, but
    /// only a listed one is named in the audit log).
    pub fn declares_request(&self, request: &DataRequest) -> bool {
        match request {
            DataRequest::Tag(tag) => self.declares_tag(tag),
            other => self.declares(&other.resource()),
        }
    }

    /// The audit log's name for `request`: a fixed name, or for a preference
    /// key or a tag the manifest's own string when it is declared, else
    /// `undeclared` with `label(kind, text)`, a keyed hash
    /// ([`Pseudonymizer::undeclared_label`]). Never the plugin's text.
    pub fn audit_resource(
        &self,
        request: &DataRequest,
        label: impl Fn(&str, &str) -> String,
    ) -> AuditResource {
        let named = |reviewed: Option<&String>, kind: &str, text: &str| match reviewed {
            // The manifest's copy, not the plugin's: equal bytes, but the one a
            // reviewer approved.
            Some(reviewed) => AuditLabel::Reviewed(reviewed.clone()),
            None => AuditLabel::Undeclared {
                hash: label(kind, text),
            },
        };
        match request {
            DataRequest::Field(field) => AuditResource::Field(*field),
            DataRequest::Transcript => AuditResource::Transcript,
            DataRequest::Recording => AuditResource::Recording,
            DataRequest::Message(channel) => AuditResource::Message(*channel),
            DataRequest::Preference(key) => {
                AuditResource::Preference(named(self.preference_keys.get(key), "preference", key))
            }
            DataRequest::Tag(tag) => AuditResource::Tag(named(self.tags.get(tag), "tag", tag)),
        }
    }
}

/// One use of personal data a plugin asks for, before it is decided: what
/// [`DataGate::check`] takes. A preference key and a tag are the plugin's
/// own strings; the gate records them only through [`Declared::audit_resource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRequest {
    /// A read of one whole lead field.
    Field(DataField),
    /// A read of one preference by key (a read of the `preferences` field).
    Preference(String),
    /// A read of the current call's transcript.
    Transcript,
    /// A read of the current call's recording.
    Recording,
    /// A message to the lead on a channel.
    Message(Channel),
    /// Writing one tag on the lead.
    Tag(String),
}

impl DataRequest {
    /// The resource consent is decided for.
    pub fn resource(&self) -> Resource {
        match self {
            DataRequest::Field(field) => Resource::Field(*field),
            DataRequest::Preference(_) => Resource::Field(DataField::Preferences),
            DataRequest::Transcript => Resource::Transcript,
            DataRequest::Recording => Resource::Recording,
            DataRequest::Message(channel) => Resource::Message(*channel),
            DataRequest::Tag(_) => Resource::Tag,
        }
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
    /// What was used, exactly as the audit record names it (an
    /// [`AuditResource`]): `name`, `preferences.preferred-time`, `transcript`,
    /// `message:whatsapp`, `tag:hot-lead`, `tag:undeclared:<16 hex>`.
    pub resource: String,
    /// The purpose it was used for.
    pub purpose: Purpose,
    /// Allowed or denied (`allowed`, `denied` in JSON).
    pub decision: AuditDecision,
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
    /// Decides every use in `uses`, appends their audit records (each named
    /// by [`Declared::audit_resource`]) in one durable commit, and returns the
    /// decisions (all `audit-unavailable` if the commit failed) with the lead
    /// snapshot they were made on, and the trace of each use under its audit name.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(tenant = %self.scope.tenant, call_id = %self.scope.call_id, plugin = %self.scope.audit.plugin, uses = uses.len())
    )]
    pub async fn check(
        &self,
        uses: &[DataRequest],
    ) -> (Vec<Decision>, Arc<LeadSnapshot>, Vec<DataUse>) {
        let now_ms = crate::clock::now_ms();
        let scope = &self.scope;
        let names: Vec<String> = uses
            .iter()
            .map(|request| {
                scope
                    .declared
                    .audit_resource(request, |kind, text| {
                        self.services
                            .pseudonyms
                            .undeclared_label(&scope.tenant, kind, text)
                    })
                    .to_string()
            })
            .collect();
        let snapshot = match self.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, call = %self.scope.call_id, "cannot read the lead's consents; denying");
                return self.unavailable(&names, uses, Arc::default());
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
        let decisions: Vec<Decision> = uses
            .iter()
            .map(|request| {
                let access = AccessRequest {
                    resource: request.resource(),
                    purpose: scope.purpose,
                    declared: scope.declared.declares_request(request),
                    now_ms,
                };
                consent::decide(&access, &state, &snapshot.consents)
            })
            .collect();
        let entries = names
            .iter()
            .zip(&decisions)
            .map(|(name, decision)| {
                scope
                    .audit
                    .entry(name.clone(), scope.purpose, decision, now_ms)
            })
            .collect();
        match self.services.audit.append(entries).await {
            Ok(records) => {
                let trace = names
                    .iter()
                    .zip(&decisions)
                    .zip(records)
                    .zip(uses)
                    .map(|(((name, decision), record), request)| {
                        data_use(name, request, scope.purpose, decision, Some(record.seq))
                    })
                    .collect();
                (decisions, snapshot, trace)
            }
            Err(error) => {
                tracing::warn!(%error, call = %scope.call_id, "audit store unavailable; releasing nothing");
                self.unavailable(&names, uses, snapshot)
            }
        }
    }

    fn unavailable(
        &self,
        names: &[String],
        uses: &[DataRequest],
        snapshot: Arc<LeadSnapshot>,
    ) -> (Vec<Decision>, Arc<LeadSnapshot>, Vec<DataUse>) {
        let decision = Decision::Deny(DenyReason::AuditUnavailable);
        let trace = names
            .iter()
            .zip(uses)
            .map(|(name, request)| data_use(name, request, self.scope.purpose, &decision, None))
            .collect();
        (vec![decision; names.len()], snapshot, trace)
    }

    async fn snapshot(&self) -> Result<Arc<LeadSnapshot>, crate::store::StoreError> {
        let scope = &self.scope;
        let Some(lead_id) = &scope.lead_id else {
            return Ok(Arc::default());
        };
        self.services
            .leads
            .lead_snapshot(&scope.tenant, lead_id)
            .await
    }
}

/// What a developer reads about a denial of `request`: for `not-declared`,
/// the TOML to add to the manifest (a tag by its name); otherwise the
/// reason's own message. It goes to the plugin and its log only, which may
/// quote the plugin's own strings; the call's data trace gets
/// [`recorded_denial_message`], and the audit log the code only.
pub fn denial_message(request: &DataRequest, reason: &DenyReason) -> String {
    let DenyReason::NotDeclared { purpose, .. } = reason else {
        return reason.to_string();
    };
    let (what, tag) = match request {
        DataRequest::Field(field) => (format!("field `{field}`"), None),
        DataRequest::Preference(_) => ("field `preferences`".to_owned(), None),
        DataRequest::Transcript => ("the transcript".to_owned(), None),
        DataRequest::Recording => ("the recording".to_owned(), None),
        DataRequest::Message(channel) => (format!("messages on `{channel}`"), None),
        DataRequest::Tag(tag) => (format!("tag `{tag}`"), Some(tag.as_str())),
    };
    format!(
        "{what} is not declared in the plugin's manifest (purpose `{purpose}`): add this to cally.toml, with the real reason:\n{}",
        crate::manifest::declaration(request.resource(), tag).trim_end()
    )
}

/// [`denial_message`] for the call's data trace (kept with the call's
/// result and answered over the API), which must hold no string a plugin
/// chose: an undeclared tag is not named (its audit name is a keyed hash),
/// and the hint points to the log line that names it.
fn recorded_denial_message(request: &DataRequest, reason: &DenyReason) -> String {
    match (request, reason) {
        (DataRequest::Tag(_), DenyReason::NotDeclared { purpose, .. }) => format!(
            "a tag the plugin's manifest does not declare (purpose `{purpose}`): add a [[tags]] \
             entry for it to cally.toml; the call's log line names the tag and the exact TOML \
             (this record keeps only the tag's keyed hash)"
        ),
        _ => denial_message(request, reason),
    }
}

fn data_use(
    name: &str,
    request: &DataRequest,
    purpose: Purpose,
    decision: &Decision,
    audit_seq: Option<i64>,
) -> DataUse {
    match decision {
        Decision::Allow { consent_id } => DataUse {
            resource: name.to_owned(),
            purpose,
            decision: AuditDecision::Allowed,
            reason: None,
            message: None,
            consent_id: Some(*consent_id),
            audit_seq,
        },
        Decision::Deny(reason) => DataUse {
            resource: name.to_owned(),
            purpose,
            decision: AuditDecision::Denied,
            reason: Some(reason.as_str()),
            message: Some(recorded_denial_message(request, reason)),
            consent_id: None,
            audit_seq,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    /// The keyed hash the gate uses, for tenant `acme` under a fixed key.
    fn label(kind: &str, text: &str) -> String {
        Pseudonymizer::from_key([7; 32]).undeclared_label("acme", kind, text)
    }

    fn preferences_and_hot_lead() -> Declared {
        Declared::new(
            [Resource::Field(DataField::Preferences)],
            ["hot-lead".to_owned()],
        )
        .with_preference_keys(["preferred-time".to_owned()])
    }

    #[test]
    fn fixed_resources_are_named_by_the_vocabulary() {
        let declared = Declared::nothing();
        let name = |request: DataRequest| declared.audit_resource(&request, label).to_string();
        assert_eq!(name(DataRequest::Field(DataField::Name)), "name");
        assert_eq!(
            name(DataRequest::Field(DataField::Preferences)),
            "preferences"
        );
        assert_eq!(name(DataRequest::Transcript), "transcript");
        assert_eq!(name(DataRequest::Recording), "recording");
        assert_eq!(name(DataRequest::Message(Channel::Sms)), "message:sms");
    }

    #[test]
    fn declared_keys_and_tags_are_named_and_others_only_hashed() {
        let declared = preferences_and_hot_lead();
        let name = |request: DataRequest| declared.audit_resource(&request, label).to_string();
        assert_eq!(
            name(DataRequest::Preference("preferred-time".into())),
            "preferences.preferred-time"
        );
        assert_eq!(name(DataRequest::Tag("hot-lead".into())), "tag:hot-lead");

        let name_key = name(DataRequest::Preference("ada-lovelace".into()));
        assert_eq!(
            name_key,
            format!(
                "preferences.undeclared:{}",
                label("preference", "ada-lovelace")
            )
        );
        let phone_key = name(DataRequest::Preference("15550100".into()));
        let name_tag = name(DataRequest::Tag("ada-lovelace".into()));
        assert_eq!(
            name_tag,
            format!("tag:undeclared:{}", label("tag", "ada-lovelace"))
        );
        // A declared tag used as a key, or a declared key used as a tag, is
        // not declared for that use.
        let tag_as_key = name(DataRequest::Preference("hot-lead".into()));
        let key_as_tag = name(DataRequest::Tag("preferred-time".into()));
        let undeclared = [&name_key, &phone_key, &name_tag, &tag_as_key, &key_as_tag];
        for (i, a) in undeclared.iter().enumerate() {
            for text in ["ada", "lovelace", "15550100", "hot-lead", "preferred-time"] {
                assert!(!a.contains(text), "{a} holds {text}");
            }
            for b in &undeclared[i + 1..] {
                assert_ne!(a, b, "different undeclared strings can be told apart");
            }
        }
    }

    #[test]
    fn tags_are_declared_one_by_one_and_keys_by_the_preferences_read() {
        let declared = preferences_and_hot_lead();
        assert!(declared.declares_request(&DataRequest::Tag("hot-lead".into())));
        assert!(!declared.declares_request(&DataRequest::Tag("cold-lead".into())));
        assert!(declared.declares_request(&DataRequest::Preference("any-key".into())));
        assert!(!declared.declares_request(&DataRequest::Field(DataField::Name)));
        assert!(
            !Declared::nothing()
                .declares_request(&DataRequest::Preference("preferred-time".into()))
        );
    }

    #[test]
    fn a_manifest_declares_its_preference_keys() {
        let manifest = Manifest::parse(
            "name = \"reminder\"\nversion = \"1.0.0\"\nworld = \"call-flow\"\n\
             description = \"Reminds a patient of an appointment.\"\npurpose = \"call-handling\"\n\
             [[reads]]\nfield = \"preferences\"\nreason = \"Offers the preferred time.\"\n\
             keys = [\"preferred-time\"]\n",
            "cally.toml",
        )
        .unwrap();
        let declared = Declared::from_manifest(&manifest);
        let name = |key: &str| {
            declared
                .audit_resource(&DataRequest::Preference(key.into()), label)
                .to_string()
        };
        assert_eq!(name("preferred-time"), "preferences.preferred-time");
        assert!(name("preferred_time").starts_with("preferences.undeclared:"));
    }
}
