//! Audit entries (what a caller supplies), audit records (what the log holds) and the
//! canonical encoding their hash chain is computed over. Pure: no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::consent::{Channel, DataField, Decision, Purpose};

/// The `prev_hash` of a tenant's first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether a use of personal data was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuditDecision {
    /// The value was released (or the action performed) after this record was durable.
    Allowed,
    /// Nothing was released; the reason says why.
    Denied,
}

impl AuditDecision {
    /// `allowed` or `denied`, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Allowed => "allowed",
            AuditDecision::Denied => "denied",
        }
    }
}

impl fmt::Display for AuditDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a use of personal data was about, as an audit record names it: a fixed
/// vocabulary, plus strings a reviewer approved in the plugin's manifest. Nothing a
/// plugin chooses at runtime (a preference key, a tag) is ever written verbatim: one
/// the manifest does not declare is named `undeclared` with a keyed hash.
///
/// | use | written as |
/// |---|---|
/// | a lead field | `name`, `phone`, `email`, `location`, `language`, `preferences` |
/// | the call's transcript, recording | `transcript`, `recording` |
/// | a message | `message:sms`, `message:whatsapp`, `message:email` |
/// | a declared preference key | `preferences.<key>`, the manifest's string |
/// | an undeclared preference key | `preferences.undeclared:<16 hex>` |
/// | a declared tag | `tag:<tag>`, the manifest's string |
/// | an undeclared tag | `tag:undeclared:<16 hex>` |
///
/// Declared keys and tags cannot contain `:` (their grammar is letters, digits,
/// `-`, `_` and `.`), so an undeclared name never reads as a declared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditResource {
    /// A read of one whole lead field.
    Field(DataField),
    /// A read of the current call's transcript.
    Transcript,
    /// A read of the current call's recording.
    Recording,
    /// A message sent to the lead on a channel.
    Message(Channel),
    /// A read of one preference by key.
    Preference(AuditLabel),
    /// Writing one tag on the lead.
    Tag(AuditLabel),
}

/// A string a plugin chose (a preference key or a tag), as the audit log may hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLabel {
    /// The manifest declares it: its string, which a reviewer approved.
    Reviewed(String),
    /// The manifest does not declare it: only a keyed hash of it
    /// ([`super::Pseudonymizer::undeclared_label`]), so two can be told apart
    /// but neither read.
    Undeclared {
        /// 16 lowercase hex characters.
        hash: String,
    },
}

/// How an undeclared key or tag is spelled in a resource name.
pub const UNDECLARED: &str = "undeclared";

impl fmt::Display for AuditLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditLabel::Reviewed(text) => f.write_str(text),
            AuditLabel::Undeclared { hash } => write!(f, "{UNDECLARED}:{hash}"),
        }
    }
}

/// The resource as the audit log spells it (see [`AuditResource`]).
impl fmt::Display for AuditResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditResource::Field(field) => f.write_str(field.as_str()),
            AuditResource::Transcript => f.write_str("transcript"),
            AuditResource::Recording => f.write_str("recording"),
            AuditResource::Message(channel) => write!(f, "message:{channel}"),
            AuditResource::Preference(label) => write!(f, "preferences.{label}"),
            AuditResource::Tag(label) => write!(f, "tag:{label}"),
        }
    }
}

impl From<AuditResource> for String {
    fn from(resource: AuditResource) -> String {
        resource.to_string()
    }
}

/// Why a use of personal data happened, as a record names it: the consent purpose a
/// plugin's use was decided under, or [`AuditPurpose::Administration`] for a person
/// acting through the API. Not a [`Purpose`] itself, so no manifest can declare, and
/// no consent can grant, `administration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPurpose {
    /// A plugin's use (or a host task's), decided under this purpose.
    Consented(Purpose),
    /// A person's request with one of the tenant's API keys (reading, exporting,
    /// importing, correcting or erasing through the API): the tenant's own
    /// administration of its leads, bound by the role of the key, not by consent.
    Administration,
}

impl AuditPurpose {
    /// The spelling in the record: the purpose's (`call-handling`, ...) or
    /// `administration`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditPurpose::Consented(purpose) => purpose.as_str(),
            AuditPurpose::Administration => "administration",
        }
    }
}

