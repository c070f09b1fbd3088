//! `cally simulate` run as a tenant developer runs it: the real binary, as a process.

use std::path::Path;
use std::process::{Command, Output};

fn cally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(args)
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

#[test]
fn simulate_a_bundled_example_prints_a_readable_trace() {
    let output = cally(&["simulate", "--example", "appointment-reminder"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("Simulating appointment-reminder (call-flow, sha256:"),
        "{text}"
    );
    assert!(text.contains("#1 started"), "{text}");
    assert!(text.contains("→ hang up"), "{text}");
    assert!(text.contains("the plugin did not fail"), "{text}");
}

#[test]
fn simulate_json_has_every_event_actions_log_and_timings() {
    let component = cally_tests::example("support-router");
    let script = cally_tests::example_dir("support-router").join("call.json");
    let output = cally(&[
        "simulate",
        path(component),
        "--script",
        path(&script),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let trace: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(trace["world"], "call-flow");
    let steps = trace["steps"].as_array().unwrap();
    let script: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&script).unwrap()).unwrap();
    assert_eq!(steps.len(), script["events"].as_array().unwrap().len());
    for step in steps {
        assert!(
            step["actions"].is_array() && step["log"].is_array(),
            "{step}"
        );
        assert!(step["plugin_time_us"].is_u64(), "{step}");
    }
}

#[test]
fn simulate_a_lead_tagger_with_a_summary() {
    let component = cally_tests::example("lead-qualifier");
    let summary = cally_tests::example_dir("lead-qualifier").join("summary.json");
    let output = cally(&[
        "simulate",
        path(component),
        "--summary",
        path(&summary),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let trace: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(trace["world"], "lead-tagger");
    assert!(!trace["tags"].as_array().unwrap().is_empty(), "{trace}");
}

#[test]
fn a_failing_plugin_exits_3_and_the_trace_names_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("call.json");
    std::fs::write(
        &script,
        r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "speech", "text": "hello", "confidence": 0.9, "final": true}
        ]}"#,
    )
    .unwrap();
    let component = cally_tests::plugin("infinite-loop");
    let output = cally(&[
        "simulate",
        path(component),
        "--script",
        path(&script),
        "--deadline-ms",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("✗ plugin exceeded its deadline of 5 ms for one event"),
        "{text}"
    );
    assert!(text.contains("fallback:"), "{text}");
}

