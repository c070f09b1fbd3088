//! Signed checkpoints of a tenant's chain head, and what checking a log against them
//! finds. Pure: no I/O (the file and the schedule are in `checkpoint_log.rs`).
//!
//! A checkpoint says "tenant T's chain had record S with hash H at time t", signed by
//! the host key. Since every record's hash covers the one before it, H stands for the
//! whole chain from record 1 to S: a log whose record S no longer hashes to H was
//! rewritten at or before S, however consistently it was re-chained afterwards; a log
//! without record S lost its newest records, and a log without T lost T's chain.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::AuditRecord;
use super::signing_key::{HostSigningKey, PublicKey};
use crate::store::AuditChain;

/// The `format` of every checkpoint this version writes; also the signature's domain
/// separation, so a checkpoint signature is never valid for anything else.
pub const CHECKPOINT_FORMAT: &str = "cally-audit-checkpoint-v1";

/// One signed chain head, as written to the checkpoint file (one JSON object a line)
/// and served to reviewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always `cally-audit-checkpoint-v1`.
    pub format: String,
    /// The tenant whose chain it anchors.
    pub tenant: String,
    /// The sequence number of the chain's newest record when signed.
    pub seq: i64,
    /// That record's hash (lowercase hex SHA-256), which covers every record before it.
    pub hash: String,
    /// Host clock when signed (ms since the Unix epoch).
    pub time_ms: i64,
    /// The key that signed it, `ed25519:<hex>`. Informative only: a checkpoint is
    /// checked against a key the reviewer trusts, never against the key it names.
    pub public_key: String,
    /// The Ed25519 signature (hex) over [`Checkpoint::signed_bytes`].
    pub signature: String,
}

impl Checkpoint {
    /// Signs `(tenant, seq, hash, time_ms)` with `key`.
    pub fn sign(
        key: &HostSigningKey,
        tenant: &str,
        seq: i64,
        hash: &str,
        time_ms: i64,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            tenant: tenant.to_owned(),
            seq,
            hash: hash.to_owned(),
            time_ms,
            public_key: key.public_key().to_string(),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(key.sign(&checkpoint.signed_bytes()));
        checkpoint
    }

    /// The bytes the signature covers: every field but the key and the signature,
    /// length-prefixed as in the audit record's canonical encoding
    /// (`text(s)` = u64 big-endian length, then UTF-8; `int(i)` = i64 big-endian):
    ///
    /// ```text
    /// text(format)  text(tenant)  int(seq)  text(hash)  int(time_ms)
    /// ```
    pub fn signed_bytes(&self) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        let mut out = Vec::with_capacity(64 + self.tenant.len() + self.hash.len());
        text(&mut out, &self.format);
        text(&mut out, &self.tenant);
        out.extend_from_slice(&self.seq.to_be_bytes());
        text(&mut out, &self.hash);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out
    }

    /// Reads one line of a checkpoint file, checking its shape (not its signature).
    pub fn parse_line(line: &str) -> Result<Checkpoint, String> {
        let checkpoint: Checkpoint = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if checkpoint.format != CHECKPOINT_FORMAT {
            return Err(format!(
                "format '{}' is not `{CHECKPOINT_FORMAT}`",
                checkpoint.format
            ));
        }
        if checkpoint.tenant.is_empty() {
            return Err("tenant is empty".to_owned());
        }
        if checkpoint.seq < 1 {
            return Err(format!(
                "seq {} is not a record's (1 or more)",
                checkpoint.seq
            ));
        }
        if checkpoint.hash.len() != 64
            || !checkpoint
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "hash '{}' is not 64 lowercase hex digits",
                checkpoint.hash
            ));
        }
        Ok(checkpoint)
    }

    /// Whether `trusted` signed this checkpoint; `Some` says why not.
    pub fn signature_problem(&self, trusted: &PublicKey) -> Option<CheckpointProblem> {
        let trusted_text = trusted.to_string();
        if self.public_key != trusted_text {
            return Some(CheckpointProblem::UntrustedKey {
                signed_by: self.public_key.clone(),
                trusted: trusted_text,
            });
        }
        let valid = hex::decode(&self.signature)
            .is_ok_and(|signature| trusted.verifies(&self.signed_bytes(), &signature));
        (!valid).then_some(CheckpointProblem::BadSignature {
            trusted: trusted_text,
        })
    }

    /// Whether `chain` (the tenant's records and head, as stored now) still holds
    /// what this checkpoint anchors; `Some` says what differs. Checks the record at
    /// the checkpoint's sequence, not the chain's own links (that is [`super::verify`]'s
    /// job): run both.
    pub fn chain_problem(&self, chain: &AuditChain) -> Option<CheckpointProblem> {
        if chain.records.is_empty() && chain.head.is_none() {
            return Some(CheckpointProblem::ChainDeleted);
        }
        let record = record_at(&chain.records, self.seq);
        match record {
            None => {
                return Some(CheckpointProblem::Truncated {
                    chain_ends_at: chain.records.last().map_or(0, |r| r.seq),
                });
            }
            Some(record) if record.hash != self.hash => {
                return Some(CheckpointProblem::Rewritten {
                    record_hash: record.hash.clone(),
                });
            }
            Some(_) => {}
        }
        match &chain.head {
            Some(head) if head.last_seq >= self.seq => None,
            head => Some(CheckpointProblem::HeadBehind {
                head_seq: head.as_ref().map(|h| h.last_seq),
            }),
        }
    }
}

