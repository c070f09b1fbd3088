//! SQLite's own guarantees, beyond the conformance suite every backend passes:
//! the file's durability settings, and a hand-edited row named when read.

use super::*;
use crate::store::LeadStore;
use crate::store::conformance::lead;

#[tokio::test]
async fn the_file_is_durable_wal_and_checks_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data")).await.unwrap();
    assert_eq!(store.path(), dir.path().join("data").join(DB_FILE_NAME));
    let mut conn = store.writer.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk, busy), ("wal", 2, 1, 5000));
    drop(conn);

    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    store.close().await;
    // Reopening runs the migrations again (a no-op) and finds the data.
    let reopened = SqliteStore::open(&dir.path().join("data")).await.unwrap();
    assert_eq!(
        reopened
            .lead("acme", "l-1")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Ada Lovelace")
    );
}

#[tokio::test]
async fn a_bad_stored_value_is_named() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
    // The CHECK constraints stop the host itself; drop them to simulate a foreign writer.
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&store.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE leads SET age_status = 'teen'")
        .execute(&store.writer)
        .await
        .unwrap();
    let err = store.lead("acme", "l-1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored leads.age_status of tenant 'acme' lead 'l-1' holds \"teen\": unknown age status 'teen': expected one of adult, minor, unknown"
    );
}
