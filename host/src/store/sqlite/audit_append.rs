//! Appending a batch of audit records, for [`SqliteStore`]'s `AuditStore` implementation.
//!
//! The group-commit writer sends every batch through here, and the batch's commit
//! is what every waiting read is held for, so a batch costs as few round trips to
//! the connection's worker thread as it can. Every record goes in ONE statement,
//! whatever the batch's size: the rows travel as a single JSON array, walked by
//! `jsonb_each` (which hands each row over as JSONB, so its columns are read
//! without parsing text again).
//!
//! Each tenant's chain continues from the head this process last committed,
//! remembered in [`KnownHeads`]. When every tenant of a batch has a known head
//! (the steady state), the whole batch is one round trip: `BEGIN IMMEDIATE`, the
//! inserts, the new heads and `COMMIT` in one script. Otherwise the heads are read
//! inside the batch's transaction first. If another writer moved a chain in
//! between (a second process on the same file), the first record's `(tenant, seq)`
//! key is already taken: the batch rolls back, the heads are read afresh, and the
//! batch is sealed again. A failed batch leaves nothing behind, in the database or
//! in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::sqlite::SqliteConnection;

use super::keys::ensure_tenant_in;
use super::{SqliteStore, database, now_ms};
use crate::audit::{AuditEntry, AuditRecord, GENESIS_HASH};
use crate::store::StoreError;

/// Inserts every record of the JSON array `?1` (rows of the 19 columns, in order)
/// and moves each tenant's head to the `[tenant, last_seq, last_hash]` rows of `?2`.
/// Values are bound, never spliced into the text.
macro_rules! insert_batch_sql {
    () => {
        "\
    INSERT INTO audit_log (tenant, seq, time_ms, plugin, plugin_version, component_digest, \
        call_id, lead, resource, purpose, decision, reason, consent_id, prev_hash, hash, \
        actor_key, actor_role, client_address, operation) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
        value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, \
        value ->> 12, value ->> 13, value ->> 14, value ->> 15, value ->> 16, value ->> 17, \
        value ->> 18 \
    FROM jsonb_each(?1); \
    INSERT INTO audit_heads (tenant, last_seq, last_hash) \
    SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?2) WHERE true \
    ON CONFLICT (tenant) DO UPDATE SET \
        last_seq = excluded.last_seq, last_hash = excluded.last_hash"
    };
}

/// [`insert_batch_sql!`] inside a transaction whose heads were read in it.
const INSERT_BATCH_SQL: &str = insert_batch_sql!();

/// The whole batch as one script: its own transaction, the inserts, the commit.
const ONE_TRIP_SQL: &str = concat!("BEGIN IMMEDIATE; ", insert_batch_sql!(), "; COMMIT");

/// The newest committed record of each tenant's chain, as this process last
/// wrote or read it: the next batch continues from here without reading the
/// database. Only ever a hint: a stale head is caught by the log's primary key.
#[derive(Debug, Default)]
pub(super) struct KnownHeads(Mutex<HashMap<String, (i64, String)>>);

impl KnownHeads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, String)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a batch takes its tenants' heads from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeadSource {
    /// [`KnownHeads`], reading only tenants not seen yet.
    Known,
    /// The database, for every tenant (after a conflict showed the known heads stale).
    Database,
}

/// See [`crate::store::AuditStore::append_audit_batch`].
pub(super) async fn append_batch(
    store: &SqliteStore,
    entries: &[AuditEntry],
) -> Result<Vec<AuditRecord>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    match try_append(store, entries, HeadSource::Known).await {
        Ok(records) => Ok(records),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::Stale(_)) => try_append(store, entries, HeadSource::Database)
            .await
            .map_err(Attempt::into_error),
    }
}

/// Why one attempt at a batch did not commit.
enum Attempt {
    /// A record's `(tenant, seq)` was taken: the heads it started from were stale.
    Stale(StoreError),
    /// Anything else; the batch fails.
    Failed(StoreError),
}

impl Attempt {
    fn into_error(self) -> StoreError {
        match self {
            Attempt::Stale(e) | Attempt::Failed(e) => e,
        }
    }
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Attempt {
        Attempt::Failed(e)
    }
}

async fn try_append(
    store: &SqliteStore,
    entries: &[AuditEntry],
    source: HeadSource,
) -> Result<Vec<AuditRecord>, Attempt> {
    let action = format!("appending {} audit records", entries.len());
    let (mut heads, unknown) = known_heads(store, entries, source);
    if unknown.is_empty() {
        return append_in_one_trip(store, entries, heads, &action).await;
    }
    let mut tx = store.begin(&action).await?;
    read_heads(&mut tx, &unknown, &mut heads).await?;
    let records = seal(entries, &mut heads);
    let outcome = sqlx::query(INSERT_BATCH_SQL)
        .bind(records_json(&records))
        .bind(heads_json(&heads))
        .execute(&mut *tx)
        .await;
    if let Err(e) = outcome {
        return Err(failed(store, &action, &records, e));
    }
    if let Err(e) = tx.commit().await {
        store.known_heads.lock().clear();
        return Err(Attempt::Failed(super::commit_error(action)(e)));
    }
    remember(store, heads);
    Ok(records)
}

