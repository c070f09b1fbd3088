//! Approvals bind bytes, tested as a hostile insider with write access to the
//! data directory would attack them: the database edited by hand, precompiled
//! artifacts copied over each other, `--demo` restarted after a developer's
//! upload; the bytes rewritten together with every digest recorded for them,
//! and an approval copied onto another version (each record's MAC is under a
//! host key outside the database); and uploads refused before anything is
//! compiled.

use std::collections::BTreeSet;
use std::path::Path;

use cally_host::component::ComponentDigest;
use cally_host::manifest::ManifestDigest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::api::{Keys, READS_PHONE, Server, appointment_reminder};
use crate::serve_process::ServeProcess;

/// The `reads-data` probe, which says `ready` on `started` and echoes each read.
fn probe() -> Vec<u8> {
    std::fs::read(cally_tests::plugin("reads-data")).unwrap()
}

/// The `well-behaved` plugin, which says `started` on `started`.
fn well_behaved() -> Vec<u8> {
    std::fs::read(cally_tests::plugin("well-behaved")).unwrap()
}

const WELL_BEHAVED: &str = r#"
name = "well-behaved"
version = "1.0.0"
world = "call-flow"
description = "Answers every event with one line naming it."
purpose = "call-handling"
"#;

fn start_call(plugin: &str, call_id: &str) -> Value {
    json!({
        "plugin": plugin,
        "call_id": call_id,
        "lead_id": "lead-ada",
        "direction": "outbound",
        "locale": "en-US",
    })
}

/// The texts of the `say` actions in an outcome.
fn said(outcome: &Value) -> Vec<String> {
    outcome["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "say")
        .map(|a| a["text"].as_str().unwrap().to_owned())
        .collect()
}

/// `manifest` with a grant to read the lead's email added: the escalation
/// an insider tries to slip in.
fn with_email_grant(manifest: &str) -> String {
    format!(
        "{manifest}\n[[reads]]\nfield = \"email\"\nreason = \"Reads the address back to confirm it.\"\n"
    )
}

/// A stopped host whose tenant `acme` has the `reads-data` probe approved
/// and active and Ada with consent: its data directory, for an insider to
/// edit, and the tenant's keys (still valid after a restart).
async fn released_probe_data_dir() -> (tempfile::TempDir, Keys) {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    server
        .release(&keys, READS_PHONE, &probe(), "reads-data", "1.0.0")
        .await;
    ada_with_consent(&server, &keys).await;
    (server.stop().await, keys)
}

/// Lead Ada (with a phone and an email) and her consent to call handling.
async fn ada_with_consent(server: &Server, keys: &Keys) {
    let ada = json!({
        "lead_id": "lead-ada",
        "name": "Ada Lovelace",
        "phone": "+15550100",
        "email": "ada@example.com",
        "age": "adult",
    });
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada))
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
}