#[test]
fn a_malformed_script_exits_2_naming_the_file_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.json");
    std::fs::write(
        &script,
        r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "digits", "digits": "12x"}
        ]}"#,
    )
    .unwrap();
    let component = cally_tests::example("support-router");
    let output = cally(&["simulate", path(component), "--script", path(&script)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("bad.json: event 2: invalid call event: digits: 'x'"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_component_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("plugin.wasm");
    std::fs::write(&fake, b"definitely not wasm").unwrap();
    let output = cally(&["simulate", path(&fake), "--script", path(&fake)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a WebAssembly component"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_deadline_above_the_platform_maximum_is_refused() {
    let output = cally(&[
        "simulate",
        "--example",
        "support-router",
        "--deadline-ms",
        "5000",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("event_deadline is 5000 ms, but it must be between 1 ms and 200 ms"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_example_lists_the_bundled_ones() {
    let output = cally(&["simulate", "--example", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bundled examples: "),
        "{}",
        stderr(&output)
    );
}

/// A call-flow manifest for the `reads-data` probe that declares the `name`
/// read only (so the component's personal-data import is allowed).
const READS_NAME_ONLY: &str = "\
name = \"reads-data\"
version = \"1.0.0\"
world = \"call-flow\"
description = \"Echoes each read into its actions, for the tests.\"
purpose = \"call-handling\"

[[reads]]
field = \"name\"
reason = \"Greets the caller by name.\"
";

/// An adult lead with call-handling consent on sms (which covers reads too).
const ADA_CALL_HANDLING_SMS: &str = r#"{
  "lead": {"lead_id": "lead-42", "name": "Ada Lovelace", "phone": "+15550100", "age": "adult"},
  "consents": [{"purpose": "call-handling", "channel": "sms", "granted_at_ms": 1700000000000,
                "source": "web-form", "evidence": "form-1"}]
}"#;

/// The `not-declared` uses of a `--json` trace: (resource, hint). The hint
/// is the data use's message; for a tag, whose name the data trace never
/// holds (it is the plugin's string), the log line that names it.
fn not_declared(trace: &serde_json::Value) -> Vec<(String, String)> {
    let steps = trace["steps"].as_array().unwrap();
    let log: Vec<String> = steps
        .iter()
        .flat_map(|step| step["log"].as_array().cloned().unwrap_or_default())
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect();
    steps
        .iter()
        .flat_map(|step| step["data"].as_array().cloned().unwrap_or_default())
        .filter(|used| used["reason"] == "not-declared")
        .map(|used| {
            let resource = used["resource"].as_str().unwrap().to_owned();
            let message = used["message"].as_str().unwrap().to_owned();
            if resource.starts_with("tag:") {
                assert!(!message.contains("booked"), "{message}");
                let line = log
                    .iter()
                    .find(|line| line.starts_with("tag_lead dropped: "))
                    .unwrap_or_else(|| panic!("no log line for {resource}: {log:?}"));
                return (resource, line.clone());
            }
            (resource, message)
        })
        .collect()
}

/// A developer's plugin reads the phone, the transcript and the recording,
/// sends an sms and tags the lead `booked`, with a manifest that declares
/// none of it. Each denial's hint ends with TOML; appended to the manifest as
/// it is, that TOML parses and the next run no longer denies that use.
#[test]
fn every_not_declared_hint_is_toml_that_declares_the_use() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("cally.toml");
    let lead = dir.path().join("lead.json");
    let script = dir.path().join("call.json");
    std::fs::write(&lead, ADA_CALL_HANDLING_SMS).unwrap();
    std::fs::write(
        &script,
        r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "speech", "text": "get phone;message sms;tag booked;transcript;recording", "confidence": 0.9, "final": true}
        ]}"#,
    )
    .unwrap();
    let component = cally_tests::plugin("reads-data");
    let mut manifest = READS_NAME_ONLY.to_owned();
    let run = |manifest: &str| {
        std::fs::write(&manifest_path, manifest).unwrap();
        let output = cally(&[
            "simulate",
            path(component),
            "--manifest",
            path(&manifest_path),
            "--lead",
            path(&lead),
            "--script",
            path(&script),
            "--json",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };

    let mut denied = not_declared(&run(&manifest));
    let resources: Vec<&str> = denied.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(resources.len(), 5, "{denied:?}");
    for expected in ["phone", "message:sms", "transcript", "recording"] {
        assert!(resources.contains(&expected), "{denied:?}");
    }
    assert!(
        resources.iter().any(|r| r.starts_with("tag:undeclared:")),
        "{denied:?}"
    );
    while let Some((resource, message)) = denied.first().cloned() {
        let (_, snippet) = message
            .split_once(":\n")
            .unwrap_or_else(|| panic!("{resource}: no TOML in {message:?}"));
        snippet
            .parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("{resource}: {snippet:?} is not TOML: {e}"));
        if resource.starts_with("tag:") {
            assert!(
                snippet.contains("[[tags]]\ntag = \"booked\"\n"),
                "{snippet}"
            );
        }
        manifest = format!("{manifest}\n{snippet}\n");
        let after = not_declared(&run(&manifest));
        assert_eq!(after.len(), denied.len() - 1, "{resource}: {after:?}");
        assert!(
            after.iter().all(|(_, m)| m != &message),
            "{resource} still denied after adding:\n{snippet}"
        );
        denied = after;
    }

    // The text trace shows the TOML too, each line indented under its data line.
    std::fs::write(&manifest_path, READS_NAME_ONLY).unwrap();
    let output = cally(&[
        "simulate",
        path(component),
        "--manifest",
        path(&manifest_path),
        "--lead",
        path(&lead),
        "--script",
        path(&script),
    ]);
    let text = stdout(&output);
    assert!(
        text.contains("\n      [[tags]]\n      tag = \"booked\"\n      reason = "),
        "{text}"
    );
    assert!(
        text.contains("\n      [[messages]]\n      channel = \"sms\"\n"),
        "{text}"
    );
}

/// A lead tagger whose tags the gate drops (no crm-tagging consent): the text
/// trace shows each tag as not written, as the JSON's `written` says.
#[test]
fn a_tagger_trace_never_shows_a_dropped_tag_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let lead = dir.path().join("lead.json");
    std::fs::write(&lead, ADA_CALL_HANDLING_SMS).unwrap();
    let example = cally_tests::example_dir("lead-qualifier");
    let args = |json: bool| {
        let mut args = vec![
            "simulate".to_owned(),
            path(cally_tests::example("lead-qualifier")).to_owned(),
            "--manifest".to_owned(),
            path(&example.join("cally.toml")).to_owned(),
            "--summary".to_owned(),
            path(&example.join("summary.json")).to_owned(),
            "--lead".to_owned(),
            path(&lead).to_owned(),
        ];
        if json {
            args.push("--json".to_owned());
        }
        args
    };
    let run = |json| {
        let args = args(json);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cally(&args)
    };
    let trace: serde_json::Value = serde_json::from_slice(&run(true).stdout).unwrap();
    assert!(!trace["tags"].as_array().unwrap().is_empty(), "{trace}");
    assert_eq!(trace["written"], serde_json::json!([]), "{trace}");
    let text = stdout(&run(false));
    assert!(text.contains("tag_lead dropped: no consent"), "{text}");
    assert!(!text.contains("→ tag"), "{text}");
    for tag in trace["tags"].as_array().unwrap() {
        let tag = tag.as_str().unwrap();
        assert!(
            text.contains(&format!("✗ tag {tag} not written")),
            "{tag}: {text}"
        );
    }
}

/// The trace spells directions, end reasons and channels as scripts and
/// manifests do, never as Rust names.
#[test]
fn the_trace_spells_names_as_scripts_do() {
    let example = cally_tests::example_dir("whatsapp-follow-up");
    let output = cally(&[
        "simulate",
        "--example",
        "whatsapp-follow-up",
        "--lead",
        path(&example.join("lead.json")),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("#1 started call-1 outbound campaign"),
        "{text}"
    );
    assert!(text.contains("ended (flow_hung_up)"), "{text}");
    assert!(text.contains("→ send whatsapp message "), "{text}");
    for rust_name in ["Outbound", "FlowHungUp", "Whatsapp", "[(\""] {
        assert!(!text.contains(rust_name), "{rust_name} in:\n{text}");
    }
    // The examples log the end reason with the SDK's Display.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hung-up.json");
    std::fs::write(
        &script,
        r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "ended", "reason": "caller_hung_up"}
        ]}"#,
    )
    .unwrap();
    let output = cally(&[
        "simulate",
        "--example",
        "appointment-reminder",
        "--script",
        path(&script),
    ]);
    let text = stdout(&output);
    assert!(text.contains("#2 ended (caller_hung_up)"), "{text}");
    assert!(
        text.contains("log info: call ended: caller_hung_up"),
        "{text}"
    );
}

/// `cally simulate ... | head -1`: the reader goes away early, every time at a
/// different point; the command ends with its documented code, no panic.
#[test]
fn a_closed_stdout_ends_quietly_with_the_documented_code() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let script = cally_tests::example_dir("support-router").join("call.json");
    let cases = [
        (vec!["simulate", "--example", "appointment-reminder"], 0),
        (
            vec![
                "simulate",
                path(cally_tests::plugin("infinite-loop")),
                "--script",
                path(&script),
                "--deadline-ms",
                "5",
            ],
            3,
        ),
    ];
    for (args, code) in cases {
        for run in 0..8 {
            let mut child = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            if run % 2 == 1 {
                // `head -1`: one line read, then the pipe closed.
                let mut first = String::new();
                std::io::BufReader::new(stdout)
                    .read_line(&mut first)
                    .unwrap();
                assert!(first.starts_with("Simulating "), "{first}");
            } else {
                // Closed before the command writes anything.
                drop(stdout);
            }
            let output = child.wait_with_output().unwrap();
            let stderr = stderr(&output);
            assert_eq!(output.status.code(), Some(code), "run {run}: {stderr}");
            assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        }
    }
}

/// Host log lines on a piped stderr carry no colour codes.
#[test]
fn host_log_lines_on_a_pipe_have_no_colour() {
    let output = cally(&[
        "simulate",
        path(cally_tests::plugin("infinite-loop")),
        "--script",
        path(&cally_tests::example_dir("support-router").join("call.json")),
        "--deadline-ms",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let log = stderr(&output);
    assert!(log.contains("WARN"), "no host log line to check: {log}");
    assert!(!output.stderr.contains(&0x1b), "ESC in stderr: {log:?}");
}

/// A script event with a field missing: the error names the file, the event's
/// number, its type and the field, not a line and column.
#[test]
fn a_missing_field_names_the_file_event_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.json");
    std::fs::write(
        &script,
        r#"{"events": [{"type": "started", "call_id": "c1", "direction": "inbound"}]}"#,
    )
    .unwrap();
    let component = cally_tests::example("support-router");
    let output = cally(&["simulate", path(component), "--script", path(&script)]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "{}: event 1: `started`: missing field `locale`",
            script.display()
        )),
        "{message}"
    );
    assert!(!message.contains("line 1 column"), "{message}");
}

