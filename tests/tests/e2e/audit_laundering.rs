//! A hostile plugin launders personal data into the audit log: `launders-data`
//! reads the lead's name and phone through its handle and uses them as
//! preference keys and as tags, strings the host audits. Run through the real
//! HTTP API with a real SQLite store: no audit record (rows read with raw SQL,
//! the API's list and both exports) may hold them, before or after the lead's
//! erasure; undeclared keys and tags appear only as `undeclared` with a keyed
//! hash, declared ones as the manifest's strings; and after the erasure no
//! file under the data directory holds a laundered copy.

use std::path::{Path, PathBuf};

use cally_host::audit::Pseudonymizer;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::api::Server;

/// The laundering plugin's manifest: it may read name, phone and
/// preferences (naming one key), and write one tag.
const LAUNDERS_DATA: &str = r#"
name = "launders-data"
version = "1.0.0"
world = "call-flow"
description = "Tries to write the lead's name and phone into the audit log."
purpose = "call-handling"

[[reads]]
field = "name"
reason = "Reads the name it then tries to launder."

[[reads]]
field = "phone"
reason = "Reads the phone number it then tries to launder."

[[reads]]
field = "preferences"
reason = "Reads preferences by keys made of the name and phone."
keys = ["preferred-time"]

[[tags]]
tag = "hot-lead"
reason = "The one tag a reviewer approved."
"#;

const TENANT: &str = "acme";
const NAME: &str = "Ada Lovelace";
const PHONE: &str = "+15550100";
/// What the plugin makes of them (see `tests/plugins/launders-data`).
const NAME_FORM: &str = "ada-lovelace";
const PHONE_FORM: &str = "tel.15550100";

/// Whether `text` holds any trace of the name or phone, laundered or not.
fn personal_in(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    ["lovelace", "15550100", NAME_FORM, PHONE_FORM]
        .into_iter()
        .find(|needle| lower.contains(needle))
}