/// Runs `sql` (with `binds`, in order) on the data directory's database file,
/// as an insider with a SQLite shell would.
async fn edit_database(dir: &Path, sql: &'static str, binds: &[&str]) -> u64 {
    let url = format!("sqlite://{}", dir.join("cally.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = query.bind(*bind);
    }
    let done = query.execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
    done.rows_affected()
}

/// The names of the files in the artifact directory.
fn artifact_files(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir.join("artifacts")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// The path of the artifact compiled from `component`.
fn artifact_of(dir: &Path, component: &[u8]) -> std::path::PathBuf {
    let hex = ComponentDigest::of(component).hex();
    let name = artifact_files(dir)
        .into_iter()
        .find(|name| name.starts_with(&hex))
        .unwrap_or_else(|| panic!("no artifact for {hex}"));
    dir.join("artifacts").join(name)
}

/// An insider edits an approved, active version's manifest in the database to
/// grant one more field (and, to cover their tracks, the upload's recorded
/// manifest digest too), then restarts the host: the version is refused, not
/// run, with the digest approved and the digest found both named; a call gets
/// the default fallback, and the new grant reads nothing.
#[tokio::test]
async fn an_approved_manifest_edited_in_the_database_is_refused_after_a_restart() {
    let (dir, keys) = released_probe_data_dir().await;

    let edited = with_email_grant(READS_PHONE);
    let approved = ManifestDigest::of(READS_PHONE.as_bytes()).to_string();
    let found = ManifestDigest::of(edited.as_bytes()).to_string();
    let rows = edit_database(
        dir.path(),
        "UPDATE plugin_versions SET manifest = ?1, manifest_digest = ?2 \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND version = '1.0.0'",
        &[&edited, &found],
    )
    .await;
    assert_eq!(rows, 1);

    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    let message = started["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "its manifest digest was {approved} when it was approved by reviewer@acme, but the stored manifest now has digest {found}"
        )),
        "{started:#}"
    );
    // The default fallback: an apology, then a hang-up; the probe never ran.
    assert_ne!(said(&started), ["ready"]);
    let types: Vec<&str> = started["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["say", "hang_up"], "{started:#}");
    let (status, _) = server
        .send(
            Some(&keys.runtime),
            Method::POST,
            "/v1/calls/call-1/events",
            Some(json!({"type": "speech", "text": "get email", "confidence": 0.9, "final": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the refused call is over");
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(
        crate::api::plugin_uses(&audit),
        Vec::<Value>::new(),
        "nothing was read"
    );
    let plugin = server
        .ok(&keys.reviewer, Method::GET, "/v1/plugins/reads-data", None)
        .await;
    let refused = plugin["versions"][0]["refused"]
        .as_str()
        .unwrap_or_default();
    assert!(
        refused.contains(&approved) && refused.contains(&found),
        "{plugin:#}"
    );
    // Nor can a reviewer activate it again as it is.
    let (status, body) = server
        .send(
            Some(&keys.reviewer),
            Method::POST,
            "/v1/plugins/reads-data/versions/1.0.0/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    server.stop().await;
}

/// An insider replaces an approved, active version's component in the
/// database with another plugin's bytes (and its recorded upload digest with
/// theirs), then restarts: the other code never runs; the call gets the
/// fallback and the reason names the component digest approved and the one found.
#[tokio::test]
async fn an_approved_component_replaced_in_the_database_is_refused_after_a_restart() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (probe, other) = (probe(), well_behaved());
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    ada_with_consent(&server, &keys).await;
    let dir = server.stop().await;

    let approved = ComponentDigest::of(&probe).to_string();
    let found = ComponentDigest::of(&other).to_string();
    let url = format!("sqlite://{}", dir.path().join("cally.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let done = sqlx::query(
        "UPDATE plugin_versions SET component = ?1, component_digest = ?2 \
         WHERE tenant = 'acme' AND plugin = 'reads-data'",
    )
    .bind(&other)
    .bind(&found)
    .execute(&mut connection)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    connection.close().await.unwrap();

    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_ne!(said(&started), ["started"], "the other plugin's code ran");
    let message = started["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "its component digest was {approved} when it was approved by reviewer@acme, but the stored component now has digest {found}"
        )),
        "{started:#}"
    );
    let call = server
        .ok(&keys.runtime, Method::GET, "/v1/calls/call-1", None)
        .await;
    assert_eq!(call["live"], false);
    assert!(
        call["result"]["failure"]["message"]
            .as_str()
            .unwrap()
            .contains(&approved),
        "{call:#}"
    );
    server.stop().await;
}

/// An insider copies another plugin's precompiled artifact over an approved
/// plugin's and restarts: the copied machine code is not run (its MAC names
/// another component); the approved plugin is compiled again from its own
/// bytes and runs, and its audit records name the digest of what ran.
#[tokio::test]
async fn another_plugins_artifact_copied_over_an_approved_ones_is_not_run() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (probe, other) = (probe(), well_behaved());
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    server
        .release(&keys, WELL_BEHAVED, &other, "well-behaved", "1.0.0")
        .await;
    ada_with_consent(&server, &keys).await;
    let dir = server.stop().await;

    let target = artifact_of(dir.path(), &probe);
    let swapped = std::fs::read(artifact_of(dir.path(), &other)).unwrap();
    std::fs::write(&target, &swapped).unwrap();

    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_eq!(
        said(&started),
        ["ready"],
        "the approved code runs: {started:#}"
    );
    let digest = ComponentDigest::of(&probe).to_string();
    assert_eq!(started["component_digest"], digest);
    let read = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/events",
            Some(json!({"type": "speech", "text": "get phone", "confidence": 0.9, "final": true})),
        )
        .await;
    assert_eq!(said(&read), ["phone=+15550100"], "{read:#}");
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    let records = crate::api::plugin_uses(&audit);
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["component_digest"], digest, "{record:#}");
        assert_eq!(record["plugin"], "reads-data");
    }
    let dir = server.stop().await;
    assert_ne!(
        std::fs::read(artifact_of(dir.path(), &probe)).unwrap(),
        swapped,
        "the copied artifact was replaced by one compiled from the approved bytes"
    );
}

/// A connection to the data directory's database file, as an insider with a
/// SQLite shell has one.
async fn connect(dir: &Path) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", dir.join("cally.db").display());
    sqlx::SqliteConnection::connect(&url).await.unwrap()
}

