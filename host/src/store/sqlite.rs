//! The SQLite backend: one file, `<data_dir>/cally.db`, in WAL mode with
//! `synchronous = FULL`, so a commit is on disk when it returns.
//!
//! Erasure erases: every connection runs with `secure_delete = ON`, so the space a
//! deleted or rewritten row leaves (in its page, or a freed page) is overwritten with
//! zeros; after an erasure and a purge the WAL is checkpointed and truncated to zero
//! bytes, so no earlier version of a page survives there either. The database and
//! its `-wal` and `-shm` files are mode 0600 (made so at open if they were not).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use super::{
    ApiKeyRecord, AuditChain, AuditFilter, AuditHead, CallRecord, CallStart, Lead, LeadSnapshot,
    LeadTag, LeadUpdate, MessageStatus, NewConsent, NewMessage, NewTag, OutboxMessage, PurgeCounts,
    ReleaseEvent, RetentionPolicy, Store, StoreError, StoredPluginVersion, UnknownAgeLeads,
    UnsealedReleaseRecords, erased_call_result,
};
use crate::audit::{AuditActor, AuditEntry, AuditRecord};
use crate::consent::{AgeStatus, ConsentRecord, ParseError};

mod audit_append;
mod retention;

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

/// The SQLite backend of [`Store`].
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

/// The shortest value an erasure looks for in other calls' results: a shorter one
/// would match text that has nothing to do with the lead.
const MIN_QUOTED_LEN: usize = 4;

/// How an identifying value can appear in a stored result (JSON text): as itself,
/// and as the inside of a JSON string when escaping changes it.
fn quoted_forms(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut forms = Vec::new();
    for value in values.filter(|v| v.chars().count() >= MIN_QUOTED_LEN) {
        let json = Value::String(value.clone()).to_string();
        let escaped = json[1..json.len() - 1].to_owned();
        if escaped != value {
            forms.push(escaped);
        }
        forms.push(value);
    }
    forms
}

/// The host clock, ms since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

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

fn lead_from_row(row: &SqliteRow) -> Result<Lead, StoreError> {
    let tenant: String = get(row, "leads", "tenant")?;
    let lead_id: String = get(row, "leads", "lead_id")?;
    let which = || format!("tenant '{tenant}' lead '{lead_id}'");
    let age = parse(
        "leads",
        "age_status",
        which,
        get(row, "leads", "age_status")?,
    )?;
    let preferences = match get::<Option<String>>(row, "leads", "preferences")? {
        None => None,
        Some(text) => match parse_json("leads", "preferences", which, text.clone())? {
            Value::Object(map) => Some(map),
            _ => {
                return Err(StoreError::Corrupt {
                    table: "leads",
                    column: "preferences",
                    row: which(),
                    value: text,
                    detail: "not a JSON object".into(),
                });
            }
        },
    };
    Ok(Lead {
        name: get(row, "leads", "name")?,
        phone: get(row, "leads", "phone")?,
        email: get(row, "leads", "email")?,
        location: get(row, "leads", "location")?,
        language: get(row, "leads", "language")?,
        preferences,
        age,
        restricted: get(row, "leads", "restricted")?,
        erased_at_ms: get(row, "leads", "erased_at_ms")?,
        created_at_ms: get(row, "leads", "created_at_ms")?,
        updated_at_ms: get(row, "leads", "updated_at_ms")?,
        tenant,
        lead_id,
    })
}

fn consent_from_row(row: &SqliteRow) -> Result<ConsentRecord, StoreError> {
    let id: i64 = get(row, "consents", "id")?;
    let which = || format!("consent {id}");
    let channel = match get::<Option<String>>(row, "consents", "channel")? {
        None => None,
        Some(text) => Some(parse("consents", "channel", which, text)?),
    };
    Ok(ConsentRecord {
        id,
        tenant: get(row, "consents", "tenant")?,
        lead: get(row, "consents", "lead_id")?,
        purpose: parse(
            "consents",
            "purpose",
            which,
            get(row, "consents", "purpose")?,
        )?,
        channel,
        granted_at_ms: get(row, "consents", "granted_at_ms")?,
        expires_at_ms: get(row, "consents", "expires_at_ms")?,
        withdrawn_at_ms: get(row, "consents", "withdrawn_at_ms")?,
        source: get(row, "consents", "source")?,
        evidence: get(row, "consents", "evidence")?,
        parental: get(row, "consents", "parental")?,
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        tenant: get(row, "audit_log", "tenant")?,
        seq: get(row, "audit_log", "seq")?,
        time_ms: get(row, "audit_log", "time_ms")?,
        plugin: get(row, "audit_log", "plugin")?,
        plugin_version: get(row, "audit_log", "plugin_version")?,
        component_digest: get(row, "audit_log", "component_digest")?,
        call_id: get(row, "audit_log", "call_id")?,
        lead: get(row, "audit_log", "lead")?,
        resource: get(row, "audit_log", "resource")?,
        purpose: get(row, "audit_log", "purpose")?,
        decision: get(row, "audit_log", "decision")?,
        reason: get(row, "audit_log", "reason")?,
        consent_id: get(row, "audit_log", "consent_id")?,
        prev_hash: get(row, "audit_log", "prev_hash")?,
        hash: get(row, "audit_log", "hash")?,
        actor: audit_actor_from_row(row)?,
    })
}

/// The actor of a person's record: all four columns set, or all four NULL (a
/// plugin's use). Anything between was edited by hand and is refused.
fn audit_actor_from_row(row: &SqliteRow) -> Result<Option<AuditActor>, StoreError> {
    let key_id: Option<String> = get(row, "audit_log", "actor_key")?;
    let role: Option<String> = get(row, "audit_log", "actor_role")?;
    let address: Option<String> = get(row, "audit_log", "client_address")?;
    let operation: Option<String> = get(row, "audit_log", "operation")?;
    match (key_id, role, address, operation) {
        (None, None, None, None) => Ok(None),
        (Some(key_id), Some(role), Some(address), Some(operation)) => Ok(Some(AuditActor {
            key_id,
            role,
            address,
            operation,
        })),
        (key_id, ..) => Err(StoreError::Corrupt {
            table: "audit_log",
            column: "actor_key",
            row: format!(
                "tenant '{}' seq {}",
                get::<String>(row, "audit_log", "tenant")?,
                get::<i64>(row, "audit_log", "seq")?
            ),
            value: key_id.unwrap_or_default(),
            detail: "a person's record sets actor_key, actor_role, client_address and operation together".into(),
        }),
    }
}

