//! The audit log against a real SQLite file in a temporary directory: appends, group
//! commit, failure, and tampering by a second, raw connection to the same file.
//!
//! Scenarios:
//! - a clean log verifies, survives a reopen, and exports by lead and time;
//! - tampering (edit, delete middle, delete newest, forged insert, swapped sequence
//!   numbers) is each reported at the right first bad sequence number;
//! - a failing write (a trigger raising "disk full") denies every waiter of the batch,
//!   stores nothing, and the chain continues cleanly once the fault is gone;
//! - concurrent appends from many tasks and tenants form one valid chain per tenant,
//!   in far fewer transactions than appends;
//! - two stores on one file (two processes) appending in turn both continue the
//!   chain from its true head, though each remembers the head it last wrote.

use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Executor};

use super::record::tests::context;
use super::*;
use crate::consent::{Decision, DenyReason, Purpose};
use crate::store::{AuditFilter, AuditStore, SqliteStore};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    writer: AuditWriter,
    raw: SqliteConnection,
}

/// A store on a fresh file, its writer, and a raw connection to the same file.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let writer = AuditWriter::spawn(store.clone());
    let raw = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(store.path()))
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        writer,
        raw,
    }
}

fn entry(tenant: &str, n: i64) -> AuditEntry {
    let mut ctx = context(tenant);
    ctx.lead = Some(format!("lead-{:016x}", n % 3));
    let decision = if n % 4 == 0 {
        Decision::Deny(DenyReason::LeadRestricted)
    } else {
        Decision::Allow { consent_id: n }
    };
    ctx.entry("phone", Purpose::CallHandling, &decision, 1_000 + n)
}

/// Appends `n` records for `tenant`, one request each, and checks they verify.
async fn append(fx: &Fixture, tenant: &str, n: i64) {
    for i in 1..=n {
        fx.writer.append(vec![entry(tenant, i)]).await.unwrap();
    }
    let report = verify_tenant(fx.store.as_ref(), tenant).await.unwrap();
    assert!(report.is_clean(), "{report}");
}

async fn raw_exec(fx: &mut Fixture, sql: &'static str) {
    fx.raw.execute(sql).await.unwrap();
}

async fn report(fx: &Fixture) -> VerifyReport {
    verify_tenant(fx.store.as_ref(), "acme").await.unwrap()
}

#[tokio::test]
async fn a_clean_log_verifies_survives_reopening_and_exports() {
    let fx = fixture().await;
    let records = fx
        .writer
        .append(vec![entry("acme", 1), entry("beta", 1), entry("acme", 2)])
        .await
        .unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.tenant.as_str(), r.seq))
            .collect::<Vec<_>>(),
        [("acme", 1), ("beta", 1), ("acme", 2)],
        "records come back in the order given, each in its tenant's chain"
    );
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    assert_eq!(records[2].prev_hash, records[0].hash);
    append(&fx, "acme", 4).await;
    let report = report(&fx).await;
    assert_eq!((report.records, report.last_seq), (6, 6));
    assert_eq!(report.to_string(), "tenant 'acme': 6 records, chain intact");
    assert_eq!(fx.store.audit_tenants().await.unwrap(), ["acme", "beta"]);

    // Durable: a new store on the same file sees the same chain, and continues it.
    let dir = fx.store.path().parent().unwrap().to_owned();
    let reopened = Arc::new(SqliteStore::open(&dir).await.unwrap());
    let writer = AuditWriter::spawn(reopened.clone());
    let next = writer.append_one(entry("acme", 7)).await.unwrap();
    assert_eq!(next.seq, 7);
    assert!(
        verify_tenant(reopened.as_ref(), "acme")
            .await
            .unwrap()
            .is_clean()
    );

    // Export: one lead, a time range, both formats.
    let lead = records[0].lead.clone();
    let filter = AuditFilter {
        lead: lead.clone(),
        ..AuditFilter::default()
    };
    let mut out = Vec::new();
    let n = export(
        reopened.as_ref(),
        "acme",
        &filter,
        ExportFormat::Jsonl,
        &mut out,
    )
    .await
    .unwrap();
    let lines: Vec<AuditRecord> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    assert!(n >= 2 && lines.iter().all(|r| r.lead == lead && r.tenant == "acme"));

    let range = AuditFilter {
        from_ms: Some(1_002),
        to_ms: Some(1_004),
        ..AuditFilter::default()
    };
    let mut out = Vec::new();
    assert_eq!(
        export(
            reopened.as_ref(),
            "acme",
            &range,
            ExportFormat::Csv,
            &mut out
        )
        .await
        .unwrap(),
        3,
        "time 1002 (twice: seq 2 and 4) and 1003; 1004 is excluded"
    );
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);

    // A full JSON-lines export verifies on its own, away from the database.
    let mut out = Vec::new();
    export(
        reopened.as_ref(),
        "acme",
        &AuditFilter::default(),
        ExportFormat::Jsonl,
        &mut out,
    )
    .await
    .unwrap();
    let all: Vec<AuditRecord> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(verify(&all).is_clean());
}

