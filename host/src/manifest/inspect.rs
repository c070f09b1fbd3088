//! The security reviewer's report on one plugin version: what it may reach
//! and why, read from the manifest, next to what the binary actually imports.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::component::{ComponentDigest, ComponentError, ComponentInterface, World};
use crate::consent::{Channel, DataField, Purpose};
use crate::protocol::Action;
use crate::sandbox::SandboxConfig;

use super::imports::{ImportKind, UnusedGrant, check_component, classify_import, unused_grants};
use super::{Manifest, ManifestDigest, Problem, Sensitivity, TagGrant};

/// What a reviewer needs to decide on one plugin version; serializes to the
/// `--json` form and renders as text with [`fmt::Display`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InspectReport {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The world it targets.
    pub world: World,
    /// What it does, in its author's words.
    pub description: String,
    /// The one purpose of everything it reads, tags and sends.
    pub purpose: Purpose,
    /// The SHA-256 of the component's bytes; an approval names it.
    pub component_digest: String,
    /// The SHA-256 of the manifest file's bytes; an approval names it too.
    pub manifest_digest: String,
    /// Reads of fields that identify the lead on their own (name, phone,
    /// email, location), shown first and apart.
    pub direct_identifiers: Vec<FieldLine>,
    /// Reads of other personal data (language, preferences).
    pub other_personal_data: Vec<FieldLine>,
    /// The reason for transcript access, if granted.
    pub transcript: Option<String>,
    /// The reason for recording access, if granted.
    pub recording: Option<String>,
    /// The channels it may message the lead on.
    pub messages: Vec<MessageLine>,
    /// The tags it may write.
    pub tags: Vec<TagGrant>,
    /// Its limits under the default platform configuration.
    pub limits: LimitsLine,
    /// Its fallback actions; `None`: the host's default.
    pub fallback: Option<Vec<Action>>,
    /// What the binary imports, each with what it grants.
    pub imports: Vec<ImportLine>,
    /// Grants declared but not imported (worth removing).
    pub unused_grants: Vec<UnusedGrant>,
    /// Why the component would be refused (import, export and limit checks);
    /// empty when `cally manifest check` passes.
    pub problems: Vec<Problem>,
}

/// One field read, with the purpose it is read for and the reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldLine {
    /// The field.
    pub field: DataField,
    /// How sensitive it is.
    pub sensitivity: Sensitivity,
    /// The purpose it is read for (the manifest's).
    pub purpose: Purpose,
    /// The manifest's reason.
    pub reason: String,
    /// For `preferences`: the keys it names, which the audit log will hold
    /// verbatim (any other key is audited as `undeclared` with a hash);
    /// empty for other fields.
    pub keys: Vec<String>,
}

/// One message channel with its reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageLine {
    /// The channel.
    pub channel: Channel,
    /// The purpose messages are sent for (the manifest's).
    pub purpose: Purpose,
    /// The manifest's reason.
    pub reason: String,
}

/// The limits the plugin runs under, and whether each is the platform default.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LimitsLine {
    /// Largest linear memory, MiB.
    pub memory_mib: u64,
    /// Whether `memory_mib` is the platform default (not asked for).
    pub memory_is_default: bool,
    /// Per-event deadline, ms.
    pub event_deadline_ms: u64,
    /// Whether `event_deadline_ms` is the platform default (not asked for).
    pub deadline_is_default: bool,
}

/// One import of the binary.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportLine {
    /// The import's name, such as `wasi:cli/stdout@0.2.6`.
    pub name: String,
    /// What kind of import it is.
    pub kind: ImportKind,
    /// What it gives the plugin.
    pub grants: &'static str,
}

