//! Capability manifests: what one version of a plugin may reach, and why,
//! checked before the plugin runs on a real call.
//!
//! A manifest (`cally.toml`, next to each plugin) names the plugin, its world
//! and its one purpose, then lists every grant with a reason: each lead field
//! it reads, transcript and recording access, message channels, tags. Nothing
//! is granted by omission, and no value means "everything".
//!
//! - `mod.rs`: the [`Manifest`] types and [`Manifest::parse`]: TOML → JSON →
//!   the JSON Schema ([`SCHEMA`]) → semantic checks → serde; [`Problem`] and
//!   [`ManifestErrors`], which list every problem at once.
//! - `schema.rs`: the embedded schema, and its errors turned into [`Problem`]s.
//! - `semantic.rs`: the checks the schema cannot express.
//! - `declare.rs`: [`declaration`]: the TOML that declares one use, for the
//!   hint of a `not-declared` denial.
//! - `imports.rs`: [`check_component`]: a binary's imports and exports against its grants.
//! - `inspect.rs`: [`inspect`]: the security reviewer's report.
//! - `diff.rs`: [`diff`]: what a new version asks for beyond the old one.
//! - `approval.rs`: [`PluginReleases`]: uploaded → approved → active, bound to digests.

mod approval;
mod declare;
mod diff;
mod imports;
mod inspect;
mod schema;
mod semantic;

#[cfg(test)]
mod tests;

pub use approval::{
    Approval, ApprovalError, BindingError, BoundDigests, DigestKind, PluginReleases, ReleaseState,
    UploadedVersion, check_binding,
};
pub use declare::{REASON_PLACEHOLDER, declaration};
pub use diff::{
    Change, ChangeKind, DigestChange, Escalation, ManifestDiff, VersionLabel, diff, diff_under,
};
pub use imports::{ImportKind, UnusedGrant, check_component, classify_import, unused_grants};
pub use inspect::{FieldLine, ImportLine, InspectReport, LimitsLine, MessageLine, inspect};
pub use schema::SCHEMA;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::component::{ComponentDigest, World};
use crate::consent::{Channel, DataField, Purpose, Resource};
use crate::protocol::Action;
use crate::sandbox::{PluginLimits, SandboxConfig};

/// The largest manifest accepted, in bytes, at upload and by `cally manifest`:
/// every grant with its reason fits in a few KiB, and a reviewer must be able
/// to read all of it.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// One plugin version's capability manifest, as parsed from `cally.toml`.
///
/// Every grant is a list entry with a reason; what is not listed is denied.
/// Build one with [`Manifest::parse`], which checks everything the schema and
/// the semantic rules require; deserializing it directly skips those checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's kebab-case name, unique within the tenant.
    pub name: String,
    /// The plugin's version; new bytes need a new version, so an approval can
    /// name exactly what was reviewed.
    pub version: semver::Version,
    /// The world the component must export, and only that one.
    pub world: World,
    /// One line saying what the plugin does, for reviewers.
    pub description: String,
    /// The one purpose every read, tag and message of this plugin is for;
    /// consent is checked against it.
    pub purpose: Purpose,
    /// The lead fields the plugin reads, one entry per field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<FieldRead>,
    /// Access to the current call's transcript, if granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Access>,
    /// Access to the current call's recording, if granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Access>,
    /// The channels the plugin may message the lead on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageGrant>,
    /// The CRM tags the plugin may write on the lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagGrant>,
    /// The limits the plugin asks for; unset ones get the platform default.
    #[serde(default, skip_serializing_if = "LimitRequest::is_empty")]
    pub limits: LimitRequest,
    /// What the call does when the plugin fails; `None`: the host's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Vec<Action>>,
}

