//! Capability manifests against real components: every example's manifest
//! covers exactly what its binary imports; components that import more than
//! their manifest grants (WASI filesystem or sockets, an unknown interface,
//! personal data without a declared read) are refused, naming the import; and
//! `cally manifest check|inspect|diff` run as a security reviewer runs them,
//! exit codes included.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cally_host::component::{ComponentDigest, ComponentInterface};
use cally_host::manifest::{self, Escalation, Manifest, Problem};

/// A call-flow manifest that grants nothing at all.
const GRANTS_NOTHING: &str = r#"
name = "grants-nothing"
version = "1.0.0"
world = "call-flow"
description = "A call flow that may reach no personal data, channel or tag."
purpose = "call-handling"
"#;

fn interface(component: &Path) -> ComponentInterface {
    ComponentInterface::read(&std::fs::read(component).unwrap()).unwrap()
}

fn example_manifest_path(name: &str) -> PathBuf {
    cally_tests::example_dir(name).join("cally.toml")
}

fn example_manifest(name: &str) -> Manifest {
    let path = example_manifest_path(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Manifest::parse(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn grants_nothing() -> Manifest {
    Manifest::parse(GRANTS_NOTHING, "grants-nothing.toml").unwrap()
}

/// What each problem found, in order.
fn found(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.found.as_str()).collect()
}

fn cally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run cally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

// The static import check, on the library's API.

#[test]
fn every_example_manifest_covers_its_component_and_nothing_more() {
    for name in cally_tests::example_names() {
        let manifest = example_manifest(name);
        let interface = interface(cally_tests::example(name));
        assert_eq!(
            manifest::check_component(&manifest, &interface),
            vec![],
            "{name}"
        );
        assert_eq!(
            manifest::unused_grants(&manifest, &interface),
            vec![],
            "{name}"
        );
    }
}

#[test]
fn wasi_filesystem_is_refused_naming_each_import() {
    let problems = manifest::check_component(
        &grants_nothing(),
        &interface(cally_tests::plugin("opens-file")),
    );
    assert!(!problems.is_empty());
    for problem in &problems {
        assert_eq!(problem.path, "component.imports");
        assert!(problem.found.starts_with("wasi:filesystem/"), "{problem}");
        assert!(
            problem.fix.starts_with("Cally never grants file access"),
            "{problem}"
        );
    }
    assert!(
        found(&problems)
            .iter()
            .any(|f| f.starts_with("wasi:filesystem/types@"))
    );
}

#[test]
fn wasi_sockets_are_refused_naming_each_import() {
    let problems = manifest::check_component(
        &grants_nothing(),
        &interface(cally_tests::plugin("opens-socket")),
    );
    assert!(
        found(&problems)
            .iter()
            .any(|f| f.starts_with("wasi:sockets/tcp@")),
        "{problems:#?}"
    );
    let network = problems
        .iter()
        .find(|p| p.found.starts_with("wasi:sockets/"))
        .unwrap();
    assert!(
        network.fix.starts_with("Cally never grants network access"),
        "{network}"
    );
}

#[test]
fn an_unknown_interface_is_refused_by_name() {
    let problems = manifest::check_component(
        &grants_nothing(),
        &interface(cally_tests::plugin("undeclared-import")),
    );
    assert_eq!(found(&problems), ["evil:vault/secrets"]);
    assert_eq!(
        problems[0].fix,
        "Cally does not provide evil:vault/secrets: remove the dependency that imports it and build against the cally:plugin WIT only"
    );
}

#[test]
fn personal_data_without_a_declared_read_is_refused() {
    // The appointment reminder reads the lead's name; under a manifest that
    // declares no read, its personal-data import is refused.
    let problems = manifest::check_component(
        &grants_nothing(),
        &interface(cally_tests::example("appointment-reminder")),
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].found.starts_with(
            "cally:plugin/personal-data@0.1.0, but the manifest declares no [[reads]]"
        ),
        "{}",
        problems[0]
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    let problems = manifest::check_component(
        &example_manifest("support-router"),
        &interface(cally_tests::example("lead-qualifier")),
    );
    let exports: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.path == "component.exports")
        .collect();
    assert_eq!(exports.len(), 1, "{problems:#?}");
    assert!(
        exports[0]
            .fix
            .starts_with("the component is a lead-tagger plugin"),
        "{}",
        exports[0]
    );
}

// `cally manifest check`.

#[test]
fn check_accepts_every_example() {
    for name in cally_tests::example_names() {
        let component = cally_tests::example(name);
        let manifest = example_manifest_path(name);
        let output = cally(&["manifest", "check", path(component), path(&manifest)]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(text.starts_with(&format!("ok: {name} 0.1.0 (")), "{text}");
        let digest = ComponentDigest::of(&std::fs::read(component).unwrap());
        assert!(text.contains(&format!("  component {digest}\n")), "{text}");
    }
}

#[test]
fn check_refuses_excess_imports_with_exit_2_listing_every_one() {
    let component = cally_tests::plugin("opens-socket");
    let manifest = example_manifest_path("support-router");
    let output = cally(&["manifest", "check", path(component), path(&manifest)]);
    assert_eq!(output.status.code(), Some(2));
    let refused: Vec<String> = interface(component)
        .imports
        .into_iter()
        .filter(|i| i.starts_with("wasi:sockets/") || i.starts_with("wasi:filesystem/"))
        .collect();
    let text = stderr(&output);
    assert!(
        text.starts_with(&format!(
            "error: the plugin is refused: {} problem(s)\n",
            refused.len()
        )),
        "{text}"
    );
    for import in &refused {
        assert!(
            text.contains(&format!(
                "opens_socket.wasm: component.imports: found {import}, "
            )),
            "{import} missing from:\n{text}"
        );
    }
    assert!(stdout(&output).is_empty());
}

#[test]
fn check_lists_every_problem_of_an_invalid_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "cally.toml",
        "name = \"Router\"\nversion = \"1\"\nworld = \"call-flow\"\n\
         description = \"Routes callers to the right desk.\"\npurpose = \"call-handling\"\n\
         [[reads]]\nfield = \"*\"\nreason = \"Everything we may need.\"\n",
    );
    let output = cally(&[
        "manifest",
        "check",
        path(cally_tests::example("support-router")),
        path(&bad),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "error: the plugin is refused: 3 problem(s)",
        "{text}"
    );
    let prefix = format!("  {}: ", bad.display());
    assert!(
        lines[1].starts_with(&format!("{prefix}name: found \"Router\"")),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!("{prefix}version: found \"1\"")),
        "{text}"
    );
    assert!(
        lines[3].starts_with(&format!("{prefix}reads[0].field: found \"*\"")),
        "{text}"
    );
    assert!(lines[3].contains("wildcards are not accepted"), "{text}");
}

