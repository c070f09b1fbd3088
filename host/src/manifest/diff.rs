//! What a new plugin version asks for beyond the old one: every grant, limit
//! and import added, removed, widened or narrowed, with the escalations (a new
//! field, purpose, world, channel, tag, preference key, transcript or
//! recording access, a higher limit, a new import) marked, since those need a
//! reviewer's approval before the version may become active.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::component::ComponentInterface;
use crate::sandbox::SandboxConfig;

use super::Manifest;
use super::imports::classify_import;

/// Why a change needs a reviewer: it lets the plugin reach more than before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Escalation {
    /// A lead field read that was not declared before.
    NewField,
    /// A different purpose: every read, tag and message now serves it.
    NewPurpose,
    /// A different world: the plugin runs at another point of the call.
    NewWorld,
    /// A message channel not declared before.
    NewChannel,
    /// A tag not declared before (tags profile the lead).
    NewTag,
    /// A preference key named that was not before: it grants no new data,
    /// but the audit log will hold its text, so a reviewer approves it.
    NewPreferenceKey,
    /// Transcript access, newly granted.
    TranscriptAccess,
    /// Recording access, newly granted.
    RecordingAccess,
    /// A memory limit or deadline higher than before.
    HigherLimit,
    /// An interface the old binary did not import.
    NewImport,
}

impl Escalation {
    /// How the escalation is named in the text form.
    pub fn label(self) -> &'static str {
        match self {
            Escalation::NewField => "new field",
            Escalation::NewPurpose => "new purpose",
            Escalation::NewWorld => "new world",
            Escalation::NewChannel => "new channel",
            Escalation::NewTag => "new tag",
            Escalation::NewPreferenceKey => "new preference key",
            Escalation::TranscriptAccess => "transcript access",
            Escalation::RecordingAccess => "recording access",
            Escalation::HigherLimit => "higher limit",
            Escalation::NewImport => "new import",
        }
    }
}

/// How an item changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Granted or imported now, not before.
    Added,
    /// Granted or imported before, not now (narrowing).
    Removed,
    /// A limit raised.
    Widened,
    /// A limit lowered (narrowing).
    Narrowed,
    /// Something else differs: a reason, the description, the purpose, the fallback.
    Changed,
}

/// One difference between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// How it changed.
    pub kind: ChangeKind,
    /// What changed, named as in the manifest: `reads.phone`, `transcript`,
    /// `limits.memory_mib`, `imports.wasi:sockets/tcp`, `reads.name.reason`.
    pub item: String,
    /// The old value, if there was one.
    pub old: Option<String>,
    /// The new value, if there is one.
    pub new: Option<String>,
    /// Why this change needs approval, if it does.
    pub escalation: Option<Escalation>,
}

/// A plugin's name and version, as a diff shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VersionLabel {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    #[schema(value_type = String)]
    pub version: semver::Version,
}

impl fmt::Display for VersionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// Every difference between two versions of a plugin (manifest and binary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ManifestDiff {
    /// The old version.
    pub old: VersionLabel,
    /// The new version.
    pub new: VersionLabel,
    /// Every change, grants first, then limits, imports and the rest.
    pub changes: Vec<Change>,
    /// The two components' digests (`sha256:...`), when the caller knows them:
    /// a new binary with the same imports asks for nothing more, but it is
    /// other code, and a reviewer should see that it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_digests: Option<DigestChange>,
}

/// The components' digests, old and new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DigestChange {
    /// The old version's component digest.
    pub old: String,
    /// The new version's component digest.
    pub new: String,
}

impl DigestChange {
    /// Whether the binaries differ.
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
}