/// Erases a lead inside the caller's transaction `conn` (see
/// [`Store::erase_lead`]): clears its personal fields, deletes its tags, strips
/// and cancels its messages, and replaces the stored results of its calls and of
/// any call quoting its name, phone or email. The caller commits, then truncates
/// the WAL so no old copy is left.
async fn erase_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
    at_ms: i64,
    action: &str,
) -> Result<(), StoreError> {
    let fail = |e: sqlx::Error| database(action, e);
    // The identifying values, read before they are cleared, to find other calls'
    // results that quote them.
    let values: Option<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT name, phone, email FROM leads WHERE tenant = ?1 AND lead_id = ?2")
            .bind(tenant)
            .bind(lead_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(fail)?;
    let Some((name, phone, email)) = values else {
        return Err(StoreError::UnknownLead {
            tenant: tenant.into(),
            lead: lead_id.into(),
        });
    };
    sqlx::query(
        "UPDATE leads SET name = NULL, phone = NULL, email = NULL, location = NULL, \
                 language = NULL, preferences = NULL, \
                 erased_at_ms = COALESCE(erased_at_ms, ?3), updated_at_ms = ?3 \
             WHERE tenant = ?1 AND lead_id = ?2",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(at_ms)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    sqlx::query("DELETE FROM lead_tags WHERE tenant = ?1 AND lead_id = ?2")
        .bind(tenant)
        .bind(lead_id)
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    sqlx::query(
        "UPDATE message_outbox SET params = NULL, address = NULL, updated_at_ms = ?3, \
                 status = CASE status WHEN 'queued' THEN 'cancelled' ELSE status END \
             WHERE tenant = ?1 AND lead_id = ?2",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(at_ms)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    let note = erased_call_result().to_string();
    sqlx::query(
        "UPDATE calls SET result = ?3 \
             WHERE tenant = ?1 AND lead_id = ?2 AND result IS NOT NULL",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(&note)
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    for quoted in quoted_forms([name, phone, email].into_iter().flatten()) {
        sqlx::query(
            "UPDATE calls SET result = ?2 \
                 WHERE tenant = ?1 AND result IS NOT NULL AND instr(result, ?3) > 0",
        )
        .bind(tenant)
        .bind(&note)
        .bind(quoted)
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    }
    Ok(())
}

/// Whether the lead has a verifiable parental consent in force at `now_ms`
/// (granted, neither withdrawn nor expired), read inside `conn`'s transaction.
async fn has_parental_consent_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
    now_ms: i64,
    action: &str,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consents WHERE tenant = ?1 AND lead_id = ?2 \
             AND parental = 1 AND granted_at_ms <= ?3 \
             AND (withdrawn_at_ms IS NULL OR withdrawn_at_ms > ?3) \
             AND (expires_at_ms IS NULL OR expires_at_ms > ?3))",
    )
    .bind(tenant)
    .bind(lead_id)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| database(action, e))
}

async fn ensure_tenant_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenants (id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(tenant)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
    Ok(())
}

/// Fails unless the tenant has the lead and it is not erased.
async fn require_live_lead(
    conn: &mut SqliteConnection,
    tenant: &str,
    lead_id: &str,
) -> Result<(), StoreError> {
    let erased: Option<Option<i64>> =
        sqlx::query_scalar("SELECT erased_at_ms FROM leads WHERE tenant = ?1 AND lead_id = ?2")
            .bind(tenant)
            .bind(lead_id)
            .fetch_optional(conn)
            .await
            .map_err(|e| {
                database(
                    format!("looking up lead '{lead_id}' of tenant '{tenant}'"),
                    e,
                )
            })?;
    match erased {
        None => Err(StoreError::UnknownLead {
            tenant: tenant.into(),
            lead: lead_id.into(),
        }),
        Some(Some(_)) => Err(StoreError::LeadErased {
            tenant: tenant.into(),
            lead: lead_id.into(),
        }),
        Some(None) => Ok(()),
    }
}

