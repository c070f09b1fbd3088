//! Hostile tenants that try to hold what other tenants' calls need: plugins
//! that sleep (as a flow and as a lead tagger), an event stuck in a slow host
//! call, a flood of audited reads in one event, a tenant starting calls past
//! its caps, and eight tenants spinning just under their deadlines beside a
//! well-behaved call.
//!
//! Each test would hang or fail on a host whose deadline counted only running
//! wasm code, charged a neighbour's load to a plugin, or had no caps: the
//! guards below (`answers_soon`) turn a hang into a failure.

use std::sync::Arc;
use std::time::Duration;

use cally_host::capabilities::gate::{CallScope, DataGate};
use cally_host::component::{CompiledPlugin, ComponentCache};
use cally_host::consent::Purpose;
use cally_host::protocol::{CallSummary, Direction, EndReason};
use cally_host::sandbox::{Busy, Sandbox, SandboxConfig};
use cally_host::session::{
    CallOptions, EventOutcome, FlowInstance, PluginFailure, StartError, TaggerRun, default_fallback,
};

use crate::common::*;
use crate::data::{LEAD, World, declare_everything};

/// Far longer than any of these events may take on the slowest machine; a
/// host that lets a plugin wait would blow through it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Awaits `work`, failing the test if it has not finished within [`HANG_GUARD`].
async fn answers_soon<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, work)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {HANG_GUARD:?}"))
}

/// A component cache over a sandbox with `config`.
fn cache_with(config: SandboxConfig) -> ComponentCache {
    ComponentCache::new(Sandbox::new(config).expect("sandbox"), None)
}

/// Options for a call of `tenant` whose gate is over `world`'s data.
fn tenant_options(
    world: &World,
    cache: &ComponentCache,
    tenant: &str,
    call_id: &str,
    plugin: &CompiledPlugin,
) -> CallOptions {
    let scope = CallScope::new(
        &world.services,
        tenant,
        call_id,
        Some(LEAD.into()),
        ("waits", "0.1.0", &plugin.digest.to_string()),
        Purpose::CallHandling,
        declare_everything(),
        None,
    );
    let mut options = options(cache);
    options.data = Some(DataGate {
        services: world.services.clone(),
        scope: Arc::new(scope),
    });
    options
}

