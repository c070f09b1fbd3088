//! The group-commit writer: every call's appends go to one background task, which
//! commits everything pending in ONE transaction and then answers all waiters, so the
//! cost of a durable commit (an fsync) is shared by every record in the batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{AuditEntry, AuditError, AuditRecord};
use crate::histogram::{Histogram, HistogramSnapshot};
use crate::store::AuditStore;

/// The most records one transaction takes; more pending requests wait for the next.
/// Bounds the transaction's size and the latency of the waiters in it.
pub const MAX_BATCH_RECORDS: usize = 8192;

/// Requests queued before `append` waits for room (backpressure on a slow disk).
const QUEUE_CAPACITY: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<Vec<AuditRecord>, AuditError>>;

struct Request {
    entries: Vec<AuditEntry>,
    reply: Reply,
}

/// Upper bounds of the batch latency histogram, in seconds: an fsync takes a
/// fraction of a millisecond on a good disk, tens of milliseconds on a bad one.
const LATENCY_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Upper bounds of the batch size histogram, in records.
const SIZE_BOUNDS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 8192.0];

#[derive(Debug)]
struct Counters {
    batches: AtomicU64,
    records: AtomicU64,
    failed_batches: AtomicU64,
    largest_batch: AtomicU64,
    latency: Histogram,
    sizes: Histogram,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
            latency: Histogram::new(LATENCY_BOUNDS),
            sizes: Histogram::new(SIZE_BOUNDS),
        }
    }
}

/// What the writer has done so far (for tests, benchmarks and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditWriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Transactions that failed (their waiters got [`AuditError::Unavailable`]).
    pub failed_batches: u64,
    /// The most records committed in one transaction.
    pub largest_batch: u64,
}

/// Appends audit records durably, batching concurrent appends into one transaction.
/// Cheap to clone: clones share the background task, which ends when the last clone
/// is dropped.
#[derive(Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Request>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl AuditWriter {
    /// Starts the writer on a thread of its own, so its round trips to the database
    /// are never queued behind the calls' tasks (which all wake at once when a batch
    /// commits, just as the writer needs to start the next one).
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn spawn(store: Arc<dyn AuditStore>) -> AuditWriter {
        let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let task_counters = counters.clone();
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("cally-audit".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the audit writer's runtime");
                runtime.block_on(run(store, requests, task_counters).instrument(span));
            })
            .expect("the audit writer's thread");
        AuditWriter { queue, counters }
    }

    /// Appends `entries` and returns their records once they are durable (committed
    /// with `synchronous = FULL`), in the order given. Entries of one call may span
    /// several tenants; each joins its tenant's chain.
    ///
    /// On [`AuditError::Unavailable`] nothing of these entries was stored, and the
    /// caller must not release what they cover. If the future is dropped after the
    /// request was queued, the records may still be written (recording a read that
    /// never happened is safe; the reverse is what must not occur).
    pub async fn append(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, AuditError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { entries, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// [`AuditWriter::append`] for one entry.
    pub async fn append_one(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let mut records = self.append(vec![entry]).await?;
        records
            .pop()
            .ok_or_else(|| AuditError::Unavailable("the store returned no record".into()))
    }

    /// How long each batch took in the store, from its transaction's start to its
    /// durable commit (or failure), in seconds.
    pub fn batch_latency(&self) -> HistogramSnapshot {
        self.counters.latency.snapshot()
    }

    /// How many records each batch carried (failed batches included).
    pub fn batch_sizes(&self) -> HistogramSnapshot {
        self.counters.sizes.snapshot()
    }

    /// Counters of what the writer has done.
    pub fn stats(&self) -> AuditWriterStats {
        AuditWriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            records: self.counters.records.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }
}

fn stopped() -> AuditError {
    AuditError::Unavailable("the audit writer has stopped".into())
}

/// The background task: wait for one request, take every other pending one (up to
/// [`MAX_BATCH_RECORDS`]), commit them together, answer everyone, repeat. While a
/// commit is in flight, new requests queue up and form the next batch.
async fn run(
    store: Arc<dyn AuditStore>,
    mut requests: mpsc::Receiver<Request>,
    counters: Arc<Counters>,
) {
    while let Some(first) = requests.recv().await {
        let mut total = first.entries.len();
        let mut batch = vec![first];
        while total < MAX_BATCH_RECORDS {
            match requests.try_recv() {
                Ok(request) => {
                    total += request.entries.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let mut entries = Vec::with_capacity(total);
        let mut waiters = Vec::with_capacity(batch.len());
        for mut request in batch {
            waiters.push((request.entries.len(), request.reply));
            entries.append(&mut request.entries);
        }
        let span = tracing::debug_span!("audit_batch", records = total, waiters = waiters.len());
        let began = std::time::Instant::now();
        let outcome = store.append_audit_batch(&entries).instrument(span).await;
        counters.latency.observe(began.elapsed().as_secs_f64());
        counters.sizes.observe(total as f64);
        match outcome {
            Ok(records) if records.len() == total => {
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.records.fetch_add(total as u64, Ordering::Relaxed);
                counters
                    .largest_batch
                    .fetch_max(total as u64, Ordering::Relaxed);
                let mut records = records.into_iter();
                for (count, reply) in waiters {
                    // A waiter that gave up is fine: its records are stored all the same.
                    let _ = reply.send(Ok(records.by_ref().take(count).collect()));
                }
            }
            outcome => {
                let detail = match outcome {
                    Err(e) => e.to_string(),
                    Ok(records) => format!(
                        "the store returned {} records for {total} entries",
                        records.len()
                    ),
                };
                counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(records = total, error = %detail, "audit batch failed; its reads are denied");
                for (_, reply) in waiters {
                    let _ = reply.send(Err(AuditError::Unavailable(detail.clone())));
                }
            }
        }
    }
}