#[tokio::test]
async fn an_edited_field_is_reported_at_its_record() {
    let mut fx = fixture().await;
    append(&fx, "acme", 5).await;
    raw_exec(&mut fx, "UPDATE audit_log SET decision = 'allowed', reason = NULL WHERE tenant = 'acme' AND seq = 4").await;
    let report = report(&fx).await;
    assert_eq!(report.first_bad_seq(), Some(4), "{report}");
    assert!(matches!(
        report.problem.unwrap().kind,
        ProblemKind::Altered { .. }
    ));
}

#[tokio::test]
async fn a_deleted_middle_record_is_reported() {
    let mut fx = fixture().await;
    append(&fx, "acme", 5).await;
    raw_exec(
        &mut fx,
        "DELETE FROM audit_log WHERE tenant = 'acme' AND seq = 3",
    )
    .await;
    let report = report(&fx).await;
    assert_eq!(
        report.problem.as_ref().unwrap(),
        &ChainProblem {
            seq: 3,
            kind: ProblemKind::Missing { next_seq: 4 }
        }
    );
    assert_eq!(
        report.to_string(),
        "tenant 'acme': record 3 is missing (deleted): the log goes on at 4"
    );
}

#[tokio::test]
async fn a_deleted_newest_record_is_caught_by_the_head() {
    let mut fx = fixture().await;
    append(&fx, "acme", 5).await;
    raw_exec(
        &mut fx,
        "DELETE FROM audit_log WHERE tenant = 'acme' AND seq = 5",
    )
    .await;
    let report = report(&fx).await;
    assert_eq!(
        report.problem.unwrap(),
        ChainProblem {
            seq: 5,
            kind: ProblemKind::Truncated { head_seq: 5 }
        }
    );
    // Deleting the head too is no way out.
    raw_exec(&mut fx, "DELETE FROM audit_heads WHERE tenant = 'acme'").await;
    assert_eq!(
        self::report(&fx).await.problem.unwrap(),
        ChainProblem {
            seq: 4,
            kind: ProblemKind::HeadMissing
        }
    );
}