async fn consent_by_id(
    conn: &mut SqliteConnection,
    tenant: &str,
    id: i64,
) -> Result<ConsentRecord, StoreError> {
    let row = sqlx::query(
        "SELECT id, tenant, lead_id, purpose, channel, granted_at_ms, expires_at_ms, \
         withdrawn_at_ms, source, evidence, parental FROM consents WHERE tenant = ?1 AND id = ?2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| database(format!("reading consent {id} of tenant '{tenant}'"), e))?
    .ok_or_else(|| StoreError::NotFound {
        tenant: tenant.into(),
        what: format!("consent {id}"),
    })?;
    consent_from_row(&row)
}

fn commit_error(action: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| database(format!("committing {action}"), e)
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn ensure_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
        ensure_tenant_in(&mut conn, tenant, now_ms()).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn lead(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError> {
        if let Some(lead) = self.leads.lead(tenant, lead_id) {
            return Ok(lead);
        }
        let ticket = self.leads.ticket();
        let lead = self.lead_uncached(tenant, lead_id).await?;
        self.leads.put_lead(tenant, lead_id, ticket, &lead);
        Ok(lead)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn erase_lead(&self, tenant: &str, lead_id: &str, at_ms: i64) -> Result<(), StoreError> {
        let erased = self.erase_lead_uncached(tenant, lead_id, at_ms).await;
        self.leads.invalidate(tenant, lead_id);
        erased
    }

    async fn upsert_lead(&self, lead: &Lead) -> Result<(), StoreError> {
        let written = self.upsert_lead_uncached(lead).await;
        self.leads.invalidate(&lead.tenant, &lead.lead_id);
        written
    }

    async fn update_lead(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError> {
        let written = self.update_lead_uncached(tenant, lead_id, update).await;
        self.leads.invalidate(tenant, lead_id);
        written
    }

    async fn grant_consent(&self, consent: &NewConsent) -> Result<ConsentRecord, StoreError> {
        let granted = self.grant_consent_uncached(consent).await;
        self.leads.invalidate(&consent.tenant, &consent.lead_id);
        granted
    }

    async fn withdraw_consent(
        &self,
        tenant: &str,
        consent_id: i64,
        at_ms: i64,
    ) -> Result<ConsentRecord, StoreError> {
        let withdrawn = self
            .withdraw_consent_uncached(tenant, consent_id, at_ms)
            .await?;
        self.leads.invalidate(tenant, &withdrawn.lead);
        Ok(withdrawn)
    }

    async fn consents(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        if let Some(consents) = self.leads.consents(tenant, lead_id) {
            return Ok(consents);
        }
        let ticket = self.leads.ticket();
        let consents = self.consents_uncached(tenant, lead_id).await?;
        self.leads.put_consents(tenant, lead_id, ticket, &consents);
        Ok(consents)
    }

    async fn lead_snapshot(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<std::sync::Arc<LeadSnapshot>, StoreError> {
        if let Some(snapshot) = self.leads.snapshot(tenant, lead_id) {
            return Ok(snapshot);
        }
        let ticket = self.leads.ticket();
        let snapshot = std::sync::Arc::new(LeadSnapshot {
            lead: self.lead_uncached(tenant, lead_id).await?,
            consents: self.consents_uncached(tenant, lead_id).await?,
        });
        self.leads.put_snapshot(tenant, lead_id, ticket, &snapshot);
        Ok(snapshot)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tag.tenant, call_id = %tag.call_id), err(level = "debug"))]
    async fn insert_tag(&self, tag: &NewTag) -> Result<i64, StoreError> {
        let action = format!("tagging lead '{}' of tenant '{}'", tag.lead_id, tag.tenant);
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &tag.tenant, &tag.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO lead_tags (tenant, lead_id, tag, call_id, plugin, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(&tag.tenant)
        .bind(&tag.lead_id)
        .bind(&tag.tag)
        .bind(&tag.call_id)
        .bind(&tag.plugin)
        .bind(tag.created_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn lead_tags(&self, tenant: &str, lead_id: &str) -> Result<Vec<LeadTag>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, tag, call_id, plugin, created_at_ms FROM lead_tags \
             WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading tags of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(LeadTag {
                    id: get(row, "lead_tags", "id")?,
                    tenant: get(row, "lead_tags", "tenant")?,
                    lead_id: get(row, "lead_tags", "lead_id")?,
                    tag: get(row, "lead_tags", "tag")?,
                    call_id: get(row, "lead_tags", "call_id")?,
                    plugin: get(row, "lead_tags", "plugin")?,
                    created_at_ms: get(row, "lead_tags", "created_at_ms")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %message.tenant, call_id = %message.call_id, channel = %message.channel), err(level = "debug"))]
    async fn enqueue_message(&self, message: &NewMessage) -> Result<i64, StoreError> {
        let action = format!(
            "queueing a {} message for lead '{}' of tenant '{}'",
            message.channel, message.lead_id, message.tenant
        );
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &message.tenant, &message.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO message_outbox (tenant, lead_id, channel, template, params, call_id, \
                 status, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7) RETURNING id",
        )
        .bind(&message.tenant)
        .bind(&message.lead_id)
        .bind(message.channel.as_str())
        .bind(&message.template)
        .bind(message.params.to_string())
        .bind(&message.call_id)
        .bind(message.created_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, message_id = message_id), err(level = "debug"))]
    async fn set_message_status(
        &self,
        tenant: &str,
        message_id: i64,
        status: MessageStatus,
        address: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE message_outbox SET status = ?3, address = COALESCE(?4, address), \
                 updated_at_ms = ?5 WHERE tenant = ?1 AND id = ?2",
        )
        .bind(tenant)
        .bind(message_id)
        .bind(status.as_str())
        .bind(address)
        .bind(at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!("updating message {message_id} of tenant '{tenant}'"),
                e,
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                tenant: tenant.into(),
                what: format!("message {message_id}"),
            });
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn outbox(&self, tenant: &str, lead_id: &str) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, channel, template, params, call_id, status, address, \
                 created_at_ms, updated_at_ms \
             FROM message_outbox WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading messages of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter()
            .map(|row| {
                let id: i64 = get(row, "message_outbox", "id")?;
                let which = || format!("message {id}");
                let params = match get::<Option<String>>(row, "message_outbox", "params")? {
                    None => None,
                    Some(text) => Some(parse_json("message_outbox", "params", which, text)?),
                };
                Ok(OutboxMessage {
                    id,
                    tenant: get(row, "message_outbox", "tenant")?,
                    lead_id: get(row, "message_outbox", "lead_id")?,
                    channel: parse(
                        "message_outbox",
                        "channel",
                        which,
                        get(row, "message_outbox", "channel")?,
                    )?,
                    template: get(row, "message_outbox", "template")?,
                    params,
                    call_id: get(row, "message_outbox", "call_id")?,
                    status: parse(
                        "message_outbox",
                        "status",
                        which,
                        get(row, "message_outbox", "status")?,
                    )?,
                    address: get(row, "message_outbox", "address")?,
                    created_at_ms: get(row, "message_outbox", "created_at_ms")?,
                    updated_at_ms: get(row, "message_outbox", "updated_at_ms")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %call.tenant, call_id = %call.call_id), err(level = "debug"))]
    async fn record_call_start(&self, call: &CallStart) -> Result<(), StoreError> {
        let action = format!(
            "recording the start of call '{}' of tenant '{}'",
            call.call_id, call.tenant
        );
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &call.tenant, now_ms()).await?;
        sqlx::query(
            "INSERT INTO calls (tenant, call_id, plugin, plugin_version, component_digest, \
                 lead_id, started_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&call.tenant)
        .bind(&call.call_id)
        .bind(&call.plugin)
        .bind(&call.plugin_version)
        .bind(&call.component_digest)
        .bind(&call.lead_id)
        .bind(call.started_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, call_id = %call_id), err(level = "debug"))]
    async fn record_call_end(
        &self,
        tenant: &str,
        call_id: &str,
        ended_at_ms: i64,
        result: &Value,
    ) -> Result<(), StoreError> {
        // Whether the lead was erased is decided in the write itself, so an erasure
        // committed while the call ended cannot be followed by the call's result.
        let done = sqlx::query(
            "UPDATE calls SET ended_at_ms = ?3, result = CASE WHEN EXISTS ( \
                 SELECT 1 FROM leads WHERE leads.tenant = calls.tenant \
                 AND leads.lead_id = calls.lead_id AND leads.erased_at_ms IS NOT NULL) \
                 THEN ?5 ELSE ?4 END \
             WHERE tenant = ?1 AND call_id = ?2",
        )
        .bind(tenant)
        .bind(call_id)
        .bind(ended_at_ms)
        .bind(result.to_string())
        .bind(erased_call_result().to_string())
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!("recording the end of call '{call_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                tenant: tenant.into(),
                what: format!("call '{call_id}'"),
            });
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, call_id = %call_id), err(level = "debug"))]
    async fn call(&self, tenant: &str, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, call_id, plugin, plugin_version, component_digest, lead_id, \
                 started_at_ms, ended_at_ms, result FROM calls WHERE tenant = ?1 AND call_id = ?2",
        )
        .bind(tenant)
        .bind(call_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database(format!("reading call '{call_id}' of tenant '{tenant}'"), e))?;
        let Some(row) = row else { return Ok(None) };
        let which = || format!("call '{call_id}' of tenant '{tenant}'");
        let result = match get::<Option<String>>(&row, "calls", "result")? {
            None => None,
            Some(text) => Some(parse_json("calls", "result", which, text)?),
        };
        Ok(Some(CallRecord {
            tenant: get(&row, "calls", "tenant")?,
            call_id: get(&row, "calls", "call_id")?,
            plugin: get(&row, "calls", "plugin")?,
            plugin_version: get(&row, "calls", "plugin_version")?,
            component_digest: get(&row, "calls", "component_digest")?,
            lead_id: get(&row, "calls", "lead_id")?,
            started_at_ms: get(&row, "calls", "started_at_ms")?,
            ended_at_ms: get(&row, "calls", "ended_at_ms")?,
            result,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(records = entries.len()), err(level = "debug"))]
    async fn append_audit_batch(
        &self,
        entries: &[AuditEntry],
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit_append::append_batch(self, entries).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_records(
        &self,
        tenant: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, seq, time_ms, plugin, plugin_version, component_digest, call_id, \
                 lead, resource, purpose, decision, reason, consent_id, prev_hash, hash, \
                 actor_key, actor_role, client_address, operation \
             FROM audit_log \
             WHERE tenant = ?1 AND (?2 IS NULL OR lead = ?2) \
               AND (?3 IS NULL OR time_ms >= ?3) AND (?4 IS NULL OR time_ms < ?4) \
               AND (?5 IS NULL OR actor_key = ?5) \
             ORDER BY seq",
        )
        .bind(tenant)
        .bind(&filter.lead)
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(&filter.actor)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("reading audit records of tenant '{tenant}'"), e))?;
        rows.iter().map(audit_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_chain(&self, tenant: &str) -> Result<AuditChain, StoreError> {
        let action = || format!("reading the audit chain of tenant '{tenant}'");
        // A read transaction: WAL gives it one snapshot for both statements.
        let mut tx = self
            .reader
            .begin()
            .await
            .map_err(|e| database(action(), e))?;
        let rows = sqlx::query(
            "SELECT tenant, seq, time_ms, plugin, plugin_version, component_digest, call_id, \
                 lead, resource, purpose, decision, reason, consent_id, prev_hash, hash, \
                 actor_key, actor_role, client_address, operation \
             FROM audit_log WHERE tenant = ?1 ORDER BY seq",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| database(action(), e))?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_heads WHERE tenant = ?1")
                .bind(tenant)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| database(action(), e))?;
        tx.commit().await.map_err(|e| database(action(), e))?;
        Ok(AuditChain {
            records: rows.iter().map(audit_from_row).collect::<Result<_, _>>()?,
            head: head.map(|(last_seq, last_hash)| AuditHead {
                tenant: tenant.to_owned(),
                last_seq,
                last_hash,
            }),
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn audit_head(&self, tenant: &str) -> Result<Option<AuditHead>, StoreError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_heads WHERE tenant = ?1")
                .bind(tenant)
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| database(format!("reading the audit head of tenant '{tenant}'"), e))?;
        Ok(head.map(|(last_seq, last_hash)| AuditHead {
            tenant: tenant.to_owned(),
            last_seq,
            last_hash,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT tenant FROM audit_heads UNION SELECT DISTINCT tenant FROM audit_log ORDER BY 1",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database("listing audit tenants", e))
    }
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn create_tenant(&self, tenant: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tenants (id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(tenant)
        .bind(at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| database(format!("creating tenant '{tenant}'"), e))?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(role = %key.role), err(level = "debug"))]
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_hash, tenant, role, label, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&key.key_hash)
        .bind(&key.tenant)
        .bind(&key.role)
        .bind(&key.label)
        .bind(key.created_at_ms)
        .execute(&self.writer)
        .await
        .map_err(|e| database(format!("storing a {} key", key.role), e))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, tenant, role, label, created_at_ms FROM api_keys WHERE key_hash = ?1",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database("looking up an API key", e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            key_hash: get(&row, "api_keys", "key_hash")?,
            tenant: get(&row, "api_keys", "tenant")?,
            role: get(&row, "api_keys", "role")?,
            label: get(&row, "api_keys", "label")?,
            created_at_ms: get(&row, "api_keys", "created_at_ms")?,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_hash, tenant, role, label, created_at_ms FROM api_keys \
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at_ms, key_hash",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database("listing API keys", e))?;
        rows.iter()
            .map(|row| {
                Ok(ApiKeyRecord {
                    key_hash: get(row, "api_keys", "key_hash")?,
                    tenant: get(row, "api_keys", "tenant")?,
                    role: get(row, "api_keys", "role")?,
                    label: get(row, "api_keys", "label")?,
                    created_at_ms: get(row, "api_keys", "created_at_ms")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn delete_api_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE key_hash = ?1")
            .bind(key_hash)
            .execute(&self.writer)
            .await
            .map_err(|e| database("revoking an API key", e))?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn has_platform_admin_key(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'platform-admin')")
            .fetch_one(&self.reader)
            .await
            .map_err(|e| database("looking for a platform admin key", e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn leads(&self, tenant: &str) -> Result<Vec<Lead>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 ORDER BY lead_id",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("listing the leads of tenant '{tenant}'"), e))?;
        rows.iter().map(lead_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %version.tenant, plugin = %version.plugin), err(level = "debug"))]
    async fn insert_plugin_version(&self, version: &StoredPluginVersion) -> Result<(), StoreError> {
        let action = format!(
            "storing plugin '{}' version {} of tenant '{}'",
            version.plugin, version.version, version.tenant
        );
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &version.tenant, now_ms()).await?;
        let done = sqlx::query(
            "INSERT INTO plugin_versions (tenant, plugin, version, world, component, manifest, \
                 component_digest, manifest_digest, uploaded_by, uploaded_at_ms, mac) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (tenant, plugin, version) DO NOTHING",
        )
        .bind(&version.tenant)
        .bind(&version.plugin)
        .bind(&version.version)
        .bind(&version.world)
        .bind(&version.component)
        .bind(&version.manifest)
        .bind(&version.component_digest)
        .bind(&version.manifest_digest)
        .bind(&version.uploaded_by)
        .bind(version.uploaded_at_ms)
        .bind(&version.mac)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                tenant: version.tenant.clone(),
                what: format!("plugin '{}' version {}", version.plugin, version.version),
            });
        }
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, plugin = %plugin), err(level = "debug"))]
    async fn plugin_versions(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<StoredPluginVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, plugin, version, world, component, manifest, component_digest, \
                 manifest_digest, uploaded_by, uploaded_at_ms, mac \
             FROM plugin_versions WHERE tenant = ?1 AND plugin = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(plugin)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("reading plugin '{plugin}' of tenant '{tenant}'"), e))?;
        rows.iter()
            .map(|row| plugin_version_from_row(row, true))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn plugin_names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT DISTINCT plugin FROM plugin_versions WHERE tenant = ?1 ORDER BY plugin",
        )
        .bind(tenant)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(format!("listing the plugins of tenant '{tenant}'"), e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, leads = leads.len()), err(level = "debug"))]
    async fn insert_leads(&self, tenant: &str, leads: &[Lead]) -> Result<Vec<String>, StoreError> {
        let action = format!("importing {} leads of tenant '{tenant}'", leads.len());
        let now = now_ms();
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, tenant, now).await?;
        let mut erased = Vec::new();
        for lead in leads {
            let done = sqlx::query(
                "INSERT INTO leads (tenant, lead_id, name, phone, email, location, language, \
                     preferences, age_status, restricted, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
                 ON CONFLICT (tenant, lead_id) DO NOTHING",
            )
            .bind_lead(tenant, lead, now)
            .execute(&mut *tx)
            .await
            .map_err(|e| database(action.clone(), e))?;
            if done.rows_affected() == 0 {
                // Dropping the transaction rolls every earlier row of the batch back.
                return Err(StoreError::Conflict {
                    tenant: tenant.to_owned(),
                    what: format!("lead '{}'", lead.lead_id),
                });
            }
            // A minor with no parental consent in force (a new lead has none) is
            // erased in this same transaction.
            if lead.age == AgeStatus::Minor
                && !has_parental_consent_in(&mut tx, tenant, &lead.lead_id, now, &action).await?
            {
                erase_in(&mut tx, tenant, &lead.lead_id, now, &action).await?;
                erased.push(lead.lead_id.clone());
            }
        }
        tx.commit().await.map_err(commit_error(action.clone()))?;
        for lead in leads {
            // A decision may have cached "no such lead" before the import.
            self.leads.invalidate(tenant, &lead.lead_id);
        }
        if !erased.is_empty() {
            self.truncate_wal(&format!(
                "{action}, which erased {} minors' data (erase those leads again to remove the old copies)",
                erased.len()
            ))
            .await?;
        }
        Ok(erased)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %event.tenant, plugin = %event.plugin), err(level = "debug"))]
    async fn append_release_event(&self, event: &ReleaseEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plugin_release_events (tenant, plugin, kind, version, actor, \
                 component_digest, manifest_digest, at_ms, mac) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&event.tenant)
        .bind(&event.plugin)
        .bind(event.kind.as_str())
        .bind(&event.version)
        .bind(&event.actor)
        .bind(&event.component_digest)
        .bind(&event.manifest_digest)
        .bind(event.at_ms)
        .bind(&event.mac)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            database(
                format!(
                    "recording {} of plugin '{}' of tenant '{}'",
                    event.kind.as_str(),
                    event.plugin,
                    event.tenant
                ),
                e,
            )
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, plugin = %plugin), err(level = "debug"))]
    async fn release_events(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Vec<ReleaseEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, plugin, kind, version, actor, component_digest, manifest_digest, \
                 at_ms, mac FROM plugin_release_events WHERE tenant = ?1 AND plugin = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(plugin)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading the releases of plugin '{plugin}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter().map(release_event_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
    async fn unsealed_release_records(&self) -> Result<UnsealedReleaseRecords, StoreError> {
        let action = || "reading the release records that have no MAC".to_owned();
        let uploads = sqlx::query(
            "SELECT id, tenant, plugin, version, world, X'' AS component, manifest, \
                 component_digest, manifest_digest, uploaded_by, uploaded_at_ms, mac \
             FROM plugin_versions WHERE mac IS NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        let events = sqlx::query(
            "SELECT id, tenant, plugin, kind, version, actor, component_digest, manifest_digest, \
                 at_ms, mac FROM plugin_release_events WHERE mac IS NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        let sealed: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM plugin_versions WHERE mac IS NOT NULL) \
                  + (SELECT COUNT(*) FROM plugin_release_events WHERE mac IS NOT NULL)",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(|e| database(action(), e))?;
        Ok(UnsealedReleaseRecords {
            uploads: uploads
                .iter()
                .map(|row| {
                    Ok((
                        get(row, "plugin_versions", "id")?,
                        plugin_version_from_row(row, false)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            events: events
                .iter()
                .map(|row| {
                    Ok((
                        get(row, "plugin_release_events", "id")?,
                        release_event_from_row(row)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
            sealed: sealed as u64,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(uploads = uploads.len(), events = events.len()), err(level = "debug"))]
    async fn seal_release_records(
        &self,
        uploads: &[(i64, String)],
        events: &[(i64, String)],
    ) -> Result<u64, StoreError> {
        let action = "signing the release records written before records were signed".to_owned();
        let mut tx = self.begin(&action).await?;
        let mut sealed = 0;
        for (sql, rows) in [
            (
                "UPDATE plugin_versions SET mac = ?2 WHERE id = ?1 AND mac IS NULL",
                uploads,
            ),
            (
                "UPDATE plugin_release_events SET mac = ?2 WHERE id = ?1 AND mac IS NULL",
                events,
            ),
        ] {
            for (id, mac) in rows {
                sealed += sqlx::query(sql)
                    .bind(id)
                    .bind(mac)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| database(action.clone(), e))?
                    .rows_affected();
            }
        }
        tx.commit().await.map_err(commit_error(action))?;
        Ok(sealed)
    }

    async fn set_retention_policy(&self, policy: &RetentionPolicy) -> Result<(), StoreError> {
        retention::set_policy(self, policy).await
    }

    async fn retention_policy(&self, tenant: &str) -> Result<Option<RetentionPolicy>, StoreError> {
        retention::policy(self, tenant).await
    }

    async fn retention_policies(&self) -> Result<Vec<RetentionPolicy>, StoreError> {
        retention::policies(self).await
    }

    async fn purge_before(
        &self,
        tenant: &str,
        calls_before_ms: Option<i64>,
        messages_before_ms: Option<i64>,
    ) -> Result<PurgeCounts, StoreError> {
        retention::purge_before(self, tenant, calls_before_ms, messages_before_ms).await
    }

    async fn unknown_age_leads(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<UnknownAgeLeads, StoreError> {
        retention::unknown_age_leads(self, tenant, limit).await
    }
}

/// The database reads and writes behind the lead cache; `Store` wraps them.
impl SqliteStore {
    async fn lead_uncached(&self, tenant: &str, lead_id: &str) -> Result<Option<Lead>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 AND lead_id = ?2",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| database(format!("reading lead '{lead_id}' of tenant '{tenant}'"), e))?;
        row.as_ref().map(lead_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %lead.tenant), err(level = "debug"))]
    async fn upsert_lead_uncached(&self, lead: &Lead) -> Result<(), StoreError> {
        let action = format!(
            "writing lead '{}' of tenant '{}'",
            lead.lead_id, lead.tenant
        );
        let now = now_ms();
        let mut tx = self.begin(&action).await?;
        ensure_tenant_in(&mut tx, &lead.tenant, now).await?;
        // The WHERE makes the update a no-op on an erased lead: it is never revived.
        let done = sqlx::query(
            "INSERT INTO leads (tenant, lead_id, name, phone, email, location, language, \
                 preferences, age_status, restricted, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
             ON CONFLICT (tenant, lead_id) DO UPDATE SET \
                 name = excluded.name, phone = excluded.phone, email = excluded.email, \
                 location = excluded.location, language = excluded.language, \
                 preferences = excluded.preferences, age_status = excluded.age_status, \
                 restricted = excluded.restricted, updated_at_ms = excluded.updated_at_ms \
             WHERE leads.erased_at_ms IS NULL",
        )
        .bind_lead(&lead.tenant, lead, now)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::LeadErased {
                tenant: lead.tenant.clone(),
                lead: lead.lead_id.clone(),
            });
        }
        tx.commit().await.map_err(commit_error(action))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn update_lead_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
        update: &LeadUpdate,
    ) -> Result<Lead, StoreError> {
        let action = format!("updating lead '{lead_id}' of tenant '{tenant}'");
        let preferences = update
            .preferences
            .as_ref()
            .map(|p| p.as_ref().map(|map| Value::Object(map.clone()).to_string()));
        // One statement over the stored row: a column the update does not name keeps
        // whatever is stored when it runs, never a value read before.
        const UPDATE_LEAD: &str = "UPDATE leads SET \
                 name = CASE WHEN ?3 THEN ?4 ELSE name END, \
                 phone = CASE WHEN ?5 THEN ?6 ELSE phone END, \
                 email = CASE WHEN ?7 THEN ?8 ELSE email END, \
                 location = CASE WHEN ?9 THEN ?10 ELSE location END, \
                 language = CASE WHEN ?11 THEN ?12 ELSE language END, \
                 preferences = CASE WHEN ?13 THEN ?14 ELSE preferences END, \
                 age_status = COALESCE(?15, age_status), \
                 restricted = COALESCE(?16, restricted), \
                 updated_at_ms = ?17 \
             WHERE tenant = ?1 AND lead_id = ?2 AND erased_at_ms IS NULL \
             RETURNING tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms";
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query(UPDATE_LEAD)
            .bind(tenant)
            .bind(lead_id)
            .bind(update.name.is_some())
            .bind(update.name.clone().flatten())
            .bind(update.phone.is_some())
            .bind(update.phone.clone().flatten())
            .bind(update.email.is_some())
            .bind(update.email.clone().flatten())
            .bind(update.location.is_some())
            .bind(update.location.clone().flatten())
            .bind(update.language.is_some())
            .bind(update.language.clone().flatten())
            .bind(preferences.is_some())
            .bind(preferences.flatten())
            .bind(update.age.map(|age| age.as_str()))
            .bind(update.restricted)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| database(action.clone(), e))?;
        let Some(row) = row else {
            // Nothing written: say why (no such lead, or an erased one).
            require_live_lead(&mut tx, tenant, lead_id).await?;
            return Err(database(
                action,
                sqlx::Error::Protocol("the lead is live but the update changed no row".into()),
            ));
        };
        let mut lead = lead_from_row(&row)?;
        // A correction saying the lead is a minor, with no parental consent in
        // force, erases their data in this same transaction.
        let now = now_ms();
        let erase = update.age == Some(AgeStatus::Minor)
            && !has_parental_consent_in(&mut tx, tenant, lead_id, now, &action).await?;
        if erase {
            erase_in(&mut tx, tenant, lead_id, now, &action).await?;
            lead = self.lead_in(&mut tx, tenant, lead_id, &action).await?;
        }
        tx.commit().await.map_err(commit_error(action.clone()))?;
        if erase {
            self.truncate_wal(&format!(
                "{action}, which erased the minor's data (erase the lead again to remove the old copies)"
            ))
            .await?;
        }
        Ok(lead)
    }

    /// The lead as stored, read inside `conn`'s transaction.
    async fn lead_in(
        &self,
        conn: &mut SqliteConnection,
        tenant: &str,
        lead_id: &str,
        action: &str,
    ) -> Result<Lead, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, lead_id, name, phone, email, location, language, preferences, \
                 age_status, restricted, erased_at_ms, created_at_ms, updated_at_ms \
             FROM leads WHERE tenant = ?1 AND lead_id = ?2",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| database(action, e))?;
        lead_from_row(&row)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn erase_lead_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let action = format!("erasing lead '{lead_id}' of tenant '{tenant}'");
        let mut tx = self.begin(&action).await?;
        erase_in(&mut tx, tenant, lead_id, at_ms, &action).await?;
        tx.commit().await.map_err(commit_error(action.clone()))?;
        self.truncate_wal(&format!(
            "{action} (the lead is erased; erase it again to remove the old copies)"
        ))
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %consent.tenant, purpose = %consent.purpose), err(level = "debug"))]
    async fn grant_consent_uncached(
        &self,
        consent: &NewConsent,
    ) -> Result<ConsentRecord, StoreError> {
        if let Some(expires) = consent.expires_at_ms
            && expires <= consent.granted_at_ms
        {
            return Err(StoreError::Invalid {
                what: format!("consent for lead '{}'", consent.lead_id),
                detail: format!(
                    "expires at {expires} ms, not after it is granted at {} ms",
                    consent.granted_at_ms
                ),
            });
        }
        let action = format!(
            "recording consent for {} of lead '{}' of tenant '{}'",
            consent.purpose, consent.lead_id, consent.tenant
        );
        let mut tx = self.begin(&action).await?;
        require_live_lead(&mut tx, &consent.tenant, &consent.lead_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO consents (tenant, lead_id, purpose, channel, granted_at_ms, \
                 expires_at_ms, source, evidence, parental) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )
        .bind(&consent.tenant)
        .bind(&consent.lead_id)
        .bind(consent.purpose.as_str())
        .bind(consent.channel.map(|c| c.as_str()))
        .bind(consent.granted_at_ms)
        .bind(consent.expires_at_ms)
        .bind(&consent.source)
        .bind(&consent.evidence)
        .bind(consent.parental)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(ConsentRecord {
            id,
            tenant: consent.tenant.clone(),
            lead: consent.lead_id.clone(),
            purpose: consent.purpose,
            channel: consent.channel,
            granted_at_ms: consent.granted_at_ms,
            expires_at_ms: consent.expires_at_ms,
            withdrawn_at_ms: None,
            source: consent.source.clone(),
            evidence: consent.evidence.clone(),
            parental: consent.parental,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, consent_id = consent_id), err(level = "debug"))]
    async fn withdraw_consent_uncached(
        &self,
        tenant: &str,
        consent_id: i64,
        at_ms: i64,
    ) -> Result<ConsentRecord, StoreError> {
        let action = format!("withdrawing consent {consent_id} of tenant '{tenant}'");
        let mut tx = self.begin(&action).await?;
        sqlx::query(
            "UPDATE consents SET withdrawn_at_ms = COALESCE(withdrawn_at_ms, ?3) \
             WHERE tenant = ?1 AND id = ?2",
        )
        .bind(tenant)
        .bind(consent_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| database(action.clone(), e))?;
        let record = consent_by_id(&mut tx, tenant, consent_id).await?;
        tx.commit().await.map_err(commit_error(action))?;
        Ok(record)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant), err(level = "debug"))]
    async fn consents_uncached(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, lead_id, purpose, channel, granted_at_ms, expires_at_ms, \
                 withdrawn_at_ms, source, evidence, parental \
             FROM consents WHERE tenant = ?1 AND lead_id = ?2 ORDER BY id",
        )
        .bind(tenant)
        .bind(lead_id)
        .fetch_all(&self.reader)
        .await
        .map_err(|e| {
            database(
                format!("reading consents of lead '{lead_id}' of tenant '{tenant}'"),
                e,
            )
        })?;
        rows.iter().map(consent_from_row).collect()
    }
}