#[test]
fn check_refuses_limits_above_the_platform_maxima() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example_manifest_path("support-router")).unwrap();
    let greedy = write(
        &dir,
        "cally.toml",
        &format!("{text}\n[limits]\nmemory_mib = 512\n"),
    );
    let output = cally(&[
        "manifest",
        "check",
        path(cally_tests::example("support-router")),
        path(&greedy),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "limits.memory_mib: found 512, expected at most 64 (this platform's maximum, in MiB)"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_names_a_file_it_cannot_read() {
    let output = cally(&[
        "manifest",
        "check",
        "/nonexistent/plugin.wasm",
        path(&example_manifest_path("support-router")),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read /nonexistent/plugin.wasm"),
        "{}",
        stderr(&output)
    );
}

// `cally manifest inspect`.

#[test]
fn inspect_shows_the_reviewer_what_the_plugin_reaches_and_why() {
    let component = cally_tests::example("appointment-reminder");
    let manifest = example_manifest_path("appointment-reminder");
    let output = cally(&["manifest", "inspect", path(component), path(&manifest)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("appointment-reminder 0.1.0 · world call-flow · purpose call-handling\n"),
        "{text}"
    );
    assert!(
        text.contains("  Direct identifiers (identify the lead on their own)\n    name         Greets the patient by name"),
        "{text}"
    );
    assert!(
        text.contains("  Other personal data\n    preferences  "),
        "{text}"
    );
    assert!(text.contains("  Transcript   not granted\n"), "{text}");
    assert!(
        text.contains("\n  cally:plugin/personal-data@0.1.0  handles to the lead"),
        "{text}"
    );
    assert!(text.contains("Check: passes"), "{text}");
    assert!(text.contains("Fallback: say "), "{text}");

    // A lead tagger runs after the call: it has no fallback to show.
    let tagger = cally(&[
        "manifest",
        "inspect",
        path(cally_tests::example("lead-qualifier")),
        path(&example_manifest_path("lead-qualifier")),
    ]);
    assert!(tagger.status.success(), "{}", stderr(&tagger));
    let tagger = stdout(&tagger);
    assert!(
        tagger.contains(
            "Fallback: none (a lead tagger runs after the call; if it fails, it writes no tags)\n"
        ),
        "{tagger}"
    );

    let output = cally(&[
        "manifest",
        "inspect",
        path(component),
        path(&manifest),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let digest = ComponentDigest::of(&std::fs::read(component).unwrap());
    assert_eq!(report["component_digest"], digest.to_string());
    let manifest_digest = manifest::ManifestDigest::of(&std::fs::read(&manifest).unwrap());
    assert_eq!(report["manifest_digest"], manifest_digest.to_string());
    assert_eq!(report["direct_identifiers"][0]["field"], "name");
    assert_eq!(report["direct_identifiers"][0]["purpose"], "call-handling");
    assert_eq!(report["other_personal_data"][0]["field"], "preferences");
    assert_eq!(report["unused_grants"], serde_json::json!([]));
    assert_eq!(report["problems"], serde_json::json!([]));
    let imports = report["imports"].as_array().unwrap();
    assert!(
        imports.iter().any(|i| i["kind"] == "personal-data"),
        "{report}"
    );
}

#[test]
fn inspect_exits_2_when_the_component_would_be_refused() {
    let output = cally(&[
        "manifest",
        "inspect",
        path(cally_tests::plugin("undeclared-import")),
        path(&example_manifest_path("support-router")),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    assert!(text.contains("  evil:vault/secrets"), "{text}");
    assert!(text.contains("Check: FAILS, the component would be refused\n  component.imports: found evil:vault/secrets,"), "{text}");
}

// `cally manifest diff`.

/// The appointment reminder's manifest as version `version`, with `remove`
/// taken out and `extra` TOML added before its first `[[table]]` (so that
/// top-level keys stay top-level).
fn reminder(dir: &tempfile::TempDir, version: &str, remove: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(example_manifest_path("appointment-reminder")).unwrap();
    assert!(text.contains(remove), "{remove}");
    let mut text = text
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
        .replace(remove, "");
    let first_table = text.find("\n[[").expect("the reminder has [[reads]]") + 1;
    text.insert_str(first_table, &format!("{extra}\n\n"));
    write(dir, &format!("{version}.toml"), &text)
}

fn diff(old: (&Path, &Path), new: (&Path, &Path), flags: &[&str]) -> Output {
    let mut args = vec![
        "manifest",
        "diff",
        path(old.0),
        path(old.1),
        path(new.0),
        path(new.1),
    ];
    args.extend_from_slice(flags);
    cally(&args)
}

#[test]
fn diff_of_identical_versions_shows_no_changes() {
    let component = cally_tests::example("appointment-reminder");
    let manifest = example_manifest_path("appointment-reminder");
    let output = diff(
        (component, &manifest),
        (component, &manifest),
        &["--fail-on-escalation"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let digest = ComponentDigest::of(&std::fs::read(component).unwrap());
    assert_eq!(
        stdout(&output),
        format!(
            "appointment-reminder 0.1.0 → 0.1.0\n    same     component  {digest}\n\
             no changes: the new version asks for exactly what the old one did\n"
        )
    );
}

#[test]
fn diff_that_only_narrows_passes_fail_on_escalation() {
    let dir = tempfile::tempdir().unwrap();
    let component = cally_tests::example("appointment-reminder");
    let old = example_manifest_path("appointment-reminder");
    let preferences = "[[reads]]\nfield = \"preferences\"\nreason = \"Mentions the patient's preferred appointment time (the preferred-time key only).\"\nkeys = [\"preferred-time\"]\n";
    let new = reminder(&dir, "0.1.1", preferences, "[limits]\nmemory_mib = 8");
    let output = diff(
        (component, &old),
        (component, &new),
        &["--fail-on-escalation"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    // Items are padded to the longest one.
    assert!(
        text.contains("\n  - removed  reads.preferences  "),
        "{text}"
    );
    assert!(
        text.contains("\n  - removed  reads.preferences.keys.preferred-time  preferred-time\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  - narrowed limits.memory_mib ") && text.contains("  16 → 8\n"),
        "{text}"
    );
    assert!(
        text.ends_with("3 change(s), no escalation: may be activated without a new approval\n"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "piped output must be plain: {text:?}"
    );
}

#[test]
fn diff_flags_each_escalation_and_fails_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let component = cally_tests::example("appointment-reminder");
    let old = example_manifest_path("appointment-reminder");
    let new = reminder(
        &dir,
        "0.2.0",
        "purpose = \"call-handling\"",
        "purpose = \"marketing\"\n\
         transcript = { reason = \"Keeps what the patient said for the clinic's notes.\" }\n\
         recording = { reason = \"Queues the call for quality review.\" }\n\
         [limits]\nevent_deadline_ms = 50\n\
         [[reads]]\nfield = \"phone\"\nreason = \"Reads the number back so the patient can correct it.\"\n\
         [[messages]]\nchannel = \"sms\"\nreason = \"Texts the confirmed appointment time.\"\n\
         [[tags]]\ntag = \"confirmed\"\nreason = \"Marks patients who confirmed.\"",
    );
    let output = diff(
        (component, &old),
        (component, &new),
        &["--fail-on-escalation"],
    );
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    let text = stdout(&output);
    for line in [
        "! changed  purpose",
        "! added    reads.phone",
        "! added    transcript",
        "! added    recording",
        "! added    messages.sms",
        "! added    tags.confirmed",
        "! widened  limits.event_deadline_ms",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(
        text.ends_with("7 change(s), 7 escalation(s): activation needs a reviewer's approval\n"),
        "{text}"
    );

    // Without the flag the same diff is only a report.
    let output = diff((component, &old), (component, &new), &[]);
    assert_eq!(output.status.code(), Some(0));

    let output = diff(
        (component, &old),
        (component, &new),
        &["--json", "--fail-on-escalation"],
    );
    assert_eq!(output.status.code(), Some(4));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let escalations: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["escalation"].as_str())
        .collect();
    assert_eq!(
        escalations,
        [
            "new-purpose",
            "new-field",
            "transcript-access",
            "recording-access",
            "new-channel",
            "new-tag",
            "higher-limit"
        ]
    );
}

#[test]
fn diff_flags_a_new_import_as_an_escalation() {
    // Same manifest, other binary: the rebuilt router suddenly opens sockets.
    let manifest = example_manifest_path("support-router");
    let old = cally_tests::example("support-router");
    let new = cally_tests::plugin("opens-socket");
    let output = diff(
        (old, &manifest),
        (new, &manifest),
        &["--fail-on-escalation"],
    );
    assert_eq!(output.status.code(), Some(4));
    // The binary is other code, and the diff says so beside what it imports.
    let (old_digest, new_digest) = (
        ComponentDigest::of(&std::fs::read(old).unwrap()),
        ComponentDigest::of(&std::fs::read(new).unwrap()),
    );
    assert!(
        stdout(&output).contains(&format!(
            "  ~ changed  component  {old_digest} → {new_digest} (other code"
        )),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("imports.wasi:sockets/tcp ")
            && stdout(&output).contains("refused by the import check  [escalation: new import]"),
        "{}",
        stdout(&output)
    );
    // And on the library's API, every new interface is a new-import escalation.
    let d = manifest::diff(
        (&example_manifest("support-router"), &interface(old)),
        (&example_manifest("support-router"), &interface(new)),
    );
    assert!(
        d.escalations()
            .all(|c| c.escalation == Some(Escalation::NewImport))
    );
    assert!(
        d.escalations()
            .any(|c| c.item == "imports.wasi:sockets/tcp")
    );
}