#[tokio::test]
async fn a_forged_record_is_reported() {
    let mut fx = fixture().await;
    append(&fx, "acme", 3).await;
    // A forger who knows the encoding appends a well-formed record after the newest,
    // with a correct hash and link, but leaves the head alone. (One who also rewrites
    // the head cannot be caught by an unkeyed chain; see the module docs of `verify`.)
    let last = fx.store.audit_head("acme").await.unwrap().unwrap();
    let forged = AuditRecord::seal(&entry("acme", 99), 4, &last.last_hash);
    sqlx::query(
        "INSERT INTO audit_log (tenant, seq, time_ms, plugin, plugin_version, component_digest, \
         call_id, lead, resource, purpose, decision, reason, consent_id, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .bind(&forged.tenant)
    .bind(forged.seq)
    .bind(forged.time_ms)
    .bind(&forged.plugin)
    .bind(&forged.plugin_version)
    .bind(&forged.component_digest)
    .bind(&forged.call_id)
    .bind(&forged.lead)
    .bind(&forged.resource)
    .bind(&forged.purpose)
    .bind(&forged.decision)
    .bind(&forged.reason)
    .bind(forged.consent_id)
    .bind(&forged.prev_hash)
    .bind(&forged.hash)
    .execute(&mut fx.raw)
    .await
    .unwrap();
    assert_eq!(
        report(&fx).await.problem.unwrap(),
        ChainProblem {
            seq: 4,
            kind: ProblemKind::BeyondHead { head_seq: 3 }
        }
    );

    // A forged record squeezed into the middle: renumber 2..=3 up by one and insert
    // a copy of record 1 with a made-up hash at 2.
    let mut fx = fixture().await;
    append(&fx, "acme", 3).await;
    raw_exec(
        &mut fx,
        "UPDATE audit_log SET seq = seq + 10 WHERE tenant = 'acme' AND seq >= 2",
    )
    .await;
    raw_exec(
        &mut fx,
        "UPDATE audit_log SET seq = seq - 9 WHERE tenant = 'acme' AND seq >= 12",
    )
    .await;
    raw_exec(
        &mut fx,
        "INSERT INTO audit_log SELECT tenant, 2, time_ms, plugin, plugin_version, \
         component_digest, call_id, lead, 'recording', purpose, decision, reason, consent_id, \
         hash, 'forged', actor_key, actor_role, client_address, operation \
         FROM audit_log WHERE tenant = 'acme' AND seq = 1",
    )
    .await;
    let report = report(&fx).await;
    assert_eq!(report.first_bad_seq(), Some(2), "{report}");
    assert!(matches!(
        report.problem.unwrap().kind,
        ProblemKind::Altered { .. }
    ));
}

#[tokio::test]
async fn swapped_sequence_numbers_are_reported() {
    let mut fx = fixture().await;
    append(&fx, "acme", 5).await;
    raw_exec(
        &mut fx,
        "UPDATE audit_log SET seq = 100 WHERE tenant = 'acme' AND seq = 2",
    )
    .await;
    raw_exec(
        &mut fx,
        "UPDATE audit_log SET seq = 2 WHERE tenant = 'acme' AND seq = 3",
    )
    .await;
    raw_exec(
        &mut fx,
        "UPDATE audit_log SET seq = 3 WHERE tenant = 'acme' AND seq = 100",
    )
    .await;
    let report = report(&fx).await;
    assert_eq!(report.first_bad_seq(), Some(2), "{report}");
    assert!(matches!(
        report.problem.unwrap().kind,
        ProblemKind::BrokenLink { .. }
    ));
}

#[tokio::test]
async fn a_failing_write_fails_closed_and_leaves_nothing() {
    let mut fx = fixture().await;
    append(&fx, "acme", 2).await;
    append(&fx, "beta", 2).await;
    let head_before = fx.store.audit_head("acme").await.unwrap();

    // The disk "fills up", but only for tenant beta: a batch mixing both tenants must
    // store nothing of acme's part either.
    raw_exec(
        &mut fx,
        "CREATE TRIGGER disk_full BEFORE INSERT ON audit_log WHEN NEW.tenant = 'beta' \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .await;
    let direct = fx
        .store
        .append_audit_batch(&[entry("acme", 3), entry("beta", 3)])
        .await
        .unwrap_err();
    assert!(direct.to_string().contains("disk full"), "{direct}");

    // Through the writer: many concurrent waiters, each with records of both
    // tenants (however the writer groups them, every batch holds a failing
    // record), every one of them denied.
    let waiters: Vec<_> = (0..20)
        .map(|i| {
            let writer = fx.writer.clone();
            tokio::spawn(async move {
                writer
                    .append(vec![entry("acme", i), entry("beta", i)])
                    .await
            })
        })
        .collect();
    for waiter in waiters {
        let outcome = waiter.await.unwrap();
        assert!(
            matches!(&outcome, Err(AuditError::Unavailable(detail)) if detail.contains("disk full")),
            "{outcome:?}"
        );
    }
    assert!(fx.writer.stats().failed_batches >= 1);
    assert_eq!(
        fx.store.audit_head("acme").await.unwrap(),
        head_before,
        "head untouched"
    );
    assert_eq!(
        fx.store
            .audit_records("acme", &AuditFilter::default())
            .await
            .unwrap()
            .len(),
        2,
        "nothing of a failed batch is stored"
    );
    assert_eq!(DenyReason::AuditUnavailable.as_str(), "audit-unavailable");

    // The fault goes away: appends work and both chains continue cleanly.
    raw_exec(&mut fx, "DROP TRIGGER disk_full").await;
    let records = fx
        .writer
        .append(vec![entry("acme", 3), entry("beta", 3)])
        .await
        .unwrap();
    assert_eq!((records[0].seq, records[1].seq), (3, 3));
    for tenant in ["acme", "beta"] {
        let report = verify_tenant(fx.store.as_ref(), tenant).await.unwrap();
        assert!(report.is_clean() && report.last_seq == 3, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_form_one_chain_per_tenant_in_few_transactions() {
    let fx = fixture().await;
    const APPENDS: i64 = 1000;
    let tasks: Vec<_> = (0..APPENDS)
        .map(|i| {
            let writer = fx.writer.clone();
            let tenant = ["acme", "beta", "gamma"][(i % 3) as usize];
            tokio::spawn(async move {
                // Some calls read several fields in one audited round trip.
                let entries = (0..1 + i % 3).map(|k| entry(tenant, i * 10 + k)).collect();
                writer.append(entries).await.unwrap()
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        let records = task.await.unwrap();
        assert!(
            records.windows(2).all(|w| w[1].seq == w[0].seq + 1),
            "one request stays contiguous"
        );
        total += records.len();
    }
    let stats = fx.writer.stats();
    assert_eq!(stats.records as usize, total);
    assert_eq!(stats.failed_batches, 0);
    assert!(
        stats.batches * 10 <= APPENDS as u64,
        "group commit should batch: {} transactions for {APPENDS} appends",
        stats.batches
    );
    assert!(stats.largest_batch > 1);
    let mut verified = 0;
    for tenant in ["acme", "beta", "gamma"] {
        let report = verify_tenant(fx.store.as_ref(), tenant).await.unwrap();
        assert!(report.is_clean(), "{report}");
        verified += report.records as usize;
    }
    assert_eq!(verified, total);
}

#[tokio::test]
async fn two_stores_on_one_file_continue_each_others_chain() {
    let fx = fixture().await;
    let other = SqliteStore::open(fx.store.path().parent().unwrap())
        .await
        .unwrap();
    // Each store learns the head, then the other moves it behind its back.
    let mut seqs = Vec::new();
    for round in 0..3 {
        let mine = fx
            .store
            .append_audit_batch(&[entry("acme", 2 * round), entry("beta", round)])
            .await
            .unwrap();
        let theirs = other
            .append_audit_batch(&[entry("acme", 2 * round + 1)])
            .await
            .unwrap();
        seqs.extend([mine[0].seq, theirs[0].seq]);
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    for tenant in ["acme", "beta"] {
        let report = verify_tenant(fx.store.as_ref(), tenant).await.unwrap();
        assert!(report.is_clean(), "{report}");
    }
    assert_eq!(
        fx.store.audit_head("acme").await.unwrap().unwrap().last_seq,
        6
    );
}