impl From<Purpose> for AuditPurpose {
    fn from(purpose: Purpose) -> AuditPurpose {
        AuditPurpose::Consented(purpose)
    }
}

/// Who, among people, used personal data: the API key (by id, never the key), its
/// role, where the request came from and what it asked for. `None` on a record of a
/// plugin's use or of a host task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditActor {
    /// The key's id: the first 16 hex digits of its SHA-256, as `GET /v1/keys` lists it.
    pub key_id: String,
    /// The key's role: `tenant-admin`, `reviewer`, `runtime`, ...
    pub role: String,
    /// The client's IP address as the host's socket saw it, or `unknown`.
    pub address: String,
    /// What the request did, from a fixed vocabulary: `lead.read`, `lead.list`,
    /// `lead.export`, `lead.erase`, `consent.withdraw`, `audit.query`, `call.read`, ...
    pub operation: String,
}

/// One use of personal data to record, as the host supplies it: every read (allowed or
/// denied), every tag written and every message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The tenant whose chain this joins.
    pub tenant: String,
    /// Host clock (ms since the Unix epoch) when the decision was made: the same
    /// instant `decide` judged consents at, so a reviewer can check expiries against it.
    pub time_ms: i64,
    /// The plugin's name, from its manifest.
    pub plugin: String,
    /// The plugin's version, from its manifest.
    pub plugin_version: String,
    /// The digest of the component that ran: the exact code, not just its version label.
    pub component_digest: String,
    /// The call it happened in.
    pub call_id: String,
    /// The lead's pseudonym ([`super::Pseudonymizer`]), never the lead id itself, so an
    /// erased lead leaves no personal data here. `None` when the call has no known lead.
    pub lead: Option<String>,
    /// What was used, an [`AuditResource`] spelled out: `phone`,
    /// `preferences.preferred-time`, `transcript`, `recording`, `message:whatsapp`,
    /// `tag:hot-lead`, `tag:undeclared:<hash>`; a retention purge writes `retention:...`.
    pub resource: String,
    /// The purpose it was used for.
    pub purpose: AuditPurpose,
    /// Allowed or denied.
    pub decision: AuditDecision,
    /// Why it was denied, as a code: a [`crate::consent::DenyReason`]'s (`no-consent`, ...) for a
    /// plugin's use, the refusal's problem kind (`not-found`, `forbidden`, ...) for a
    /// person's request; `None` when allowed.
    pub reason: Option<String>,
    /// The consent that allowed it; `None` when denied, and for a person's request.
    pub consent_id: Option<i64>,
    /// The person who used it; `None` for a plugin's use or a host task's.
    pub actor: Option<AuditActor>,
}

/// Who made a use of personal data: the parts of an [`AuditEntry`] that stay the same
/// for a whole call, so callers build entries with [`AuditContext::entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// See [`AuditEntry::tenant`].
    pub tenant: String,
    /// See [`AuditEntry::plugin`].
    pub plugin: String,
    /// See [`AuditEntry::plugin_version`].
    pub plugin_version: String,
    /// See [`AuditEntry::component_digest`].
    pub component_digest: String,
    /// See [`AuditEntry::call_id`].
    pub call_id: String,
    /// See [`AuditEntry::lead`].
    pub lead: Option<String>,
}

impl AuditContext {
    /// The entry recording `decision` for `resource` and `purpose` at `time_ms`.
    pub fn entry(
        &self,
        resource: impl Into<String>,
        purpose: Purpose,
        decision: &Decision,
        time_ms: i64,
    ) -> AuditEntry {
        let (audit_decision, reason, consent_id) = match decision {
            Decision::Allow { consent_id } => (AuditDecision::Allowed, None, Some(*consent_id)),
            Decision::Deny(reason) => (
                AuditDecision::Denied,
                Some(reason.as_str().to_owned()),
                None,
            ),
        };
        AuditEntry {
            tenant: self.tenant.clone(),
            time_ms,
            plugin: self.plugin.clone(),
            plugin_version: self.plugin_version.clone(),
            component_digest: self.component_digest.clone(),
            call_id: self.call_id.clone(),
            lead: self.lead.clone(),
            resource: resource.into(),
            purpose: purpose.into(),
            decision: audit_decision,
            reason,
            consent_id,
            actor: None,
        }
    }
}