/// A grant to read one lead field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRead {
    /// The field.
    pub field: DataField,
    /// Why the plugin reads it, for reviewers and the data subject.
    pub reason: String,
    /// For `preferences` only: the preference keys the plugin reads by name.
    /// They grant nothing beyond the field (any key may be read); they are the
    /// strings a reviewer approves for the audit log, which names a read of a
    /// listed key `preferences.<key>` and any other `preferences.undeclared:<hash>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// A grant to the current call's transcript or recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Why the plugin needs it.
    pub reason: String,
}

/// A grant to message the lead on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageGrant {
    /// The channel (`sms`, `whatsapp` or `email`; the schema refuses `voice`,
    /// which is the call itself).
    pub channel: Channel,
    /// Why the plugin messages the lead on it.
    pub reason: String,
}

/// A grant to write one CRM tag on the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagGrant {
    /// The exact tag, such as `hot-lead`.
    pub tag: String,
    /// Why the plugin writes it.
    pub reason: String,
}

/// The limits a manifest asks for, before they are checked against a
/// platform's maxima by [`Manifest::plugin_limits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// Largest linear memory, in MiB; `None`: the platform default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Per-event deadline of the plugin's own code, in ms; `None`: the platform default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_deadline_ms: Option<u64>,
}

impl LimitRequest {
    /// Whether nothing is asked for (the platform defaults apply).
    pub fn is_empty(&self) -> bool {
        self.memory_mib.is_none() && self.event_deadline_ms.is_none()
    }

    /// The memory and deadline this request comes to on `platform`, in MiB
    /// and ms, defaults filled in (unchecked).
    pub fn effective(&self, platform: &SandboxConfig) -> (u64, u64) {
        (
            self.memory_mib
                .unwrap_or(platform.default_limits.memory_bytes as u64 >> 20),
            self.event_deadline_ms
                .unwrap_or(platform.default_limits.event_deadline.as_millis() as u64),
        )
    }
}

/// How sensitive a lead field is, for the reviewer's report: direct
/// identifiers single a person out on their own and are shown apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    /// Identifies the lead on its own: name, phone, email, location.
    DirectIdentifier,
    /// Personal data that does not identify the lead on its own: language, preferences.
    Other,
}

impl Sensitivity {
    /// The sensitivity of `field`.
    pub const fn of(field: DataField) -> Self {
        match field {
            DataField::Name | DataField::Phone | DataField::Email | DataField::Location => {
                Sensitivity::DirectIdentifier
            }
            DataField::Language | DataField::Preferences => Sensitivity::Other,
        }
    }
}

