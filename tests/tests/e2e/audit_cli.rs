//! `cally audit verify` as a reviewer runs it on a real data directory, after
//! rows of the audit log were edited, deleted, inserted or reordered with a
//! raw SQL connection.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Connection;

fn cally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(args)
        .output()
        .expect("run cally")
}

/// A data directory with six audit records, written by simulating the
/// appointment reminder with a lead three times.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lead =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/appointment-reminder/lead.json");
    for _ in 0..3 {
        let output = cally(&[
            "simulate",
            "--example",
            "appointment-reminder",
            "--lead",
            lead.to_str().unwrap(),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    dir
}

async fn tamper(dir: &Path, statements: &[&'static str]) {
    let db = dir.join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(*statement).execute(&mut raw).await.unwrap();
    }
}

/// Tampers with a fresh log by `statements`; `cally audit verify` must then
/// exit 5 with a report that names `needle` (the first bad record).
async fn reported_after(statements: &[&'static str], needle: &str) {
    let dir = data_dir();
    tamper(dir.path(), statements).await;
    let (code, report) = verify(dir.path());
    assert_eq!(code, Some(5));
    assert!(report.contains(needle), "{report}");
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let output = cally(&["audit", "verify", "--data-dir", dir.to_str().unwrap()]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn a_clean_log_verifies() {
    let dir = data_dir();
    let (code, report) = verify(dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        report.trim(),
        "tenant 'simulation': 6 records, chain intact"
    );
}

#[tokio::test]
async fn an_edited_record_is_reported_by_its_sequence() {
    reported_after(
        &["UPDATE audit_log SET decision = 'denied' WHERE seq = 3"],
        "record 3",
    )
    .await;
}

#[tokio::test]
async fn a_deleted_record_is_reported() {
    reported_after(&["DELETE FROM audit_log WHERE seq = 2"], "record 2").await;
}

#[tokio::test]
async fn a_deleted_newest_record_is_reported() {
    reported_after(&["DELETE FROM audit_log WHERE seq = 6"], "6").await;
}

#[tokio::test]
async fn an_inserted_record_is_reported() {
    reported_after(&["INSERT INTO audit_log SELECT tenant, 7, time_ms, plugin, plugin_version, component_digest, \
           call_id, lead, resource, purpose, decision, reason, consent_id, hash, hash \
           FROM audit_log WHERE seq = 6"], "7").await;
}

#[tokio::test]
async fn reordered_records_are_reported() {
    reported_after(
        &[
            "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 1000",
        ],
        "record 2",
    )
    .await;
}

#[test]
fn export_writes_json_lines_for_a_lead_and_csv() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let output = cally(&[
        "audit",
        "export",
        "--data-dir",
        d,
        "--tenant",
        "simulation",
        "--lead",
        "lead-42",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines
            .iter()
            .all(|l| l["lead"].as_str().unwrap().starts_with("lead-"))
    );
    let other = cally(&[
        "audit",
        "export",
        "--data-dir",
        d,
        "--tenant",
        "simulation",
        "--lead",
        "someone-else",
    ]);
    assert!(other.stdout.is_empty());
    let csv = cally(&[
        "audit",
        "export",
        "--data-dir",
        d,
        "--tenant",
        "simulation",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap().lines().count(),
        7,
        "a header and six rows"
    );
}

#[test]
fn verify_refuses_a_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = cally(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no Cally database at"));
}