/// One record of the audit log: an entry with its place in the tenant's hash chain.
///
/// Purpose, decision and reason are kept as the text that was written (and hashed), so
/// a log written by a newer version, with a purpose this version does not know, still
/// loads, verifies and exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// The tenant whose chain it belongs to.
    pub tenant: String,
    /// Position in the tenant's chain: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// See [`AuditEntry::time_ms`].
    pub time_ms: i64,
    /// See [`AuditEntry::plugin`].
    pub plugin: String,
    /// See [`AuditEntry::plugin_version`].
    pub plugin_version: String,
    /// See [`AuditEntry::component_digest`].
    pub component_digest: String,
    /// See [`AuditEntry::call_id`].
    pub call_id: String,
    /// See [`AuditEntry::lead`].
    #[schema(required = true)]
    pub lead: Option<String>,
    /// See [`AuditEntry::resource`].
    pub resource: String,
    /// The purpose's spelling (`call-handling`, ...).
    pub purpose: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// The deny reason's code (`no-consent`, ...), if denied.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// See [`AuditEntry::consent_id`].
    #[schema(required = true)]
    pub consent_id: Option<i64>,
    /// See [`AuditEntry::actor`]: the person behind a request, `null` for a plugin's
    /// use.
    #[serde(default)]
    #[schema(required = true)]
    pub actor: Option<AuditActor>,
    /// The hash of the tenant's previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Lowercase hex SHA-256 of [`AuditRecord::canonical_bytes`].
    pub hash: String,
}

impl AuditRecord {
    /// Places `entry` at `seq` after a record whose hash is `prev_hash`, computing its
    /// hash. Used by the store inside the append transaction.
    pub fn seal(entry: &AuditEntry, seq: i64, prev_hash: &str) -> AuditRecord {
        let mut record = AuditRecord {
            tenant: entry.tenant.clone(),
            seq,
            time_ms: entry.time_ms,
            plugin: entry.plugin.clone(),
            plugin_version: entry.plugin_version.clone(),
            component_digest: entry.component_digest.clone(),
            call_id: entry.call_id.clone(),
            lead: entry.lead.clone(),
            resource: entry.resource.clone(),
            purpose: entry.purpose.as_str().to_owned(),
            decision: entry.decision.as_str().to_owned(),
            reason: entry.reason.clone(),
            consent_id: entry.consent_id,
            actor: entry.actor.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// The bytes the hash is taken over. Every field except `hash` is encoded in this
    /// fixed order, so no field can change, move or be reinterpreted without changing
    /// the hash. A record without an actor (a plugin's use, a host task) is encoded as
    /// version 1, unchanged since the first release, so every stored chain still
    /// verifies; a person's record is version 2, version 1's fields and then the
    /// actor's:
    ///
    /// ```text
    /// text("cally-audit-v1") or, with an actor, text("cally-audit-v2")
    /// text(tenant)  int(seq)  int(time_ms)
    /// text(plugin)  text(plugin_version)  text(component_digest)  text(call_id)
    /// opt_text(lead)  text(resource)  text(purpose)  text(decision)
    /// opt_text(reason)  opt_int(consent_id)  text(prev_hash)
    /// v2 only: text(actor.key_id)  text(actor.role)  text(actor.address)  text(actor.operation)
    ///
    /// text(s)     = u64 big-endian byte length of s, then the UTF-8 bytes of s
    /// int(i)      = i64 big-endian, two's complement (8 bytes)
    /// opt_text(o) = 0x00 if absent; 0x01 then text(s) if present
    /// opt_int(o)  = 0x00 if absent; 0x01 then int(i) if present
    /// ```
    ///
    /// Length prefixes make the encoding unambiguous (`"ab","c"` and `"a","bc"` differ)
    /// without relying on any serializer's map ordering or escaping. The version string
    /// is hashed too, so a person's record cannot be passed off as a plugin's (or the
    /// reverse) without changing its hash.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let version = if self.actor.is_some() {
            "cally-audit-v2"
        } else {
            "cally-audit-v1"
        };
        text(&mut out, version);
        text(&mut out, &self.tenant);
        int(&mut out, self.seq);
        int(&mut out, self.time_ms);
        text(&mut out, &self.plugin);
        text(&mut out, &self.plugin_version);
        text(&mut out, &self.component_digest);
        text(&mut out, &self.call_id);
        opt_text(&mut out, self.lead.as_deref());
        text(&mut out, &self.resource);
        text(&mut out, &self.purpose);
        text(&mut out, &self.decision);
        opt_text(&mut out, self.reason.as_deref());
        match self.consent_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                int(&mut out, id);
            }
        }
        text(&mut out, &self.prev_hash);
        if let Some(actor) = &self.actor {
            text(&mut out, &actor.key_id);
            text(&mut out, &actor.role);
            text(&mut out, &actor.address);
            text(&mut out, &actor.operation);
        }
        out
    }

    /// Lowercase hex SHA-256 of [`AuditRecord::canonical_bytes`]: what `hash` must be.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(&i.to_be_bytes());
}

