//! Erasure and purge as a hostile insider checks them: by reading every byte of
//! every file under the data directory, not through the store; and the files'
//! modes. SQLite's own part of "erasure erases", beside the conformance suite.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;
use crate::store::conformance::{EMAIL, NAME, PHONE, zebulon};
use crate::store::{
    CallStart, CallStore, LeadStore, LeadUpdate, RetentionStore, erased_call_result,
};

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// A call of `lead` (or of no known lead) whose stored result quotes `quote`.
async fn call_quoting(store: &SqliteStore, call_id: &str, lead: Option<&str>, quote: &str) {
    store
        .record_call_start(&CallStart {
            tenant: "acme".into(),
            call_id: call_id.into(),
            plugin: "reads-data".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:00".into(),
            lead_id: lead.map(str::to_owned),
            started_at_ms: 1_000,
        })
        .await
        .unwrap();
    store
        .record_call_end(
            "acme",
            call_id,
            2_000,
            &json!({"actions": [{"say": {"text": format!("Hello {quote}")}}]}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_database_files_are_private_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open(&data).await.unwrap();
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    let db = data.join(DB_FILE_NAME);
    for path in [db.clone(), companion(&db, "-wal"), companion(&db, "-shm")] {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(&data), 0o700);
    store.close().await;

    // As an earlier version left them: readable by every local account.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&data).await.unwrap();
    assert_eq!(mode(&db), 0o600, "made private at open");
    assert!(store.lead("acme", "l-1").await.unwrap().is_some());
    store.close().await;
}

/// After an erasure no byte of the lead's name, phone or email is in any file:
/// not in the WAL (where every earlier version of its row and of its calls'
/// results was written), not in the database's free space. The values are
/// found before the erasure, so the search can fail.
#[tokio::test]
async fn erasure_leaves_no_copy_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    store.upsert_lead(&zebulon("l-2")).await.unwrap();
    for restricted in [true, false, true] {
        let update = LeadUpdate {
            restricted: Some(restricted),
            ..LeadUpdate::default()
        };
        store.update_lead("acme", "l-1", &update).await.unwrap();
    }
    call_quoting(&store, "c-1", Some("l-1"), NAME).await;
    // Another lead's call, and a call of no known lead, quoting l-1's values.
    call_quoting(&store, "c-2", Some("l-2"), "someone else").await;
    call_quoting(&store, "c-3", None, &format!("{EMAIL} {PHONE}")).await;
    for value in [NAME, PHONE, EMAIL] {
        assert!(!files_holding(dir.path(), value).is_empty(), "{value}");
    }
    // l-2 holds the same values: erase it too, or they are rightly still there.
    store.erase_lead("acme", "l-1", 5_000).await.unwrap();
    store.erase_lead("acme", "l-2", 5_000).await.unwrap();
    for value in [NAME, PHONE, EMAIL] {
        assert_eq!(
            files_holding(dir.path(), value),
            Vec::<PathBuf>::new(),
            "{value}"
        );
    }
    let c3 = store.call("acme", "c-3").await.unwrap().unwrap();
    assert_eq!(c3.result, Some(erased_call_result()));
    store.close().await;
    for value in [NAME, PHONE, EMAIL] {
        assert_eq!(
            files_holding(dir.path(), value),
            Vec::<PathBuf>::new(),
            "{value}"
        );
    }
}

/// A purge leaves no copy of the calls it removed in any file.
#[tokio::test]
async fn a_purge_leaves_no_copy_of_the_purged_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store.upsert_lead(&zebulon("l-1")).await.unwrap();
    let quote = "purgeable quote 7c1f";
    call_quoting(&store, "c-1", Some("l-1"), quote).await;
    assert!(!files_holding(dir.path(), quote).is_empty());
    let counts = store.purge_before("acme", Some(3_000), None).await.unwrap();
    assert_eq!(counts.calls, 1);
    assert_eq!(files_holding(dir.path(), quote), Vec::<PathBuf>::new());
    store.close().await;
}
