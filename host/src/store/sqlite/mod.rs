//! The SQLite backend: one file, `<data_dir>/cally.db`, in WAL mode with
//! `synchronous = FULL`, so a commit is on disk when it returns.
//!
//! Erasure erases: every connection runs with `secure_delete = ON`, so the space a
//! deleted or rewritten row leaves (in its page, or a freed page) is overwritten with
//! zeros; after an erasure and a purge the WAL is checkpointed and truncated to zero
//! bytes, so no earlier version of a page survives there either. The database and
//! its `-wal` and `-shm` files are mode 0600 (made so at open if they were not).
//!
//! This file opens and closes the database and holds the helpers every concern
//! shares; each store trait is implemented in its own file: `leads` (with the
//! erasure), `tags`, `outbox`, `calls`, `audit_log` (and `audit_append`, the
//! batched append), `keys`, `plugins` and `retention`.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use super::StoreError;
use crate::consent::ParseError;

mod audit_append;
mod audit_log;
mod calls;
#[cfg(test)]
mod erasure_tests;
mod keys;
mod leads;
mod outbox;
mod plugins;
mod retention;
mod tags;
#[cfg(test)]
mod tests;

/// The store conformance suite on a fresh database file per test, in its own
/// temporary directory: the file store `cally serve` runs (WAL, a separate pool
/// of readers), not the in-memory one.
#[cfg(test)]
mod conformance_tests {
    use std::sync::Arc;

    use super::SqliteStore;
    use crate::store::Store;
    use crate::store::conformance::{Backend, store_conformance};

    struct SqliteFile {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    }

    impl Backend for SqliteFile {
        async fn open(_test: &str) -> Option<Self> {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(dir.path()).await.unwrap();
            Some(SqliteFile { store, _dir: dir })
        }

        fn store(&self) -> Arc<dyn Store> {
            Arc::new(self.store.clone())
        }

        async fn close(self) {
            self.store.close().await;
        }
    }

    store_conformance!(SqliteFile);
}

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "cally.db";

/// How long a statement waits for another connection's (or process's) write lock
/// before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections: reads run in parallel with the writer in WAL mode.
const READ_CONNECTIONS: u32 = 4;

/// The files SQLite keeps beside the database in WAL mode: both can hold copies of
/// rows (the WAL whole pages, the shared memory only an index of them).
const COMPANION_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

/// How many times a WAL truncation is tried when readers keep it busy.
const TRUNCATE_ATTEMPTS: u32 = 5;

