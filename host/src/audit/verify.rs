//! Verifying a tenant's hash chain: every record must hash to its stored hash, link to
//! the one before it, and carry the next sequence number; the last one must be the
//! chain head the store keeps. The first record breaking a rule is reported.
//!
//! What this does not catch: the chain is unkeyed SHA-256 (anyone can check it), so
//! someone with write access to the database who recomputes every hash after their
//! edit, and moves the head to match, leaves a chain that verifies; so does one who
//! deletes the newest records together with the head row, or a tenant's whole chain.
//! Signed checkpoints kept outside the database catch those ([`super::CheckpointCheck`]).

use std::fmt;

use serde::Serialize;

use super::{AuditError, AuditRecord, GENESIS_HASH};
use crate::store::{AuditHead, AuditStore};

/// What is wrong at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The record's content does not hash to its stored hash: a field was edited.
    Altered {
        /// The stored hash.
        stored: String,
        /// What its content hashes to.
        computed: String,
    },
    /// The record's `prev_hash` is not the previous record's hash: a record was
    /// inserted, records were reordered, or the previous one was replaced wholesale.
    BrokenLink {
        /// The previous record's hash (or [`GENESIS_HASH`]).
        expected: String,
        /// The record's `prev_hash`.
        found: String,
    },
    /// The sequence jumps: records from here up to `next_seq - 1` were deleted.
    Missing {
        /// The sequence number found instead.
        next_seq: i64,
    },
    /// A sequence number repeats or goes backwards (only in a hand-made list: the
    /// store keeps one record per sequence number).
    OutOfOrder {
        /// The sequence number found instead.
        found_seq: i64,
    },
    /// The record belongs to another tenant.
    WrongTenant {
        /// The tenant it names.
        found: String,
    },
    /// The head says the chain is longer: the newest records, from here on, were
    /// deleted.
    Truncated {
        /// The head's last sequence number.
        head_seq: i64,
    },
    /// Records exist past the head: they were added outside the host.
    BeyondHead {
        /// The head's last sequence number.
        head_seq: i64,
    },
    /// The last record is not the one the head recorded: it was replaced.
    HeadMismatch {
        /// The head's hash.
        head_hash: String,
        /// The last record's hash.
        record_hash: String,
    },
    /// Records exist but the head was deleted.
    HeadMissing,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Altered { stored, computed } => write!(
                f,
                "was altered: its stored hash is {stored} but its content hashes to {computed}"
            ),
            ProblemKind::BrokenLink { expected, found } => write!(
                f,
                "does not follow the record before it (inserted or reordered): its prev_hash is \
                 {found}, expected {expected}"
            ),
            ProblemKind::Missing { next_seq } => {
                write!(f, "is missing (deleted): the log goes on at {next_seq}")
            }
            ProblemKind::OutOfOrder { found_seq } => {
                write!(f, "is out of order: record {found_seq} stands in its place")
            }
            ProblemKind::WrongTenant { found } => write!(f, "belongs to tenant '{found}'"),
            ProblemKind::Truncated { head_seq } => write!(
                f,
                "is missing (deleted): the chain head says the log ends at {head_seq}"
            ),
            ProblemKind::BeyondHead { head_seq } => write!(
                f,
                "was added outside the host: the chain head says the log ends at {head_seq}"
            ),
            ProblemKind::HeadMismatch {
                head_hash,
                record_hash,
            } => write!(
                f,
                "was replaced: the chain head recorded hash {head_hash}, the record has {record_hash}"
            ),
            ProblemKind::HeadMissing => {
                f.write_str("is the newest record, but the chain head was deleted")
            }
        }
    }
}

/// The first bad record of a chain and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainProblem {
    /// The first sequence number that is wrong.
    pub seq: i64,
    /// What is wrong there.
    #[serde(flatten)]
    pub kind: ProblemKind,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} {}", self.seq, self.kind)
    }
}

/// The outcome of verifying one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// The tenant verified.
    pub tenant: String,
    /// How many records were checked.
    pub records: u64,
    /// The last sequence number seen (0 for an empty log).
    pub last_seq: i64,
    /// The first problem, if any; `None` means the chain is intact.
    #[schema(required = true)]
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }

    /// The first bad sequence number, if any.
    pub fn first_bad_seq(&self) -> Option<i64> {
        self.problem.as_ref().map(|p| p.seq)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "tenant '{}': {} records, chain intact",
                self.tenant, self.records
            ),
            Some(problem) => write!(f, "tenant '{}': {problem}", self.tenant),
        }
    }
}