/// Builds the reviewer's report for `manifest` (parsed from
/// `manifest_bytes`) and the component in `component_bytes`. Limits are
/// shown under the default platform configuration.
pub fn inspect(
    manifest: &Manifest,
    manifest_bytes: &[u8],
    component_bytes: &[u8],
) -> Result<InspectReport, ComponentError> {
    let interface = ComponentInterface::read(component_bytes)?;
    let platform = SandboxConfig::default();
    let (direct, other): (Vec<_>, Vec<_>) = manifest
        .reads
        .iter()
        .map(|read| FieldLine {
            field: read.field,
            sensitivity: Sensitivity::of(read.field),
            purpose: manifest.purpose,
            reason: read.reason.clone(),
            keys: read.keys.clone(),
        })
        .partition(|line| line.sensitivity == Sensitivity::DirectIdentifier);
    let (memory_mib, event_deadline_ms) = manifest.limits.effective(&platform);
    let mut problems = check_component(manifest, &interface);
    if let Err(errors) = manifest.plugin_limits(&platform) {
        problems.extend(errors.problems);
    }
    Ok(InspectReport {
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        world: manifest.world,
        description: manifest.description.clone(),
        purpose: manifest.purpose,
        component_digest: ComponentDigest::of(component_bytes).to_string(),
        manifest_digest: ManifestDigest::of(manifest_bytes).to_string(),
        direct_identifiers: direct,
        other_personal_data: other,
        transcript: manifest.transcript.as_ref().map(|a| a.reason.clone()),
        recording: manifest.recording.as_ref().map(|a| a.reason.clone()),
        messages: manifest
            .messages
            .iter()
            .map(|m| MessageLine {
                channel: m.channel,
                purpose: manifest.purpose,
                reason: m.reason.clone(),
            })
            .collect(),
        tags: manifest.tags.clone(),
        limits: LimitsLine {
            memory_mib,
            memory_is_default: manifest.limits.memory_mib.is_none(),
            event_deadline_ms,
            deadline_is_default: manifest.limits.event_deadline_ms.is_none(),
        },
        fallback: manifest.fallback.clone(),
        imports: interface
            .imports
            .iter()
            .map(|name| {
                let kind = classify_import(name);
                ImportLine {
                    name: name.clone(),
                    kind,
                    grants: kind.grants(),
                }
            })
            .collect(),
        unused_grants: unused_grants(manifest, &interface),
        problems,
    })
}

/// The text form `cally manifest inspect` prints.
impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = |is_default: bool| {
            if is_default {
                " (platform default)"
            } else {
                ""
            }
        };
        writeln!(
            f,
            "{} {} · world {} · purpose {}",
            self.name, self.version, self.world, self.purpose
        )?;
        writeln!(f, "{}", self.description)?;
        writeln!(f)?;
        writeln!(f, "Digests (an approval is bound to both)")?;
        writeln!(f, "  component  {}", self.component_digest)?;
        writeln!(f, "  manifest   {}", self.manifest_digest)?;
        writeln!(f)?;
        writeln!(f, "Personal data read, for purpose {}", self.purpose)?;
        let fields = |lines: &[FieldLine]| {
            let mut out = String::new();
            if lines.is_empty() {
                out.push_str("    none\n");
            }
            for line in lines {
                let _ = writeln!(out, "    {:<12} {}", line.field.as_str(), line.reason);
                if !line.keys.is_empty() {
                    let _ = writeln!(out, "    {:<12} keys: {}", "", line.keys.join(", "));
                }
            }
            out
        };
        writeln!(f, "  Direct identifiers (identify the lead on their own)")?;
        f.write_str(&fields(&self.direct_identifiers))?;
        writeln!(f, "  Other personal data")?;
        f.write_str(&fields(&self.other_personal_data))?;
        let access =
            |reason: &Option<String>| reason.clone().unwrap_or_else(|| "not granted".into());
        writeln!(f, "  Transcript   {}", access(&self.transcript))?;
        writeln!(f, "  Recording    {}", access(&self.recording))?;
        writeln!(f)?;
        writeln!(f, "Messages to the lead")?;
        if self.messages.is_empty() {
            writeln!(f, "  none")?;
        }
        for line in &self.messages {
            writeln!(f, "  {:<12} {}", line.channel.as_str(), line.reason)?;
        }
        writeln!(f, "Tags written on the lead")?;
        if self.tags.is_empty() {
            writeln!(f, "  none")?;
        }
        let width = self
            .tags
            .iter()
            .map(|t| t.tag.len())
            .max()
            .unwrap_or(0)
            .max(12);
        for tag in &self.tags {
            writeln!(f, "  {:<width$} {}", tag.tag, tag.reason)?;
        }
        writeln!(
            f,
            "Limits: memory {} MiB{}, deadline {} ms per event{}",
            self.limits.memory_mib,
            default(self.limits.memory_is_default),
            self.limits.event_deadline_ms,
            default(self.limits.deadline_is_default),
        )?;
        match &self.fallback {
            // A lead tagger acts after the call: if it fails, no tags are
            // written, and there is no caller to fall back for.
            None if self.world == World::LeadTagger => writeln!(
                f,
                "Fallback: none (a lead tagger runs after the call; if it fails, it writes no tags)"
            )?,
            None => writeln!(f, "Fallback: the host's default")?,
            Some(actions) => {
                let kinds: Vec<String> = actions.iter().map(describe_action).collect();
                writeln!(f, "Fallback: {}", kinds.join(", then "))?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Imports (what the binary asks the host for)")?;
        if self.imports.is_empty() {
            writeln!(f, "  none")?;
        }
        // Refused first, then what grants data, then the rest; inert WASI
        // stubs, which grant nothing, folded onto a few lines.
        let mut granted: Vec<&ImportLine> = self
            .imports
            .iter()
            .filter(|i| i.kind != ImportKind::InertWasi)
            .collect();
        granted.sort_by_key(|i| match i.kind {
            ImportKind::Refused => 0,
            ImportKind::PersonalData => 1,
            _ => 2,
        });
        let width = granted.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for import in granted {
            writeln!(f, "  {:<width$}  {}", import.name, import.grants)?;
        }
        let inert: Vec<&str> = self
            .imports
            .iter()
            .filter(|i| i.kind == ImportKind::InertWasi)
            .map(|i| i.name.as_str())
            .collect();
        if !inert.is_empty() {
            writeln!(
                f,
                "  WASI stubs, granting nothing here (no environment, stdin closed, output to the call log, frozen clocks, fixed random bytes):"
            )?;
            let mut line = String::from("   ");
            for name in inert {
                if line.len() + name.len() > 96 {
                    writeln!(f, "{line}")?;
                    line = String::from("   ");
                }
                line.push(' ');
                line.push_str(name);
                line.push(',');
            }
            writeln!(f, "{}", line.trim_end_matches(','))?;
        }
        if !self.unused_grants.is_empty() {
            writeln!(
                f,
                "Declared but not imported (unused grants, worth removing)"
            )?;
            for unused in &self.unused_grants {
                writeln!(f, "  {:<20} needs {}", unused.grant, unused.needs)?;
            }
        }
        writeln!(f)?;
        if self.problems.is_empty() {
            writeln!(
                f,
                "Check: passes (schema, semantic, import and limit checks)"
            )?;
        } else {
            writeln!(f, "Check: FAILS, the component would be refused")?;
            for problem in &self.problems {
                writeln!(f, "  {problem}")?;
            }
        }
        Ok(())
    }
}

