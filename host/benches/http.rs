//! The HTTP benchmark behind `BENCHMARKS.md`:
//!
//! ```sh
//! cargo bench -p cally-host --bench http
//! ```
//!
//! In one run, on loopback, with the bundled `support-router` example (no
//! personal data reads, so this measures the HTTP and plugin path):
//! - the real API (`api::serve`) in-process on `127.0.0.1:0` over a temporary
//!   data directory, a tenant, keys, and the example uploaded, approved and
//!   activated over HTTP; then N client tasks, each on its own keep-alive
//!   connection, repeatedly running a call: `POST /v1/calls`, the scripted
//!   events one `POST /v1/calls/{id}/events` each, then `/end`;
//! - the baseline: the same routing logic (the example's own `Router`,
//!   compiled natively) behind a minimal webhook server (axum, in-process, on
//!   another loopback port) keeping each call's state in a map, driven by the
//!   same client with the same event bodies, one request per event: how
//!   platforms host tenant logic today;
//! - the plugin alone: a `FlowInstance` of the same component handling the
//!   same events directly, no HTTP; and the native `Router` called directly.
//!
//! Events per second count only the scripted mid-call events (not the start
//! or end requests) completed inside the measured window; latency is per
//! event request. Printed as Markdown.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use cally_host::api::{self, ApiHost};
use cally_host::protocol::{self, CallEvent, CallStarted, Direction};
use cally_host::sandbox::SandboxConfig;
use cally_host::session::{CallOptions, FlowInstance};
use cally_sdk::CallFlow;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support_router::Router;

/// How long each load run is measured.
const MEASURE: Duration = Duration::from_secs(5);
/// How long each load run runs first, unmeasured.
const WARM_UP: Duration = Duration::from_secs(1);
/// Concurrent client tasks (one keep-alive connection and one call at a time each).
const CONCURRENCY: &[usize] = &[1, 64, 256];

/// The events posted on every call after `started`: a caller who talks over
/// the greeting, gives partial and unclear answers, stays silent once, then
/// says what they need and is transferred.
const SCRIPT: &[&str] = &[
    r#"{"type":"interrupted"}"#,
    r#"{"type":"speech","text":"I have a","confidence":0.41,"final":false}"#,
    r#"{"type":"speech","text":"I have a question about","confidence":0.55,"final":false}"#,
    r#"{"type":"speech","text":"I have a question about my account","confidence":0.88,"final":true}"#,
    r#"{"type":"silence","ms":6000}"#,
    r#"{"type":"speech","text":"it's my","confidence":0.47,"final":false}"#,
    r#"{"type":"speech","text":"it's my login","confidence":0.62,"final":false}"#,
    r#"{"type":"speech","text":"it's my login, it keeps saying error","confidence":0.92,"final":true}"#,
    r#"{"type":"ended","reason":"transferred"}"#,
];
/// The script's event on which the caller is transferred.
const TRANSFER_AT: usize = 7;
/// Where the script sends the caller.
const TRANSFER_TARGET: &[u8] = b"tech-support";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let script: Vec<Bytes> = SCRIPT.iter().map(|event| Bytes::from(*event)).collect();
    let events: Vec<CallEvent> = SCRIPT
        .iter()
        .map(|event| serde_json::from_str(event).expect("script event"))
        .collect();

    let mut rows = Vec::new();
    rows.push(in_process(&events).await);
    rows.push(native(&events));

    let webhook = start_webhook().await;
    for &clients in CONCURRENCY {
        rows.push(load(Target::Webhook(webhook), clients, &script).await);
    }

    let (api_target, _dir) = start_api().await;
    for &clients in CONCURRENCY {
        rows.push(load(api_target.clone(), clients, &script).await);
    }
    if let Target::Api { addr, key, .. } = api_target {
        let long = Target::Api {
            addr,
            key,
            long: true,
        };
        for &clients in &CONCURRENCY[1..] {
            rows.push(load(long.clone(), clients, &script).await);
        }
    }

    report(&rows);
}