impl Manifest {
    /// Parses and checks a manifest: TOML → JSON → the JSON Schema → the
    /// semantic checks → serde. `source` names the file in messages.
    ///
    /// Every problem found is returned at once, each with its path in the
    /// manifest, what was found, what is allowed and what to change. Limits
    /// are checked against a platform later, by [`Manifest::plugin_limits`].
    pub fn parse(text: &str, source: &str) -> Result<Manifest, ManifestErrors> {
        let errors = |problems| ManifestErrors {
            manifest: source.to_owned(),
            problems,
        };
        if text.len() > MAX_MANIFEST_BYTES {
            // Refused before parsing: a reviewer reads every line, and the
            // parser's time and memory grow with the text.
            return Err(errors(vec![Problem::new(
                TOP_LEVEL,
                format!("a manifest of {} bytes", text.len()),
                format!("at most {MAX_MANIFEST_BYTES} bytes (64 KiB)"),
                "shorten it: a manifest lists grants with one-line reasons, and needs no comments, data or padding",
            )]));
        }
        let value = schema::toml_to_json(text).map_err(|problem| errors(vec![problem]))?;
        let mut problems = schema::validate(&value);
        for problem in semantic::check(&value) {
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        if !problems.is_empty() {
            // In the order a reader meets them in the file (stable: a key's
            // schema problem stays ahead of its semantic one).
            problems.sort_by_cached_key(|problem| reading_order(&problem.path));
            return Err(errors(problems));
        }
        serde_json::from_value(value).map_err(|error| {
            // The schema accepted what serde refuses: the two disagree, which
            // is a bug in Cally, but still the user's input is named.
            errors(vec![Problem::new(
                TOP_LEVEL,
                error.to_string(),
                "a manifest that matches wit/manifest.schema.json",
                "report this to the Cally maintainers: the schema and the host disagree",
            )])
        })
    }

    /// Whether the manifest grants `resource`: a declared field read, the
    /// transcript, the recording, a message channel, or (for
    /// [`Resource::Tag`]) writing any tag at all; see [`Manifest::declares_tag`]
    /// for one tag.
    pub fn declares(&self, resource: &Resource) -> bool {
        match resource {
            Resource::Field(field) => self.reads.iter().any(|read| read.field == *field),
            Resource::Transcript => self.transcript.is_some(),
            Resource::Recording => self.recording.is_some(),
            Resource::Tag => !self.tags.is_empty(),
            Resource::Message(channel) => self.messages.iter().any(|m| m.channel == *channel),
        }
    }

    /// Whether the manifest grants writing exactly the tag `tag`.
    pub fn declares_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|grant| grant.tag == tag)
    }

    /// The preference keys the manifest names (the `keys` of its
    /// `preferences` read): the only ones the audit log spells out.
    pub fn preference_keys(&self) -> impl Iterator<Item = &str> {
        self.reads
            .iter()
            .filter(|read| read.field == DataField::Preferences)
            .flat_map(|read| read.keys.iter().map(String::as_str))
    }

    /// Whether the manifest grants any personal data (a field, the transcript
    /// or the recording), which is what importing `cally:plugin/personal-data` needs.
    pub fn reads_personal_data(&self) -> bool {
        !self.reads.is_empty() || self.transcript.is_some() || self.recording.is_some()
    }

    /// The reason given for `resource`, if the manifest grants it (the tag
    /// reason is the first tag's; use [`Manifest::tags`] for each).
    pub fn reason_for(&self, resource: &Resource) -> Option<&str> {
        match resource {
            Resource::Field(field) => self
                .reads
                .iter()
                .find(|read| read.field == *field)
                .map(|read| read.reason.as_str()),
            Resource::Transcript => self.transcript.as_ref().map(|a| a.reason.as_str()),
            Resource::Recording => self.recording.as_ref().map(|a| a.reason.as_str()),
            Resource::Tag => self.tags.first().map(|t| t.reason.as_str()),
            Resource::Message(channel) => self
                .messages
                .iter()
                .find(|m| m.channel == *channel)
                .map(|m| m.reason.as_str()),
        }
    }

    /// The limits this plugin runs under on `platform`: what the manifest asks
    /// for, the platform default for what it leaves out. Fails, naming
    /// `limits.memory_mib` or `limits.event_deadline_ms`, when a request is
    /// above the platform maximum.
    pub fn plugin_limits(&self, platform: &SandboxConfig) -> Result<PluginLimits, ManifestErrors> {
        let (memory_mib, deadline_ms) = self.limits.effective(platform);
        let max_mib = platform.max_memory_bytes as u64 >> 20;
        let max_ms = platform.max_event_deadline.as_millis() as u64;
        let mut problems = Vec::new();
        if self.limits.memory_mib.is_some() && !(1..=max_mib).contains(&memory_mib) {
            problems.push(Problem::new(
                "limits.memory_mib",
                memory_mib.to_string(),
                format!("at most {max_mib} (this platform's maximum, in MiB)"),
                format!(
                    "lower memory_mib to {max_mib} or less, or remove it to get the platform default of {} MiB",
                    platform.default_limits.memory_bytes >> 20
                ),
            ));
        }
        if self.limits.event_deadline_ms.is_some() && !(1..=max_ms).contains(&deadline_ms) {
            problems.push(Problem::new(
                "limits.event_deadline_ms",
                deadline_ms.to_string(),
                format!("at most {max_ms} (this platform's maximum, in ms)"),
                format!(
                    "lower event_deadline_ms to {max_ms} or less, or remove it to get the platform default of {} ms",
                    platform.default_limits.event_deadline.as_millis()
                ),
            ));
        }
        let limits = PluginLimits {
            event_deadline: std::time::Duration::from_millis(deadline_ms),
            memory_bytes: (memory_mib as usize).saturating_mul(1 << 20),
        };
        if problems.is_empty()
            && let Err(error) = platform.check_limits(&limits)
        {
            // The platform's own defaults are out of range: not the manifest's fault,
            // but nothing may run under limits the platform refuses.
            problems.push(Problem::new(
                "limits",
                error.to_string(),
                "limits within the platform maxima",
                "fix the platform's sandbox configuration",
            ));
        }
        if problems.is_empty() {
            Ok(limits)
        } else {
            Err(ManifestErrors {
                manifest: format!("{} {}", self.name, self.version),
                problems,
            })
        }
    }

    /// The actions to perform when the plugin fails, or `None` when the
    /// manifest leaves that to the host's default fallback.
    pub fn fallback_actions(&self) -> Option<Vec<Action>> {
        self.fallback.clone()
    }
}