/// The record with sequence `seq`: records are kept in sequence order, usually
/// without gaps, so look where it should be first.
fn record_at(records: &[AuditRecord], seq: i64) -> Option<&AuditRecord> {
    let index = usize::try_from(seq - 1).ok()?;
    match records.get(index) {
        Some(record) if record.seq == seq => Some(record),
        _ => records.iter().find(|r| r.seq == seq),
    }
}

/// What is wrong with a checkpoint, or with the log it anchors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CheckpointProblem {
    /// The checkpoint names another signing key than the one trusted: another host's
    /// checkpoint, or the host key was replaced. It proves nothing and is not used.
    UntrustedKey {
        /// The key the checkpoint names.
        signed_by: String,
        /// The key it was checked against.
        trusted: String,
    },
    /// The signature does not verify: the checkpoint was forged or altered. It proves
    /// nothing and is not used.
    BadSignature {
        /// The key it was checked against.
        trusted: String,
    },
    /// The tenant has no audit records and no head any more.
    ChainDeleted,
    /// The chain has no record at the checkpoint's sequence: its newest records were
    /// deleted.
    Truncated {
        /// The last sequence number the chain still has (0: none).
        chain_ends_at: i64,
    },
    /// The record at the checkpoint's sequence has another hash: that record or one
    /// before it was rewritten, and the chain re-hashed.
    Rewritten {
        /// The stored record's hash.
        record_hash: String,
    },
    /// The chain's head is before the checkpoint (or gone): it was moved back.
    HeadBehind {
        /// The head's sequence number; `None` if the head row is gone.
        head_seq: Option<i64>,
    },
}

impl CheckpointProblem {
    /// Whether the problem is with the checkpoint (it cannot be trusted) rather than
    /// with the log (it differs from what was signed).
    pub fn is_untrusted_checkpoint(&self) -> bool {
        matches!(
            self,
            CheckpointProblem::UntrustedKey { .. } | CheckpointProblem::BadSignature { .. }
        )
    }
}

/// The outcome of checking one kept checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointCheck {
    /// The checkpoint's line in its file (1-based).
    pub line: usize,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// What is wrong; `None`: the log still holds what was signed.
    pub problem: Option<CheckpointProblem>,
}

impl CheckpointCheck {
    /// Checks `checkpoint` (line `line` of its file): first its signature under
    /// `trusted`, then, if it holds, `chain` (the tenant's as stored now) against it.
    pub fn run(
        line: usize,
        checkpoint: Checkpoint,
        trusted: &PublicKey,
        chain: &AuditChain,
    ) -> CheckpointCheck {
        let problem = checkpoint
            .signature_problem(trusted)
            .or_else(|| checkpoint.chain_problem(chain));
        CheckpointCheck {
            line,
            checkpoint,
            problem,
        }
    }
}

