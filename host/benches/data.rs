//! The personal-data benchmark behind `BENCHMARKS.md`:
//!
//! ```sh
//! cargo bench -p cally-host --bench data
//! ```
//!
//! In one run it measures, on a real SQLite file with `synchronous = FULL`:
//! - the consent decision alone (`consent::decide`, no I/O), per call;
//! - audited reads through the data gate (load the lead's consents, decide,
//!   append the audit record in the group-commit writer, wait until it is
//!   durable) from 1, 16, 64, 256 and 1024 concurrent calls: reads per second and
//!   per-read latency p50/p99;
//! - the same reads made by a real plugin: the appointment reminder's
//!   `started` event on a call with a lead (two audited reads per call).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cally_host::audit::{AuditWriter, Pseudonymizer};
use cally_host::capabilities::gate::{CallScope, DataGate, DataRequest, DataServices, Declared};
use cally_host::component::ComponentCache;
use cally_host::consent::{
    self, AccessRequest, AgeStatus, ConsentRecord, DataField, LeadState, Purpose, Resource,
};
use cally_host::manifest::Manifest;
use cally_host::protocol::{CallEvent, CallStarted, Direction};
use cally_host::sandbox::{Sandbox, SandboxConfig};
use cally_host::session::{CallOptions, FlowInstance};
use cally_host::store::{Lead, NewConsent, SqliteStore, Store};

const TENANT: &str = "bench";
const LEAD: &str = "lead-1";
/// How long each throughput run lasts.
const RUN: Duration = Duration::from_secs(4);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    println!("| measurement | result |");
    println!("|---|---:|");
    decision_cost();

    let dir = tempfile::tempdir().expect("temporary directory");
    let services = services(dir.path()).await;
    for calls in [1, 16, 64, 256, 1024] {
        gate_throughput(&services, calls).await;
    }
    plugin_reads(&services).await;
}

fn decision_cost() {
    let consents = vec![
        consent_record(1, Purpose::Marketing),
        consent_record(2, Purpose::CallHandling),
    ];
    let lead = LeadState {
        age: AgeStatus::Adult,
        restricted: false,
        erased: false,
    };
    let request = AccessRequest {
        resource: Resource::Field(DataField::Phone),
        purpose: Purpose::CallHandling,
        declared: true,
        now_ms: 1_800_000_000_000,
    };
    const BATCH: u32 = 10_000;
    let mut per_decision = Vec::new();
    for round in 0..200 {
        let begin = Instant::now();
        for _ in 0..BATCH {
            black_box(consent::decide(
                black_box(&request),
                black_box(&lead),
                black_box(&consents),
            ));
        }
        if round >= 20 {
            per_decision.push(begin.elapsed() / BATCH);
        }
    }
    per_decision.sort();
    println!(
        "| decision alone (`consent::decide`, 2 consents on record), median of 180 batches of {BATCH} | {} ns |",
        per_decision[per_decision.len() / 2].as_nanos()
    );
}

fn consent_record(id: i64, purpose: Purpose) -> ConsentRecord {
    ConsentRecord {
        id,
        tenant: TENANT.into(),
        lead: LEAD.into(),
        purpose,
        channel: None,
        granted_at_ms: 0,
        expires_at_ms: None,
        withdrawn_at_ms: None,
        source: "bench".into(),
        evidence: "bench".into(),
        parental: false,
    }
}

async fn services(dir: &std::path::Path) -> Arc<DataServices> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).await.expect("store"));
    store.ensure_tenant(TENANT).await.unwrap();
    let mut lead = Lead::new(TENANT, LEAD);
    lead.name = Some("Ada Lovelace".into());
    lead.phone = Some("+15550100".into());
    lead.age = AgeStatus::Adult;
    let mut preferences = serde_json::Map::new();
    preferences.insert("preferred-time".into(), "mornings".into());
    lead.preferences = Some(preferences);
    store.upsert_lead(&lead).await.unwrap();
    store
        .grant_consent(&NewConsent {
            tenant: TENANT.into(),
            lead_id: LEAD.into(),
            purpose: Purpose::CallHandling,
            channel: None,
            granted_at_ms: 0,
            expires_at_ms: None,
            source: "bench".into(),
            evidence: "bench".into(),
            parental: false,
        })
        .await
        .unwrap();
    Arc::new(DataServices::new(
        store.clone(),
        AuditWriter::spawn(store),
        Pseudonymizer::from_key([7; 32]),
    ))
}