/// Binds a lead's eleven columns, in the order both lead writes list them:
/// tenant, lead id, the personal fields, preferences (JSON text), age,
/// restriction and the write time.
trait BindLead<'q> {
    fn bind_lead(self, tenant: &'q str, lead: &'q Lead, now: i64) -> Self;
}

impl<'q> BindLead<'q> for sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    fn bind_lead(self, tenant: &'q str, lead: &'q Lead, now: i64) -> Self {
        let preferences = lead
            .preferences
            .as_ref()
            .map(|p| Value::Object(p.clone()).to_string());
        self.bind(tenant)
            .bind(&lead.lead_id)
            .bind(&lead.name)
            .bind(&lead.phone)
            .bind(&lead.email)
            .bind(&lead.location)
            .bind(&lead.language)
            .bind(preferences)
            .bind(lead.age.as_str())
            .bind(lead.restricted)
            .bind(now)
    }
}

/// An upload row; its component bytes only if `with_component` (the query
/// must select a `component` column either way).
fn plugin_version_from_row(
    row: &SqliteRow,
    with_component: bool,
) -> Result<StoredPluginVersion, StoreError> {
    let table = "plugin_versions";
    Ok(StoredPluginVersion {
        tenant: get(row, table, "tenant")?,
        plugin: get(row, table, "plugin")?,
        version: get(row, table, "version")?,
        world: get(row, table, "world")?,
        component: if with_component {
            get(row, table, "component")?
        } else {
            Vec::new()
        },
        manifest: get(row, table, "manifest")?,
        component_digest: get(row, table, "component_digest")?,
        manifest_digest: get(row, table, "manifest_digest")?,
        uploaded_by: get(row, table, "uploaded_by")?,
        uploaded_at_ms: get(row, table, "uploaded_at_ms")?,
        mac: get(row, table, "mac")?,
    })
}