/// Starts a call of the `waits` plugin and checks it is ready.
async fn waits_call(cache: &ComponentCache, options: CallOptions, call_id: &str) -> FlowInstance {
    let plugin = test_plugin(cache, "waits");
    let mut call = FlowInstance::start(cache.sandbox().clone(), &plugin, options)
        .await
        .expect("start");
    assert_eq!(said(&call.handle(&started(call_id)).await), ["ready"]);
    call
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_sleeps_through_wasi_goes_straight_on() {
    // A 100,000 s sleep (a monotonic-clock timer, then a poll) used to hold
    // its instance for that long; timers are ready at once, so it wakes.
    let cache = cache();
    let sleeper = async {
        let mut call = waits_call(&cache, options(&cache), "sleeper").await;
        let outcome = answers_soon("a 100,000 s sleep", call.handle(&speech("sleep 100000"))).await;
        assert!(outcome.failure.is_none(), "{outcome:?}");
        assert_eq!(said(&outcome), ["woke"]);
    };
    tokio::join!(sleeper, well_behaved_call(&cache, "neighbour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_sleeps_forever_is_stopped_at_its_deadline() {
    let cache = cache();
    let mut call = waits_call(&cache, options(&cache), "sleeps-forever").await;
    let outcome = answers_soon("a sleep loop", call.handle(&speech("sleep-loop"))).await;
    assert_eq!(
        outcome.failure,
        Some(PluginFailure::DeadlineExceeded { deadline_ms: 20 })
    );
    assert_eq!(outcome.actions, default_fallback());
    assert!(!call.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_tagger_that_sleeps_is_not_held() {
    let cache = cache();
    let tagger = test_plugin(&cache, "waits-tagger");
    let summary = CallSummary {
        call_id: "call-1".into(),
        direction: Direction::Inbound,
        campaign: None,
        duration_ms: 1000,
        end_reason: EndReason::CallerHungUp,
        disposition: None,
        digits: Vec::new(),
        event_count: 2,
    };
    let outcome = answers_soon(
        "a sleeping lead tagger",
        TaggerRun::run(cache.sandbox().clone(), &tagger, &options(&cache), &summary),
    )
    .await
    .unwrap();
    assert!(outcome.failure.is_none(), "{outcome:?}");
    assert_eq!(outcome.tags, ["woke"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stuck_in_a_host_call_ends_at_the_wall_clock_limit() {
    // A hostile insider (or a stalled disk) holds the database's write lock:
    // the read's audit record cannot commit, so the host call waits. The
    // event still ends at the host's wall-clock limit, with the fallback, and
    // the value is not released.
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache_with(SandboxConfig {
        max_concurrent_calls: 16,
        event_wall_limit: Duration::from_millis(300),
        ..SandboxConfig::default()
    });
    let plugin = test_plugin(&cache, "reads-data");
    let mut options = options(&cache);
    options.data = Some(world.gate(
        "stuck-call",
        &plugin,
        Purpose::CallHandling,
        declare_everything(),
    ));
    let mut call = FlowInstance::start(cache.sandbox().clone(), &plugin, options)
        .await
        .unwrap();
    assert_eq!(said(&call.handle(&started("stuck-call")).await), ["ready"]);

    let db = world.dir.path().join("cally.db");
    let mut locker = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(&db),
    )
    .await
    .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let outcome = answers_soon(
        "a read behind a held lock",
        call.handle(&speech("get phone")),
    )
    .await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    match &outcome.failure {
        Some(PluginFailure::WallClockExceeded { limit_ms, .. }) => assert_eq!(*limit_ms, 300),
        other => panic!("expected the wall-clock limit, got {other:?}"),
    }
    assert_eq!(outcome.actions, default_fallback());
    assert!(!format!("{outcome:?}").contains(crate::data::PHONE));
    assert!(!call.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_reads_in_one_event_stops_at_the_cap() {
    // One event asking for a thousand audited reads used to write a thousand
    // durable audit records; it stops at the per-event cap.
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let plugin = test_plugin(&cache, "waits");
    let options = tenant_options(&world, &cache, crate::data::TENANT, "flood", &plugin);
    let mut call = waits_call(&cache, options, "flood").await;
    let outcome = answers_soon("a flood of reads", call.handle(&speech("flood 1000"))).await;
    let cap = SandboxConfig::default().max_audited_uses_per_event;
    assert_eq!(
        outcome.failure,
        Some(PluginFailure::HostCallLimit {
            what: "audited data uses".into(),
            limit: cap,
        })
    );
    assert_eq!(outcome.actions, default_fallback());
    let records = world.audit().await;
    assert_eq!(
        records.len(),
        cap as usize,
        "one record per read under the cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_past_its_caps_is_told_busy_while_others_start() {
    let world = World::new().await;
    let mib = 1usize << 20;
    let cache = cache_with(SandboxConfig {
        max_concurrent_calls: 16,
        max_memory_bytes: 16 * mib,
        memory_budget_bytes: 48 * mib as u64,
        max_memory_per_tenant_bytes: 32 * mib as u64,
        max_instances_per_tenant: 3,
        ..SandboxConfig::default()
    });
    let plugin = test_plugin(&cache, "waits");
    let start = |tenant: &str, call_id: &str| {
        let options = tenant_options(&world, &cache, tenant, call_id, &plugin);
        FlowInstance::start(cache.sandbox().clone(), &plugin, options)
    };
    // Two calls of 16 MiB each fill the greedy tenant's 32 MiB.
    let first = start("greedy", "g-1").await.unwrap();
    let second = start("greedy", "g-2").await.unwrap();
    match start("greedy", "g-3").await {
        Err(StartError::Busy(Busy::TenantMemory { tenant, .. })) => assert_eq!(tenant, "greedy"),
        other => panic!("expected the tenant's memory cap, got {:?}", other.err()),
    }
    // Another tenant still starts; then the host's 48 MiB budget is full.
    let mut neighbour = start("neighbour", "n-1").await.unwrap();
    assert_eq!(said(&neighbour.handle(&started("n-1")).await), ["ready"]);
    let error = start("neighbour", "n-2")
        .await
        .err()
        .expect("host budget full");
    assert!(
        matches!(
            error,
            StartError::Busy(Busy::HostMemory { budget_mib: 48, .. })
        ),
        "{error}"
    );
    // A call's end gives its share back at once.
    drop(first.finish());
    let third = start("greedy", "g-3").await.unwrap();
    drop((second, third, neighbour));
    assert_eq!(cache.sandbox().admission().committed_memory_bytes(), 0);
}

/// Spin rounds that take about `target` of the plugin's CPU time, measured on
/// a call of `waits` alone (the plugin time an outcome reports).
async fn calibrate(cache: &ComponentCache, target: Duration) -> u64 {
    let mut options = options(cache);
    options.limits.event_deadline = Duration::from_millis(200);
    let mut call = waits_call(cache, options, "calibration").await;
    let rounds = 2_000_000u64;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let outcome: EventOutcome = call.handle(&speech(&format!("spin {rounds}"))).await;
        assert!(outcome.failure.is_none(), "{outcome:?}");
        best = best.min(outcome.plugin_time);
    }
    let per_round = best.as_nanos().max(1) as f64 / rounds as f64;
    (target.as_nanos() as f64 / per_round) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 10)]
async fn noisy_neighbours_never_fail_a_well_behaved_call() {
    // Eight tenants spin just under their 20 ms deadlines, on more threads
    // than the machine has cores, beside a victim whose events each need
    // about 8 ms of CPU. Charged by the wall clock, the victim waits for a
    // core and is failed; charged by its own CPU time, never.
    let cache = Arc::new(cache());
    let victim_rounds = calibrate(&cache, Duration::from_millis(8)).await;
    let spinner_rounds = victim_rounds * 2;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut spinners = tokio::task::JoinSet::new();
    for tenant in 0..8 {
        let cache = cache.clone();
        let stop = stop.clone();
        spinners.spawn(async move {
            let command = speech(&format!("spin {spinner_rounds}"));
            let mut events = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let call_id = format!("spinner-{tenant}-{events}");
                let mut call = waits_call(&cache, options(&cache), &call_id).await;
                while call.is_running() && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    call.handle(&command).await;
                    events += 1;
                }
            }
            events
        });
    }
    let mut victim = waits_call(&cache, options(&cache), "victim").await;
    let mut failures = Vec::new();
    for _ in 0..40 {
        let outcome = victim
            .handle(&speech(&format!("spin {victim_rounds}")))
            .await;
        if let Some(failure) = outcome.failure {
            failures.push(failure);
            victim = waits_call(&cache, options(&cache), "victim-again").await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut spun = 0;
    while let Some(events) = spinners.join_next().await {
        spun += events.unwrap();
    }
    assert!(spun >= 8, "the neighbours spun ({spun} events)");
    assert!(failures.is_empty(), "the victim was failed: {failures:?}");
}

/// The `waits` plugin's component and manifest.
fn waits_plugin() -> (Vec<u8>, String) {
    let component = std::fs::read(cally_tests::plugin("waits")).unwrap();
    let manifest =
        std::fs::read_to_string(cally_tests::plugin_dir("waits").join("cally.toml")).unwrap();
    (component, manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_sleeping_tenant_cannot_hold_the_host() {
    // A hostile tenant's plugin sleeps on every caller's words and the tenant
    // starts calls until it is refused; the platform is told to retry (429 for
    // that tenant alone,
    // Retry-After), another tenant's calls are served, and the host still
    // shuts down cleanly with every call live.
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::api::Server;

    let config = SandboxConfig {
        max_instances_per_tenant: 3,
        ..Server::config()
    };
    let server = Server::start_with(tempfile::tempdir().unwrap(), config).await;
    let (component, manifest) = waits_plugin();
    let hostile = server.tenant("sleepy").await;
    let neighbour = server.tenant("neighbour").await;
    for keys in [&hostile, &neighbour] {
        server
            .release(keys, &manifest, &component, "waits", "0.1.0")
            .await;
    }
    let start = |call_id: &str| json!({"plugin": "waits", "call_id": call_id, "direction": "inbound", "locale": "en-US"});
    let sleep = json!({"type": "speech", "text": "sleep 100000", "confidence": 0.9, "final": true});

    for n in 0..3 {
        let call_id = format!("sleepy-{n}");
        server
            .ok(
                &hostile.runtime,
                Method::POST,
                "/v1/calls",
                Some(start(&call_id)),
            )
            .await;
        let path = format!("/v1/calls/{call_id}/events");
        let outcome = answers_soon(
            "a sleeping call's event over HTTP",
            server.ok(&hostile.runtime, Method::POST, &path, Some(sleep.clone())),
        )
        .await;
        assert_eq!(outcome["actions"][0]["text"], "woke", "{outcome:#}");
    }
    let response = server
        .client
        .post(format!("{}/v1/calls", server.url))
        .bearer_auth(&hostile.runtime)
        .json(&start("sleepy-3"))
        .send()
        .await
        .unwrap();
    // The tenant's own cap: 429 for it alone (the host is not full).
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:cally:problem:tenant-busy");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("tenant 'sleepy' already has 3 live plugin instances"),
        "{problem:#}"
    );
    // The refused call was not recorded: its id is still free once there is room.
    let (status, _) = server
        .send(
            Some(&hostile.runtime),
            Method::GET,
            "/v1/calls/sleepy-3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    server
        .ok(
            &neighbour.runtime,
            Method::POST,
            "/v1/calls",
            Some(start("fine-1")),
        )
        .await;
    answers_soon("shutdown with live calls", server.stop()).await;
}

/// Backpressure, told apart: a tenant at its own cap gets 429 (`tenant-busy`)
/// while a neighbour still starts calls; once the host's pool itself is full,
/// every tenant gets 503 (`busy`). Both carry `Retry-After`, neither records the
/// call, and a call ended makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_tenant_at_its_cap_gets_429_and_a_full_host_503() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::api::Server;

    let config = SandboxConfig {
        max_concurrent_calls: 3,
        max_instances_per_tenant: 2,
        ..Server::config()
    };
    let server = Server::start_with(tempfile::tempdir().unwrap(), config).await;
    let (component, manifest) = waits_plugin();
    let first = server.tenant("first").await;
    let second = server.tenant("second").await;
    for keys in [&first, &second] {
        server
            .release(keys, &manifest, &component, "waits", "0.1.0")
            .await;
    }
    let start = |call_id: &str| json!({"plugin": "waits", "call_id": call_id, "direction": "inbound", "locale": "en-US"});
    let refused = async |runtime: &str, call_id: &str| {
        let response = server
            .client
            .post(format!("{}/v1/calls", server.url))
            .bearer_auth(runtime)
            .json(&start(call_id))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: serde_json::Value = response.json().await.unwrap();
        (status, problem["type"].as_str().unwrap().to_owned())
    };
    for call in ["a-1", "a-2"] {
        server
            .ok(&first.runtime, Method::POST, "/v1/calls", Some(start(call)))
            .await;
    }
    assert_eq!(
        refused(&first.runtime, "a-3").await,
        (
            StatusCode::TOO_MANY_REQUESTS,
            "urn:cally:problem:tenant-busy".to_owned()
        )
    );
    server
        .ok(
            &second.runtime,
            Method::POST,
            "/v1/calls",
            Some(start("b-1")),
        )
        .await;
    // The pool (3) is full now: the neighbour, under its own cap, gets 503.
    assert_eq!(
        refused(&second.runtime, "b-2").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:cally:problem:busy".to_owned()
        )
    );
    let (status, _) = server
        .send(Some(&second.runtime), Method::GET, "/v1/calls/b-2", None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused call is not recorded"
    );
    // A call ended makes room; the refused one starts on retry.
    server
        .ok(&first.runtime, Method::POST, "/v1/calls/a-1/end", None)
        .await;
    server
        .ok(
            &second.runtime,
            Method::POST,
            "/v1/calls",
            Some(start("b-2")),
        )
        .await;
    answers_soon("shutdown with live calls", server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cally_serve_cleanly_with_sleeping_calls_live() {
    // A real `cally serve --demo` process: the demo tenant's developer
    // uploads the sleeping plugin, a reviewer approves and activates it, the
    // runtime starts calls whose plugin sleeps on every event. SIGTERM (sent
    // right after the banner, with the calls live) must end them and exit 0.
    use reqwest::Method;
    use serde_json::{Value, json};

    use crate::serve_process::ServeProcess;

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = ServeProcess::start(["--demo", "--bind", "127.0.0.1:0", "--data-dir", data_dir]);
    let call = async |role: &str, method: Method, path: &str, body: Value| -> Value {
        let (status, body) = server
            .send(server.demo_key(role), method, path, Some(body))
            .await;
        assert!(status.is_success(), "{path}: {status} {body:#}");
        body
    };
    let (component, manifest) = waits_plugin();
    use base64::Engine as _;
    let upload = json!({
        "manifest": manifest,
        "component_base64": base64::engine::general_purpose::STANDARD.encode(&component),
    });
    call("developer", Method::POST, "/v1/plugins", upload).await;
    let base = "/v1/plugins/waits/versions/0.1.0";
    let report = call(
        "reviewer",
        Method::GET,
        &format!("{base}/inspect"),
        Value::Null,
    )
    .await;
    let digests = json!({
        "component_digest": report["component_digest"],
        "manifest_digest": report["manifest_digest"],
    });
    call(
        "reviewer",
        Method::POST,
        &format!("{base}/approve"),
        digests,
    )
    .await;
    call(
        "reviewer",
        Method::POST,
        &format!("{base}/activate"),
        Value::Null,
    )
    .await;
    for n in 0..3 {
        let call_id = format!("sleepy-{n}");
        let start = json!({"plugin": "waits", "call_id": call_id, "direction": "inbound", "locale": "en-US"});
        call("runtime", Method::POST, "/v1/calls", start).await;
        let sleep =
            json!({"type": "speech", "text": "sleep 100000", "confidence": 0.9, "final": true});
        let path = format!("/v1/calls/{call_id}/events");
        let outcome = answers_soon(
            "a sleeping call's event",
            call("runtime", Method::POST, &path, sleep),
        )
        .await;
        assert_eq!(outcome["actions"][0]["text"], "woke", "{outcome:#}");
    }

    // SIGTERM with the calls live; `stop` checks the exit status is 0.
    answers_soon(
        "cally serve after SIGTERM",
        tokio::task::spawn_blocking(move || server.stop()),
    )
    .await
    .unwrap();
}
