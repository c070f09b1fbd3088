//! `cally audit verify` as a reviewer runs it on a real data directory, after
//! rows of the audit log were edited, deleted, inserted or reordered with a
//! raw SQL connection.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Connection;

use crate::serve_process::ServeProcess;

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
        "record 3 was altered",
    )
    .await;
}

#[tokio::test]
async fn a_deleted_record_is_reported() {
    reported_after(
        &["DELETE FROM audit_log WHERE seq = 2"],
        "record 2 is missing (deleted)",
    )
    .await;
}

#[tokio::test]
async fn a_deleted_newest_record_is_reported() {
    reported_after(
        &["DELETE FROM audit_log WHERE seq = 6"],
        "record 6 is missing (deleted): the chain head says the log ends at 6",
    )
    .await;
}

#[tokio::test]
async fn an_inserted_record_is_reported() {
    reported_after(&["INSERT INTO audit_log SELECT tenant, 7, time_ms, plugin, plugin_version, component_digest, \
           call_id, lead, resource, purpose, decision, reason, consent_id, hash, hash, \
           actor_key, actor_role, client_address, operation \
           FROM audit_log WHERE seq = 6"], "record 7 was altered").await;
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

// Signed checkpoints, as a reviewer keeps them and an attacker with write access
// to the database (but not to the reviewer's copy) works against them.

/// A fresh log of six records and a checkpoint of it: `cally audit checkpoint`
/// signs the head, and the reviewer keeps its output in a directory of their own.
/// Returns the data directory and the kept checkpoint file (in the other directory).
fn checkpointed() -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let dir = data_dir();
    let output = cally(&[
        "audit",
        "checkpoint",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("signed 1 new checkpoint(s)") && stderr.contains("host key ed25519:"),
        "{stderr}"
    );
    let kept_dir = tempfile::tempdir().unwrap();
    let kept = kept_dir.path().join("kept-checkpoints.jsonl");
    std::fs::write(&kept, &output.stdout).unwrap();
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (line["tenant"].as_str(), line["seq"].as_i64()),
        (Some("simulation"), Some(6))
    );
    (dir, kept_dir, kept)
}

fn verify_against(dir: &Path, kept: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "audit",
        "verify",
        "--data-dir",
        dir.to_str().unwrap(),
        "--checkpoint",
        kept.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = cally(&args);
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The stored hash of the tenant's record `seq`.
async fn stored_hash(dir: &Path, seq: i64) -> String {
    let store = cally_host::store::SqliteStore::open(dir).await.unwrap();
    let chain = cally_host::store::AuditStore::audit_chain(&store, "simulation")
        .await
        .unwrap();
    store.close().await;
    chain
        .records
        .iter()
        .find(|r| r.seq == seq)
        .unwrap()
        .hash
        .clone()
}

#[test]
fn an_untouched_log_matches_its_checkpoint_and_the_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _kept_dir, kept) = checkpointed();
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("tenant 'simulation': 6 records, chain intact")
            && report.contains("1 of 1 checkpoint(s)"),
        "{report}"
    );
    for file in [
        cally_host::audit::SIGNING_KEY_FILE_NAME,
        cally_host::audit::CHECKPOINT_FILE_NAME,
    ] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // The checkpoint file under the data directory serves as well as the kept copy.
    let own = dir.path().join(cally_host::audit::CHECKPOINT_FILE_NAME);
    assert_eq!(verify_against(dir.path(), &own, &[]).0, Some(0));
}