/// One row of the report.
struct Row {
    path: String,
    clients: usize,
    events: u64,
    calls: u64,
    window: Duration,
    latencies: Vec<Duration>,
    /// API only: latencies of `POST /v1/calls` and of `/end`.
    starts: Vec<Duration>,
    ends: Vec<Duration>,
}

impl Row {
    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.window.as_secs_f64()
    }

    fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }
}

// ---------------------------------------------------------------------------
// The plugin alone, and the same logic native.

/// The same component handling the same events in a `FlowInstance`, one call
/// after another on this task: a fresh instance, `started`, then the script.
async fn in_process(events: &[CallEvent]) -> Row {
    let config = bench_config();
    let sandbox = cally_host::sandbox::Sandbox::new(config).expect("sandbox");
    let cache = cally_host::component::ComponentCache::new(sandbox.clone(), None);
    let example = cally_host::examples::find("support-router").expect("bundled example");
    let plugin = cache.load(example.component).expect("component");
    let options = CallOptions::new(sandbox.config().default_limits);
    let warm_end = Instant::now() + WARM_UP;
    let deadline = warm_end + MEASURE;
    let mut row = row("in-process plugin (`FlowInstance`, no HTTP)", 1);
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let mut call = FlowInstance::start(sandbox.clone(), &plugin, options.clone())
            .await
            .expect("call flow");
        call.handle(&started(format!("in-process-{seq}"))).await;
        for (i, event) in events.iter().enumerate() {
            let begin = Instant::now();
            let outcome = call.handle(event).await;
            let end = Instant::now();
            assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
            if i == TRANSFER_AT {
                assert!(
                    outcome.actions.iter().any(|action| matches!(
                        action,
                        protocol::Action::Transfer { target } if target.as_bytes() == TRANSFER_TARGET
                    )),
                    "{:?}",
                    outcome.actions
                );
            }
            black_box(outcome);
            row.record(begin, end, warm_end, deadline);
        }
        if Instant::now() >= warm_end && Instant::now() < deadline {
            row.calls += 1;
        }
    }
    row.window = MEASURE;
    row
}

/// The example's `Router` compiled natively and called directly, with the
/// events converted to the SDK's types: what the logic itself costs.
fn native(events: &[CallEvent]) -> Row {
    let events: Vec<cally_sdk::CallEvent> = events.iter().map(to_sdk).collect();
    let warm_end = Instant::now() + WARM_UP;
    let deadline = warm_end + MEASURE;
    let mut row = row("same logic, native Rust, called directly", 1);
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let mut router = Router::default();
        black_box(router.on_event(to_sdk(&started(format!("native-{seq}")))));
        for event in &events {
            let event = event.clone();
            let begin = Instant::now();
            let actions = router.on_event(black_box(event));
            let end = Instant::now();
            black_box(actions);
            row.record(begin, end, warm_end, deadline);
        }
        black_box(cally_sdk::log::take_native_lines());
        if Instant::now() >= warm_end && Instant::now() < deadline {
            row.calls += 1;
        }
    }
    row.window = MEASURE;
    row
}

fn percentile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn row(path: &str, clients: usize) -> Row {
    Row {
        path: path.into(),
        clients,
        events: 0,
        calls: 0,
        window: MEASURE,
        latencies: Vec::new(),
        starts: Vec::new(),
        ends: Vec::new(),
    }
}

impl Row {
    /// Counts an event that took `begin..end` if it completed in the window.
    fn record(&mut self, begin: Instant, end: Instant, warm_end: Instant, deadline: Instant) {
        if end >= warm_end && end < deadline {
            self.events += 1;
            self.latencies.push(end - begin);
        }
    }
}

fn started(call_id: String) -> CallEvent {
    CallEvent::Started(CallStarted {
        call_id,
        direction: Direction::Inbound,
        campaign: None,
        started_at_ms: None,
        locale: "en-US".into(),
    })
}

// ---------------------------------------------------------------------------
// The servers.

