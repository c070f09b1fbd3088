//! The audit log: one record for every use of personal data (every read, allowed or
//! denied, every tag written, every message sent, by a plugin or by a person through
//! the API), hash-chained per tenant, made
//! durable by a group-commit writer BEFORE the value is released, verifiable and
//! exportable.
//!
//! - `record.rs`: [`AuditEntry`] (what callers supply), [`AuditResource`] (the fixed
//!   vocabulary a record's resource is named from), [`AuditRecord`] (what the log
//!   holds) and the canonical encoding the chain hashes.
//! - `pseudonym.rs`: [`Pseudonymizer`], the keyed hash that stands for a lead.
//! - `writer.rs`: [`AuditWriter`], batching appends from all calls into one transaction.
//! - `verify.rs`: [`verify`], [`verify_with_head`] and [`verify_tenant`].
//! - `export.rs`: [`export`] as JSON lines or CSV.
//! - `describe.rs`: [`describe`], a record as one sentence for an access report.
//! - `signing_key.rs`: [`HostSigningKey`], the host's Ed25519 key kept outside the
//!   database, and [`PublicKey`].
//! - `checkpoint.rs`: [`Checkpoint`], a tenant's chain head signed with that key, and
//!   [`CheckpointCheck`], what a kept checkpoint says about the log as it is now.
//! - `checkpoint_log.rs`: [`CheckpointLog`], the append-only checkpoint file, and
//!   [`CheckpointSchedule`], which signs every head that moved.

mod checkpoint;
mod checkpoint_log;
mod describe;
mod export;
mod pseudonym;
mod record;
mod signing_key;
mod verify;
mod writer;

#[cfg(test)]
mod tests;

pub use checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointCheck, CheckpointProblem};
pub use checkpoint_log::{
    CHECKPOINT_FILE_NAME, CheckpointError, CheckpointLog, CheckpointSchedule,
    DEFAULT_CHECKPOINT_INTERVAL, KeptCheckpoint, read_checkpoint_file,
};
pub use describe::{describe, utc};
pub use export::{ExportFormat, export};
pub use pseudonym::{KEY_FILE_NAME, PseudonymKeyError, Pseudonymizer};
pub use record::{
    AuditActor, AuditContext, AuditDecision, AuditEntry, AuditLabel, AuditPurpose, AuditRecord,
    AuditResource, GENESIS_HASH, UNDECLARED,
};
pub use signing_key::{
    HostSigningKey, PublicKey, PublicKeyError, SIGNING_KEY_FILE_NAME, SigningKeyError,
};
pub use verify::{
    ChainProblem, ProblemKind, VerifyReport, verify, verify_tenant, verify_with_head,
};
pub use writer::{AuditWriter, AuditWriterStats, MAX_BATCH_RECORDS};

use crate::store::StoreError;

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Occurs when records could not be made durable (the store failed the batch's
    /// transaction, or the writer stopped). Nothing of the batch is stored; callers
    /// must deny the read with `audit-unavailable` (fail closed).
    #[error("audit log unavailable: {0}")]
    Unavailable(String),
    /// Occurs when the log cannot be read (verify, export).
    #[error("cannot read the audit log: {0}")]
    Store(#[from] StoreError),
    /// Occurs when an export cannot be written to its destination.
    #[error("cannot write the {format} export: {detail}")]
    Export {
        /// The export format.
        format: ExportFormat,
        /// What went wrong.
        detail: String,
    },
    /// Occurs when the pseudonym key cannot be loaded or created.
    #[error(transparent)]
    PseudonymKey(#[from] PseudonymKeyError),
}