#[tokio::test]
async fn truncating_the_newest_records_with_their_head_is_caught_by_a_checkpoint() {
    let (dir, _kept_dir, kept) = checkpointed();
    tamper(
        dir.path(),
        &[
            "DELETE FROM audit_log WHERE tenant = 'simulation' AND seq > 4",
            "UPDATE audit_heads SET last_seq = 4, last_hash = \
             (SELECT hash FROM audit_log WHERE tenant = 'simulation' AND seq = 4) \
             WHERE tenant = 'simulation'",
        ],
    )
    .await;
    let (code, report) = verify(dir.path());
    assert_eq!(
        (code, report.trim()),
        (Some(0), "tenant 'simulation': 4 records, chain intact"),
        "without a checkpoint the truncation is invisible"
    );
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(5), "{report}");
    assert!(
        report.contains("tenant 'simulation': checkpoint of line 1 (record 6, hash ")
            && report.contains(
                "record 6 is missing: the chain now ends at record 4, so its newest records \
                 were deleted"
            ),
        "{report}"
    );
    let (code, report) = verify_against(dir.path(), &kept, &["--json"]);
    assert_eq!(code, Some(5), "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["chains"][0]["problem"], serde_json::Value::Null);
    assert_eq!(
        report["checkpoints"][0]["problem"],
        serde_json::json!({"kind": "truncated", "chain_ends_at": 4})
    );
    assert_eq!(report["checkpoints"][0]["line"], 1);
}

#[tokio::test]
async fn a_deleted_tenant_chain_is_caught_by_a_checkpoint() {
    let (dir, _kept_dir, kept) = checkpointed();
    tamper(
        dir.path(),
        &[
            "DELETE FROM audit_log WHERE tenant = 'simulation'",
            "DELETE FROM audit_heads WHERE tenant = 'simulation'",
        ],
    )
    .await;
    let (code, report) = verify(dir.path());
    assert_eq!(
        code,
        Some(0),
        "without a checkpoint the deletion is invisible"
    );
    assert!(report.contains("no audit records"), "{report}");
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(5), "{report}");
    assert!(
        report.contains("tenant 'simulation': checkpoint of line 1 (record 6")
            && report.contains("the tenant's whole audit chain is gone (no records, no head)"),
        "{report}"
    );
}