/// `say "..."`, `transfer to front-desk`, `hang up`.
fn describe_action(action: &Action) -> String {
    match action {
        Action::Say { text } => format!("say {text:?}"),
        Action::Play { asset } => format!("play {asset}"),
        Action::Transfer { target } => format!("transfer to {target}"),
        Action::HangUp => "hang up".into(),
        other => other.kind().replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::{CALL_FLOW, manifest};

    /// The smallest valid component: `\0asm`, version 0x0d, layer 1; no imports or exports.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn reads_are_grouped_by_sensitivity_with_purpose_and_reason() {
        let text = format!(
            "{CALL_FLOW}\
             [[reads]]\nfield = \"preferences\"\nreason = \"Offers the preferred time.\"\n\
             keys = [\"preferred-time\"]\n\
             [[reads]]\nfield = \"phone\"\nreason = \"Reads the number back to confirm it.\"\n\
             [[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n"
        );
        let m = manifest(&text);
        let report = inspect(&m, text.as_bytes(), EMPTY_COMPONENT).unwrap();
        let direct: Vec<DataField> = report.direct_identifiers.iter().map(|l| l.field).collect();
        assert_eq!(direct, [DataField::Phone, DataField::Name]);
        assert_eq!(report.other_personal_data[0].field, DataField::Preferences);
        assert_eq!(report.other_personal_data[0].purpose, Purpose::CallHandling);
        assert_eq!(report.other_personal_data[0].keys, ["preferred-time"]);
        assert!(
            report.to_string().contains("keys: preferred-time"),
            "{report}"
        );
        assert_eq!(
            report.manifest_digest,
            ManifestDigest::of(text.as_bytes()).to_string()
        );
        assert_eq!(
            report.component_digest,
            ComponentDigest::of(EMPTY_COMPONENT).to_string()
        );
        // No personal-data import: every read is an unused grant; no on-event: a problem.
        assert_eq!(report.unused_grants.len(), 3);
        assert_eq!(report.problems[0].path, "component.exports");
        let rendered = report.to_string();
        assert!(
            rendered.contains("  Direct identifiers (identify the lead on their own)\n    phone        Reads the number back to confirm it.\n    name         Greets the caller by name.\n  Other personal data\n    preferences  Offers the preferred time.\n"),
            "{rendered}"
        );
        assert!(rendered.contains("Check: FAILS"), "{rendered}");
    }

    #[test]
    fn limits_show_platform_defaults() {
        let m = manifest(&format!("{CALL_FLOW}[limits]\nmemory_mib = 32\n"));
        let report = inspect(&m, b"", EMPTY_COMPONENT).unwrap();
        assert_eq!(report.limits.memory_mib, 32);
        assert!(!report.limits.memory_is_default);
        assert_eq!(report.limits.event_deadline_ms, 20);
        assert!(report.limits.deadline_is_default);
        assert!(
            report
                .to_string()
                .contains("Limits: memory 32 MiB, deadline 20 ms per event (platform default)")
        );
    }

    #[test]
    fn a_malformed_component_is_an_error() {
        let m = manifest(CALL_FLOW);
        assert!(inspect(&m, b"", b"not wasm").is_err());
    }
}
