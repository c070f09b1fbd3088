//! Audit before release, under a crash: many calls read a lead's data while
//! the process is killed with SIGKILL. After a restart, every value a plugin
//! received (the probe printed it the moment it had it) has its durable audit
//! record, and the chain verifies.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cally_host::store::{AuditFilter, SqliteStore, Store};

/// Lines (released values) to see before pulling the plug.
const RELEASED_BEFORE_KILL: usize = 600;

#[tokio::test]
async fn every_value_released_before_a_sigkill_has_its_durable_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_audited-reads"))
        .arg(dir.path())
        .arg("24")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the load");
    let stdout = child.stdout.take().unwrap();
    let mut released: HashMap<(String, String), usize> = HashMap::new();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = 0;
    while seen < RELEASED_BEFORE_KILL {
        let line = lines.next().expect("the load keeps printing").unwrap();
        let mut parts = line.split('\t');
        let (call, field) = (parts.next().unwrap(), parts.next().unwrap());
        *released
            .entry((call.to_owned(), field.to_owned()))
            .or_default() += 1;
        seen += 1;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // Values printed between our last read and the kill are in the pipe; the
    // plugin had them too, so they count.
    for line in lines.map_while(Result::ok) {
        let mut parts = line.split('\t');
        if let (Some(call), Some(field), Some(_)) = (parts.next(), parts.next(), parts.next()) {
            *released
                .entry((call.to_owned(), field.to_owned()))
                .or_default() += 1;
        }
    }

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let records = store
        .audit_records("crash-test", &AuditFilter::default())
        .await
        .unwrap();
    let mut audited: HashMap<(String, String), usize> = HashMap::new();
    for record in records.iter().filter(|r| r.decision == "allowed") {
        *audited
            .entry((record.call_id.clone(), record.resource.clone()))
            .or_default() += 1;
    }
    for (key, count) in &released {
        let durable = audited.get(key).copied().unwrap_or(0);
        assert!(
            durable >= *count,
            "{key:?}: the plugin received {count} values but only {durable} audit records are durable"
        );
    }
    let report = cally_host::audit::verify_tenant(store.as_ref(), "crash-test")
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.records as usize >= RELEASED_BEFORE_KILL);
}