#[tokio::test]
async fn a_rechained_log_is_caught_by_a_checkpoint() {
    let (dir, _kept_dir, kept) = checkpointed();
    // Edit record 3, then re-hash it and every record after it, and move the head:
    // the whole chain is consistent again.
    let store = cally_host::store::SqliteStore::open(dir.path())
        .await
        .unwrap();
    let mut records = cally_host::store::AuditStore::audit_chain(&store, "simulation")
        .await
        .unwrap()
        .records;
    store.close().await;
    let db = dir.path().join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    records[2].decision = if records[2].decision == "allowed" {
        "denied".into()
    } else {
        "allowed".into()
    };
    for i in 2..records.len() {
        if i > 2 {
            records[i].prev_hash = records[i - 1].hash.clone();
        }
        records[i].hash = records[i].compute_hash();
        sqlx::query(
            "UPDATE audit_log SET decision = ?1, prev_hash = ?2, hash = ?3 \
             WHERE tenant = 'simulation' AND seq = ?4",
        )
        .bind(&records[i].decision)
        .bind(&records[i].prev_hash)
        .bind(&records[i].hash)
        .bind(records[i].seq)
        .execute(&mut raw)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE audit_heads SET last_hash = ?1 WHERE tenant = 'simulation'")
        .bind(&records[5].hash)
        .execute(&mut raw)
        .await
        .unwrap();
    drop(raw);

    let (code, report) = verify(dir.path());
    assert_eq!(
        (code, report.trim()),
        (Some(0), "tenant 'simulation': 6 records, chain intact"),
        "without a checkpoint the re-chained log verifies"
    );
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(5), "{report}");
    let now = stored_hash(dir.path(), 6).await;
    assert!(
        report.contains(&format!(
            "record 6 now has hash {now}: the log was rewritten at or before record 6 and \
             re-hashed (re-chained)"
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_forged_checkpoint_is_refused() {
    let (dir, _kept_dir, kept) = checkpointed();
    // Truncate the log, then make the reviewer's checkpoint agree with it: the
    // signature no longer covers what it says.
    tamper(
        dir.path(),
        &[
            "DELETE FROM audit_log WHERE tenant = 'simulation' AND seq > 4",
            "UPDATE audit_heads SET last_seq = 4, last_hash = \
             (SELECT hash FROM audit_log WHERE tenant = 'simulation' AND seq = 4) \
             WHERE tenant = 'simulation'",
        ],
    )
    .await;
    let mut line: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    line["seq"] = 4.into();
    line["hash"] = stored_hash(dir.path(), 4).await.into();
    std::fs::write(&kept, format!("{line}\n")).unwrap();
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(6), "{report}");
    assert!(
        report.contains("tenant 'simulation': checkpoint of line 1 (record 4")
            && report.contains("its signature does not verify under ed25519:")
            && report.contains("forged or altered")
            && report.contains("0 of 1 checkpoint(s)"),
        "{report}"
    );

    // A checkpoint the attacker signed with a key of their own: refused too, whichever
    // key it names.
    let attacker = cally_host::audit::HostSigningKey::from_secret([7; 32]);
    let forged = cally_host::audit::Checkpoint::sign(
        &attacker,
        "simulation",
        4,
        &stored_hash(dir.path(), 4).await,
        1,
    );
    std::fs::write(&kept, serde_json::to_string(&forged).unwrap()).unwrap();
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(6), "{report}");
    assert!(
        report.contains(&format!(
            "signed by {}, not by the trusted key",
            attacker.public_key()
        )),
        "{report}"
    );
    // Trusting the attacker's key on the command line is the reviewer's call; the
    // checkpoint then matches the truncated log, which is why the key must be one
    // the reviewer kept.
    let (code, report) = verify_against(
        dir.path(),
        &kept,
        &["--public-key", &attacker.public_key().to_string()],
    );
    assert_eq!(code, Some(0), "{report}");
}

#[test]
fn verify_names_a_bad_checkpoint_file_or_key() {
    let (dir, kept_dir, kept) = checkpointed();
    let torn = kept_dir.path().join("torn.jsonl");
    let text = std::fs::read_to_string(&kept).unwrap();
    std::fs::write(&torn, format!("{text}{}", &text[..20])).unwrap();
    let (code, report) = verify_against(dir.path(), &torn, &[]);
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("line 2 is not a checkpoint"), "{report}");
    let (code, report) = verify_against(dir.path(), &kept, &["--public-key", "ed25519:00"]);
    assert_eq!(code, Some(2), "{report}");
    assert!(
        report.contains("--public-key: public key 'ed25519:00'"),
        "{report}"
    );
}

#[test]
fn a_signing_key_others_may_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _kept_dir, kept) = checkpointed();
    let key = dir.path().join(cally_host::audit::SIGNING_KEY_FILE_NAME);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fix = format!("run `chmod 600 '{}'`", key.display());
    let output = cally(&[
        "audit",
        "checkpoint",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(&fix),
        "{stderr}"
    );
    let (code, report) = verify_against(dir.path(), &kept, &[]);
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains(&fix), "{report}");

    // `cally serve` refuses to start on it.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            serve.kill().unwrap();
            panic!("cally serve started with a key file others may read");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(serve.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success() && stderr.contains(&fix), "{stderr}");
}

/// `cally serve` signs every tenant's head when it starts (the schedule's first run)
/// and once more at a clean shutdown, here after another process appended records
/// meanwhile; the hour-long interval leaves only those two moments to sign at.
#[test]
fn cally_serve_signs_the_heads_at_start_and_at_shutdown() {
    let dir = data_dir();
    let file = dir.path().join(cally_host::audit::CHECKPOINT_FILE_NAME);
    let mut command = ServeProcess::command();
    command
        .args(["--bind", "127.0.0.1:0"])
        .args(["--checkpoint-interval-secs", "3600", "--data-dir"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null());
    let serve = ServeProcess::spawn(command);
    let signed = |file: &Path| -> Vec<i64> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    };
    // The first run starts with the schedule; wait for it (bounded).
    for _ in 0..600 {
        if !signed(&file).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(signed(&file), [6]);

    // Two more records from another process on the same data directory.
    let lead =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/appointment-reminder/lead.json");
    let more = cally(&[
        "simulate",
        "--example",
        "appointment-reminder",
        "--lead",
        lead.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        more.status.success(),
        "{}",
        String::from_utf8_lossy(&more.stderr)
    );

    // SIGTERM, to this process only, by its id.
    serve.stop();
    assert_eq!(signed(&file), [6, 8], "the shutdown signed the moved head");
    let (code, report) = verify_against(dir.path(), &file, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("2 of 2 checkpoint(s)"), "{report}");
}