/// Where the load goes.
#[derive(Clone)]
enum Target {
    /// The API: `POST /v1/calls`, the events, `/end`, with the runtime key.
    /// With `long`, each client runs one call for the whole run, posting the
    /// script's events (all but `ended`) over and over: the event path alone,
    /// without the per-call start and end (which write to the store).
    Api {
        addr: SocketAddr,
        key: String,
        long: bool,
    },
    /// The webhook: `POST /hook/{call_id}` with every event, `started` first.
    Webhook(SocketAddr),
}

/// The real API on `127.0.0.1:0` over a fresh data directory, with a tenant
/// and the support router released; returns the target and the directory.
async fn start_api() -> (Target, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let (host, _sqlite) = ApiHost::open(dir.path(), bench_config())
        .await
        .expect("host");
    let admin = host
        .bootstrap_platform_admin()
        .await
        .expect("platform admin key")
        .expect("a fresh host has no platform admin")
        .key;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    // Runs until the process exits.
    tokio::spawn(api::serve(listener, host, std::future::pending()));

    let mut client = Client::connect(addr).await;
    let tenant = client
        .ok(&admin, Method::POST, "/v1/tenants", json!({"id": "bench"}))
        .await;
    let tenant_admin = tenant["admin_key"]["key"].as_str().expect("admin key");
    let mut keys = HashMap::new();
    for role in ["developer", "reviewer", "runtime"] {
        let key = client
            .ok(
                tenant_admin,
                Method::POST,
                "/v1/keys",
                json!({"role": role, "label": role}),
            )
            .await;
        keys.insert(role, key["key"].as_str().expect("key").to_owned());
    }
    let example = cally_host::examples::find("support-router").expect("bundled example");
    let uploaded = client
        .ok(
            &keys["developer"],
            Method::POST,
            "/v1/plugins",
            json!({
                "manifest": example.manifest,
                "component_base64": base64::engine::general_purpose::STANDARD.encode(example.component),
            }),
        )
        .await;
    let version = uploaded["version"].as_str().unwrap_or("0.1.0").to_owned();
    let base = format!("/v1/plugins/support-router/versions/{version}");
    let report = client
        .ok(
            &keys["reviewer"],
            Method::GET,
            &format!("{base}/inspect"),
            Value::Null,
        )
        .await;
    client
        .ok(
            &keys["reviewer"],
            Method::POST,
            &format!("{base}/approve"),
            json!({
                "component_digest": report["component_digest"],
                "manifest_digest": report["manifest_digest"],
            }),
        )
        .await;
    client
        .ok(
            &keys["reviewer"],
            Method::POST,
            &format!("{base}/activate"),
            Value::Null,
        )
        .await;
    (
        Target::Api {
            addr,
            key: format!("Bearer {}", keys["runtime"]),
            long: false,
        },
        dir,
    )
}

/// Each live call's router, by call id.
type Calls = Arc<Mutex<HashMap<String, Router>>>;

