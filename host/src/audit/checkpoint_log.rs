//! The checkpoint file (`<data_dir>/audit-checkpoints.jsonl`, one signed checkpoint a
//! line, only ever appended to), the host's view of each tenant's latest checkpoint,
//! and the schedule inside `cally serve` that signs every head that moved.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::Checkpoint;
use super::signing_key::{HostSigningKey, PublicKey, SigningKeyError};
use crate::store::{AuditHead, AuditStore, StoreError};

/// The checkpoint file's name inside the data directory.
pub const CHECKPOINT_FILE_NAME: &str = "audit-checkpoints.jsonl";

/// How often `cally serve` signs the heads that moved, unless configured otherwise.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Errors from writing or reading checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Occurs when the signing key cannot be loaded, created or trusted.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// Occurs when the checkpoint file cannot be read or appended to.
    #[error("cannot {action} the checkpoint file '{path}': {source}")]
    Io {
        /// `read`, `append to`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Occurs when a line of a checkpoint file is not a checkpoint.
    #[error(
        "checkpoint file '{path}' line {line} is not a checkpoint: {detail} (a line cut short \
         by a crash can be deleted; any other line was damaged or is not from Cally)"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// Occurs when a checkpoint file to check against holds no checkpoint at all.
    #[error(
        "checkpoint file '{path}' holds no checkpoint; give a file of lines written by `cally audit checkpoint` or `GET /v1/audit/checkpoint`"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Occurs when the chain heads cannot be read.
    #[error("cannot read the audit chain heads to sign: {0}")]
    Store(#[from] StoreError),
}

/// A checkpoint read from a file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCheckpoint {
    /// Its line in the file (1-based).
    pub line: usize,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// Reads every checkpoint of a file a reviewer kept (blank lines are skipped). Any
/// line that is not a checkpoint is an error naming it; so is a file without any.
pub fn read_checkpoint_file(path: &Path) -> Result<Vec<KeptCheckpoint>, CheckpointError> {
    let text = fs::read_to_string(path).map_err(|source| CheckpointError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let mut kept = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint =
            Checkpoint::parse_line(line).map_err(|detail| CheckpointError::Malformed {
                path: path.to_owned(),
                line: index + 1,
                detail,
            })?;
        kept.push(KeptCheckpoint {
            line: index + 1,
            checkpoint,
        });
    }
    if kept.is_empty() {
        return Err(CheckpointError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(kept)
}

/// The host's checkpoints: its signing key, its checkpoint file, and the latest
/// checkpoint of each tenant. Shared by the schedule, the API and shutdown; one
/// signing run at a time.
pub struct CheckpointLog {
    key: HostSigningKey,
    path: PathBuf,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for CheckpointLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointLog")
            .field("key", &self.key)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Each tenant's newest checkpoint signed by this key, from the file and since.
    latest: BTreeMap<String, Checkpoint>,
    /// The file does not end with a newline (a line cut short by a crash): the next
    /// write starts a new line first.
    torn_tail: bool,
}

impl CheckpointLog {
    /// Loads (or creates) the signing key under `data_dir` and reads the end of the
    /// checkpoint file there, if any, for each tenant's latest checkpoint. Lines that
    /// are not checkpoints of this key are skipped with a warning (a line cut short by
    /// a crash is the expected one).
    pub fn open(data_dir: &Path) -> Result<CheckpointLog, CheckpointError> {
        let key = HostSigningKey::load_or_create(data_dir)?;
        let path = data_dir.join(CHECKPOINT_FILE_NAME);
        let mut state = State::default();
        match read_tail(&path, TAIL_BYTES) {
            Ok(Some(text)) => {
                state.torn_tail = !text.is_empty() && !text.ends_with('\n');
                let public = key.public_key();
                for line in text.lines().filter(|line| !line.trim().is_empty()) {
                    match Checkpoint::parse_line(line) {
                        Ok(checkpoint) if checkpoint.signature_problem(&public).is_none() => {
                            state.latest.insert(checkpoint.tenant.clone(), checkpoint);
                        }
                        Ok(checkpoint) => tracing::warn!(
                            file = %path.display(), tenant = %checkpoint.tenant, seq = checkpoint.seq,
                            "checkpoint not signed by this host's key; ignored"
                        ),
                        Err(detail) => tracing::warn!(
                            file = %path.display(), %detail, "not a checkpoint; ignored"
                        ),
                    }
                }
            }
            Ok(None) => {}
            Err(source) => {
                return Err(CheckpointError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        }
        Ok(CheckpointLog {
            key,
            path,
            state: tokio::sync::Mutex::new(state),
        })
    }

    /// The public half of the signing key: what checkpoints are checked against.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenant's latest checkpoint, if one was signed.
    pub async fn latest(&self, tenant: &str) -> Option<Checkpoint> {
        self.state.lock().await.latest.get(tenant).cloned()
    }

    /// Every tenant's latest checkpoint, by tenant.
    pub async fn latest_all(&self) -> Vec<Checkpoint> {
        self.state.lock().await.latest.values().cloned().collect()
    }

    /// Signs the head of every tenant whose head moved since its latest checkpoint,
    /// appends the new checkpoints to the file (one write, then fsync) and returns
    /// them.
    pub async fn checkpoint_all(
        &self,
        store: &dyn AuditStore,
    ) -> Result<Vec<Checkpoint>, CheckpointError> {
        let mut state = self.state.lock().await;
        let mut fresh = Vec::new();
        for tenant in store.audit_tenants().await? {
            let head = store.audit_head(&tenant).await?;
            if let Some(checkpoint) = self.next(&state, &tenant, head.as_ref()) {
                fresh.push(checkpoint);
            }
        }
        self.append(&mut state, &fresh)?;
        Ok(fresh)
    }

    /// Signs the tenant's head if it moved since its latest checkpoint, and returns
    /// the tenant's latest checkpoint (`None`: the tenant has no audit records).
    pub async fn checkpoint_tenant(
        &self,
        store: &dyn AuditStore,
        tenant: &str,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut state = self.state.lock().await;
        let head = store.audit_head(tenant).await?;
        if let Some(checkpoint) = self.next(&state, tenant, head.as_ref()) {
            self.append(&mut state, std::slice::from_ref(&checkpoint))?;
        }
        Ok(state.latest.get(tenant).cloned())
    }

    /// The checkpoint to sign for `tenant` at `head`, if its head moved forward.
    /// A head behind or beside the latest checkpoint is never signed: the log was
    /// tampered with, and signing it would bless the tampering.
    fn next(&self, state: &State, tenant: &str, head: Option<&AuditHead>) -> Option<Checkpoint> {
        let latest = state.latest.get(tenant);
        let Some(head) = head else {
            if let Some(latest) = latest {
                tracing::error!(
                    tenant,
                    checkpoint_seq = latest.seq,
                    "the audit chain head is gone though a checkpoint anchors it; not signing; run `cally audit verify --checkpoint`"
                );
            }
            return None;
        };
        if let Some(latest) = latest {
            if head.last_seq == latest.seq && head.last_hash == latest.hash {
                return None;
            }
            if head.last_seq <= latest.seq {
                tracing::error!(
                    tenant,
                    head_seq = head.last_seq,
                    checkpoint_seq = latest.seq,
                    "the audit chain head is behind or beside its latest checkpoint; not signing; run `cally audit verify --checkpoint`"
                );
                return None;
            }
        }
        Some(Checkpoint::sign(
            &self.key,
            tenant,
            head.last_seq,
            &head.last_hash,
            now_ms(),
        ))
    }

    /// Appends `fresh` to the file in one write and makes it durable, then records
    /// them as the latest; on error nothing is recorded.
    fn append(&self, state: &mut State, fresh: &[Checkpoint]) -> Result<(), CheckpointError> {
        if fresh.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if state.torn_tail {
            text.push('\n');
        }
        for checkpoint in fresh {
            text.push_str(
                &serde_json::to_string(checkpoint).expect("a checkpoint serializes to JSON"),
            );
            text.push('\n');
        }
        let write = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        };
        write().map_err(|source| CheckpointError::Io {
            action: "append to",
            path: self.path.clone(),
            source,
        })?;
        state.torn_tail = false;
        for checkpoint in fresh {
            state
                .latest
                .insert(checkpoint.tenant.clone(), checkpoint.clone());
        }
        Ok(())
    }
}

/// How much of the checkpoint file's end [`CheckpointLog::open`] reads: the file only
/// grows (about 400 bytes a checkpoint), and the latest checkpoints are at its end. A
/// tenant whose latest checkpoint is further back is signed again at the next run.
const TAIL_BYTES: u64 = 4 << 20;

/// The last `tail` bytes of the file from the first whole line on; `None` if there is
/// no file.
fn read_tail(path: &Path, tail: u64) -> io::Result<Option<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let start = file.metadata()?.len().saturating_sub(tail);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if start > 0 {
        // Drop the partial line the tail starts in.
        let first_line_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        bytes.drain(..first_line_end);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

use crate::clock::now_ms;

/// The checkpoints inside `cally serve`: [`CheckpointLog::checkpoint_all`] at the
/// start and then every interval, until [`CheckpointSchedule::stop`].
pub struct CheckpointSchedule {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CheckpointSchedule {
    /// Starts signing every `every` on the current tokio runtime; a failed run is
    /// logged and the next one tries again.
    ///
    /// # Panics
    /// Outside a tokio runtime, or if `every` is zero.
    pub fn start(log: Arc<CheckpointLog>, store: Arc<dyn AuditStore>, every: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        match log.checkpoint_all(store.as_ref()).await {
                            Ok(fresh) if !fresh.is_empty() => {
                                tracing::info!(checkpoints = fresh.len(), "audit checkpoints signed");
                            }
                            Ok(_) => {}
                            Err(error) => tracing::error!(%error, "audit checkpoints failed"),
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        CheckpointSchedule { stop, task }
    }

    /// Stops the schedule, waiting for a run under way to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::audit::AuditWriter;
    use crate::audit::record::tests::context;
    use crate::consent::{Decision, Purpose};
    use crate::store::SqliteStore;

    async fn append(writer: &AuditWriter, tenant: &str, n: usize) {
        let ctx = context(tenant);
        let entries = (0..n)
            .map(|i| {
                ctx.entry(
                    "phone",
                    Purpose::CallHandling,
                    &Decision::Allow { consent_id: 1 },
                    i as i64,
                )
            })
            .collect();
        writer.append(entries).await.unwrap();
    }

    fn lines(path: &Path) -> Vec<Checkpoint> {
        read_checkpoint_file(path)
            .map(|kept| kept.into_iter().map(|k| k.checkpoint).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn only_moved_heads_are_signed_appended_and_remembered_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let writer = AuditWriter::spawn(store.clone());
        let log = CheckpointLog::open(dir.path()).unwrap();
        assert!(log.checkpoint_all(store.as_ref()).await.unwrap().is_empty());
        assert!(!log.path().exists(), "nothing to sign, nothing written");

        append(&writer, "acme", 3).await;
        append(&writer, "globex", 1).await;
        let first = log.checkpoint_all(store.as_ref()).await.unwrap();
        assert_eq!(
            first
                .iter()
                .map(|c| (c.tenant.as_str(), c.seq))
                .collect::<Vec<_>>(),
            [("acme", 3), ("globex", 1)]
        );
        let head = store.audit_head("acme").await.unwrap().unwrap();
        assert_eq!(first[0].hash, head.last_hash);
        let mode = fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            log.checkpoint_all(store.as_ref()).await.unwrap().is_empty(),
            "no head moved"
        );

        append(&writer, "acme", 2).await;
        let second = log.checkpoint_all(store.as_ref()).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!((second[0].tenant.as_str(), second[0].seq), ("acme", 5));
        assert_eq!(lines(log.path()).len(), 3, "appended, never rewritten");
        assert_eq!(log.latest("acme").await.unwrap(), second[0]);
        assert_eq!(log.latest("nobody").await, None);

        // A host opened again (same key, same file) knows the latest checkpoints.
        let reopened = CheckpointLog::open(dir.path()).unwrap();
        assert_eq!(reopened.public_key(), log.public_key());
        assert_eq!(reopened.latest_all().await, log.latest_all().await);
        assert!(
            reopened
                .checkpoint_all(store.as_ref())
                .await
                .unwrap()
                .is_empty()
        );
        let latest = reopened
            .checkpoint_tenant(store.as_ref(), "globex")
            .await
            .unwrap();
        assert_eq!(latest, Some(first[1].clone()), "unchanged: the latest one");
    }

    #[tokio::test]
    async fn a_head_moved_back_is_never_signed_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path()).await.unwrap();
        let store: Arc<dyn AuditStore> = Arc::new(sqlite.clone());
        let writer = AuditWriter::spawn(store.clone());
        append(&writer, "acme", 4).await;
        let log = CheckpointLog::open(dir.path()).unwrap();
        log.checkpoint_all(store.as_ref()).await.unwrap();
        drop(writer);
        sqlite.close().await;

        // Rewind the chain by a record, as an attacker with the database would.
        {
            use sqlx::Connection;
            let db = dir.path().join(crate::store::DB_FILE_NAME);
            let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            for statement in [
                "DELETE FROM audit_log WHERE seq = 4",
                "UPDATE audit_heads SET last_seq = 3, \
                 last_hash = (SELECT hash FROM audit_log WHERE seq = 3)",
            ] {
                sqlx::query(statement).execute(&mut raw).await.unwrap();
            }
        }
        // And a torn last line, as a crash mid-write would leave.
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"format\":\"cally-au").unwrap();

        let store: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let log = CheckpointLog::open(dir.path()).unwrap();
        assert_eq!(log.latest("acme").await.unwrap().seq, 4);
        assert!(
            log.checkpoint_all(store.as_ref()).await.unwrap().is_empty(),
            "the rewound head is not signed"
        );
        let writer = AuditWriter::spawn(store.clone());
        append(&writer, "globex", 1).await;
        assert_eq!(log.checkpoint_all(store.as_ref()).await.unwrap().len(), 1);
        let text = fs::read_to_string(log.path()).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(Checkpoint::parse_line(last).unwrap().tenant, "globex");
        let err = read_checkpoint_file(log.path()).unwrap_err();
        assert!(
            err.to_string().contains("line 2 is not a checkpoint"),
            "{err}"
        );
    }

    #[test]
    fn only_whole_lines_of_the_tail_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tail.jsonl");
        assert_eq!(read_tail(&path, 8).unwrap(), None);
        fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(read_tail(&path, 13).unwrap().unwrap(), "third\n");
        assert_eq!(read_tail(&path, 14).unwrap().unwrap(), "second\nthird\n");
        assert_eq!(
            read_tail(&path, 1000).unwrap().unwrap(),
            "first line\nsecond\nthird\n"
        );
    }

    #[tokio::test]
    async fn the_schedule_signs_what_moved_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn AuditStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let writer = AuditWriter::spawn(store.clone());
        let log = Arc::new(CheckpointLog::open(dir.path()).unwrap());
        let schedule =
            CheckpointSchedule::start(log.clone(), store.clone(), Duration::from_millis(20));
        append(&writer, "acme", 2).await;
        // Wait (bounded) until a tick has signed the new head.
        for _ in 0..500 {
            if log.latest("acme").await.is_some_and(|c| c.seq == 2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        schedule.stop().await;
        let signed = lines(log.path());
        assert_eq!(signed.len(), 1, "one checkpoint for one move: {signed:?}");
        assert_eq!((signed[0].tenant.as_str(), signed[0].seq), ("acme", 2));
        assert!(signed[0].signature_problem(&log.public_key()).is_none());
    }
}