fn gate(
    services: &Arc<DataServices>,
    call_id: &str,
    name: &str,
    digest: &str,
    declared: Declared,
) -> DataGate {
    let scope = CallScope::new(
        services,
        TENANT,
        call_id,
        Some(LEAD.into()),
        (name, "1.0.0", digest),
        Purpose::CallHandling,
        declared,
        None,
    );
    DataGate {
        services: services.clone(),
        scope: Arc::new(scope),
    }
}

async fn gate_throughput(services: &Arc<DataServices>, calls: usize) {
    let batches_before = services.audit.stats();
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for call in 0..calls {
        let gate = gate(
            services,
            &format!("call-{call}"),
            "bench",
            "sha256:00",
            Declared::new([Resource::Field(DataField::Phone)], []),
        );
        tasks.push(tokio::spawn(async move {
            let uses = [DataRequest::Field(DataField::Phone)];
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let begin = Instant::now();
                let (decisions, _, _) = gate.check(&uses).await;
                latencies.push(begin.elapsed());
                assert!(decisions[0].is_allowed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let stats = services.audit.stats();
    let batches = stats.batches - batches_before.batches;
    latencies.sort();
    let reads = latencies.len();
    println!(
        "| audited reads, {calls} concurrent calls: reads/s; latency p50 / p99; audit batches (mean size) | {:.0}/s; {} / {}; {} ({:.0}) |",
        reads as f64 / RUN.as_secs_f64(),
        micros(latencies[reads / 2]),
        micros(latencies[reads * 99 / 100]),
        batches,
        reads as f64 / batches.max(1) as f64
    );
}

async fn plugin_reads(services: &Arc<DataServices>) {
    let sandbox = Sandbox::new(bench_config()).expect("sandbox");
    let cache = Arc::new(ComponentCache::new(sandbox.clone(), None));
    let example = cally_host::examples::find("appointment-reminder").expect("bundled example");
    let manifest =
        Manifest::parse(example.manifest, "appointment-reminder/cally.toml").expect("manifest");
    let plugin = cache.load(example.component).expect("component");
    const CALLS: usize = 64;
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for worker in 0..CALLS {
        let (sandbox, plugin, services, manifest) = (
            sandbox.clone(),
            plugin.clone(),
            services.clone(),
            manifest.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut number = 0;
            while Instant::now() < deadline {
                let call_id = format!("call-{worker}-{number}");
                number += 1;
                let mut options = CallOptions::new(sandbox.config().default_limits);
                options.data = Some(gate(
                    &services,
                    &call_id,
                    &manifest.name,
                    &plugin.digest.to_string(),
                    Declared::from_manifest(&manifest),
                ));
                let begin = Instant::now();
                let mut call = FlowInstance::start(sandbox.clone(), &plugin, options)
                    .await
                    .unwrap();
                let outcome = call
                    .handle(&CallEvent::Started(CallStarted {
                        call_id,
                        direction: Direction::Outbound,
                        campaign: None,
                        started_at_ms: None,
                        locale: "en-US".into(),
                    }))
                    .await;
                latencies.push(begin.elapsed());
                assert_eq!(outcome.data.len(), 2, "{outcome:?}");
                assert!(
                    outcome
                        .data
                        .iter()
                        .all(|d| d.decision == cally_host::audit::AuditDecision::Allowed)
                );
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    let calls = latencies.len();
    println!(
        "| appointment reminder, {CALLS} concurrent calls, new call + `started` with 2 audited reads: calls/s (reads/s); latency p50 / p99 | {:.0}/s ({:.0}/s); {} / {} |",
        calls as f64 / RUN.as_secs_f64(),
        2.0 * calls as f64 / RUN.as_secs_f64(),
        micros(latencies[calls / 2]),
        micros(latencies[calls * 99 / 100])
    );
}

fn micros(duration: Duration) -> String {
    let micros = duration.as_nanos() as f64 / 1000.0;
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.1} µs")
    }
}

/// The default sandbox with the memory budget and per-tenant caps lifted: the
/// bench holds more live instances of one tenant than a default host admits
/// on a small machine, and it measures speed, not admission.
fn bench_config() -> SandboxConfig {
    SandboxConfig {
        memory_budget_bytes: 1 << 40,
        max_memory_per_tenant_bytes: 1 << 40,
        ..SandboxConfig::default()
    }
}