impl ManifestDiff {
    /// The changes that need a reviewer's approval.
    pub fn escalations(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.escalation.is_some())
    }

    /// Whether any change needs a reviewer's approval.
    pub fn has_escalations(&self) -> bool {
        self.escalations().next().is_some()
    }

    /// Whether the two versions ask for exactly the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// This diff, knowing the two components' digests (shown and counted as
    /// their own line when they differ).
    pub fn with_component_digests(mut self, old: impl ToString, new: impl ToString) -> Self {
        self.component_digests = Some(DigestChange {
            old: old.to_string(),
            new: new.to_string(),
        });
        self
    }

    /// The text form: one line per change, escalations marked `!` (red and
    /// bold when `color`), narrowing `-` (green), other changes `~`; then a
    /// summary line.
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let mut out = format!("{} → {}\n", self.old, self.new.version);
        let width = self.changes.iter().map(|c| c.item.len()).max().unwrap_or(0);
        for change in &self.changes {
            let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
            let detail = match change.kind {
                // An import's name is its item already: say what it is instead.
                ChangeKind::Added | ChangeKind::Removed if change.item.starts_with("imports.") => {
                    classify_import(&change.item["imports.".len()..])
                        .label()
                        .to_owned()
                }
                ChangeKind::Added => value(&change.new),
                ChangeKind::Removed => value(&change.old),
                _ => format!("{} → {}", value(&change.old), value(&change.new)),
            };
            let kind = match change.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Widened => "widened",
                ChangeKind::Narrowed => "narrowed",
                ChangeKind::Changed => "changed",
            };
            let line = format!("{kind:<8} {:<width$}  {detail}", change.item);
            let line = match (change.escalation, change.kind) {
                (Some(escalation), _) => paint(
                    "1;31",
                    &format!("! {line}  [escalation: {}]", escalation.label()),
                ),
                (None, ChangeKind::Removed | ChangeKind::Narrowed) => {
                    paint("32", &format!("- {line}"))
                }
                (None, _) => format!("~ {line}"),
            };
            out.push_str("  ");
            out.push_str(&line);
            out.push('\n');
        }
        match &self.component_digests {
            Some(digests) if digests.changed() => out.push_str(&format!(
                "  ~ changed  component  {} → {} (other code; what it imports is compared above)\n",
                digests.old, digests.new
            )),
            Some(digests) => {
                out.push_str(&format!("    same     component  {}\n", digests.new));
            }
            None => {}
        }
        let escalations = self.escalations().count();
        let summary = match (self.changes.len(), escalations) {
            (0, _) => {
                "no changes: the new version asks for exactly what the old one did".to_owned()
            }
            (n, 0) => {
                format!("{n} change(s), no escalation: may be activated without a new approval")
            }
            (n, e) => paint(
                "1;31",
                &format!(
                    "{n} change(s), {e} escalation(s): activation needs a reviewer's approval"
                ),
            ),
        };
        out.push_str(&summary);
        out.push('\n');
        out
    }
}

/// Plain text, as piped output shows it.
impl fmt::Display for ManifestDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// The differences from `old` to `new`, limits compared under the default
/// platform configuration; see [`diff_under`].
pub fn diff(
    old: (&Manifest, &ComponentInterface),
    new: (&Manifest, &ComponentInterface),
) -> ManifestDiff {
    diff_under(old, new, &SandboxConfig::default())
}