/// Verifies records as a complete chain from sequence 1 (for example, a full export),
/// without a head: a deletion of the newest records cannot be seen this way; use
/// [`verify_with_head`] or [`verify_tenant`] for that. The tenant is the first
/// record's.
pub fn verify(records: &[AuditRecord]) -> VerifyReport {
    let tenant = records
        .first()
        .map(|r| r.tenant.clone())
        .unwrap_or_default();
    check_chain(&tenant, records)
}

/// Verifies a tenant's complete chain against its stored head.
pub fn verify_with_head(
    tenant: &str,
    records: &[AuditRecord],
    head: Option<&AuditHead>,
) -> VerifyReport {
    let mut report = check_chain(tenant, records);
    let last = records.last();
    let head_problem = match (head, last) {
        (None, None) => None,
        (None, Some(last)) => Some(ChainProblem {
            seq: last.seq,
            kind: ProblemKind::HeadMissing,
        }),
        (Some(head), None) if head.last_seq > 0 => Some(ChainProblem {
            seq: 1,
            kind: ProblemKind::Truncated {
                head_seq: head.last_seq,
            },
        }),
        (Some(_), None) => None,
        (Some(head), Some(last)) if last.seq < head.last_seq => Some(ChainProblem {
            seq: last.seq + 1,
            kind: ProblemKind::Truncated {
                head_seq: head.last_seq,
            },
        }),
        (Some(head), Some(last)) if last.seq > head.last_seq => Some(ChainProblem {
            seq: head.last_seq + 1,
            kind: ProblemKind::BeyondHead {
                head_seq: head.last_seq,
            },
        }),
        (Some(head), Some(last)) if last.hash != head.last_hash => Some(ChainProblem {
            seq: last.seq,
            kind: ProblemKind::HeadMismatch {
                head_hash: head.last_hash.clone(),
                record_hash: last.hash.clone(),
            },
        }),
        (Some(_), Some(_)) => None,
    };
    // Report whichever comes first in the chain; on a tie the record's own problem.
    if let Some(head_problem) = head_problem
        && report
            .problem
            .as_ref()
            .is_none_or(|p| head_problem.seq < p.seq)
    {
        report.problem = Some(head_problem);
    }
    report
}

/// Verifies a tenant's chain as stored, against its head, from one snapshot.
pub async fn verify_tenant(
    store: &dyn AuditStore,
    tenant: &str,
) -> Result<VerifyReport, AuditError> {
    let chain = store.audit_chain(tenant).await?;
    Ok(verify_with_head(
        tenant,
        &chain.records,
        chain.head.as_ref(),
    ))
}