/// The steady state: every head known, the batch is one script on the connection.
async fn append_in_one_trip(
    store: &SqliteStore,
    entries: &[AuditEntry],
    mut heads: HashMap<&str, (i64, String)>,
    action: &str,
) -> Result<Vec<AuditRecord>, Attempt> {
    let records = seal(entries, &mut heads);
    let mut conn = store
        .writer
        .acquire()
        .await
        .map_err(|e| database(format!("taking the write connection for {action}"), e))?;
    let outcome = sqlx::query(ONE_TRIP_SQL)
        .bind(records_json(&records))
        .bind(heads_json(&heads))
        .execute(&mut *conn)
        .await;
    if let Err(e) = outcome {
        // Whichever statement failed, the script's transaction must not outlive
        // it. "No transaction is active" (BEGIN failed, or the failed COMMIT
        // already rolled back) is the expected answer; any other leaves the
        // connection in doubt, so it is closed and the pool opens a fresh one.
        if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await
            && !rollback.to_string().contains("no transaction is active")
        {
            tracing::error!(error = %rollback, "cannot roll back a failed audit batch; reopening the write connection");
            conn.close_on_drop();
        }
        return Err(failed(store, action, &records, e));
    }
    remember(store, heads);
    Ok(records)
}

/// Seals `entries` in order, each after its tenant's head, moving the heads.
fn seal(entries: &[AuditEntry], heads: &mut HashMap<&str, (i64, String)>) -> Vec<AuditRecord> {
    entries
        .iter()
        .map(|entry| {
            let head = heads
                .get_mut(entry.tenant.as_str())
                .expect("every tenant of the batch has a starting head");
            let record = AuditRecord::seal(entry, head.0 + 1, &head.1);
            *head = (record.seq, record.hash.clone());
            record
        })
        .collect()
}

/// The error of a batch whose statement failed; the known heads are forgotten.
fn failed(store: &SqliteStore, action: &str, records: &[AuditRecord], e: sqlx::Error) -> Attempt {
    store.known_heads.lock().clear();
    let taken = matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation());
    let first = &records[0];
    let error = database(
        format!(
            "{action} (tenant '{}', from seq {})",
            first.tenant, first.seq
        ),
        e,
    );
    if taken {
        Attempt::Stale(error)
    } else {
        Attempt::Failed(error)
    }
}

/// Records the heads a committed batch left.
fn remember(store: &SqliteStore, heads: HashMap<&str, (i64, String)>) {
    let mut known = store.known_heads.lock();
    for (tenant, head) in heads {
        known.insert(tenant.to_owned(), head);
    }
}

/// The known head of each tenant of the batch, and the tenants whose head is not
/// known (every tenant, when `source` is the database).
fn known_heads<'e>(
    store: &SqliteStore,
    entries: &'e [AuditEntry],
    source: HeadSource,
) -> (HashMap<&'e str, (i64, String)>, Vec<&'e str>) {
    let mut heads: HashMap<&str, (i64, String)> = HashMap::new();
    let mut unknown = Vec::new();
    let known = store.known_heads.lock();
    for entry in entries {
        let tenant = entry.tenant.as_str();
        if heads.contains_key(tenant) || unknown.contains(&tenant) {
            continue;
        }
        match known.get(tenant).filter(|_| source == HeadSource::Known) {
            Some(head) => {
                heads.insert(tenant, head.clone());
            }
            None => unknown.push(tenant),
        }
    }
    (heads, unknown)
}

/// Reads the stored heads of `tenants` inside the batch's transaction (creating a
/// tenant on its first record: its chain starts at the genesis hash).
async fn read_heads<'e>(
    tx: &mut SqliteConnection,
    tenants: &[&'e str],
    heads: &mut HashMap<&'e str, (i64, String)>,
) -> Result<(), StoreError> {
    let now = now_ms();
    for &tenant in tenants {
        let stored: Option<(i64, String)> =
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_heads WHERE tenant = ?1")
                .bind(tenant)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| database(format!("reading the audit head of tenant '{tenant}'"), e))?;
        if stored.is_none() {
            ensure_tenant_in(tx, tenant, now).await?;
        }
        heads.insert(
            tenant,
            stored.unwrap_or_else(|| (0, GENESIS_HASH.to_owned())),
        );
    }
    Ok(())
}

/// The records as one JSON array of rows, columns in [`INSERT_BATCH_SQL`]'s order.
fn records_json(records: &[AuditRecord]) -> String {
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            let actor = r.actor.as_ref();
            Row(
                &r.tenant,
                r.seq,
                r.time_ms,
                &r.plugin,
                &r.plugin_version,
                &r.component_digest,
                &r.call_id,
                r.lead.as_deref(),
                &r.resource,
                &r.purpose,
                &r.decision,
                r.reason.as_deref(),
                r.consent_id,
                &r.prev_hash,
                &r.hash,
                actor.map(|a| a.key_id.as_str()),
                actor.map(|a| a.role.as_str()),
                actor.map(|a| a.address.as_str()),
                actor.map(|a| a.operation.as_str()),
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("audit rows are plain strings and integers")
}

/// One `audit_log` row in column order; a tuple struct, so serde writes it as a
/// JSON array (tuples stop at 16 elements).
#[derive(serde::Serialize)]
struct Row<'r>(
    &'r str,
    i64,
    i64,
    &'r str,
    &'r str,
    &'r str,
    &'r str,
    Option<&'r str>,
    &'r str,
    &'r str,
    &'r str,
    Option<&'r str>,
    Option<i64>,
    &'r str,
    &'r str,
    Option<&'r str>,
    Option<&'r str>,
    Option<&'r str>,
    Option<&'r str>,
);

/// The new heads as one JSON array of `[tenant, last_seq, last_hash]` rows.
fn heads_json(heads: &HashMap<&str, (i64, String)>) -> String {
    let rows: Vec<_> = heads
        .iter()
        .map(|(tenant, (seq, hash))| (tenant, seq, hash))
        .collect();
    serde_json::to_string(&rows).expect("audit heads are plain strings and integers")
}