/// The differences from `old` to `new`; a limit left to the default is
/// compared as `platform`'s default, so asking explicitly for the default is
/// no change, and a higher default is not the plugin's escalation.
pub fn diff_under(
    (old, old_bin): (&Manifest, &ComponentInterface),
    (new, new_bin): (&Manifest, &ComponentInterface),
    platform: &SandboxConfig,
) -> ManifestDiff {
    let mut changes = Vec::new();
    let mut changed = |item: &str, a: String, b: String, escalation: Option<Escalation>| {
        if a != b {
            changes.push(Change {
                kind: ChangeKind::Changed,
                item: item.into(),
                old: Some(a),
                new: Some(b),
                escalation,
            });
        }
    };
    changed("name", old.name.clone(), new.name.clone(), None);
    changed(
        "world",
        old.world.to_string(),
        new.world.to_string(),
        Some(Escalation::NewWorld),
    );
    changed(
        "purpose",
        old.purpose.to_string(),
        new.purpose.to_string(),
        Some(Escalation::NewPurpose),
    );
    changed(
        "description",
        old.description.clone(),
        new.description.clone(),
        None,
    );

    let reads = |m: &Manifest| {
        m.reads
            .iter()
            .map(|r| (r.field.to_string(), r.reason.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    grants(
        &mut changes,
        "reads",
        reads(old),
        reads(new),
        Escalation::NewField,
    );
    let keys = |m: &Manifest| {
        m.preference_keys()
            .map(|key| (key.to_owned(), key.to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    grants(
        &mut changes,
        "reads.preferences.keys",
        keys(old),
        keys(new),
        Escalation::NewPreferenceKey,
    );
    let access = |a: &Option<super::Access>| {
        a.iter()
            .map(|a| (String::new(), a.reason.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    grants(
        &mut changes,
        "transcript",
        access(&old.transcript),
        access(&new.transcript),
        Escalation::TranscriptAccess,
    );
    grants(
        &mut changes,
        "recording",
        access(&old.recording),
        access(&new.recording),
        Escalation::RecordingAccess,
    );
    let messages = |m: &Manifest| {
        m.messages
            .iter()
            .map(|g| (g.channel.to_string(), g.reason.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    grants(
        &mut changes,
        "messages",
        messages(old),
        messages(new),
        Escalation::NewChannel,
    );
    let tags = |m: &Manifest| {
        m.tags
            .iter()
            .map(|g| (g.tag.clone(), g.reason.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    grants(
        &mut changes,
        "tags",
        tags(old),
        tags(new),
        Escalation::NewTag,
    );

    let (old_mib, old_ms) = old.limits.effective(platform);
    let (new_mib, new_ms) = new.limits.effective(platform);
    limit(&mut changes, "limits.memory_mib", old_mib, new_mib);
    limit(&mut changes, "limits.event_deadline_ms", old_ms, new_ms);

    imports(&mut changes, old_bin, new_bin);

    if old.fallback != new.fallback {
        let show = |f: &Option<Vec<crate::protocol::Action>>| match f {
            None => "host default".to_owned(),
            Some(actions) => actions
                .iter()
                .map(|a| a.kind())
                .collect::<Vec<_>>()
                .join(", "),
        };
        changes.push(Change {
            kind: ChangeKind::Changed,
            item: "fallback".into(),
            old: Some(show(&old.fallback)),
            new: Some(show(&new.fallback)),
            escalation: None,
        });
    }
    ManifestDiff {
        old: VersionLabel {
            name: old.name.clone(),
            version: old.version.clone(),
        },
        new: VersionLabel {
            name: new.name.clone(),
            version: new.version.clone(),
        },
        changes,
        component_digests: None,
    }
}

/// Compares one kind of grant, keyed (field, channel, tag; empty for the
/// transcript and recording) to its reason.
fn grants(
    changes: &mut Vec<Change>,
    list: &str,
    old: BTreeMap<String, String>,
    new: BTreeMap<String, String>,
    escalation: Escalation,
) {
    let item = |key: &str| {
        if key.is_empty() {
            list.to_owned()
        } else {
            format!("{list}.{key}")
        }
    };
    for (key, reason) in &new {
        match old.get(key) {
            None => changes.push(Change {
                kind: ChangeKind::Added,
                item: item(key),
                old: None,
                new: Some(reason.clone()),
                escalation: Some(escalation),
            }),
            Some(before) if before != reason => changes.push(Change {
                kind: ChangeKind::Changed,
                item: format!("{}.reason", item(key)),
                old: Some(before.clone()),
                new: Some(reason.clone()),
                escalation: None,
            }),
            Some(_) => {}
        }
    }
    for (key, reason) in &old {
        if !new.contains_key(key) {
            changes.push(Change {
                kind: ChangeKind::Removed,
                item: item(key),
                old: Some(reason.clone()),
                new: None,
                escalation: None,
            });
        }
    }
}

fn limit(changes: &mut Vec<Change>, item: &str, old: u64, new: u64) {
    let kind = match new.cmp(&old) {
        std::cmp::Ordering::Equal => return,
        std::cmp::Ordering::Greater => ChangeKind::Widened,
        std::cmp::Ordering::Less => ChangeKind::Narrowed,
    };
    changes.push(Change {
        kind,
        item: item.into(),
        old: Some(old.to_string()),
        new: Some(new.to_string()),
        escalation: (kind == ChangeKind::Widened).then_some(Escalation::HigherLimit),
    });
}

/// Compares imports by interface; a new interface is an escalation whatever
/// it is (even an inert WASI one: the reviewer confirms it), a version bump
/// of one already imported is a plain change.
fn imports(changes: &mut Vec<Change>, old: &ComponentInterface, new: &ComponentInterface) {
    let by_interface = |bin: &ComponentInterface| {
        bin.imports
            .iter()
            .map(|import| {
                let (interface, version) = import.split_once('@').unwrap_or((import, ""));
                (interface.to_owned(), version.to_owned())
            })
            .collect::<BTreeMap<_, _>>()
    };
    let (old, new) = (by_interface(old), by_interface(new));
    let full = |interface: &str, version: &str| {
        if version.is_empty() {
            interface.to_owned()
        } else {
            format!("{interface}@{version}")
        }
    };
    for (interface, version) in &new {
        let item = format!("imports.{interface}");
        match old.get(interface) {
            None => changes.push(Change {
                kind: ChangeKind::Added,
                item,
                old: None,
                new: Some(full(interface, version)),
                escalation: Some(Escalation::NewImport),
            }),
            Some(before) if before != version => changes.push(Change {
                kind: ChangeKind::Changed,
                item,
                old: Some(full(interface, before)),
                new: Some(full(interface, version)),
                escalation: None,
            }),
            Some(_) => {}
        }
    }
    for (interface, version) in &old {
        if !new.contains_key(interface) {
            changes.push(Change {
                kind: ChangeKind::Removed,
                item: format!("imports.{interface}"),
                old: Some(full(interface, version)),
                new: None,
                escalation: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::{CALL_FLOW, manifest};

    fn bin(imports: &[&str]) -> ComponentInterface {
        ComponentInterface {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: vec!["on-event".into()],
        }
    }

    const LOG: &str = "cally:plugin/log@0.1.0";
    const PERSONAL: &str = "cally:plugin/personal-data@0.1.0";

    /// A call flow reading `name` and messaging by SMS, version `version`, plus `extra` TOML.
    fn version(version: &str, extra: &str) -> Manifest {
        let base = CALL_FLOW.replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
        manifest(&format!(
            "{base}{extra}\n\
             [[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n\
             [[messages]]\nchannel = \"sms\"\nreason = \"Texts the appointment confirmation.\"\n"
        ))
    }

    fn escalations(d: &ManifestDiff) -> Vec<(&str, Escalation)> {
        d.escalations()
            .map(|c| (c.item.as_str(), c.escalation.unwrap()))
            .collect()
    }

    #[test]
    fn identical_versions_have_no_changes() {
        let m = version("0.1.0", "");
        let d = diff((&m, &bin(&[LOG, PERSONAL])), (&m, &bin(&[LOG, PERSONAL])));
        assert!(d.is_empty() && !d.has_escalations());
        assert_eq!(
            d.to_string(),
            "appointment-reminder 0.1.0 → 0.1.0\nno changes: the new version asks for exactly what the old one did\n"
        );
    }

    #[test]
    fn only_narrowing_has_no_escalation() {
        let old = version(
            "0.1.0",
            "transcript = { reason = \"Summarises the call for agents.\" }\n[limits]\nmemory_mib = 32",
        );
        let new = manifest(&CALL_FLOW.replace("0.1.0", "0.2.0"));
        let d = diff((&old, &bin(&[LOG, PERSONAL])), (&new, &bin(&[LOG])));
        assert!(!d.has_escalations(), "{d}");
        let items: Vec<(&str, ChangeKind)> = d
            .changes
            .iter()
            .map(|c| (c.item.as_str(), c.kind))
            .collect();
        assert_eq!(
            items,
            [
                ("reads.name", ChangeKind::Removed),
                ("transcript", ChangeKind::Removed),
                ("messages.sms", ChangeKind::Removed),
                ("limits.memory_mib", ChangeKind::Narrowed),
                ("imports.cally:plugin/personal-data", ChangeKind::Removed),
            ]
        );
        assert!(
            d.to_string()
                .ends_with("5 change(s), no escalation: may be activated without a new approval\n")
        );
    }

    #[test]
    fn each_kind_of_escalation_is_flagged() {
        let old = version("0.1.0", "");
        let new = version(
            "0.2.0",
            "transcript = { reason = \"Summarises the call for agents.\" }\n\
             recording = { reason = \"Queues the call for quality review.\" }\n\
             [limits]\nmemory_mib = 32\nevent_deadline_ms = 50\n\
             [[reads]]\nfield = \"phone\"\nreason = \"Reads the number back to confirm it.\"\n\
             [[reads]]\nfield = \"preferences\"\nreason = \"Offers the preferred time.\"\nkeys = [\"preferred-time\"]\n\
             [[messages]]\nchannel = \"whatsapp\"\nreason = \"Sends the confirmation on WhatsApp.\"\n\
             [[tags]]\ntag = \"confirmed\"\nreason = \"Marks leads who confirmed.\"",
        )
        .clone();
        let mut new = new;
        new.purpose = crate::consent::Purpose::Marketing;
        let d = diff((&old, &bin(&[LOG])), (&new, &bin(&[LOG, PERSONAL])));
        assert_eq!(
            escalations(&d),
            [
                ("purpose", Escalation::NewPurpose),
                ("reads.phone", Escalation::NewField),
                ("reads.preferences", Escalation::NewField),
                (
                    "reads.preferences.keys.preferred-time",
                    Escalation::NewPreferenceKey
                ),
                ("transcript", Escalation::TranscriptAccess),
                ("recording", Escalation::RecordingAccess),
                ("messages.whatsapp", Escalation::NewChannel),
                ("tags.confirmed", Escalation::NewTag),
                ("limits.memory_mib", Escalation::HigherLimit),
                ("limits.event_deadline_ms", Escalation::HigherLimit),
                ("imports.cally:plugin/personal-data", Escalation::NewImport),
            ]
        );
        let mut tagger = old.clone();
        tagger.world = crate::component::World::LeadTagger;
        let d = diff((&old, &bin(&[LOG])), (&tagger, &bin(&[LOG])));
        assert_eq!(escalations(&d), [("world", Escalation::NewWorld)]);
    }

    #[test]
    fn an_explicit_default_limit_is_no_change_and_reasons_are_plain_changes() {
        let old = version("0.1.0", "");
        let new = version("0.1.1", "[limits]\nmemory_mib = 16\nevent_deadline_ms = 20");
        let mut new = new;
        new.reads[0].reason = "Greets the caller by first name.".into();
        let d = diff(
            (&old, &bin(&[LOG])),
            (&new, &bin(&["cally:plugin/log@0.1.1"])),
        );
        assert!(!d.has_escalations(), "{d}");
        let items: Vec<&str> = d.changes.iter().map(|c| c.item.as_str()).collect();
        assert_eq!(items, ["reads.name.reason", "imports.cally:plugin/log"]);
    }

    #[test]
    fn the_text_is_colored_only_when_asked() {
        let old = version("0.1.0", "");
        let new = version(
            "0.2.0",
            "[limits]\nmemory_mib = 8\n[[reads]]\nfield = \"email\"\nreason = \"Checks the address on file.\"",
        );
        let d = diff((&old, &bin(&[LOG])), (&new, &bin(&[LOG])));
        let plain = d.render(false);
        assert_eq!(
            plain,
            "appointment-reminder 0.1.0 → 0.2.0\n  \
             ! added    reads.email        Checks the address on file.  [escalation: new field]\n  \
             - narrowed limits.memory_mib  16 → 8\n\
             2 change(s), 1 escalation(s): activation needs a reviewer's approval\n"
        );
        assert!(!plain.contains('\x1b'));
        let colored = d.render(true);
        assert!(colored.contains("\x1b[1;31m! added"), "{colored}");
        assert!(colored.contains("\x1b[32m- narrowed"), "{colored}");
    }
}
