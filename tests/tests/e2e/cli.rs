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
