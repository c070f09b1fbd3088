//! The static import check: before a component is accepted, what its binary
//! imports and exports is held against what its manifest grants.
//!
//! Always allowed: `cally:plugin/log` and `cally:plugin/types`, and the WASI
//! interfaces Rust's standard library imports (`wasi:io`, `wasi:cli`,
//! `wasi:clocks`, `wasi:random`), which grant nothing in Cally's sandbox: no
//! environment, no arguments, stdin closed, output captured into the call's
//! log, clocks frozen, fixed "random" bytes (see `sandbox::wasi`).
//! `cally:plugin/personal-data` only when the manifest declares personal data.
//! Everything else, filesystem and sockets included, is refused by name.

use serde::Serialize;

use crate::component::{ComponentInterface, World};

use super::{Manifest, Problem};

/// What an import is, as far as grants go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// `cally:plugin/log` or `cally:plugin/types`: every plugin may import them.
    Plugin,
    /// `cally:plugin/personal-data`: allowed only when the manifest declares a
    /// field read, the transcript or the recording.
    PersonalData,
    /// `wasi:io`, `wasi:cli`, `wasi:clocks` or `wasi:random`: allowed, and
    /// granting nothing in Cally's sandbox.
    InertWasi,
    /// Anything else: never allowed.
    Refused,
}

impl ImportKind {
    /// A few words on what it is, for the diff's text form.
    pub fn label(self) -> &'static str {
        match self {
            ImportKind::Plugin => "cally log or types: no data",
            ImportKind::PersonalData => "personal-data handles: reads checked and audited",
            ImportKind::InertWasi => "WASI stub: grants nothing here",
            ImportKind::Refused => "refused by the import check",
        }
    }

    /// What importing it gives the plugin, for the reviewer's report.
    pub fn grants(self) -> &'static str {
        match self {
            ImportKind::Plugin => "log lines and shared types; no data",
            ImportKind::PersonalData => {
                "handles to the lead, transcript and recording; each read checked against the manifest and consent, and audited"
            }
            ImportKind::InertWasi => {
                "nothing: stubbed by the sandbox (no environment, stdin closed, output to the call log, frozen clocks, fixed random bytes)"
            }
            ImportKind::Refused => "refused: Cally does not grant it",
        }
    }
}

/// The interface an import names, without its version:
/// `wasi:cli/stdout@0.2.6` → `wasi:cli/stdout`.
fn interface_of(import: &str) -> &str {
    import.split_once('@').map_or(import, |(name, _)| name)
}

/// Classifies the import `import` (such as `wasi:filesystem/types@0.2.6`).
pub fn classify_import(import: &str) -> ImportKind {
    let interface = interface_of(import);
    match interface {
        "cally:plugin/log" | "cally:plugin/types" => ImportKind::Plugin,
        "cally:plugin/personal-data" => ImportKind::PersonalData,
        _ if ["wasi:io/", "wasi:cli/", "wasi:clocks/", "wasi:random/"]
            .iter()
            .any(|family| interface.starts_with(family)) =>
        {
            ImportKind::InertWasi
        }
        _ => ImportKind::Refused,
    }
}

/// What to change when the refused import `import` is found.
fn refused_fix(import: &str) -> String {
    let interface = interface_of(import);
    if interface.starts_with("wasi:filesystem/") {
        "Cally never grants file access: remove the code that opens files (std::fs and crates using it) and rebuild".into()
    } else if interface.starts_with("wasi:sockets/") || interface.starts_with("wasi:http/") {
        "Cally never grants network access: remove the code that opens connections (std::net, HTTP clients) and rebuild".into()
    } else if interface.starts_with("cally:plugin/") {
        format!(
            "{interface} is not an interface of cally:plugin@0.1.0 that a manifest can grant: build against this host's WIT"
        )
    } else {
        format!(
            "Cally does not provide {interface}: remove the dependency that imports it and build against the cally:plugin WIT only"
        )
    }
}