impl fmt::Display for CheckpointCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.checkpoint;
        let (tenant, seq, hash) = (&c.tenant, c.seq, &c.hash);
        let Some(problem) = &self.problem else {
            return write!(
                f,
                "tenant '{tenant}': record {seq} matches the checkpoint signed at {} ms (line {})",
                c.time_ms, self.line
            );
        };
        write!(
            f,
            "tenant '{tenant}': checkpoint of line {} (record {seq}, hash {hash}): ",
            self.line
        )?;
        match problem {
            CheckpointProblem::UntrustedKey { signed_by, trusted } => write!(
                f,
                "signed by {signed_by}, not by the trusted key {trusted}: a checkpoint of another \
                 host, or the host key was replaced; it proves nothing (pass the key you kept \
                 with --public-key)"
            ),
            CheckpointProblem::BadSignature { trusted } => write!(
                f,
                "its signature does not verify under {trusted}: the checkpoint was forged or \
                 altered; it proves nothing and was not used"
            ),
            CheckpointProblem::ChainDeleted => f.write_str(
                "the tenant's whole audit chain is gone (no records, no head): it was deleted",
            ),
            CheckpointProblem::Truncated { chain_ends_at: 0 } => write!(
                f,
                "record {seq} is missing and the chain has no records left, but its head \
                 remains: the records were deleted"
            ),
            CheckpointProblem::Truncated { chain_ends_at } => write!(
                f,
                "record {seq} is missing: the chain now ends at record {chain_ends_at}, so its \
                 newest records were deleted"
            ),
            CheckpointProblem::Rewritten { record_hash } => write!(
                f,
                "record {seq} now has hash {record_hash}: the log was rewritten at or before \
                 record {seq} and re-hashed (re-chained)"
            ),
            CheckpointProblem::HeadBehind { head_seq: None } => write!(
                f,
                "record {seq} is there but the chain head is gone: it was deleted"
            ),
            CheckpointProblem::HeadBehind {
                head_seq: Some(head),
            } => write!(
                f,
                "the chain head says the log ends at record {head}, before record {seq}: the \
                 head was moved back"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::GENESIS_HASH;
    use crate::audit::record::tests::context;
    use crate::consent::{Decision, Purpose};
    use crate::store::AuditHead;

    /// A valid chain of `n` records of tenant `acme`, with its head; the edit (if
    /// any) is applied to record `edit_at`, and everything after it re-hashed.
    fn chain_with(n: i64, edit_at: Option<i64>) -> AuditChain {
        let ctx = context("acme");
        let mut prev = GENESIS_HASH.to_owned();
        let records: Vec<AuditRecord> = (1..=n)
            .map(|seq| {
                let resource = if Some(seq) == edit_at {
                    "email"
                } else {
                    "phone"
                };
                let entry = ctx.entry(
                    resource,
                    Purpose::CallHandling,
                    &Decision::Allow { consent_id: 1 },
                    seq * 10,
                );
                let record = AuditRecord::seal(&entry, seq, &prev);
                prev = record.hash.clone();
                record
            })
            .collect();
        let head = records.last().map(|last| AuditHead {
            tenant: "acme".into(),
            last_seq: last.seq,
            last_hash: last.hash.clone(),
        });
        AuditChain { records, head }
    }

    fn key() -> HostSigningKey {
        HostSigningKey::from_secret([9; 32])
    }

    fn checkpoint_of(chain: &AuditChain) -> Checkpoint {
        let head = chain.head.as_ref().unwrap();
        Checkpoint::sign(&key(), "acme", head.last_seq, &head.last_hash, 1_000)
    }

    fn problem(checkpoint: &Checkpoint, chain: &AuditChain) -> Option<CheckpointProblem> {
        CheckpointCheck::run(3, checkpoint.clone(), &key().public_key(), chain).problem
    }

    #[test]
    fn a_checkpoint_round_trips_and_matches_its_chain_and_its_continuations() {
        let chain = chain_with(5, None);
        let checkpoint = checkpoint_of(&chain);
        let line = serde_json::to_string(&checkpoint).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(Checkpoint::parse_line(&line).unwrap(), checkpoint);
        assert_eq!(problem(&checkpoint, &chain), None);
        assert_eq!(
            problem(&checkpoint, &chain_with(9, None)),
            None,
            "records appended since are fine"
        );
        let check = CheckpointCheck::run(3, checkpoint, &key().public_key(), &chain);
        assert_eq!(
            check.to_string(),
            "tenant 'acme': record 5 matches the checkpoint signed at 1000 ms (line 3)"
        );
    }

    #[test]
    fn truncation_deletion_rechaining_and_a_moved_head_are_named() {
        let chain = chain_with(5, None);
        let checkpoint = checkpoint_of(&chain);

        let mut truncated = chain_with(3, None);
        assert_eq!(
            problem(&checkpoint, &truncated),
            Some(CheckpointProblem::Truncated { chain_ends_at: 3 })
        );
        truncated.head = None;
        assert!(matches!(
            problem(&checkpoint, &truncated),
            Some(CheckpointProblem::Truncated { .. })
        ));

        let deleted = AuditChain {
            records: Vec::new(),
            head: None,
        };
        let check = CheckpointCheck::run(2, checkpoint.clone(), &key().public_key(), &deleted);
        assert_eq!(check.problem, Some(CheckpointProblem::ChainDeleted));
        assert!(
            check
                .to_string()
                .starts_with("tenant 'acme': checkpoint of line 2 (record 5, hash ")
        );
        assert!(check.to_string().ends_with("it was deleted"), "{check}");

        // Record 2 edited, records 2..=5 re-hashed and the head moved to match: a
        // chain that verifies on its own.
        let rechained = chain_with(5, Some(2));
        assert!(
            crate::audit::verify_with_head("acme", &rechained.records, rechained.head.as_ref())
                .is_clean()
        );
        let check = CheckpointCheck::run(1, checkpoint.clone(), &key().public_key(), &rechained);
        assert_eq!(
            check.problem,
            Some(CheckpointProblem::Rewritten {
                record_hash: rechained.records[4].hash.clone()
            })
        );
        assert!(check.to_string().contains("re-chained"), "{check}");
        // Re-chained and grown past the checkpoint: still caught.
        assert!(matches!(
            problem(&checkpoint, &chain_with(8, Some(5))),
            Some(CheckpointProblem::Rewritten { .. })
        ));

        let mut rewound = chain.clone();
        rewound.head.as_mut().unwrap().last_seq = 4;
        assert_eq!(
            problem(&checkpoint, &rewound),
            Some(CheckpointProblem::HeadBehind { head_seq: Some(4) })
        );
        rewound.head = None;
        assert_eq!(
            problem(&checkpoint, &rewound),
            Some(CheckpointProblem::HeadBehind { head_seq: None })
        );
    }

    #[test]
    fn forged_altered_and_foreign_checkpoints_prove_nothing() {
        let chain = chain_with(5, None);
        let good = checkpoint_of(&chain);
        let trusted = key().public_key();

        // Moved back to a shorter chain's head, keeping the signature.
        let shorter = chain_with(3, None);
        let mut altered = good.clone();
        altered.seq = 3;
        altered.hash = shorter.records[2].hash.clone();
        let check = CheckpointCheck::run(1, altered, &trusted, &shorter);
        assert!(matches!(
            check.problem,
            Some(CheckpointProblem::BadSignature { .. })
        ));
        assert!(check.problem.unwrap().is_untrusted_checkpoint());

        let mut garbage = good.clone();
        garbage.signature = "zz".into();
        assert!(matches!(
            problem(&garbage, &chain),
            Some(CheckpointProblem::BadSignature { .. })
        ));

        // Signed by another key (an attacker's), naming that key: still refused.
        let attacker = HostSigningKey::from_secret([1; 32]);
        let forged = Checkpoint::sign(&attacker, "acme", 3, &shorter.records[2].hash, 5);
        let check = CheckpointCheck::run(1, forged.clone(), &trusted, &shorter);
        assert!(
            matches!(check.problem, Some(CheckpointProblem::UntrustedKey { .. })),
            "{check}"
        );
        // ... and naming the trusted key, with the attacker's signature.
        let mut impostor = forged;
        impostor.public_key = trusted.to_string();
        assert!(matches!(
            problem(&impostor, &shorter),
            Some(CheckpointProblem::BadSignature { .. })
        ));
    }

    #[test]
    fn malformed_lines_are_refused_with_the_reason() {
        let good = serde_json::to_value(checkpoint_of(&chain_with(2, None))).unwrap();
        let cases: [(&str, serde_json::Value); 5] = [
            ("format", serde_json::json!("cally-audit-checkpoint-v9")),
            ("tenant", serde_json::json!("")),
            ("seq", serde_json::json!(0)),
            ("hash", serde_json::json!("ABC")),
            ("extra", serde_json::json!(1)),
        ];
        for (field, value) in cases {
            let mut line = good.clone();
            line[field] = value;
            let err = Checkpoint::parse_line(&line.to_string()).unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(Checkpoint::parse_line("{").is_err());
    }
}