/// Every column of every audit record and head, read with raw SQL.
async fn audit_rows(dir: &Path) -> Vec<String> {
    let db = dir.join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT printf('%s|%d|%d|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', tenant, seq, time_ms, \
         plugin, plugin_version, component_digest, call_id, lead, resource, purpose, decision, \
         reason, consent_id, prev_hash, hash) FROM audit_log ORDER BY tenant, seq",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    let heads: Vec<String> = sqlx::query_scalar(
        "SELECT printf('%s|%d|%s', tenant, last_seq, last_hash) FROM audit_heads",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    rows.extend(heads);
    rows
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The plugin reads Ada's name and phone and launders them as two preference
/// keys and two tags. Every audit record names a fixed resource or a
/// reviewed string from the manifest: the undeclared keys and tags are
/// `undeclared` with a keyed hash (two different ones told apart), never
/// the name or phone, in the rows, the API's list, the JSON-lines and CSV
/// exports and the event's data trace; the chain verifies. After Ada's
/// erasure and a clean shutdown, no file under the data directory holds a
/// laundered copy, the audit rows hold neither value, and `cally audit
/// verify` passes.
#[tokio::test]
async fn a_plugin_cannot_launder_personal_data_into_the_audit_log() {
    let server = Server::start().await;
    let keys = server.tenant(TENANT).await;
    let component = std::fs::read(cally_tests::plugin("launders-data")).unwrap();
    server
        .release(&keys, LAUNDERS_DATA, &component, "launders-data", "1.0.0")
        .await;
    let lead = json!({
        "lead_id": "lead-ada",
        "name": NAME,
        "phone": PHONE,
        "age": "adult",
        "preferences": {"preferred-time": "mornings"},
    });
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(lead))
        .await;
    let consent =
        json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"});
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent),
        )
        .await;
    let call = json!({
        "plugin": "launders-data",
        "call_id": "call-launder",
        "lead_id": "lead-ada",
        "direction": "outbound",
        "campaign": "spring-checkups",
        "locale": "en-US",
    });
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(call))
        .await;
    let speech = json!({"type": "speech", "text": "launder", "confidence": 0.9, "final": true});
    let outcome = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-launder/events",
            Some(speech),
        )
        .await;
    let actions = outcome["actions"].as_array().unwrap();
    assert_eq!(actions[0]["text"], "laundered", "{outcome:#}");
    assert_eq!(
        actions.len(),
        2,
        "the undeclared tags are dropped: {outcome:#}"
    );
    assert_eq!(
        personal_in(&outcome["data"].to_string()),
        None,
        "{outcome:#}"
    );
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-launder/end",
            None,
        )
        .await;

    // The records name what was used from the vocabulary only.
    let labels = Pseudonymizer::load_or_create(server.dir.path()).unwrap();
    let undeclared = |kind: &str, text: &str| labels.undeclared_label(TENANT, kind, text);
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    // The plugin's records (people's requests are recorded too, by field name).
    let plugin_uses = crate::api::plugin_uses(&audit);
    let resources: Vec<(&str, &str)> = plugin_uses
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap(),
                r["reason"].as_str().unwrap_or("allowed"),
            )
        })
        .collect();
    let expected = [
        ("name".to_owned(), "allowed"),
        ("phone".to_owned(), "allowed"),
        (
            format!(
                "preferences.undeclared:{}",
                undeclared("preference", NAME_FORM)
            ),
            "allowed",
        ),
        (
            format!(
                "preferences.undeclared:{}",
                undeclared("preference", PHONE_FORM)
            ),
            "allowed",
        ),
        ("preferences.preferred-time".to_owned(), "allowed"),
        (
            format!("tag:undeclared:{}", undeclared("tag", NAME_FORM)),
            "not-declared",
        ),
        (
            format!("tag:undeclared:{}", undeclared("tag", PHONE_FORM)),
            "not-declared",
        ),
        ("tag:hot-lead".to_owned(), "allowed"),
    ];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(r, d)| (r.as_str(), *d)).collect();
    assert_eq!(resources, expected);
    assert_ne!(expected[2].0, expected[3].0, "two undeclared keys differ");
    assert_ne!(expected[5].0, expected[6].0, "two undeclared tags differ");

    // Neither value, laundered or not, in any audit answer or row.
    let audit_answers = async || {
        let mut answers = vec![
            server
                .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
                .await
                .to_string(),
        ];
        for format in ["jsonl", "csv"] {
            let path = format!("/v1/audit/export?format={format}");
            let export = server.ok(&keys.reviewer, Method::GET, &path, None).await;
            answers.push(export.as_str().unwrap().to_owned());
        }
        answers.extend(audit_rows(server.dir.path()).await);
        answers
    };
    let before = audit_answers().await;
    assert!(before.len() >= 3 + 8, "{before:#?}");
    for answer in &before {
        assert_eq!(personal_in(answer), None, "in the audit log: {answer}");
    }

    server
        .ok(&keys.admin, Method::POST, "/v1/leads/lead-ada/erase", None)
        .await;
    for answer in audit_answers().await {
        assert_eq!(personal_in(&answer), None, "in the audit log: {answer}");
    }
    let verify = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert_eq!(verify["problem"], Value::Null, "{verify:#}");
    let all = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    let people = all.as_array().unwrap().len() - crate::api::plugin_uses(&all).len();
    assert_eq!(verify["records"], 8 + people, "{verify:#}");

    // No file the host wrote holds a laundered copy. (The lead's own values
    // in the WAL and free pages are erasure's to remove; the laundered forms
    // exist only if the host copied what the plugin chose.)
    let dir = server.stop().await;
    let files = files_under(dir.path());
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(cally_host::store::DB_FILE_NAME)),
        "{files:?}"
    );
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            // The store's last connection may still be closing, removing its
            // WAL index: a file gone holds nothing the host could read back.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => panic!("{}: {error}", file.display()),
        };
        for needle in [NAME_FORM, PHONE_FORM] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{needle} in {}",
                file.display()
            );
        }
    }
    for row in audit_rows(dir.path()).await {
        assert_eq!(personal_in(&row), None, "in the audit log: {row}");
    }
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run cally");
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}