/// The types of the actions in an outcome.
fn action_types(outcome: &Value) -> Vec<String> {
    outcome["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The call got the host's default fallback (an apology, then a hang-up), and
/// its failure message, which names why.
fn fallback_reason(started: &Value) -> String {
    assert_eq!(action_types(started), ["say", "hang_up"], "{started:#}");
    started["failure"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// An insider rewrites an approved, active version's component in the
/// database with another plugin's bytes AND every digest recorded for it
/// (the upload row and each approval and activation row), consistently, then
/// restarts: the digests all agree with the bytes, but the records' MACs
/// (under the host's approval key, outside the database) do not, so the
/// version is refused before anything is compiled; the call gets the
/// fallback, and the reason names the bad MAC.
#[tokio::test]
async fn a_component_rewritten_with_every_digest_recorded_for_it_is_refused_after_a_restart() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (probe, other) = (probe(), well_behaved());
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    ada_with_consent(&server, &keys).await;
    let dir = server.stop().await;

    let found = ComponentDigest::of(&other).to_string();
    let mut db = connect(dir.path()).await;
    let rows = sqlx::query(
        "UPDATE plugin_versions SET component = ?1, component_digest = ?2 \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND version = '1.0.0'",
    )
    .bind(&other)
    .bind(&found)
    .execute(&mut db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(rows, 1);
    let events = sqlx::query(
        "UPDATE plugin_release_events SET component_digest = ?1 \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND component_digest IS NOT NULL",
    )
    .bind(&found)
    .execute(&mut db)
    .await
    .unwrap()
    .rows_affected();
    assert!(events >= 1, "the approval's digest was rewritten too");
    db.close().await.unwrap();

    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_ne!(said(&started), ["started"], "the other plugin's code ran");
    let reason = fallback_reason(&started);
    assert!(
        reason.contains("plugin reads-data version 1.0.0 is refused: the record of its upload by")
            && reason.contains("has a wrong MAC under this host's approval key"),
        "{started:#}"
    );
    let call = server
        .ok(&keys.runtime, Method::GET, "/v1/calls/call-1", None)
        .await;
    assert_eq!(call["live"], false);
    let plugin = server
        .ok(&keys.reviewer, Method::GET, "/v1/plugins/reads-data", None)
        .await;
    let refused = plugin["versions"][0]["refused"]
        .as_str()
        .unwrap_or_default();
    assert!(refused.contains("wrong MAC"), "{plugin:#}");
    server.stop().await;
}

/// As above, for the manifest: an insider adds a grant (the lead's email) to
/// an approved, active version's manifest and rewrites its manifest digest in
/// the upload row and every approval and activation row. After a restart the
/// version is refused for its bad MAC, the call gets the fallback, and the
/// new grant reads nothing.
#[tokio::test]
async fn a_manifest_rewritten_with_every_digest_recorded_for_it_is_refused_after_a_restart() {
    let (dir, keys) = released_probe_data_dir().await;

    let edited = with_email_grant(READS_PHONE);
    let found = ManifestDigest::of(edited.as_bytes()).to_string();
    let rows = edit_database(
        dir.path(),
        "UPDATE plugin_versions SET manifest = ?1, manifest_digest = ?2 \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND version = '1.0.0'",
        &[&edited, &found],
    )
    .await;
    assert_eq!(rows, 1);
    let events = edit_database(
        dir.path(),
        "UPDATE plugin_release_events SET manifest_digest = ?1 \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND manifest_digest IS NOT NULL",
        &[&found],
    )
    .await;
    assert!(events >= 1, "the approval's digest was rewritten too");

    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_ne!(said(&started), ["ready"], "the edited version ran");
    let reason = fallback_reason(&started);
    assert!(
        reason.contains("plugin reads-data version 1.0.0 is refused: the record of its upload by")
            && reason.contains("has a wrong MAC under this host's approval key"),
        "{started:#}"
    );
    let (status, _) = server
        .send(
            Some(&keys.runtime),
            Method::POST,
            "/v1/calls/call-1/events",
            Some(json!({"type": "speech", "text": "get email", "confidence": 0.9, "final": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the refused call is over");
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(
        crate::api::plugin_uses(&audit),
        Vec::<Value>::new(),
        "nothing was read"
    );
    server.stop().await;
}

/// An insider copies the approval and activation records of an approved
/// version (1.0.0) onto an escalated upload no reviewer approved (1.1.0, which
/// adds the lead's email), naming 1.1.0's own digests, so every digest agrees
/// and the model's rules hold. After a restart 1.1.0 is the active version as
/// the records say, but it is refused: the copied approval's MAC names 1.0.0.
/// The call gets the fallback; the email is never read.
#[tokio::test]
async fn an_approval_copied_onto_another_version_is_refused_after_a_restart() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = probe();
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    let escalated =
        with_email_grant(&READS_PHONE.replace("version = \"1.0.0\"", "version = \"1.1.0\""));
    let (status, body) = server.upload(&keys, &escalated, &probe).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let (status, body) = server
        .send(
            Some(&keys.reviewer),
            Method::POST,
            "/v1/plugins/reads-data/versions/1.1.0/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "needs approval: {body:#}");
    ada_with_consent(&server, &keys).await;
    let dir = server.stop().await;

    // Every column of the rows copied (their MACs too, whatever the schema
    // calls them), then the version and the digests changed to 1.1.0's.
    let component = ComponentDigest::of(&probe).to_string();
    let manifest = ManifestDigest::of(escalated.as_bytes()).to_string();
    let mut db = connect(dir.path()).await;
    sqlx::query(
        "CREATE TEMP TABLE copied AS SELECT * FROM plugin_release_events \
         WHERE tenant = 'acme' AND plugin = 'reads-data' AND version = '1.0.0' ORDER BY id",
    )
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE copied SET component_digest = ?1, manifest_digest = ?2 \
         WHERE component_digest IS NOT NULL OR kind = 'approve'",
    )
    .bind(&component)
    .bind(&manifest)
    .execute(&mut db)
    .await
    .unwrap();
    for sql in [
        "UPDATE copied SET id = id + 1000, version = '1.1.0'",
        "INSERT INTO plugin_release_events SELECT * FROM copied ORDER BY id",
    ] {
        sqlx::query(sql).execute(&mut db).await.unwrap();
    }
    let copied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM plugin_release_events WHERE version = '1.1.0'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(copied, 2, "an approval and an activation");
    db.close().await.unwrap();

    let server = Server::start_in(dir).await;
    let plugin = server
        .ok(&keys.reviewer, Method::GET, "/v1/plugins/reads-data", None)
        .await;
    assert_eq!(plugin["active_version"], "1.1.0", "{plugin:#}");
    let refused = plugin["versions"][1]["refused"]
        .as_str()
        .unwrap_or_default();
    assert!(
        refused.starts_with(
            "plugin reads-data version 1.1.0 is refused: the record of its approval by reviewer@acme"
        ) && refused.contains("wrong MAC"),
        "{plugin:#}"
    );
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_ne!(said(&started), ["ready"], "the unapproved version ran");
    let reason = fallback_reason(&started);
    assert!(reason.contains("wrong MAC"), "{started:#}");
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(
        crate::api::plugin_uses(&audit),
        Vec::<Value>::new(),
        "nothing was read"
    );
    server.stop().await;
}

/// The number of upload rows and reviewer decisions without a MAC.
async fn unsigned_records(dir: &Path) -> i64 {
    let mut db = connect(dir).await;
    let count = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM plugin_versions WHERE mac IS NULL) \
              + (SELECT COUNT(*) FROM plugin_release_events WHERE mac IS NULL)",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    count
}

/// An approved version nobody touched keeps running across restarts: every
/// record that binds it is signed when written (none is left without a MAC),
/// and the signatures check under the same key after each restart.
#[tokio::test]
async fn an_untouched_approved_version_runs_after_restarts_with_every_record_signed() {
    let (mut dir, keys) = released_probe_data_dir().await;
    assert_eq!(unsigned_records(dir.path()).await, 0);
    for call in ["call-1", "call-2"] {
        let server = Server::start_in(dir).await;
        let started = server
            .ok(
                &keys.runtime,
                Method::POST,
                "/v1/calls",
                Some(start_call("reads-data", call)),
            )
            .await;
        assert_eq!(said(&started), ["ready"], "{started:#}");
        let plugin = server
            .ok(&keys.reviewer, Method::GET, "/v1/plugins/reads-data", None)
            .await;
        assert!(plugin["versions"][0].get("refused").is_none(), "{plugin:#}");
        dir = server.stop().await;
    }
}

/// The upgrade path: a data directory from before records were signed (no
/// MACs, no `approval.key`) starts, its records are trusted once and signed,
/// and its approved version runs. Once the key exists, a record without a MAC
/// (an insider cleared it, or wrote the row) refuses its version.
#[tokio::test]
async fn records_from_before_the_upgrade_are_signed_once_and_an_unsigned_one_later_is_refused() {
    let (dir, keys) = released_probe_data_dir().await;
    // As the database stands right after migration 0004 on an older host.
    edit_database(dir.path(), "UPDATE plugin_versions SET mac = NULL", &[]).await;
    edit_database(
        dir.path(),
        "UPDATE plugin_release_events SET mac = NULL",
        &[],
    )
    .await;
    std::fs::remove_file(dir.path().join("approval.key")).unwrap();

    let server = Server::start_in(dir).await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.dir.path().join("approval.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-1")),
        )
        .await;
    assert_eq!(said(&started), ["ready"], "trusted at upgrade: {started:#}");
    let dir = server.stop().await;
    assert_eq!(
        unsigned_records(dir.path()).await,
        0,
        "signed at the upgrade"
    );

    // Now the key exists: an approval whose MAC is cleared is not trusted.
    let cleared = edit_database(
        dir.path(),
        "UPDATE plugin_release_events SET mac = NULL WHERE kind = 'approve'",
        &[],
    )
    .await;
    assert_eq!(cleared, 1);
    let server = Server::start_in(dir).await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-2")),
        )
        .await;
    let reason = fallback_reason(&started);
    assert!(
        reason.contains(
            "plugin reads-data version 1.0.0 is refused: the record of its approval by reviewer@acme"
        ) && reason.contains("has no MAC"),
        "{started:#}"
    );
    let dir = server.stop().await;
    assert_eq!(
        unsigned_records(dir.path()).await,
        1,
        "a restart signs nothing"
    );
}

/// A refused upload (a version number uploaded before, with other bytes)
/// compiles nothing: no artifact file appears for the refused bytes.
#[tokio::test]
async fn a_refused_duplicate_upload_leaves_no_artifact() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (component, manifest) = appointment_reminder();
    let (status, body) = server.upload(&keys, &manifest, &component).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let before = artifact_files(server.dir.path());
    assert_eq!(before.len(), 1, "{before:?}");

    // Same manifest (so same name and version), other bytes that fit it.
    let (status, body) = server.upload(&keys, &manifest, &probe()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body:#}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("version 0.1.0 is already uploaded"),
        "{body:#}"
    );
    assert_eq!(artifact_files(server.dir.path()), before);
    server.stop().await;
}

/// A 9 MB manifest (valid TOML: the padding is a comment) is refused at upload
/// and by `cally manifest check`, with the size and the limit named.
#[tokio::test]
async fn a_9_mb_manifest_is_refused_at_upload_and_by_manifest_check() {
    let huge = format!("{READS_PHONE}#{}\n", "x".repeat(9 << 20));
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (status, body) = server.upload(&keys, &huge, &probe()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let text = body.to_string();
    assert!(
        text.contains(&format!("a manifest of {} bytes", huge.len()))
            && text.contains("at most 65536 bytes (64 KiB)"),
        "{body:#}"
    );
    assert!(artifact_files(server.dir.path()).is_empty());
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("cally.toml");
    std::fs::write(&manifest, &huge).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(["manifest", "check"])
        .arg(cally_tests::plugin("reads-data"))
        .arg(&manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at most 65536 bytes (64 KiB)"), "{stderr}");
}

/// `cally serve --demo` as a process on `dir`, once it listens.
fn demo_run(dir: &Path) -> ServeProcess {
    let data_dir = dir.to_str().unwrap();
    ServeProcess::start(["--demo", "--bind", "127.0.0.1:0", "--data-dir", data_dir])
}

async fn api_key_count(dir: &Path) -> i64 {
    let url = format!("sqlite://{}", dir.join("cally.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    count
}

/// A developer uploads an escalated version of a bundled example to the demo
/// tenant, and `cally serve --demo` restarts: the upload stays waiting for a
/// reviewer, since the demo approves only the bundled examples' own bytes.
#[tokio::test]
async fn a_demo_restart_leaves_a_developers_escalated_upload_unapproved() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo_run(dir.path());
    let (component, manifest) = appointment_reminder();
    let escalated = format!(
        "{}\n[[reads]]\nfield = \"phone\"\nreason = \"Reads the number back to confirm it.\"\n",
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
    );
    let body = json!({
        "manifest": escalated,
        "component_base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &component),
    });
    let (status, uploaded) = first
        .send(
            first.demo_key("developer"),
            Method::POST,
            "/v1/plugins",
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded:#}");
    first.stop();

    let again = demo_run(dir.path());
    let (status, plugin) = again
        .send(
            again.demo_key("reviewer"),
            Method::GET,
            "/v1/plugins/appointment-reminder",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plugin["active_version"], "0.1.0", "{plugin:#}");
    let escalated = plugin["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "0.2.0")
        .unwrap();
    assert_eq!(escalated["state"], "uploaded", "{plugin:#}");
    assert!(escalated.get("approved_by").is_none(), "{plugin:#}");
    again.stop();
}

/// `cally serve --demo` restarted twice: each start prints the same four keys,
/// they still work, the number of keys in the database does not grow, and
/// their secrets are kept in a file only the host's user can read.
#[tokio::test]
async fn demo_restarts_print_the_same_working_keys_and_mint_none() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo_run(dir.path());
    assert_eq!(first.demo_keys.len(), 4);
    let keys = first.demo_keys.clone();
    first.stop();
    let count = api_key_count(dir.path()).await;

    for _ in 0..2 {
        let again = demo_run(dir.path());
        assert_eq!(again.demo_keys, keys, "the same keys are printed");
        let (status, _) = again
            .send(again.demo_key("reviewer"), Method::GET, "/v1/plugins", None)
            .await;
        assert_eq!(status, StatusCode::OK, "the printed reviewer key works");
        let (status, _) = again
            .send(
                again.demo_key("runtime"),
                Method::GET,
                "/v1/calls/none",
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "the printed runtime key works"
        );
        again.stop();
        assert_eq!(
            api_key_count(dir.path()).await,
            count,
            "no keys were minted"
        );
    }
    let keys_file = dir.path().join("demo-keys.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&keys_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
