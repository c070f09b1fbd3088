//! The runtime benchmark behind `BENCHMARKS.md`:
//!
//! ```sh
//! cargo bench -p cally-host --bench runtime
//! ```
//!
//! In one run, on one thread, it measures the appointment-reminder example:
//! - a new call: a fresh instance from the pooling allocator plus its `started`
//!   event, as the host does for every call;
//! - a warm event: the caller's "yes" on an instance that already handled `started`;
//! - the same two steps of the same plugin source compiled as native Rust and
//!   called directly, as the baseline.
//!
//! Each sample is timed on its own with `Instant`; the report gives p50, p99
//! and the mean over all samples after a warm-up. Printed as Markdown.

use std::hint::black_box;
use std::time::{Duration, Instant};

use appointment_reminder::Reminder;
use cally_host::component::ComponentCache;
use cally_host::protocol::{CallEvent, CallStarted, Direction};
use cally_host::sandbox::{Sandbox, SandboxConfig};
use cally_host::session::{CallOptions, FlowInstance};
use cally_sdk::CallFlow;

/// Samples per measurement.
const SAMPLES: usize = 20_000;
/// Iterations run and thrown away first.
const WARM_UP: usize = 2_000;
/// Instances alive at once while measuring warm events.
const BATCH: usize = 500;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let sandbox = Sandbox::new(bench_config()).expect("sandbox");
    let cache = ComponentCache::new(sandbox.clone(), None);
    let example = cally_host::examples::find("appointment-reminder").expect("bundled example");
    let plugin = cache.load(example.component).expect("component");
    let options = CallOptions::new(sandbox.config().default_limits);
    let started = started_event();
    let yes = CallEvent::Speech {
        text: "yes, that works".into(),
        confidence: 0.93,
        is_final: true,
    };

    let new_call = {
        let mut samples = Vec::with_capacity(SAMPLES);
        for i in 0..WARM_UP + SAMPLES {
            let begin = Instant::now();
            let mut call = FlowInstance::start(sandbox.clone(), &plugin, options.clone())
                .await
                .expect("call flow");
            let outcome = call.handle(&started).await;
            let elapsed = begin.elapsed();
            assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
            black_box(outcome);
            drop(call);
            if i >= WARM_UP {
                samples.push(elapsed);
            }
        }
        samples
    };

    let warm_event = {
        let mut samples = Vec::with_capacity(SAMPLES);
        let mut done = 0;
        while done < WARM_UP + SAMPLES {
            let mut calls = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let mut call = FlowInstance::start(sandbox.clone(), &plugin, options.clone())
                    .await
                    .expect("call flow");
                call.handle(&started).await;
                calls.push(call);
            }
            for call in &mut calls {
                let begin = Instant::now();
                let outcome = call.handle(&yes).await;
                let elapsed = begin.elapsed();
                assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
                black_box(outcome);
                if done >= WARM_UP {
                    samples.push(elapsed);
                }
                done += 1;
            }
        }
        samples
    };

    let native_new_call = measure(|| {
        let mut reminder = Reminder::default();
        black_box(reminder.on_event(black_box(native_started())));
        reminder
    });
    let native_warm_event = {
        let mut samples = Vec::with_capacity(SAMPLES);
        for i in 0..WARM_UP + SAMPLES {
            let mut reminder = Reminder::default();
            black_box(reminder.on_event(native_started()));
            let event = native_yes();
            let begin = Instant::now();
            black_box(reminder.on_event(black_box(event)));
            let elapsed = begin.elapsed();
            if i >= WARM_UP {
                samples.push(elapsed);
            }
        }
        samples
    };

    report(&[
        ("new call: instantiate + `started` (wasm, pooled)", new_call),
        ("new call: same logic, native Rust", native_new_call),
        ("warm event: caller says \"yes\" (wasm)", warm_event),
        ("warm event: same logic, native Rust", native_warm_event),
    ]);
}

/// Times `SAMPLES` runs of `step` after `WARM_UP` untimed ones.
fn measure<T>(mut step: impl FnMut() -> T) -> Vec<Duration> {
    for _ in 0..WARM_UP {
        black_box(step());
    }
    (0..SAMPLES)
        .map(|_| {
            let begin = Instant::now();
            let output = step();
            let elapsed = begin.elapsed();
            black_box(output);
            elapsed
        })
        .collect()
}

fn report(rows: &[(&str, Vec<Duration>)]) {
    println!("| measurement | p50 | p99 | mean | samples |");
    println!("|---|---:|---:|---:|---:|");
    for (name, samples) in rows {
        let mut sorted = samples.clone();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        println!(
            "| {name} | {} | {} | {} | {} |",
            micros(at(0.50)),
            micros(at(0.99)),
            micros(mean),
            sorted.len()
        );
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.2} µs", duration.as_nanos() as f64 / 1000.0)
}

fn started_event() -> CallEvent {
    CallEvent::Started(CallStarted {
        call_id: "bench-call".into(),
        direction: Direction::Outbound,
        campaign: Some("spring-checkups".into()),
        started_at_ms: Some(1_764_000_000_000),
        locale: "en-US".into(),
    })
}

fn native_started() -> cally_sdk::CallEvent {
    cally_sdk::CallEvent::Started(cally_sdk::CallStarted {
        call_id: "bench-call".into(),
        direction: cally_sdk::Direction::Outbound,
        campaign: Some("spring-checkups".into()),
        started_at_ms: 1_764_000_000_000,
        locale: "en-US".into(),
    })
}

fn native_yes() -> cally_sdk::CallEvent {
    cally_sdk::CallEvent::Speech(cally_sdk::CallerSpeech {
        text: "yes, that works".into(),
        confidence: 0.93,
        is_final: true,
    })
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