/// The webhook: one route taking an event in the same JSON as the API, running
/// the same routing logic natively, answering the actions and log lines.
async fn start_webhook() -> SocketAddr {
    let calls: Calls = Arc::default();
    let app = axum::Router::new()
        .route("/hook/{call_id}", axum::routing::post(hook))
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn hook(
    State(calls): State<Calls>,
    Path(call_id): Path<String>,
    Json(event): Json<CallEvent>,
) -> Result<Json<Value>, (StatusCode, String)> {
    event
        .validate()
        .map_err(|error| (StatusCode::UNPROCESSABLE_ENTITY, error.to_string()))?;
    let actions = {
        let mut calls = calls.lock().unwrap_or_else(|e| e.into_inner());
        match &event {
            CallEvent::Started(_) => {
                let mut router = Router::default();
                let actions = router.on_event(to_sdk(&event));
                calls.insert(call_id, router);
                actions
            }
            CallEvent::Ended { .. } => match calls.remove(&call_id) {
                Some(mut router) => router.on_event(to_sdk(&event)),
                None => return Err((StatusCode::NOT_FOUND, format!("no call '{call_id}'"))),
            },
            _ => match calls.get_mut(&call_id) {
                Some(router) => router.on_event(to_sdk(&event)),
                None => return Err((StatusCode::NOT_FOUND, format!("no call '{call_id}'"))),
            },
        }
    };
    let actions: Vec<protocol::Action> = actions.into_iter().map(from_sdk).collect();
    let log: Vec<Value> = cally_sdk::log::take_native_lines()
        .into_iter()
        .map(|(level, message)| {
            json!({"level": format!("{level:?}").to_lowercase(), "message": message})
        })
        .collect();
    Ok(Json(json!({"actions": actions, "log": log})))
}

/// The host's event as the SDK gives it to a flow.
fn to_sdk(event: &CallEvent) -> cally_sdk::CallEvent {
    match event {
        CallEvent::Started(started) => cally_sdk::CallEvent::Started(cally_sdk::CallStarted {
            call_id: started.call_id.clone(),
            direction: match started.direction {
                Direction::Inbound => cally_sdk::Direction::Inbound,
                Direction::Outbound => cally_sdk::Direction::Outbound,
            },
            campaign: started.campaign.clone(),
            started_at_ms: started.started_at_ms.unwrap_or(1_764_000_000_000),
            locale: started.locale.clone(),
        }),
        CallEvent::Speech {
            text,
            confidence,
            is_final,
        } => cally_sdk::CallEvent::Speech(cally_sdk::CallerSpeech {
            text: text.clone(),
            confidence: *confidence,
            is_final: *is_final,
        }),
        CallEvent::Digits { digits } => cally_sdk::CallEvent::Digits(digits.clone()),
        CallEvent::Silence { ms } => cally_sdk::CallEvent::Silence { ms: *ms },
        CallEvent::Interrupted => cally_sdk::CallEvent::Interrupted,
        CallEvent::Ended { reason } => cally_sdk::CallEvent::Ended(match reason {
            protocol::EndReason::CallerHungUp => cally_sdk::EndReason::CallerHungUp,
            protocol::EndReason::FlowHungUp => cally_sdk::EndReason::FlowHungUp,
            protocol::EndReason::Transferred => cally_sdk::EndReason::Transferred,
            protocol::EndReason::NotConnected => cally_sdk::EndReason::NotConnected,
            protocol::EndReason::PluginFailed => cally_sdk::EndReason::PluginFailed,
            protocol::EndReason::NetworkError => cally_sdk::EndReason::NetworkError,
        }),
    }
}

/// The SDK's action in the host's JSON shape (the ones the router returns).
fn from_sdk(action: cally_sdk::Action) -> protocol::Action {
    match action {
        cally_sdk::Action::Say(text) => protocol::Action::Say { text },
        cally_sdk::Action::Gather(gather) => protocol::Action::Gather {
            prompt: gather.prompt,
            timeout_ms: gather.timeout_ms,
            max_digits: gather.max_digits,
            speech: gather.speech,
        },
        cally_sdk::Action::Transfer(target) => protocol::Action::Transfer { target },
        cally_sdk::Action::HangUp => protocol::Action::HangUp,
        other => panic!("the support router returns no {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The load generator.

/// `clients` tasks against `target` for `WARM_UP + MEASURE`.
async fn load(target: Target, clients: usize, script: &[Bytes]) -> Row {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = match &target {
        Target::Api { long: false, .. } => {
            "API over HTTP (`/v1/calls/{id}/events`, wasm plugin; start, 9 events, end)"
        }
        Target::Api { long: true, .. } => {
            "API over HTTP, events only (one long call per client, no start/end)"
        }
        Target::Webhook(_) => "webhook per event (same logic native, behind HTTP)",
    };
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        let addr = match &target {
            Target::Api { addr, .. } | Target::Webhook(addr) => *addr,
        };
        connections.push(Client::connect(addr).await);
    }
    let warm_end = Instant::now() + WARM_UP;
    let deadline = warm_end + MEASURE;
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(task, client)| {
            let target = target.clone();
            let script = script.to_vec();
            tokio::spawn(async move {
                drive(
                    client,
                    target,
                    format!("r{run}-t{task}"),
                    script,
                    warm_end,
                    deadline,
                )
                .await
            })
        })
        .collect();
    let mut total = row(path, clients);
    for task in tasks {
        let part = task.await.expect("client task");
        total.events += part.events;
        total.calls += part.calls;
        total.latencies.extend(part.latencies);
        total.starts.extend(part.starts);
        total.ends.extend(part.ends);
    }
    total
}

/// One client: calls one after another until `deadline`.
async fn drive(
    mut client: Client,
    target: Target,
    prefix: String,
    script: Vec<Bytes>,
    warm_end: Instant,
    deadline: Instant,
) -> Row {
    let auth = match &target {
        Target::Api { key, .. } => Some(HeaderValue::from_str(key).expect("header")),
        Target::Webhook(_) => None,
    };
    let mut row = row("", 1);
    if let Target::Api { long: true, .. } = &target {
        return long_call(client, auth, &prefix, &script, warm_end, deadline).await;
    }
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let call_id = format!("{prefix}-c{seq}");
        let events_path = match &target {
            Target::Api { .. } => {
                let begin = Instant::now();
                start_call(&mut client, auth.as_ref(), &call_id).await;
                let end = Instant::now();
                if end >= warm_end && end < deadline {
                    row.starts.push(end - begin);
                }
                format!("/v1/calls/{call_id}/events")
            }
            Target::Webhook(_) => {
                let path = format!("/hook/{call_id}");
                let body = json!({
                    "type": "started",
                    "call_id": call_id,
                    "direction": "inbound",
                    "locale": "en-US",
                });
                let (status, body) = client
                    .send(Method::POST, &path, None, Bytes::from(body.to_string()))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body:?}");
                path
            }
        };
        for (i, event) in script.iter().enumerate() {
            let begin = Instant::now();
            let (status, body) = client
                .send(Method::POST, &events_path, auth.as_ref(), event.clone())
                .await;
            let end = Instant::now();
            assert_eq!(status, StatusCode::OK, "{body:?}");
            if i == TRANSFER_AT {
                assert!(
                    body.windows(TRANSFER_TARGET.len())
                        .any(|window| window == TRANSFER_TARGET),
                    "{body:?}"
                );
            }
            row.record(begin, end, warm_end, deadline);
        }
        if let Target::Api { .. } = &target {
            let begin = Instant::now();
            let (status, body) = client
                .send(
                    Method::POST,
                    &format!("/v1/calls/{call_id}/end"),
                    auth.as_ref(),
                    Bytes::new(),
                )
                .await;
            let end = Instant::now();
            assert_eq!(status, StatusCode::OK, "{body:?}");
            if end >= warm_end && end < deadline {
                row.ends.push(end - begin);
            }
        }
        let now = Instant::now();
        if now >= warm_end && now < deadline {
            row.calls += 1;
        }
    }
    row
}