/// Every reason to refuse `interface` for `manifest`: the declared world's
/// entry point missing or another world's exported, personal data imported
/// without a declared read, any import the manifest cannot grant. Empty when
/// the component may be accepted. Grants that are declared but not imported
/// are not problems; see [`unused_grants`].
pub fn check_component(manifest: &Manifest, interface: &ComponentInterface) -> Vec<Problem> {
    let mut problems = Vec::new();
    let world = manifest.world;
    let entry = world.entry_point();
    let other = match world {
        World::CallFlow => World::LeadTagger,
        World::LeadTagger => World::CallFlow,
    };
    let exports = |name: &str| interface.exports.iter().any(|e| e == name);
    let found_exports = if interface.exports.is_empty() {
        "no exports".to_owned()
    } else {
        format!("exports {}", interface.exports.join(", "))
    };
    if !exports(entry) {
        let fix = if exports(other.entry_point()) {
            format!(
                "the component is a {other} plugin: set world = \"{other}\" in the manifest, or build the component for world {world}"
            )
        } else {
            format!(
                "build the component against world {world} of cally:plugin, which exports {entry}"
            )
        };
        problems.push(Problem::new(
            "component.exports",
            found_exports,
            format!("{entry}, the entry point of world {world} that the manifest declares"),
            fix,
        ));
    } else if exports(other.entry_point()) {
        problems.push(Problem::new(
            "component.exports",
            found_exports,
            format!(
                "only world {world}'s entry point {entry}, not {other}'s {}",
                other.entry_point()
            ),
            format!(
                "build one plugin per world; remove {} from this one",
                other.entry_point()
            ),
        ));
    }
    let allowed = if manifest.reads_personal_data() {
        "only cally:plugin/log, cally:plugin/types, cally:plugin/personal-data and WASI io, cli, clocks and random (which grant nothing here)"
    } else {
        "only cally:plugin/log, cally:plugin/types and WASI io, cli, clocks and random (which grant nothing here); cally:plugin/personal-data needs a declared read"
    };
    for import in &interface.imports {
        match classify_import(import) {
            ImportKind::Plugin | ImportKind::InertWasi => {}
            ImportKind::PersonalData if manifest.reads_personal_data() => {}
            ImportKind::PersonalData => problems.push(Problem::new(
                "component.imports",
                format!("{import}, but the manifest declares no [[reads]], transcript or recording"),
                allowed,
                "declare each field the plugin reads as a [[reads]] entry with a reason (or transcript / recording), or remove the plugin's personal-data calls",
            )),
            ImportKind::Refused => problems.push(Problem::new(
                "component.imports",
                import.clone(),
                allowed,
                refused_fix(import),
            )),
        }
    }
    problems
}

/// A grant the manifest declares that the component cannot use, because it
/// does not import the interface the grant is exercised through. Not an
/// error: worth removing, since an unused grant is one a later build could
/// start using without a new review of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnusedGrant {
    /// The grant, as in the manifest: `reads.name`, `transcript`, `recording`.
    pub grant: String,
    /// The import it would need.
    pub needs: String,
}