/// Runs `cally` in `dir`.
fn cally_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cally")
}

/// A call that reads the lead's name, and the lead it reads.
fn name_call(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let script = dir.join("call.json");
    let lead = dir.join("lead.json");
    std::fs::write(
        &script,
        r#"{"events": [
            {"type": "started", "call_id": "c1", "direction": "inbound", "locale": "en-US"},
            {"type": "speech", "text": "get name", "confidence": 0.9, "final": true}
        ]}"#,
    )
    .unwrap();
    std::fs::write(&lead, ADA_CALL_HANDLING_SMS).unwrap();
    (script, lead)
}

/// Without `--manifest`, the `cally.toml` beside the component is used (and
/// said on stderr); then the one in the current directory; with neither, a
/// warning says that nothing is declared.
#[test]
fn simulate_finds_cally_toml_beside_the_component_or_in_the_current_directory() {
    let crate_dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let component = crate_dir.path().join("reads_data.wasm");
    std::fs::copy(cally_tests::plugin("reads-data"), &component).unwrap();
    let (script, lead) = name_call(elsewhere.path());
    let args = [
        "simulate",
        path(&component),
        "--script",
        path(&script),
        "--lead",
        path(&lead),
        "--json",
    ];
    let name_read = |output: &Output| {
        assert!(output.status.success(), "{}", stderr(output));
        let trace: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let audit = trace["audit"].as_array().unwrap().clone();
        assert_eq!(audit.len(), 1, "{trace}");
        (
            audit[0]["decision"].as_str().unwrap().to_owned(),
            audit[0]["plugin"].as_str().unwrap().to_owned(),
        )
    };

    // Neither: loudly, nothing declared.
    let output = cally_in(elsewhere.path(), &args);
    assert!(
        stderr(&output).contains("warning: no manifest"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        name_read(&output),
        ("denied".to_owned(), "unnamed-plugin".to_owned())
    );

    // In the current directory.
    std::fs::write(elsewhere.path().join("cally.toml"), READS_NAME_ONLY).unwrap();
    let output = cally_in(elsewhere.path(), &args);
    assert!(
        stderr(&output).contains("note: using the manifest cally.toml"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        name_read(&output),
        ("allowed".to_owned(), "reads-data".to_owned())
    );

    // Beside the component, ahead of the current directory's.
    let beside = crate_dir.path().join("cally.toml");
    std::fs::write(
        &beside,
        READS_NAME_ONLY.replace("\"reads-data\"", "\"beside\""),
    )
    .unwrap();
    let output = cally_in(elsewhere.path(), &args);
    assert!(
        stderr(&output).contains(&format!("note: using the manifest {}", beside.display())),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        name_read(&output),
        ("allowed".to_owned(), "beside".to_owned())
    );
}

/// A lead tagger's manifest given to a call-flow component: refused before
/// anything runs, as an upload would be, naming the manifest and the component.
#[test]
fn simulate_refuses_a_manifest_of_the_other_world() {
    let tagger_manifest = cally_tests::example_dir("lead-qualifier").join("cally.toml");
    let component = cally_tests::example("support-router");
    let script = cally_tests::example_dir("support-router").join("call.json");
    let output = cally(&[
        "simulate",
        path(component),
        "--manifest",
        path(&tagger_manifest),
        "--script",
        path(&script),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "the manifest {} (lead-qualifier 0.1.0, world lead-tagger) does not fit the component {}",
            tagger_manifest.display(),
            component.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("the component is a call-flow plugin: set world = \"call-flow\""),
        "{message}"
    );
}

/// With `--data-dir`, the pseudonym key is kept there: the same lead has the
/// same pseudonym on every run; another directory has another key.
#[test]
fn a_data_dir_keeps_the_lead_pseudonym_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (script, lead) = name_call(dir.path());
    let manifest = dir.path().join("cally.toml");
    std::fs::write(&manifest, READS_NAME_ONLY).unwrap();
    let pseudonyms = |data_dir: &Path| {
        let output = cally(&[
            "simulate",
            path(cally_tests::plugin("reads-data")),
            "--manifest",
            path(&manifest),
            "--script",
            path(&script),
            "--lead",
            path(&lead),
            "--data-dir",
            path(data_dir),
            "--json",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let trace: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let leads: Vec<String> = trace["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["lead"].as_str().unwrap().to_owned())
            .collect();
        assert!(!leads.is_empty(), "{trace}");
        leads
    };
    let kept = dir.path().join("data");
    let first = pseudonyms(&kept);
    let second = pseudonyms(&kept);
    assert_eq!(second.first(), first.first());
    assert!(second.iter().all(|p| p == &first[0]), "{second:?}");
    let other = pseudonyms(&dir.path().join("other"));
    assert_ne!(other[0], first[0]);
}