/// A reviewer decision row (the query selects `id` too, for messages).
fn release_event_from_row(row: &SqliteRow) -> Result<ReleaseEvent, StoreError> {
    let table = "plugin_release_events";
    let id: i64 = get(row, table, "id")?;
    Ok(ReleaseEvent {
        tenant: get(row, table, "tenant")?,
        plugin: get(row, table, "plugin")?,
        kind: parse(
            table,
            "kind",
            || format!("event {id}"),
            get(row, table, "kind")?,
        )?,
        version: get(row, table, "version")?,
        actor: get(row, table, "actor")?,
        component_digest: get(row, table, "component_digest")?,
        manifest_digest: get(row, table, "manifest_digest")?,
        at_ms: get(row, table, "at_ms")?,
        mac: get(row, table, "mac")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::consent::{AgeStatus, Channel, DataField, LeadState, Purpose};

    fn lead(tenant: &str, id: &str) -> Lead {
        Lead {
            name: Some("Ada Lovelace".into()),
            phone: Some("+44 20 7946 0000".into()),
            email: Some("ada@example.org".into()),
            location: Some("London".into()),
            language: Some("en".into()),
            preferences: Some(
                json!({"preferred_time": "mornings"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            age: AgeStatus::Adult,
            ..Lead::new(tenant, id)
        }
    }

    fn consent(
        tenant: &str,
        lead_id: &str,
        purpose: Purpose,
        channel: Option<Channel>,
    ) -> NewConsent {
        NewConsent {
            tenant: tenant.into(),
            lead_id: lead_id.into(),
            purpose,
            channel,
            granted_at_ms: 1_000,
            expires_at_ms: Some(9_000),
            source: "web-form".into(),
            evidence: "form-17".into(),
            parental: false,
        }
    }

    /// The minor rule at the store: an inserted minor is erased in the insert
    /// (and named), an adult is not; a correction to minor erases unless a
    /// parental consent is in force (an expired or withdrawn one does not count,
    /// nor a non-parental one), and a snapshot cached before the correction is
    /// dropped, so the next decision sees the erasure.
    #[tokio::test]
    async fn a_minor_written_without_parental_consent_is_erased_in_the_same_write() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let child = Lead {
            age: AgeStatus::Minor,
            ..lead("acme", "l-child")
        };
        let erased = store
            .insert_leads("acme", &[lead("acme", "l-1"), child, lead("acme", "l-2")])
            .await
            .unwrap();
        assert_eq!(erased, ["l-child"]);
        let stored = store.lead("acme", "l-child").await.unwrap().unwrap();
        assert!(
            stored.erased_at_ms.is_some() && stored.name.is_none(),
            "{stored:?}"
        );
        assert_eq!(stored.age, AgeStatus::Minor);

        let to_minor = LeadUpdate {
            age: Some(AgeStatus::Minor),
            ..LeadUpdate::default()
        };
        let in_force = |parental| NewConsent {
            expires_at_ms: None,
            parental,
            ..consent("acme", "l-1", Purpose::CallHandling, None)
        };
        // l-1: a non-parental consent in force, a parental one expired, a
        // parental one withdrawn: none counts.
        store.grant_consent(&in_force(false)).await.unwrap();
        store
            .grant_consent(&NewConsent {
                parental: true,
                ..consent("acme", "l-1", Purpose::CallHandling, None)
            })
            .await
            .unwrap();
        let withdrawn = store.grant_consent(&in_force(true)).await.unwrap();
        store
            .withdraw_consent("acme", withdrawn.id, 2_000)
            .await
            .unwrap();
        let before = store.lead_snapshot("acme", "l-1").await.unwrap();
        assert!(before.lead.as_ref().unwrap().erased_at_ms.is_none());
        let corrected = store.update_lead("acme", "l-1", &to_minor).await.unwrap();
        assert!(
            corrected.erased_at_ms.is_some() && corrected.phone.is_none(),
            "{corrected:?}"
        );
        let after = store.lead_snapshot("acme", "l-1").await.unwrap();
        assert!(
            after.lead.as_ref().unwrap().erased_at_ms.is_some(),
            "the cached snapshot was dropped"
        );

        // l-2: a parental consent in force keeps the lead.
        store
            .grant_consent(&NewConsent {
                lead_id: "l-2".into(),
                ..in_force(true)
            })
            .await
            .unwrap();
        let kept = store.update_lead("acme", "l-2", &to_minor).await.unwrap();
        assert!(kept.erased_at_ms.is_none(), "{kept:?}");
        assert_eq!((kept.age, kept.phone.is_some()), (AgeStatus::Minor, true));
    }

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
    async fn leads_round_trip_and_are_per_tenant() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let written = lead("acme", "l-1");
        store.upsert_lead(&written).await.unwrap();
        let read = store.lead("acme", "l-1").await.unwrap().unwrap();
        assert_eq!(
            read.field(DataField::Phone).as_deref(),
            Some("+44 20 7946 0000")
        );
        assert_eq!(
            read.field(DataField::Preferences).as_deref(),
            Some(r#"{"preferred_time":"mornings"}"#)
        );
        assert_eq!(read.preference("preferred_time"), Some(&json!("mornings")));
        assert_eq!(
            read.state(),
            LeadState {
                age: AgeStatus::Adult,
                restricted: false,
                erased: false
            }
        );
        assert!(read.created_at_ms > 0 && read.updated_at_ms >= read.created_at_ms);
        assert_eq!(
            Lead {
                created_at_ms: 0,
                updated_at_ms: 0,
                ..read.clone()
            },
            written
        );
        assert_eq!(
            store.lead("other", "l-1").await.unwrap(),
            None,
            "another tenant sees nothing"
        );

        let changed = Lead {
            restricted: true,
            email: None,
            age: AgeStatus::Minor,
            ..written
        };
        store.upsert_lead(&changed).await.unwrap();
        let read = store.lead("acme", "l-1").await.unwrap().unwrap();
        assert_eq!(
            (read.restricted, read.email, read.age),
            (true, None, AgeStatus::Minor)
        );
    }

    #[tokio::test]
    async fn consents_are_granted_withdrawn_once_and_checked() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
        let granted = store
            .grant_consent(&consent(
                "acme",
                "l-1",
                Purpose::Marketing,
                Some(Channel::Whatsapp),
            ))
            .await
            .unwrap();
        let second = store
            .grant_consent(&NewConsent {
                parental: true,
                expires_at_ms: None,
                ..consent("acme", "l-1", Purpose::CallHandling, None)
            })
            .await
            .unwrap();
        assert_eq!(
            store.consents("acme", "l-1").await.unwrap(),
            vec![granted.clone(), second.clone()]
        );

        let withdrawn = store
            .withdraw_consent("acme", granted.id, 5_000)
            .await
            .unwrap();
        assert_eq!(withdrawn.withdrawn_at_ms, Some(5_000));
        let again = store
            .withdraw_consent("acme", granted.id, 6_000)
            .await
            .unwrap();
        assert_eq!(
            again.withdrawn_at_ms,
            Some(5_000),
            "the first withdrawal time stays"
        );
        assert_eq!(store.consents("acme", "l-1").await.unwrap()[0], withdrawn);

        let err = store
            .withdraw_consent("other", granted.id, 1)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("consent {} not found for tenant 'other'", granted.id)
        );
        let err = store
            .grant_consent(&consent("acme", "nobody", Purpose::Marketing, None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "unknown lead 'nobody' for tenant 'acme'");
        let err = store
            .grant_consent(&NewConsent {
                expires_at_ms: Some(1_000),
                ..consent("acme", "l-1", Purpose::Marketing, None)
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("expires at 1000 ms, not after it is granted at 1000 ms"),
            "{err}"
        );
        assert!(store.consents("other", "l-1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn erasure_clears_personal_data_and_is_final() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
        store
            .grant_consent(&consent("acme", "l-1", Purpose::CrmTagging, None))
            .await
            .unwrap();
        let tag = NewTag {
            tenant: "acme".into(),
            lead_id: "l-1".into(),
            tag: "wants-loan".into(),
            call_id: "c-1".into(),
            plugin: "qualifier".into(),
            created_at_ms: 10,
        };
        store.insert_tag(&tag).await.unwrap();
        let message = NewMessage {
            tenant: "acme".into(),
            lead_id: "l-1".into(),
            channel: Channel::Whatsapp,
            template: "follow-up".into(),
            params: json!({"slot": "9:00"}),
            call_id: "c-1".into(),
            created_at_ms: 10,
        };
        let sent = store.enqueue_message(&message).await.unwrap();
        store
            .set_message_status(
                "acme",
                sent,
                MessageStatus::Sent,
                Some("+44 20 7946 0000"),
                11,
            )
            .await
            .unwrap();
        let queued = store.enqueue_message(&message).await.unwrap();

        store.erase_lead("acme", "l-1", 20).await.unwrap();
        let erased = store.lead("acme", "l-1").await.unwrap().unwrap();
        assert_eq!(
            erased,
            Lead {
                age: AgeStatus::Adult,
                erased_at_ms: Some(20),
                created_at_ms: erased.created_at_ms,
                updated_at_ms: 20,
                ..Lead::new("acme", "l-1")
            }
        );
        assert!(erased.state().erased);
        assert!(store.lead_tags("acme", "l-1").await.unwrap().is_empty());
        let outbox = store.outbox("acme", "l-1").await.unwrap();
        assert_eq!(
            outbox
                .iter()
                .map(|m| (m.id, m.status, m.address.clone(), m.params.clone()))
                .collect::<Vec<_>>(),
            vec![
                (sent, MessageStatus::Sent, None, None),
                (queued, MessageStatus::Cancelled, None, None)
            ]
        );
        assert_eq!(
            store.consents("acme", "l-1").await.unwrap().len(),
            1,
            "consents stay as evidence"
        );

        let err = store.upsert_lead(&lead("acme", "l-1")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "lead 'l-1' of tenant 'acme' was erased; it cannot be changed or given consent"
        );
        assert!(matches!(
            store.insert_tag(&tag).await,
            Err(StoreError::LeadErased { .. })
        ));
        assert!(matches!(
            store.enqueue_message(&message).await,
            Err(StoreError::LeadErased { .. })
        ));
        assert!(matches!(
            store
                .grant_consent(&consent("acme", "l-1", Purpose::Marketing, None))
                .await,
            Err(StoreError::LeadErased { .. })
        ));
        assert!(matches!(
            store.erase_lead("acme", "nobody", 1).await,
            Err(StoreError::UnknownLead { .. })
        ));
    }

    #[tokio::test]
    async fn tags_messages_and_calls() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.upsert_lead(&lead("acme", "l-1")).await.unwrap();
        let tag = NewTag {
            tenant: "acme".into(),
            lead_id: "l-1".into(),
            tag: "hot".into(),
            call_id: "c-1".into(),
            plugin: "qualifier".into(),
            created_at_ms: 5,
        };
        let id = store.insert_tag(&tag).await.unwrap();
        assert_eq!(store.lead_tags("acme", "l-1").await.unwrap()[0].id, id);
        let err = store
            .insert_tag(&NewTag {
                tenant: "other".into(),
                ..tag
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "unknown lead 'l-1' for tenant 'other'");

        let message = NewMessage {
            tenant: "acme".into(),
            lead_id: "l-1".into(),
            channel: Channel::Sms,
            template: "reminder".into(),
            params: json!(["a", 1]),
            call_id: "c-1".into(),
            created_at_ms: 7,
        };
        let id = store.enqueue_message(&message).await.unwrap();
        let queued = &store.outbox("acme", "l-1").await.unwrap()[0];
        assert_eq!(
            (
                queued.id,
                queued.status,
                queued.address.as_deref(),
                queued.params.clone()
            ),
            (id, MessageStatus::Queued, None, Some(json!(["a", 1])))
        );
        assert!(matches!(
            store
                .set_message_status("other", id, MessageStatus::Sent, None, 8)
                .await,
            Err(StoreError::NotFound { .. })
        ));

        let start = CallStart {
            tenant: "acme".into(),
            call_id: "c-1".into(),
            plugin: "reminder".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:00".into(),
            lead_id: Some("l-1".into()),
            started_at_ms: 100,
        };
        store.record_call_start(&start).await.unwrap();
        assert!(
            matches!(
                store.record_call_start(&start).await,
                Err(StoreError::Database { .. })
            ),
            "a call starts once"
        );
        store
            .record_call_end("acme", "c-1", 200, &json!({"actions": 2}))
            .await
            .unwrap();
        let call = store.call("acme", "c-1").await.unwrap().unwrap();
        assert_eq!(
            (call.ended_at_ms, call.result),
            (Some(200), Some(json!({"actions": 2})))
        );
        assert_eq!(store.call("other", "c-1").await.unwrap(), None);
        let err = store
            .record_call_end("acme", "c-2", 1, &json!(null))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "call 'c-2' not found for tenant 'acme'");
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

    #[tokio::test]
    async fn api_keys_plugin_versions_and_release_events_round_trip() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        assert!(store.create_tenant("acme", 1).await.unwrap());
        assert!(
            !store.create_tenant("acme", 2).await.unwrap(),
            "a second create changes nothing"
        );
        assert!(!store.has_platform_admin_key().await.unwrap());
        let key = ApiKeyRecord {
            key_hash: "ab".repeat(32),
            tenant: None,
            role: "platform-admin".into(),
            label: "ops".into(),
            created_at_ms: 3,
        };
        store.insert_api_key(&key).await.unwrap();
        assert!(store.has_platform_admin_key().await.unwrap());
        assert_eq!(
            store.api_key(&key.key_hash).await.unwrap(),
            Some(key.clone())
        );
        // A tenant key without a tenant is refused by the schema.
        let orphan = ApiKeyRecord {
            key_hash: "cd".repeat(32),
            role: "developer".into(),
            ..key
        };
        assert!(store.insert_api_key(&orphan).await.is_err());

        let version = StoredPluginVersion {
            tenant: "acme".into(),
            plugin: "greeter".into(),
            version: "1.0.0".into(),
            world: "call-flow".into(),
            component: vec![0, 97, 115, 109],
            manifest: "name = \"greeter\"".into(),
            component_digest: "sha256:c".into(),
            manifest_digest: "sha256:m".into(),
            uploaded_by: "dev".into(),
            uploaded_at_ms: 4,
            mac: Some("00ff".into()),
        };
        store.insert_plugin_version(&version).await.unwrap();
        let again = StoredPluginVersion {
            component: vec![1],
            ..version.clone()
        };
        let err = store.insert_plugin_version(&again).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin 'greeter' version 1.0.0 already exists for tenant 'acme'"
        );
        assert_eq!(
            store.plugin_versions("acme", "greeter").await.unwrap(),
            [version]
        );
        assert!(
            store
                .plugin_versions("other", "greeter")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.plugin_names("acme").await.unwrap(), ["greeter"]);

        let approve = ReleaseEvent {
            tenant: "acme".into(),
            plugin: "greeter".into(),
            kind: super::super::ReleaseEventKind::Approve,
            version: Some("1.0.0".into()),
            actor: "rita".into(),
            component_digest: Some("sha256:c".into()),
            manifest_digest: Some("sha256:m".into()),
            at_ms: 5,
            mac: Some("abcd".into()),
        };
        let roll_back = ReleaseEvent {
            kind: super::super::ReleaseEventKind::RollBack,
            version: None,
            component_digest: None,
            manifest_digest: None,
            mac: None,
            ..approve.clone()
        };
        store.append_release_event(&approve).await.unwrap();
        store.append_release_event(&roll_back).await.unwrap();
        assert_eq!(
            store.release_events("acme", "greeter").await.unwrap(),
            [approve.clone(), roll_back.clone()]
        );
        // Only the roll-back has no MAC; signing sets it once, never over one.
        let unsealed = store.unsealed_release_records().await.unwrap();
        assert_eq!(
            unsealed,
            UnsealedReleaseRecords {
                uploads: vec![],
                events: vec![(2, roll_back.clone())],
                sealed: 2,
            }
        );
        let sealed = store
            .seal_release_records(
                &[(1, "0000".into())],
                &[(1, "0000".into()), (2, "beef".into())],
            )
            .await
            .unwrap();
        assert_eq!(sealed, 1);
        let events = store.release_events("acme", "greeter").await.unwrap();
        assert_eq!(events[0].mac.as_deref(), Some("abcd"));
        assert_eq!(events[1].mac.as_deref(), Some("beef"));
        assert_eq!(
            store.plugin_versions("acme", "greeter").await.unwrap()[0]
                .mac
                .as_deref(),
            Some("00ff")
        );
        assert!(
            store
                .release_events("other", "greeter")
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// Erasure and purge as a hostile insider checks them: by reading every byte of
/// every file under the data directory, not through the store.
#[cfg(test)]
mod erasure_tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;

    use super::*;
    use crate::consent::AgeStatus;

    const NAME: &str = "Zebulon Quaxworth";
    const PHONE: &str = "+15557319024";
    const EMAIL: &str = "zq.probe@erasure.example";

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

    fn zebulon(id: &str) -> Lead {
        Lead {
            name: Some(NAME.into()),
            phone: Some(PHONE.into()),
            email: Some(EMAIL.into()),
            age: AgeStatus::Adult,
            ..Lead::new("acme", id)
        }
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

    /// A call still running when its lead is erased ends with no result kept.
    #[tokio::test]
    async fn a_call_ending_after_its_leads_erasure_keeps_no_result() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.upsert_lead(&zebulon("l-1")).await.unwrap();
        store
            .record_call_start(&CallStart {
                tenant: "acme".into(),
                call_id: "c-1".into(),
                plugin: "reads-data".into(),
                plugin_version: "1.0.0".into(),
                component_digest: "sha256:00".into(),
                lead_id: Some("l-1".into()),
                started_at_ms: 1_000,
            })
            .await
            .unwrap();
        store.erase_lead("acme", "l-1", 1_500).await.unwrap();
        store
            .record_call_end("acme", "c-1", 2_000, &json!({"said": NAME}))
            .await
            .unwrap();
        let call = store.call("acme", "c-1").await.unwrap().unwrap();
        assert_eq!(call.result, Some(erased_call_result()));
        assert_eq!(call.ended_at_ms, Some(2_000));
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

    /// An update writes only the fields it names; an erased lead gets nothing back.
    #[tokio::test]
    async fn updates_write_only_the_named_fields() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.upsert_lead(&zebulon("l-1")).await.unwrap();
        let restrict = LeadUpdate {
            restricted: Some(true),
            ..LeadUpdate::default()
        };
        let lead = store.update_lead("acme", "l-1", &restrict).await.unwrap();
        assert!(lead.restricted);
        assert_eq!(lead.name.as_deref(), Some(NAME), "untouched");
        let correct = LeadUpdate {
            name: Some(None),
            phone: Some(Some("+15550111".into())),
            ..LeadUpdate::default()
        };
        let lead = store.update_lead("acme", "l-1", &correct).await.unwrap();
        assert_eq!(
            (lead.name, lead.phone.as_deref(), lead.restricted),
            (None, Some("+15550111"), true),
            "the restriction written before stays"
        );
        assert_eq!(
            store
                .lead("acme", "l-1")
                .await
                .unwrap()
                .unwrap()
                .phone
                .as_deref(),
            Some("+15550111")
        );
        assert!(matches!(
            store.update_lead("acme", "nobody", &correct).await,
            Err(StoreError::UnknownLead { .. })
        ));
        store.erase_lead("acme", "l-1", 9).await.unwrap();
        assert!(matches!(
            store.update_lead("acme", "l-1", &correct).await,
            Err(StoreError::LeadErased { .. })
        ));
        let erased = store.lead("acme", "l-1").await.unwrap().unwrap();
        assert_eq!((erased.name, erased.phone), (None, None));
    }
}