/// The top-level keys in the order the format documents them.
const KEY_ORDER: &[&str] = &[
    "name",
    "version",
    "world",
    "description",
    "purpose",
    "reads",
    "transcript",
    "recording",
    "messages",
    "tags",
    "limits",
    "fallback",
];

/// Sorts problem paths as the manifest reads: documented key order, then
/// entries by index (`reads[2]` before `reads[10]`), unknown keys last.
fn reading_order(path: &str) -> (usize, usize, String) {
    let key_end = path.find(['.', '[']).unwrap_or(path.len());
    let rank = KEY_ORDER
        .iter()
        .position(|key| *key == &path[..key_end])
        .unwrap_or(KEY_ORDER.len());
    let index = path[key_end..]
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next()?.parse().ok())
        .unwrap_or(0);
    (rank, index, path.to_owned())
}

/// The SHA-256 of a manifest file's bytes, shown as `sha256:<hex>`; an
/// approval names it with the component's digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestDigest(ComponentDigest);

impl ManifestDigest {
    /// The digest of the manifest file's bytes, exactly as uploaded.
    pub fn of(bytes: &[u8]) -> Self {
        Self(ComponentDigest::of(bytes))
    }
}

impl fmt::Display for ManifestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ManifestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// How a problem with the manifest as a whole (rather than one key) is placed.
const TOP_LEVEL: &str = "(top level)";

/// One thing wrong with a manifest or with a component against its manifest:
/// where, what was found, what is allowed, and what to add or change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Where: a path in the manifest such as `reads[2].field`, or
    /// `component.imports` / `component.exports` for the binary.
    pub path: String,
    /// What was found there, such as `"phone_number"` or `nothing`.
    pub found: String,
    /// What is allowed there.
    pub allowed: String,
    /// What to add or change to fix it.
    pub fix: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(
        path: impl Into<String>,
        found: impl Into<String>,
        allowed: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            found: found.into(),
            allowed: allowed.into(),
            fix: fix.into(),
        }
    }
}

/// `reads[2].field: found "phone_number", expected one of ...; set field = ...`
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: found {}, expected {}; {}",
            self.path, self.found, self.allowed, self.fix
        )
    }
}

/// Occurs when a manifest cannot be accepted; lists every problem found, not
/// just the first, so one round of edits fixes them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ManifestErrors {
    /// The manifest: its file name (the `source` given to [`Manifest::parse`]),
    /// or the plugin's name and version; every line starts with it.
    pub manifest: String,
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

/// One problem per line, each prefixed with the source:
/// `cally.toml: reads[2].field: found ...`.
impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {problem}", self.manifest)?;
        }
        Ok(())
    }
}