/// The grants `manifest` declares that `interface` never imports the means
/// to use. Message and tag grants are exercised through returned actions,
/// not imports, so they never show up here.
pub fn unused_grants(manifest: &Manifest, interface: &ComponentInterface) -> Vec<UnusedGrant> {
    let imports_personal_data = interface
        .imports
        .iter()
        .any(|import| classify_import(import) == ImportKind::PersonalData);
    if imports_personal_data {
        return Vec::new();
    }
    let needs = "cally:plugin/personal-data";
    let reads = manifest
        .reads
        .iter()
        .map(|read| format!("reads.{}", read.field));
    let transcript = manifest
        .transcript
        .as_ref()
        .map(|_| "transcript".to_owned());
    let recording = manifest.recording.as_ref().map(|_| "recording".to_owned());
    reads
        .chain(transcript)
        .chain(recording)
        .map(|grant| UnusedGrant {
            grant,
            needs: needs.into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::{CALL_FLOW, manifest};

    const BASELINE: &[&str] = &[
        "wasi:cli/environment@0.2.6",
        "wasi:io/streams@0.2.6",
        "wasi:clocks/wall-clock@0.2.6",
        "wasi:random/random@0.2.6",
        "cally:plugin/types@0.1.0",
        "cally:plugin/log@0.1.0",
    ];

    fn component(exports: &[&str], extra_imports: &[&str]) -> ComponentInterface {
        ComponentInterface {
            imports: BASELINE
                .iter()
                .chain(extra_imports)
                .map(|s| s.to_string())
                .collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn rendered(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn baseline_imports_and_the_declared_entry_point_pass() {
        let m = manifest(CALL_FLOW);
        assert_eq!(check_component(&m, &component(&["on-event"], &[])), vec![]);
    }

    #[test]
    fn a_missing_entry_point_names_the_world() {
        let m = manifest(CALL_FLOW);
        let problems = rendered(&check_component(&m, &component(&["tag-call"], &[])));
        assert_eq!(
            problems,
            [
                "component.exports: found exports tag-call, expected on-event, the entry point of world call-flow that the manifest declares; the component is a lead-tagger plugin: set world = \"lead-tagger\" in the manifest, or build the component for world call-flow"
            ]
        );
        let problems = rendered(&check_component(&m, &component(&[], &[])));
        assert!(
            problems[0].starts_with("component.exports: found no exports,"),
            "{problems:?}"
        );
    }

    #[test]
    fn exporting_both_worlds_is_refused() {
        let m = manifest(CALL_FLOW);
        let problems = rendered(&check_component(
            &m,
            &component(&["on-event", "tag-call"], &[]),
        ));
        assert_eq!(
            problems,
            [
                "component.exports: found exports on-event, tag-call, expected only world call-flow's entry point on-event, not lead-tagger's tag-call; build one plugin per world; remove tag-call from this one"
            ]
        );
    }

    #[test]
    fn filesystem_sockets_and_unknown_imports_are_named() {
        let m = manifest(CALL_FLOW);
        let interface = component(
            &["on-event"],
            &[
                "wasi:filesystem/types@0.2.6",
                "wasi:sockets/tcp@0.2.6",
                "evil:vault/secrets",
                "cally:plugin/kv@0.1.0",
            ],
        );
        let problems = check_component(&m, &interface);
        let found: Vec<&str> = problems.iter().map(|p| p.found.as_str()).collect();
        assert_eq!(
            found,
            [
                "wasi:filesystem/types@0.2.6",
                "wasi:sockets/tcp@0.2.6",
                "evil:vault/secrets",
                "cally:plugin/kv@0.1.0"
            ]
        );
        assert!(
            problems[0]
                .fix
                .starts_with("Cally never grants file access"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1]
                .fix
                .starts_with("Cally never grants network access"),
            "{}",
            problems[1]
        );
        assert!(
            problems[2]
                .fix
                .starts_with("Cally does not provide evil:vault/secrets"),
            "{}",
            problems[2]
        );
        assert!(
            problems[3]
                .fix
                .contains("not an interface of cally:plugin@0.1.0"),
            "{}",
            problems[3]
        );
    }

    #[test]
    fn personal_data_without_a_declared_read_is_refused() {
        let m = manifest(CALL_FLOW);
        let problems = rendered(&check_component(
            &m,
            &component(&["on-event"], &["cally:plugin/personal-data@0.1.0"]),
        ));
        assert_eq!(
            problems,
            [
                "component.imports: found cally:plugin/personal-data@0.1.0, but the manifest declares no [[reads]], transcript or recording, expected only cally:plugin/log, cally:plugin/types and WASI io, cli, clocks and random (which grant nothing here); cally:plugin/personal-data needs a declared read; declare each field the plugin reads as a [[reads]] entry with a reason (or transcript / recording), or remove the plugin's personal-data calls"
            ]
        );
    }

    #[test]
    fn personal_data_with_a_declared_read_or_transcript_passes() {
        let reads = manifest(&format!(
            "{CALL_FLOW}[[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n"
        ));
        let transcript = manifest(&format!(
            "{CALL_FLOW}transcript = {{ reason = \"Summarises the call.\" }}\n"
        ));
        let interface = component(&["on-event"], &["cally:plugin/personal-data@0.1.0"]);
        assert_eq!(check_component(&reads, &interface), vec![]);
        assert_eq!(check_component(&transcript, &interface), vec![]);
    }

    #[test]
    fn reads_without_the_import_are_unused_grants_not_errors() {
        let m = manifest(&format!(
            "{CALL_FLOW}recording = {{ reason = \"Queues the call for review.\" }}\n\
             [[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n"
        ));
        let interface = component(&["on-event"], &[]);
        assert_eq!(check_component(&m, &interface), vec![]);
        let unused: Vec<String> = unused_grants(&m, &interface)
            .into_iter()
            .map(|u| u.grant)
            .collect();
        assert_eq!(unused, ["reads.name", "recording"]);
        let with_import = component(&["on-event"], &["cally:plugin/personal-data@0.1.0"]);
        assert_eq!(unused_grants(&m, &with_import), vec![]);
    }

    #[test]
    fn classification_ignores_versions() {
        assert_eq!(
            classify_import("cally:plugin/personal-data"),
            ImportKind::PersonalData
        );
        assert_eq!(
            classify_import("wasi:random/insecure-seed@0.2.0"),
            ImportKind::InertWasi
        );
        assert_eq!(
            classify_import("wasi:filesystem/preopens@0.2.0"),
            ImportKind::Refused
        );
        assert_eq!(classify_import("on-event"), ImportKind::Refused);
    }
}