/// The embedded migrations (`host/migrations`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite backend of every store trait ([`super::Store`]).
///
/// Writes go through a pool of ONE connection, so this process never competes with
/// itself for SQLite's single write lock (no `SQLITE_BUSY` between our own
/// transactions), and each write transaction starts with `BEGIN IMMEDIATE`, taking the
/// lock up front rather than failing on upgrade when another process writes. Reads use
/// a separate pool of read-only connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one write connection.
    writer: SqlitePool,
    /// Read-only connections (the same pool as `writer` for an in-memory database).
    reader: SqlitePool,
    /// The database file, or `:memory:`.
    path: PathBuf,
    /// Leads' records and consents, read by every personal-data decision.
    leads: std::sync::Arc<super::lead_cache::LeadCache>,
    /// Each tenant's audit chain head as this process last committed it.
    known_heads: std::sync::Arc<audit_append::KnownHeads>,
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/cally.db` and applies the migrations.
    /// Creates `data_dir` if it does not exist.
    /// Creates `data_dir` (mode 0700) if it does not exist. The database and its
    /// `-wal` and `-shm` files are created mode 0600, and made 0600 (with a warning
    /// naming each) if an earlier version left them readable by others.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| StoreError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        let path = data_dir.join(DB_FILE_NAME);
        create_private(&path)?;
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Deleted and rewritten rows are overwritten with zeros, in their page
            // and in freed pages, so an erased lead's old row is not left behind.
            .pragma("secure_delete", "ON");
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode, every commit syncs the WAL, so an audit record is
            // durable before the value it covers is released (NORMAL could lose the
            // last commits on power loss).
            .synchronous(SqliteSynchronous::Full);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // The one connection is ours alone; pinging it before every
            // transaction would cost each one an extra round trip.
            .test_before_acquire(false)
            .min_connections(1)
            .connect_with(write_options)
            .await
            .map_err(open_error)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(base.read_only(true))
            .await
            .map_err(open_error)?;
        tracing::debug!(path = %path.display(), "opened sqlite store");
        Ok(SqliteStore {
            writer,
            reader,
            path,
            leads: Default::default(),
            known_heads: Default::default(),
        })
    }

    /// Opens a fresh in-memory database (for unit tests: nothing is durable).
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        // One connection that is never closed: the database lives as long as it does.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            path,
            leads: Default::default(),
            known_heads: Default::default(),
        })
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for running statements. The readers close
    /// first and the WAL is truncated, so the writer, closing last, leaves no WAL
    /// behind (a read-only connection closing last could not remove it).
    pub async fn close(&self) {
        self.reader.close().await;
        if let Err(error) = self.truncate_wal("closing the database").await {
            tracing::warn!(path = %self.path.display(), %error, "the WAL was not truncated at close");
        }
        self.writer.close().await;
    }

    /// Checkpoints the WAL into the database file and truncates it to zero bytes,
    /// so no earlier version of a page (an erased lead's row, a purged call) is left
    /// in it; `secure_delete` has zeroed the space those versions leave in the
    /// database file. Waits for readers (the busy timeout, a few times) before
    /// giving up with an error naming `after`.
    pub(super) async fn truncate_wal(&self, after: &str) -> Result<(), StoreError> {
        if self.path == Path::new(":memory:") {
            return Ok(());
        }
        let action = format!("truncating the WAL after {after}");
        for _ in 0..TRUNCATE_ATTEMPTS {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer)
                .await
                .map_err(|e| database(action.clone(), e))?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(database(
            action,
            sqlx::Error::Protocol(format!(
                "readers kept the WAL busy {TRUNCATE_ATTEMPTS} times; retry"
            )),
        ))
    }

    /// Starts a write transaction holding the write lock.
    async fn begin(&self, action: &str) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|source| database(format!("starting a transaction for {action}"), source))
    }
}

fn database(action: impl Into<String>, source: sqlx::Error) -> StoreError {
    StoreError::Database {
        action: action.into(),
        source,
    }
}

/// Creates the database file empty with mode 0600 if it does not exist (SQLite
/// gives its `-wal` and `-shm` files the database's mode), and makes it and those
/// files 0600 if they exist readable by others.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let private_error = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Private { path, source }
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(super::OWNER_ONLY)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(private_error(path)(source)),
    }
    super::ensure_owner_only(path).map_err(private_error(path))?;
    for suffix in COMPANION_SUFFIXES {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        super::ensure_owner_only(&companion).map_err(private_error(&companion))?;
    }
    Ok(())
}

/// The host clock, for the submodules.
use crate::clock::now_ms;

/// Reads one column, naming it if the stored type is wrong.
fn get<'r, T>(
    row: &'r SqliteRow,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|source| database(format!("reading {table}.{column}"), source))
}

/// Parses a stored spelling (purpose, channel, ...), naming the row if it is unknown.
fn parse<T: FromStr<Err = ParseError>>(
    table: &'static str,
    column: &'static str,
    row: impl FnOnce() -> String,
    value: String,
) -> Result<T, StoreError> {
    value.parse().map_err(|e: ParseError| StoreError::Corrupt {
        table,
        column,
        row: row(),
        detail: e.to_string(),
        value,
    })
}

fn parse_json(
    table: &'static str,
    column: &'static str,
    row: impl FnOnce() -> String,
    value: String,
) -> Result<Value, StoreError> {
    serde_json::from_str(&value).map_err(|e| StoreError::Corrupt {
        table,
        column,
        row: row(),
        detail: e.to_string(),
        value,
    })
}

fn commit_error(action: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| database(format!("committing {action}"), e)
}