fn check_chain(tenant: &str, records: &[AuditRecord]) -> VerifyReport {
    let mut prev_hash = GENESIS_HASH;
    let mut problem = None;
    for (expected_seq, record) in (1..).zip(records) {
        let kind = if record.tenant != tenant {
            Some(ProblemKind::WrongTenant {
                found: record.tenant.clone(),
            })
        } else if record.seq > expected_seq {
            Some(ProblemKind::Missing {
                next_seq: record.seq,
            })
        } else if record.seq < expected_seq {
            Some(ProblemKind::OutOfOrder {
                found_seq: record.seq,
            })
        } else if record.prev_hash != prev_hash {
            Some(ProblemKind::BrokenLink {
                expected: prev_hash.to_owned(),
                found: record.prev_hash.clone(),
            })
        } else {
            let computed = record.compute_hash();
            (computed != record.hash).then(|| ProblemKind::Altered {
                stored: record.hash.clone(),
                computed,
            })
        };
        if let Some(kind) = kind {
            problem = Some(ChainProblem {
                seq: expected_seq,
                kind,
            });
            break;
        }
        prev_hash = &record.hash;
    }
    VerifyReport {
        tenant: tenant.to_owned(),
        records: records.len() as u64,
        last_seq: records.last().map_or(0, |r| r.seq),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::tests::context;
    use crate::consent::{Decision, Purpose};

    /// A valid chain of `n` records for tenant `acme`.
    fn chain(n: i64) -> Vec<AuditRecord> {
        let ctx = context("acme");
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let entry = ctx.entry(
                    "phone",
                    Purpose::CallHandling,
                    &Decision::Allow { consent_id: 1 },
                    seq * 10,
                );
                let record = AuditRecord::seal(&entry, seq, &prev);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    fn head(records: &[AuditRecord]) -> AuditHead {
        let last = records.last().unwrap();
        AuditHead {
            tenant: "acme".into(),
            last_seq: last.seq,
            last_hash: last.hash.clone(),
        }
    }

    #[test]
    fn pure_checks_name_the_first_bad_record() {
        let good = chain(5);
        assert!(verify(&good).is_clean());
        assert_eq!(
            verify(&good).to_string(),
            "tenant 'acme': 5 records, chain intact"
        );
        assert!(verify(&[]).is_clean());

        let mut edited = good.clone();
        edited[2].resource = "email".into();
        let report = verify(&edited);
        assert_eq!(report.first_bad_seq(), Some(3));
        assert!(matches!(
            report.problem.unwrap().kind,
            ProblemKind::Altered { .. }
        ));

        let mut deleted = good.clone();
        deleted.remove(1);
        let report = verify(&deleted);
        assert_eq!(report.first_bad_seq(), Some(2));
        assert_eq!(
            report.problem.as_ref().unwrap().kind,
            ProblemKind::Missing { next_seq: 3 }
        );
        assert_eq!(
            report.to_string(),
            "tenant 'acme': record 2 is missing (deleted): the log goes on at 3"
        );

        let mut duplicated = good.clone();
        duplicated.insert(2, good[1].clone());
        assert_eq!(
            verify(&duplicated).problem.unwrap(),
            ChainProblem {
                seq: 3,
                kind: ProblemKind::OutOfOrder { found_seq: 2 }
            }
        );

        let mut foreign = good.clone();
        foreign[3].tenant = "other".into();
        assert_eq!(verify(&foreign).first_bad_seq(), Some(4));

        // A forged record with a correct hash but a made-up link.
        let mut forged = good.clone();
        forged[1] = AuditRecord::seal(
            &context("acme").entry(
                "email",
                Purpose::Marketing,
                &Decision::Allow { consent_id: 9 },
                1,
            ),
            2,
            &"f".repeat(64),
        );
        let report = verify(&forged);
        assert_eq!(report.first_bad_seq(), Some(2));
        assert!(matches!(
            report.problem.unwrap().kind,
            ProblemKind::BrokenLink { .. }
        ));
    }

    #[test]
    fn the_head_catches_what_the_chain_cannot() {
        let good = chain(4);
        let h = head(&good);
        assert!(verify_with_head("acme", &good, Some(&h)).is_clean());
        assert!(verify_with_head("acme", &[], None).is_clean());

        let truncated = &good[..3];
        assert!(verify(truncated).is_clean(), "invisible without the head");
        assert_eq!(
            verify_with_head("acme", truncated, Some(&h))
                .problem
                .unwrap(),
            ChainProblem {
                seq: 4,
                kind: ProblemKind::Truncated { head_seq: 4 }
            }
        );
        assert_eq!(
            verify_with_head("acme", &[], Some(&h)).first_bad_seq(),
            Some(1),
            "everything deleted"
        );

        let longer = chain(6);
        assert_eq!(
            verify_with_head("acme", &longer, Some(&h)).problem.unwrap(),
            ChainProblem {
                seq: 5,
                kind: ProblemKind::BeyondHead { head_seq: 4 }
            }
        );

        let mut replaced = good.clone();
        replaced[3] = AuditRecord::seal(
            &context("acme").entry(
                "email",
                Purpose::Marketing,
                &Decision::Allow { consent_id: 9 },
                1,
            ),
            4,
            &good[2].hash,
        );
        let report = verify_with_head("acme", &replaced, Some(&h));
        assert_eq!(report.first_bad_seq(), Some(4));
        assert!(matches!(
            report.problem.unwrap().kind,
            ProblemKind::HeadMismatch { .. }
        ));

        assert_eq!(
            verify_with_head("acme", &good, None).problem.unwrap(),
            ChainProblem {
                seq: 4,
                kind: ProblemKind::HeadMissing
            }
        );

        // An earlier chain problem wins over a head problem.
        let mut edited = good[..3].to_vec();
        edited[0].call_id = "call-9".into();
        assert_eq!(
            verify_with_head("acme", &edited, Some(&h)).first_bad_seq(),
            Some(1)
        );
    }
}
