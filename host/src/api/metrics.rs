//! `GET /metrics`: the host's counters in the Prometheus text format. Host-wide
//! totals only, never a tenant's, lead's or call's name, so the endpoint needs
//! no key (scrape it from inside the platform's network).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::ApiHost;
use crate::histogram::HistogramSnapshot;
use crate::session::EventOutcome;

/// What the API has done since the host started.
#[derive(Default)]
pub struct ApiMetrics {
    calls_started: AtomicU64,
    calls_ended: AtomicU64,
    events: AtomicU64,
    /// Plugin failures by reason (`deadline_exceeded`, `trap`, ...).
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Uses of personal data by decision (`allowed`, `denied`).
    data_uses: Mutex<BTreeMap<&'static str, u64>>,
}

impl ApiMetrics {
    /// Counts a call that started.
    pub fn call_started(&self) {
        self.calls_started.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call that ended.
    pub fn call_ended(&self) {
        self.calls_ended.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one event handed to a plugin, its failure and its data uses.
    pub fn event(&self, outcome: &EventOutcome) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if let Some(failure) = &outcome.failure {
            *lock(&self.failures).entry(failure.reason()).or_default() += 1;
        }
        if !outcome.data.is_empty() {
            let mut uses = lock(&self.data_uses);
            for used in &outcome.data {
                *uses.entry(used.decision.as_str()).or_default() += 1;
            }
        }
    }

    /// The Prometheus text exposition of every counter, with the live calls
    /// and the audit writer's counters of `host`.
    pub fn render(&self, host: &ApiHost) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |value: u64| vec![(String::new(), value)];
        let labelled =
            |label: &str, map: &Mutex<BTreeMap<&'static str, u64>>| -> Vec<(String, u64)> {
                lock(map)
                    .iter()
                    .map(|(key, value)| (format!("{{{label}=\"{key}\"}}"), *value))
                    .collect()
            };
        let audit = host.services.audit.stats();
        counter(
            "cally_calls_started_total",
            "Calls started.",
            "counter",
            &one(self.calls_started.load(Ordering::Relaxed)),
        );
        counter(
            "cally_calls_ended_total",
            "Calls ended through the API.",
            "counter",
            &one(self.calls_ended.load(Ordering::Relaxed)),
        );
        counter(
            "cally_calls_live",
            "Calls running on this host.",
            "gauge",
            &one(host.calls.len() as u64),
        );
        counter(
            "cally_events_total",
            "Call events handed to plugins (started included).",
            "counter",
            &one(self.events.load(Ordering::Relaxed)),
        );
        counter(
            "cally_plugin_failures_total",
            "Plugin failures that ended a call with its fallback, by reason.",
            "counter",
            &labelled("reason", &self.failures),
        );
        counter(
            "cally_data_uses_total",
            "Uses of personal data (reads, tags, messages), by decision.",
            "counter",
            &labelled("decision", &self.data_uses),
        );
        counter(
            "cally_audit_batches_total",
            "Audit transactions committed.",
            "counter",
            &one(audit.batches),
        );
        counter(
            "cally_audit_records_total",
            "Audit records committed.",
            "counter",
            &one(audit.records),
        );
        counter(
            "cally_audit_failed_batches_total",
            "Audit transactions that failed (their reads were denied).",
            "counter",
            &one(audit.failed_batches),
        );
        counter(
            "cally_audit_largest_batch",
            "The most records committed in one audit transaction.",
            "gauge",
            &one(audit.largest_batch),
        );
        histogram(
            &mut out,
            "cally_audit_batch_seconds",
            "Time from an audit transaction's start to its durable commit.",
            &host.services.audit.batch_latency(),
        );
        histogram(
            &mut out,
            "cally_audit_batch_records",
            "Records per audit transaction.",
            &host.services.audit.batch_sizes(),
        );
        out
    }
}

/// Writes `snapshot` as a Prometheus histogram named `name`.
fn histogram(out: &mut String, name: &str, help: &str, snapshot: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in &snapshot.cumulative {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", snapshot.count);
    let _ = writeln!(out, "{name}_sum {}", snapshot.sum);
    let _ = writeln!(out, "{name}_count {}", snapshot.count);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET /metrics`: host-wide counters in the Prometheus text format (calls
/// started, ended and live, events, plugin failures by reason, uses of
/// personal data by decision, audit batches and records, and histograms of
/// audit batch latency and size). Names no tenant, so it needs no key.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "The counters, Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(host): State<Arc<ApiHost>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        host.metrics.render(&host),
    )
}