/// `POST /v1/calls` for the support router, as the platform starts an inbound call.
async fn start_call(client: &mut Client, auth: Option<&HeaderValue>, call_id: &str) {
    let body = json!({
        "plugin": "support-router",
        "call_id": call_id,
        "direction": "inbound",
        "locale": "en-US",
    });
    let (status, body) = client
        .send(
            Method::POST,
            "/v1/calls",
            auth,
            Bytes::from(body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
}

/// One client of the API running one call until `deadline`: the script's
/// events but `ended`, over and over, then `ended` and `/end`.
async fn long_call(
    mut client: Client,
    auth: Option<HeaderValue>,
    prefix: &str,
    script: &[Bytes],
    warm_end: Instant,
    deadline: Instant,
) -> Row {
    let mut row = row("", 1);
    let call_id = format!("{prefix}-long");
    start_call(&mut client, auth.as_ref(), &call_id).await;
    let events_path = format!("/v1/calls/{call_id}/events");
    let (ended, events) = script.split_last().expect("script");
    let mut round = 0;
    while Instant::now() < deadline {
        for (i, event) in events.iter().enumerate() {
            let begin = Instant::now();
            let (status, body) = client
                .send(Method::POST, &events_path, auth.as_ref(), event.clone())
                .await;
            let end = Instant::now();
            assert_eq!(status, StatusCode::OK, "{body:?}");
            if round == 0 && i == TRANSFER_AT {
                assert!(
                    body.windows(TRANSFER_TARGET.len())
                        .any(|window| window == TRANSFER_TARGET),
                    "{body:?}"
                );
            }
            row.record(begin, end, warm_end, deadline);
        }
        round += 1;
    }
    for path in [events_path, format!("/v1/calls/{call_id}/end")] {
        let body = if path.ends_with("/end") {
            Bytes::new()
        } else {
            ended.clone()
        };
        let (status, body) = client.send(Method::POST, &path, auth.as_ref(), body).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }
    row
}

/// One keep-alive HTTP/1.1 connection (raw hyper, no pool).
struct Client {
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Self { sender }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        body: Bytes,
    ) -> (StatusCode, Bytes) {
        self.sender.ready().await.expect("connection ready");
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "127.0.0.1")
            .header(CONTENT_TYPE, "application/json");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        let response = self
            .sender
            .send_request(request.body(Full::new(body)).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }

    /// A setup request that must succeed; its JSON.
    async fn ok(&mut self, key: &str, method: Method, path: &str, body: Value) -> Value {
        let auth = HeaderValue::from_str(&format!("Bearer {key}")).expect("header");
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let (status, body) = self.send(method.clone(), path, Some(&auth), body).await;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        value
    }
}

// ---------------------------------------------------------------------------

fn report(rows: &[Row]) {
    println!(
        "| path | clients | events/s | latency p50 | latency p99 | calls/s | events measured |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let calls = if row.calls == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}", row.calls as f64 / row.window.as_secs_f64())
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {calls} | {} |",
            row.path,
            row.clients,
            row.events_per_second(),
            human(row.percentile(0.50)),
            human(row.percentile(0.99)),
            row.events,
        );
    }
    let find = |prefix: &str, clients: usize| {
        rows.iter()
            .find(|row| row.path.starts_with(prefix) && row.clients == clients)
            .expect("row")
    };
    let plugin = find("in-process", 1);
    let hook_single = find("webhook", 1);
    let hook_best = rows
        .iter()
        .filter(|row| row.path.starts_with("webhook"))
        .max_by(|a, b| a.events_per_second().total_cmp(&b.events_per_second()))
        .expect("webhook rows");
    let best = |prefix: &str| {
        rows.iter()
            .filter(|row| row.path.starts_with(prefix))
            .max_by(|a, b| a.events_per_second().total_cmp(&b.events_per_second()))
            .expect("rows")
    };
    let api_calls = best("API over HTTP (");
    let api_events = best("API over HTTP, events only");
    println!();
    println!(
        "- per event, in-process plugin vs webhook (1 client, p50): {} vs {}: **{:.1}x faster**",
        human(plugin.percentile(0.5)),
        human(hook_single.percentile(0.5)),
        hook_single.percentile(0.5).as_secs_f64() / plugin.percentile(0.5).as_secs_f64()
    );
    println!(
        "- throughput, in-process plugin (1 thread) vs best webhook ({} clients, both cores): {:.0}/s vs {:.0}/s: **{:.1}x**",
        hook_best.clients,
        plugin.events_per_second(),
        hook_best.events_per_second(),
        plugin.events_per_second() / hook_best.events_per_second()
    );
    println!(
        "- API over HTTP, whole calls: best {:.0} events/s at {} clients; events only: best {:.0} events/s at {} clients (goal 10000/s)",
        api_calls.events_per_second(),
        api_calls.clients,
        api_events.events_per_second(),
        api_events.clients,
    );
    for row in rows.iter().filter(|row| !row.starts.is_empty()) {
        println!(
            "- API, {} clients: `POST /v1/calls` p50 {} / p99 {}; `/end` p50 {} / p99 {}",
            row.clients,
            human(percentile(&row.starts, 0.5)),
            human(percentile(&row.starts, 0.99)),
            human(percentile(&row.ends, 0.5)),
            human(percentile(&row.ends, 0.99)),
        );
    }
}

fn human(duration: Duration) -> String {
    let micros = duration.as_nanos() as f64 / 1000.0;
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.2} µs")
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