fn opt_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            text(out, s);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::consent::DenyReason;

    /// A context for tests: tenant `tenant`, plugin `reminder` 1.0.0, call `call-1`.
    pub(crate) fn context(tenant: &str) -> AuditContext {
        AuditContext {
            tenant: tenant.into(),
            plugin: "reminder".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:abcd".into(),
            call_id: "call-1".into(),
            lead: Some("lead-0123456789abcdef".into()),
        }
    }

    #[test]
    fn entries_carry_the_decision() {
        let ctx = context("acme");
        let allowed = ctx.entry(
            "phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 4 },
            10,
        );
        assert_eq!(
            (allowed.decision, allowed.reason.clone(), allowed.consent_id),
            (AuditDecision::Allowed, None, Some(4))
        );
        let denied = ctx.entry(
            "message:sms",
            Purpose::Marketing,
            &Decision::Deny(DenyReason::NoConsent {
                purpose: Purpose::Marketing,
                channel: None,
            }),
            11,
        );
        let record = AuditRecord::seal(&denied, 1, GENESIS_HASH);
        assert_eq!(record.decision, "denied");
        assert_eq!(record.reason.as_deref(), Some("no-consent"));
        assert_eq!(record.consent_id, None);
        assert_eq!(record.purpose, "marketing");
        assert_eq!(record.hash, record.compute_hash());
        assert_eq!(record.hash.len(), 64);
    }

    #[test]
    fn resources_are_spelled_from_the_fixed_vocabulary() {
        let reviewed = |text: &str| AuditLabel::Reviewed(text.into());
        let undeclared = AuditLabel::Undeclared {
            hash: "0123456789abcdef".into(),
        };
        let cases = [
            (AuditResource::Field(DataField::Phone), "phone"),
            (AuditResource::Field(DataField::Preferences), "preferences"),
            (AuditResource::Transcript, "transcript"),
            (AuditResource::Recording, "recording"),
            (
                AuditResource::Message(Channel::Whatsapp),
                "message:whatsapp",
            ),
            (
                AuditResource::Preference(reviewed("preferred-time")),
                "preferences.preferred-time",
            ),
            (
                AuditResource::Preference(undeclared.clone()),
                "preferences.undeclared:0123456789abcdef",
            ),
            (AuditResource::Tag(reviewed("hot-lead")), "tag:hot-lead"),
            (
                AuditResource::Tag(undeclared),
                "tag:undeclared:0123456789abcdef",
            ),
        ];
        for (resource, spelled) in cases {
            assert_eq!(resource.to_string(), spelled);
            assert_eq!(String::from(resource), spelled);
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        // Changing the encoding breaks every stored chain: this test pins version 1.
        let entry = context("acme").entry(
            "phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 1 },
            1_700_000_000_000,
        );
        let record = AuditRecord::seal(&entry, 1, GENESIS_HASH);
        let bytes = record.canonical_bytes();
        assert_eq!(&bytes[..8], &14u64.to_be_bytes());
        assert_eq!(&bytes[8..22], b"cally-audit-v1");
        assert_eq!(&bytes[22..30], &4u64.to_be_bytes());
        assert_eq!(&bytes[30..34], b"acme");
        assert_eq!(&bytes[34..42], &1i64.to_be_bytes());
        assert_eq!(
            record.hash,
            hex::encode(Sha256::digest(&bytes)),
            "hash is SHA-256 over the canonical bytes"
        );
    }

    fn actor() -> AuditActor {
        AuditActor {
            key_id: "0123456789abcdef".into(),
            role: "tenant-admin".into(),
            address: "10.0.0.7".into(),
            operation: "lead.read".into(),
        }
    }

    #[test]
    fn a_person_s_record_hashes_every_actor_field_under_version_2() {
        let mut entry = context("acme").entry(
            "name,phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 1 },
            5,
        );
        entry.purpose = AuditPurpose::Administration;
        entry.consent_id = None;
        entry.actor = Some(actor());
        let base = AuditRecord::seal(&entry, 3, GENESIS_HASH);
        assert_eq!(base.purpose, "administration");
        assert_eq!(&base.canonical_bytes()[8..22], b"cally-audit-v2");
        type Edit = Box<dyn Fn(&mut AuditActor)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("key", Box::new(|a| a.key_id = "fedcba9876543210".into())),
            ("role", Box::new(|a| a.role = "reviewer".into())),
            ("address", Box::new(|a| a.address = "10.0.0.8".into())),
            (
                "operation",
                Box::new(|a| a.operation = "lead.export".into()),
            ),
            // Moving bytes between adjacent actor fields must not collide.
            (
                "shift",
                Box::new(|a| {
                    a.role = "tenant-admin1".into();
                    a.address = "0.0.0.7".into();
                }),
            ),
        ];
        for (name, edit) in edits {
            let mut edited = base.clone();
            edit(edited.actor.as_mut().expect("the actor"));
            assert_ne!(
                edited.compute_hash(),
                base.hash,
                "editing the actor's {name} must change the hash"
            );
        }
        let mut stripped = base.clone();
        stripped.actor = None;
        assert_ne!(
            stripped.compute_hash(),
            base.hash,
            "dropping the actor must change the hash"
        );
    }

    #[test]
    fn every_field_changes_the_hash() {
        let entry = context("acme").entry(
            "phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 1 },
            5,
        );
        let base = AuditRecord::seal(&entry, 3, GENESIS_HASH);
        type Edit = Box<dyn Fn(&mut AuditRecord)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("tenant", Box::new(|r| r.tenant = "acm".into())),
            ("seq", Box::new(|r| r.seq = 4)),
            ("time", Box::new(|r| r.time_ms = 6)),
            ("plugin", Box::new(|r| r.plugin = "x".into())),
            ("version", Box::new(|r| r.plugin_version = "1.0.1".into())),
            (
                "digest",
                Box::new(|r| r.component_digest = "sha256:abce".into()),
            ),
            ("call", Box::new(|r| r.call_id = "call-2".into())),
            ("lead none", Box::new(|r| r.lead = None)),
            ("lead empty", Box::new(|r| r.lead = Some(String::new()))),
            ("resource", Box::new(|r| r.resource = "email".into())),
            ("purpose", Box::new(|r| r.purpose = "marketing".into())),
            ("decision", Box::new(|r| r.decision = "denied".into())),
            ("reason", Box::new(|r| r.reason = Some("no-consent".into()))),
            ("consent", Box::new(|r| r.consent_id = Some(2))),
            ("consent none", Box::new(|r| r.consent_id = None)),
            ("prev", Box::new(|r| r.prev_hash = "1".repeat(64))),
            ("actor", Box::new(|r| r.actor = Some(actor()))),
            // Moving bytes between adjacent fields must not collide.
            (
                "shift",
                Box::new(|r| {
                    r.plugin = "reminder1".into();
                    r.plugin_version = ".0.0".into();
                }),
            ),
        ];
        for (name, edit) in edits {
            let mut edited = base.clone();
            edit(&mut edited);
            assert_ne!(
                edited.compute_hash(),
                base.hash,
                "editing {name} must change the hash"
            );
        }
    }
}
