//! The HTTP API over a real socket: `app(host)` served on 127.0.0.1:0 with a
//! real store, audit writer and sandbox in a temporary data directory, driven
//! with an HTTP client as the platform, tenant admins, developers and
//! reviewers would.

use std::sync::Arc;

use base64::Engine as _;
use cally_host::api::{self, ApiHost};
use cally_host::sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A host serving the API on a free loopback port.
pub struct Server {
    pub url: String,
    pub admin_key: String,
    pub host: Arc<ApiHost>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// A fresh host in a new temporary data directory.
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    /// A host on `dir` (which may hold an earlier host's data).
    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_with(dir, Self::config()).await
    }

    /// The sandbox configuration the tests' hosts run with: a small pool.
    pub fn config() -> SandboxConfig {
        SandboxConfig {
            max_concurrent_calls: 64,
            ..SandboxConfig::default()
        }
    }

    /// A host on `dir` whose sandbox has `config`.
    pub async fn start_with(dir: tempfile::TempDir, config: SandboxConfig) -> Self {
        let (host, _sqlite) = ApiHost::open(dir.path(), config).await.unwrap();
        let admin_key = match host.bootstrap_platform_admin().await.unwrap() {
            Some(key) => key.key,
            None => {
                api::issue_key(host.store(), None, api::Role::PlatformAdmin, "tests")
                    .await
                    .unwrap()
                    .key
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, host.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            url,
            admin_key,
            host,
            client: reqwest::Client::new(),
            dir,
            shutdown,
            task,
        }
    }

    /// Shuts the server down gracefully (live calls ended) and hands back the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        drop(self.client);
        let _ = self.shutdown.send(());
        self.task.await.unwrap().unwrap();
        self.dir
    }

    /// Sends one request; `key` `None` sends no Authorization header.
    pub async fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        if !status.is_success() {
            assert_eq!(
                content_type, "application/problem+json",
                "{status} {path}: {text}"
            );
        }
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// A request that must succeed; returns its JSON.
    pub async fn ok(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send(Some(key), method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value:#}");
        value
    }

    /// Creates `tenant` and a key for each of its roles.
    pub async fn tenant(&self, tenant: &str) -> Keys {
        let created = self
            .ok(
                &self.admin_key,
                Method::POST,
                "/v1/tenants",
                Some(json!({"id": tenant})),
            )
            .await;
        let admin = created["admin_key"]["key"].as_str().unwrap().to_owned();
        let issue = async |role: &str| {
            let key = self
                .ok(
                    &admin,
                    Method::POST,
                    "/v1/keys",
                    Some(json!({"role": role, "label": format!("{role}@{tenant}")})),
                )
                .await;
            key["key"].as_str().unwrap().to_owned()
        };
        Keys {
            developer: issue("developer").await,
            reviewer: issue("reviewer").await,
            runtime: issue("runtime").await,
            admin,
        }
    }

    /// Uploads a component with its manifest as `keys`' developer; returns the version.
    pub async fn upload(
        &self,
        keys: &Keys,
        manifest: &str,
        component: &[u8],
    ) -> (StatusCode, Value) {
        let body = json!({
            "manifest": manifest,
            "component_base64": base64::engine::general_purpose::STANDARD.encode(component),
        });
        self.send(
            Some(&keys.developer),
            Method::POST,
            "/v1/plugins",
            Some(body),
        )
        .await
    }

    /// Uploads, inspects, approves (with the inspected digests) and activates.
    pub async fn release(
        &self,
        keys: &Keys,
        manifest: &str,
        component: &[u8],
        name: &str,
        version: &str,
    ) {
        let (status, body) = self.upload(keys, manifest, component).await;
        assert_eq!(status, StatusCode::CREATED, "{body:#}");
        // The answer names the plugin the manifest declares, beside the version.
        assert_eq!(body["plugin"], name, "{body:#}");
        assert_eq!(body["version"], version, "{body:#}");
        let base = format!("/v1/plugins/{name}/versions/{version}");
        let report = self
            .ok(
                &keys.reviewer,
                Method::GET,
                &format!("{base}/inspect"),
                None,
            )
            .await;
        let digests = json!({
            "component_digest": report["component_digest"],
            "manifest_digest": report["manifest_digest"],
        });
        self.ok(
            &keys.reviewer,
            Method::POST,
            &format!("{base}/approve"),
            Some(digests),
        )
        .await;
        let plugin = self
            .ok(
                &keys.reviewer,
                Method::POST,
                &format!("{base}/activate"),
                None,
            )
            .await;
        assert_eq!(plugin["active_version"], version);
    }
}

/// One tenant's keys, one per tenant role.
pub struct Keys {
    pub admin: String,
    pub developer: String,
    pub reviewer: String,
    pub runtime: String,
}

/// The appointment-reminder example: its component and manifest.
pub fn appointment_reminder() -> (Vec<u8>, String) {
    let component = std::fs::read(cally_tests::example("appointment-reminder")).unwrap();
    let manifest = std::fs::read_to_string(
        cally_tests::example_dir("appointment-reminder").join("cally.toml"),
    )
    .unwrap();
    (component, manifest)
}

/// A manifest for the `reads-data` probe that declares reading the phone number.
pub const READS_PHONE: &str = r#"
name = "reads-data"
version = "1.0.0"
world = "call-flow"
description = "A probe that reads what the caller asks for."
purpose = "call-handling"

[[reads]]
field = "phone"
reason = "Reads the number back to the caller to confirm it."
"#;

/// A lead with a phone number, as a tenant admin creates it.
fn ada() -> Value {
    json!({
        "lead_id": "lead-ada",
        "name": "Ada Lovelace",
        "phone": "+15550100",
        "age": "adult",
        "preferences": {"preferred-time": "mornings"},
    })
}

pub(crate) fn consent(purpose: &str) -> Value {
    json!({"purpose": purpose, "source": "web-form", "evidence": "form-2291"})
}

pub(crate) fn start_call(plugin: &str, call_id: &str) -> Value {
    json!({
        "plugin": plugin,
        "call_id": call_id,
        "lead_id": "lead-ada",
        "direction": "outbound",
        "campaign": "spring-checkups",
        "locale": "en-US",
    })
}

pub(crate) fn speech(text: &str) -> Value {
    json!({"type": "speech", "text": text, "confidence": 0.92, "final": true})
}

/// The records of plugins' uses among audit records (those without an actor; a
/// person's request through the API is recorded with one).
pub(crate) fn plugin_uses(records: &Value) -> Vec<Value> {
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"].is_null())
        .cloned()
        .collect()
}

/// The texts of the `say` actions in an outcome.
pub(crate) fn said(outcome: &Value) -> Vec<String> {
    outcome["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "say")
        .map(|a| a["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The walkthrough: a tenant and its keys, the appointment reminder uploaded,
/// approved and activated, a lead with consent, a call whose plugin reads the
/// lead's name (audited), the audit query showing the reads, a clean chain.
#[tokio::test]
async fn the_walkthrough_end_to_end() {
    let server = Server::start().await;
    let keys = server.tenant("acme-clinic").await;
    let (component, manifest) = appointment_reminder();
    server
        .release(
            &keys,
            &manifest,
            &component,
            "appointment-reminder",
            "0.1.0",
        )
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent("call-handling")),
        )
        .await;

    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("appointment-reminder", "call-1")),
        )
        .await;
    assert_eq!(started["plugin_version"], "0.1.0");
    let greeting = said(&started).join(" ");
    assert!(
        greeting.contains("Ada"),
        "the plugin greets the lead by name: {started:#}"
    );
    let reads: Vec<&Value> = started["data"].as_array().unwrap().iter().collect();
    assert!(
        !reads.is_empty() && reads.iter().all(|r| r["decision"] == "allowed"),
        "{started:#}"
    );

    let answer = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/events",
            Some(speech("yes please, I'll be there")),
        )
        .await;
    assert!(
        !answer["actions"].as_array().unwrap().is_empty(),
        "{answer:#}"
    );
    let ended = server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-1/end", None)
        .await;
    assert!(ended["events"].as_u64().unwrap() >= 2, "{ended:#}");
    assert!(server.host.calls.is_empty(), "the call's session is gone");
    let call = server
        .ok(&keys.runtime, Method::GET, "/v1/calls/call-1", None)
        .await;
    assert_eq!(call["live"], false);
    assert!(
        call["ended_at_ms"].is_i64() && call["result"]["actions"].is_array(),
        "{call:#}"
    );

    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit?lead=lead-ada", None)
        .await;
    // The tenant admin's create and consent are recorded too (`people_access`).
    let records = plugin_uses(&audit);
    assert_eq!(records.len(), reads.len(), "{audit:#}");
    for (record, read) in records.iter().zip(&reads) {
        assert_eq!(record["call_id"], "call-1");
        assert_eq!(record["decision"], "allowed");
        assert_eq!(record["seq"], read["audit_seq"]);
        assert!(
            record["lead"].as_str().unwrap().starts_with("lead-"),
            "a pseudonym, not the id"
        );
        assert_ne!(record["lead"], "lead-ada");
    }
    let denied = server
        .ok(
            &keys.reviewer,
            Method::GET,
            "/v1/audit?decision=denied",
            None,
        )
        .await;
    assert_eq!(denied, json!([]));
    let export = server
        .client
        .get(format!("{}/v1/audit/export?format=csv", server.url))
        .bearer_auth(&keys.reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
    let all = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(
        export.text().await.unwrap().lines().count(),
        all.as_array().unwrap().len() + 1
    );
    let verify = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert_eq!(verify["problem"], Value::Null, "{verify:#}");
    assert_eq!(verify["records"], all.as_array().unwrap().len());

    // The host's counters, no key needed and no tenant named.
    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "cally_calls_started_total 1".to_owned(),
        "cally_calls_ended_total 1".to_owned(),
        "cally_calls_live 0".to_owned(),
        "cally_events_total 2".to_owned(),
        format!(
            "cally_data_uses_total{{decision=\"allowed\"}} {}",
            records.len()
        ),
        // Plugins' records and people's: every record the writer committed.
        format!(
            "cally_audit_records_total {}",
            all.as_array().unwrap().len()
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from:\n{metrics}"
        );
    }
    assert!(!metrics.contains("acme"), "{metrics}");
    // Every committed audit batch is in the latency and size histograms, and the
    // sizes add up to the records.
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
    };
    let batches = value("cally_audit_batches_total");
    assert!(batches >= 1.0, "{metrics}");
    assert_eq!(value("cally_audit_batch_seconds_count"), batches);
    assert_eq!(
        value("cally_audit_batch_seconds_bucket{le=\"+Inf\"}"),
        batches
    );
    assert!(value("cally_audit_batch_seconds_sum") > 0.0, "{metrics}");
    assert_eq!(value("cally_audit_batch_records_count"), batches);
    assert_eq!(
        value("cally_audit_batch_records_sum"),
        all.as_array().unwrap().len() as f64
    );
}

/// Who may call what: every endpoint refuses a request without a key (401),
/// a key of the wrong role (403), and answers another tenant's key as if the
/// resource did not exist (404), or shows it only its own data.
#[tokio::test]
async fn every_endpoint_checks_the_key_its_role_and_its_tenant() {
    let server = Server::start().await;
    let acme = server.tenant("acme").await;
    let other = server.tenant("other").await;
    let (component, manifest) = appointment_reminder();
    server
        .release(
            &acme,
            &manifest,
            &component,
            "appointment-reminder",
            "0.1.0",
        )
        .await;
    server
        .ok(&acme.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    let granted = server
        .ok(
            &acme.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent("call-handling")),
        )
        .await;
    let consent_id = granted["id"].as_i64().unwrap();
    server
        .ok(
            &acme.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("appointment-reminder", "call-a")),
        )
        .await;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Role {
        Platform,
        Admin,
        Developer,
        Reviewer,
        DeveloperOrReviewer,
        Runtime,
    }
    /// What another tenant's key with the right role gets.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum OtherTenant {
        /// 404, exactly as for a missing resource.
        NotFound,
        /// Success, showing none of acme's data.
        SeesOnlyItsOwn,
        /// Not tenant-scoped (creates in the caller's own tenant): not tried.
        NotApplicable,
    }
    use OtherTenant::*;
    let version = "/v1/plugins/appointment-reminder/versions/0.1.0";
    let digests = json!({"component_digest": "sha256:00", "manifest_digest": "sha256:00"});
    let table: Vec<(Method, String, Option<Value>, Role, OtherTenant)> = vec![
        (
            Method::POST,
            "/v1/tenants".into(),
            Some(json!({"id": "third"})),
            Role::Platform,
            NotApplicable,
        ),
        (
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"role": "developer", "label": "x"})),
            Role::Admin,
            NotApplicable,
        ),
        (
            Method::POST,
            "/v1/plugins".into(),
            Some(json!({"manifest": "", "component_base64": ""})),
            Role::Developer,
            NotApplicable,
        ),
        (
            Method::GET,
            "/v1/plugins".into(),
            None,
            Role::DeveloperOrReviewer,
            SeesOnlyItsOwn,
        ),
        (
            Method::GET,
            "/v1/plugins/appointment-reminder".into(),
            None,
            Role::DeveloperOrReviewer,
            NotFound,
        ),
        (
            Method::GET,
            format!("{version}/inspect"),
            None,
            Role::DeveloperOrReviewer,
            NotFound,
        ),
        (
            Method::GET,
            format!("{version}/diff"),
            None,
            Role::DeveloperOrReviewer,
            NotFound,
        ),
        (
            Method::POST,
            format!("{version}/approve"),
            Some(digests),
            Role::Reviewer,
            NotFound,
        ),
        (
            Method::POST,
            format!("{version}/activate"),
            None,
            Role::Reviewer,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/plugins/appointment-reminder/rollback".into(),
            None,
            Role::Reviewer,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/leads".into(),
            Some(json!({"lead_id": "lead-new"})),
            Role::Admin,
            NotApplicable,
        ),
        (
            Method::GET,
            "/v1/leads".into(),
            None,
            Role::Admin,
            SeesOnlyItsOwn,
        ),
        (
            Method::GET,
            "/v1/leads/lead-ada".into(),
            None,
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/leads/lead-ada/consents".into(),
            Some(consent("marketing")),
            Role::Admin,
            NotFound,
        ),
        (
            Method::GET,
            "/v1/leads/lead-ada/consents".into(),
            None,
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            format!("/v1/leads/lead-ada/consents/{consent_id}/withdraw"),
            None,
            Role::Admin,
            NotFound,
        ),
        (
            Method::PATCH,
            "/v1/leads/lead-ada".into(),
            Some(json!({"phone": "+15550199"})),
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/leads/import".into(),
            Some(json!([{"lead_id": "lead-imported"}])),
            Role::Admin,
            NotApplicable,
        ),
        (
            Method::GET,
            "/v1/leads/lead-ada/access-report".into(),
            None,
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/leads/lead-ada/restriction".into(),
            Some(json!({"restricted": true})),
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/leads/lead-ada/erase".into(),
            None,
            Role::Admin,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/calls".into(),
            Some(start_call("appointment-reminder", "call-b")),
            Role::Runtime,
            NotFound,
        ),
        (
            Method::GET,
            "/v1/calls/call-a".into(),
            None,
            Role::Runtime,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/calls/call-a/events".into(),
            Some(speech("hello")),
            Role::Runtime,
            NotFound,
        ),
        (
            Method::POST,
            "/v1/calls/call-a/end".into(),
            None,
            Role::Runtime,
            NotFound,
        ),
        (
            Method::GET,
            "/v1/audit".into(),
            None,
            Role::Reviewer,
            SeesOnlyItsOwn,
        ),
        (
            Method::GET,
            "/v1/audit/export?format=jsonl".into(),
            None,
            Role::Reviewer,
            SeesOnlyItsOwn,
        ),
        (
            Method::GET,
            "/v1/audit/verify".into(),
            None,
            Role::Reviewer,
            SeesOnlyItsOwn,
        ),
    ];
    let right_key = |keys: &Keys, role: Role| -> String {
        match role {
            Role::Platform => server.admin_key.clone(),
            Role::Admin => keys.admin.clone(),
            Role::Developer | Role::DeveloperOrReviewer => keys.developer.clone(),
            Role::Reviewer => keys.reviewer.clone(),
            Role::Runtime => keys.runtime.clone(),
        }
    };
    let wrong_keys = |role: Role| -> Vec<String> {
        let all = [
            (Role::Admin, &acme.admin),
            (Role::Developer, &acme.developer),
            (Role::Reviewer, &acme.reviewer),
            (Role::Runtime, &acme.runtime),
        ];
        let mut wrong: Vec<String> = all
            .iter()
            .filter(|(r, _)| match role {
                Role::DeveloperOrReviewer => !matches!(r, Role::Developer | Role::Reviewer),
                _ => *r != role,
            })
            .map(|(_, key)| (*key).clone())
            .collect();
        if role != Role::Platform {
            wrong.push(server.admin_key.clone());
        }
        wrong
    };

    for (method, path, body, role, other_tenant) in &table {
        let what = format!("{method} {path}");
        let (status, problem) = server.send(None, method.clone(), path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what} without a key: {problem:#}"
        );
        let (status, _) = server
            .send(
                Some("cally_0000000000000000000000000000000000000000000000000000000000000000"),
                method.clone(),
                path,
                body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what} with an unknown key"
        );
        for key in wrong_keys(*role) {
            let (status, problem) = server
                .send(Some(&key), method.clone(), path, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{what} with a wrong role: {problem:#}"
            );
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("needs a key with role"),
                "{problem:#}"
            );
        }
        let (status, answer) = server
            .send(
                Some(&right_key(&other, *role)),
                method.clone(),
                path,
                body.clone(),
            )
            .await;
        match other_tenant {
            NotFound => {
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{what} by another tenant: {answer:#}"
                );
                assert_eq!(answer["type"], "urn:cally:problem:not-found");
            }
            SeesOnlyItsOwn => {
                assert!(
                    status.is_success(),
                    "{what} by another tenant: {status} {answer:#}"
                );
                let text = answer.to_string();
                for acme_data in ["appointment-reminder", "lead-ada", "call-a", "acme"] {
                    assert!(
                        !text.contains(acme_data),
                        "{what} showed another tenant {acme_data}: {text}"
                    );
                }
            }
            NotApplicable => {}
        }
    }
    // acme's resources are unchanged by all of that.
    let plugin = server
        .ok(
            &acme.reviewer,
            Method::GET,
            "/v1/plugins/appointment-reminder",
            None,
        )
        .await;
    assert_eq!(plugin["active_version"], "0.1.0");
    let consents = server
        .ok(
            &acme.admin,
            Method::GET,
            "/v1/leads/lead-ada/consents",
            None,
        )
        .await;
    assert_eq!(consents.as_array().unwrap().len(), 1);
    assert_eq!(consents[0]["withdrawn_at_ms"], Value::Null);
    let call = server
        .ok(&acme.runtime, Method::GET, "/v1/calls/call-a", None)
        .await;
    assert_eq!(call["live"], true);
    let lead = server
        .ok(&acme.admin, Method::GET, "/v1/leads/lead-ada", None)
        .await;
    assert_eq!(lead["name"], "Ada Lovelace");
    assert_eq!(lead["restricted"], false);
}

/// Bad input gets a problem document naming what is wrong, and stores nothing:
/// malformed JSON, an unknown field, an oversized body, an oversized upload,
/// bytes that are not a component, a manifest that fails its checks, a
/// component that imports what its manifest does not declare.
#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_stores_nothing() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let raw = |key: &str, path: &str, body: Vec<u8>| {
        server
            .client
            .post(format!("{}{path}", server.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let response = raw(&keys.admin, "/v1/leads", b"{\"lead_id\": ".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{problem:#}"
    );

    let (status, problem) = server
        .send(
            Some(&keys.admin),
            Method::POST,
            "/v1/leads",
            Some(json!({"lead_id": "x", "shoe_size": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains("shoe_size"),
        "{problem:#}"
    );

    let huge = format!(
        "{{\"lead_id\": \"x\", \"name\": \"{}\"}}",
        "a".repeat(api::BODY_LIMIT)
    );
    let response = raw(&keys.admin, "/v1/leads", huge.into_bytes())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:cally:problem:payload-too-large");

    let leads = server.ok(&keys.admin, Method::GET, "/v1/leads", None).await;
    assert_eq!(leads, json!([]), "nothing was stored");

    let (component, manifest) = appointment_reminder();
    let oversized = vec![0u8; api::COMPONENT_LIMIT + 1];
    let (status, problem) = server.upload(&keys, &manifest, &oversized).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem:#}");

    let (status, problem) = server.upload(&keys, &manifest, b"not a component").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["type"], "urn:cally:problem:invalid-component");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly component"),
        "{problem:#}"
    );

    let bad_manifest = manifest.replace("field = \"name\"", "field = \"shoe_size\"");
    let (status, problem) = server.upload(&keys, &bad_manifest, &component).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["type"], "urn:cally:problem:invalid-manifest");
    assert_eq!(
        problem["problems"][0]["path"], "reads[0].field",
        "{problem:#}"
    );

    let no_reads = "name = \"reads-data\"\nversion = \"1.0.0\"\nworld = \"call-flow\"\n\
                    description = \"A probe with no declared reads.\"\npurpose = \"call-handling\"\n";
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    let (status, problem) = server.upload(&keys, no_reads, &probe).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(
        problem["problems"][0]["path"], "component.imports",
        "{problem:#}"
    );

    let plugins = server
        .ok(&keys.developer, Method::GET, "/v1/plugins", None)
        .await;
    assert_eq!(plugins, json!([]), "no refused upload was stored");

    // A version number is uploaded once: the second upload is refused, the first kept.
    let (status, _) = server.upload(&keys, &manifest, &component).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = server
        .upload(
            &keys,
            &manifest.replace("Reminds", "Now reminds"),
            &component,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem:#}");
    let plugin = server
        .ok(
            &keys.developer,
            Method::GET,
            "/v1/plugins/appointment-reminder",
            None,
        )
        .await;
    assert_eq!(plugin["versions"].as_array().unwrap().len(), 1);

    // Activation before approval is refused, naming why.
    let (status, problem) = server
        .send(
            Some(&keys.reviewer),
            Method::POST,
            "/v1/plugins/appointment-reminder/versions/0.1.0/activate",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("needs a reviewer's approval"),
        "{problem:#}"
    );
    // An approval of other digests is refused.
    let (status, problem) = server
        .send(
            Some(&keys.reviewer),
            Method::POST,
            "/v1/plugins/appointment-reminder/versions/0.1.0/approve",
            Some(json!({"component_digest": "sha256:00", "manifest_digest": "sha256:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("covers only the exact digests"),
        "{problem:#}"
    );
    let plugin = server
        .ok(
            &keys.developer,
            Method::GET,
            "/v1/plugins/appointment-reminder",
            None,
        )
        .await;
    assert_eq!(plugin["versions"][0]["state"], "uploaded");

    // An unknown endpoint or method gets a problem document too.
    let (status, problem) = server
        .send(Some(&keys.admin), Method::DELETE, "/v1/leads", None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{problem:#}");
    let (status, problem) = server
        .send(Some(&keys.admin), Method::GET, "/v1/nothing-here", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem:#}");

    // A malformed event is refused before the plugin sees it.
    let (status, problem) = server
        .send(
            Some(&keys.runtime),
            Method::POST,
            "/v1/calls/nope/events",
            Some(json!({"type": "digits", "digits": "9x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a keypad key"),
        "{problem:#}"
    );
}

/// A host whose tenant `acme` has the reads-data probe (reading the phone)
/// released, and lead Ada with call-handling consent; returns that consent.
pub(crate) async fn probe_and_consenting_ada() -> (Server, Keys, Value) {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    let granted = server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent("call-handling")),
        )
        .await;
    (server, keys, granted)
}

/// A consent withdrawn over the API while a call is live: the plugin's very
/// next read is denied `consent-withdrawn`, and both reads are audited.
#[tokio::test]
async fn a_consent_withdrawn_over_the_api_denies_the_next_read_of_a_live_call() {
    let (server, keys, granted) = probe_and_consenting_ada().await;

    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-live")),
        )
        .await;
    assert_eq!(said(&started), ["ready"]);
    let read = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-live/events",
            Some(speech("get phone")),
        )
        .await;
    assert_eq!(said(&read), ["phone=+15550100"]);

    let withdraw = format!("/v1/leads/lead-ada/consents/{}/withdraw", granted["id"]);
    let withdrawn = server.ok(&keys.admin, Method::POST, &withdraw, None).await;
    assert!(withdrawn["withdrawn_at_ms"].is_i64(), "{withdrawn:#}");

    let read = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-live/events",
            Some(speech("get phone; get name")),
        )
        .await;
    assert_eq!(
        said(&read),
        ["phone!consent-withdrawn", "name!not-declared"]
    );
    assert_eq!(read["data"][0]["reason"], "consent-withdrawn");

    let audit = server
        .ok(
            &keys.reviewer,
            Method::GET,
            "/v1/audit?call=call-live",
            None,
        )
        .await;
    let decisions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap(),
                r["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("phone", "allowed"),
            ("phone", "denied"),
            ("name", "denied")
        ]
    );
    let verify = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert_eq!(verify["problem"], Value::Null);
}

/// The approval state is persisted: after a restart on the same data
/// directory, the active version, its approval and the upload history are
/// the same, and a call runs the active version.
#[tokio::test]
async fn release_state_survives_a_restart() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (component, manifest) = appointment_reminder();
    server
        .release(
            &keys,
            &manifest,
            &component,
            "appointment-reminder",
            "0.1.0",
        )
        .await;
    // 0.1.1 asks for nothing more: it may be activated without approval; then rolled back.
    let patch = manifest.replace("version = \"0.1.0\"", "version = \"0.1.1\"");
    let (status, _) = server.upload(&keys, &patch, &component).await;
    assert_eq!(status, StatusCode::CREATED);
    let diff = server
        .ok(
            &keys.reviewer,
            Method::GET,
            "/v1/plugins/appointment-reminder/versions/0.1.1/diff",
            None,
        )
        .await;
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["escalation"].is_null()),
        "{diff:#}"
    );
    server
        .ok(
            &keys.reviewer,
            Method::POST,
            "/v1/plugins/appointment-reminder/versions/0.1.1/activate",
            None,
        )
        .await;
    let rolled = server
        .ok(
            &keys.reviewer,
            Method::POST,
            "/v1/plugins/appointment-reminder/rollback",
            None,
        )
        .await;
    assert_eq!(rolled["active_version"], "0.1.0");
    let before = server
        .ok(&keys.reviewer, Method::GET, "/v1/plugins", None)
        .await;

    let dir = server.stop().await;
    let server = Server::start_in(dir).await;
    let after = server
        .ok(&keys.reviewer, Method::GET, "/v1/plugins", None)
        .await;
    assert_eq!(before, after);
    assert_eq!(after[0]["versions"][0]["approved_by"], "reviewer@acme");
    assert_eq!(after[0]["versions"][1]["state"], "rolled-back");
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("appointment-reminder", "call-9")),
        )
        .await;
    assert_eq!(started["plugin_version"], "0.1.0");
    // No consent was given: the plugin's reads are denied and the call goes on.
    assert!(
        started["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["decision"] == "denied"),
        "{started:#}"
    );
}

/// A data subject's rights through the tenant admin, during a live call: the
/// access report shows the lead's data and every read of it; a restriction
/// denies the next read and lifting it allows reads again; erasure denies every
/// later read, and afterwards no API answer, export or audit record holds the
/// lead's personal data, while the audit chain still verifies.
#[tokio::test]
async fn access_report_restriction_and_erasure() {
    let (server, keys, _) = probe_and_consenting_ada().await;
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-r")),
        )
        .await;
    let ask = async |command: &str| {
        let outcome = server
            .ok(
                &keys.runtime,
                Method::POST,
                "/v1/calls/call-r/events",
                Some(speech(command)),
            )
            .await;
        said(&outcome)
    };
    assert_eq!(ask("get phone").await, ["phone=+15550100"]);

    let report = server
        .ok(
            &keys.admin,
            Method::GET,
            "/v1/leads/lead-ada/access-report",
            None,
        )
        .await;
    assert_eq!(report["lead"]["phone"], "+15550100");
    assert_eq!(report["consents"].as_array().unwrap().len(), 1);
    let uses = plugin_uses(&report["uses"]);
    assert_eq!(uses.len(), 1, "{report:#}");
    assert_eq!(uses[0]["resource"], "phone");
    assert_eq!(uses[0]["plugin"], "reads-data");
    assert_eq!(uses[0]["purpose"], "call-handling");
    assert_eq!(uses[0]["lead"], report["pseudonym"]);

    let restrict = |restricted: bool| {
        server.ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/restriction",
            Some(json!({ "restricted": restricted })),
        )
    };
    assert_eq!(restrict(true).await["restricted"], true);
    assert_eq!(ask("get phone").await, ["phone!lead-restricted"]);
    restrict(false).await;
    assert_eq!(ask("get phone").await, ["phone=+15550100"]);

    let erased = server
        .ok(&keys.admin, Method::POST, "/v1/leads/lead-ada/erase", None)
        .await;
    assert!(erased["erased_at_ms"].is_i64(), "{erased:#}");
    assert_eq!(ask("get phone").await, ["phone!lead-erased"]);
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-r/end", None)
        .await;
    let (status, problem) = server
        .send(
            Some(&keys.admin),
            Method::POST,
            "/v1/leads/lead-ada/restriction",
            Some(json!({"restricted": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an erased lead is never changed: {problem:#}"
    );

    let mut answers = vec![
        server
            .ok(&keys.admin, Method::GET, "/v1/leads/lead-ada", None)
            .await,
        server.ok(&keys.admin, Method::GET, "/v1/leads", None).await,
        server
            .ok(
                &keys.admin,
                Method::GET,
                "/v1/leads/lead-ada/access-report",
                None,
            )
            .await,
        server
            .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
            .await,
        server
            .ok(&keys.runtime, Method::GET, "/v1/calls/call-r", None)
            .await,
    ];
    for format in ["jsonl", "csv"] {
        let path = format!("/v1/audit/export?format={format}");
        answers.push(server.ok(&keys.reviewer, Method::GET, &path, None).await);
    }
    for answer in &answers {
        let text = answer.to_string();
        for personal in ["+15550100", "Lovelace", "mornings"] {
            assert!(
                !text.contains(personal),
                "{personal} after erasure in {text}"
            );
        }
    }
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit?lead=lead-ada", None)
        .await;
    let uses = plugin_uses(&audit);
    let decisions: Vec<&str> = uses
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("allowed"))
        .collect();
    assert_eq!(
        decisions,
        ["allowed", "lead-restricted", "allowed", "lead-erased"]
    );
    // The tenant admin's restriction refused after the erasure is recorded too.
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reason"] == "conflict" && r["actor"]["operation"] == "lead.restrict"),
        "{audit:#}"
    );
    let verify = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert_eq!(verify["problem"], Value::Null, "{verify:#}");
    let all = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit", None)
        .await;
    assert_eq!(verify["records"], all.as_array().unwrap().len());
    assert_eq!(plugin_uses(&all).len(), 4, "{all:#}");
}

/// A contact list is imported whole or not at all: every refused row is
/// named (malformed, duplicated in the list, already a lead), and the tenant's
/// leads are unchanged; a good list, as JSON or CSV, is imported in one go. A
/// lead is corrected field by field.
#[tokio::test]
async fn contact_lists_are_imported_whole_or_not_at_all_and_leads_corrected() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let import = async |content_type: &str, body: String| {
        let response = server
            .client
            .post(format!("{}/v1/leads/import", server.url))
            .bearer_auth(&keys.admin)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    };
    let leads = async || {
        server
            .ok(&keys.admin, Method::GET, "/v1/leads", None)
            .await
            .as_array()
            .unwrap()
            .len()
    };

    let list = json!([
        {"lead_id": "l-1", "name": "Ada Lovelace", "age": "adult"},
        {"lead_id": "l-2", "phone": "+15550101"},
        {"lead_id": "l-3", "age": "teen"},
        {"lead_id": "l-1", "name": "Ada again"},
        {"name": "nobody"},
    ]);
    let (status, problem) = import("application/json", list.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["type"], "urn:cally:problem:import-refused");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("3 of 5 rows refused; nothing was imported"),
        "{detail}"
    );
    assert!(detail.contains("row 3: unknown variant `teen`"), "{detail}");
    assert!(
        detail.contains("row 4: lead 'l-1' appears twice in the list"),
        "{detail}"
    );
    assert!(
        detail.contains("row 5: missing field `lead_id`"),
        "{detail}"
    );
    assert_eq!(leads().await, 0, "nothing was imported");

    let csv = "lead_id,name,phone,age,preferences\n\
               l-1,Ada Lovelace,+15550100,adult,\"{\"\"preferred-time\"\": \"\"mornings\"\"}\"\n\
               l-2,Grace Hopper,+15550101,adult,\n\
               l-3,,+15550102,,\n";
    let (status, report) = import("text/csv", csv.to_owned()).await;
    assert_eq!(status, StatusCode::CREATED, "{report:#}");
    assert_eq!(report["imported"], 3);
    assert_eq!(leads().await, 3);
    let ada = server
        .ok(&keys.admin, Method::GET, "/v1/leads/l-1", None)
        .await;
    assert_eq!(ada["preferences"]["preferred-time"], "mornings");
    assert_eq!(ada["age"], "adult");
    let unknown_age = server
        .ok(&keys.admin, Method::GET, "/v1/leads/l-3", None)
        .await;
    assert_eq!(unknown_age["age"], "unknown");

    // One row that exists already refuses the whole list.
    let csv = "lead_id,name\nl-4,Alan Turing\nl-2,Grace again\n";
    let (status, problem) = import("text/csv", csv.to_owned()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("row 2: lead 'l-2' already exists"),
        "{problem:#}"
    );
    assert_eq!(leads().await, 3);
    let (status, problem) = import("text/csv", "lead_id,shoe_size\nl-9,44\n".to_owned()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown CSV column 'shoe_size'")
    );

    // Corrections: a field changed, a field cleared; the id and unknown fields refused.
    let corrected = server
        .ok(
            &keys.admin,
            Method::PATCH,
            "/v1/leads/l-2",
            Some(json!({"phone": "+15550111", "name": null})),
        )
        .await;
    assert_eq!(corrected["phone"], "+15550111");
    assert_eq!(corrected["name"], Value::Null);
    assert_eq!(corrected["age"], "adult", "untouched fields stay");
    for bad in [json!({"lead_id": "l-9"}), json!({"shoe_size": 44})] {
        let (status, problem) = server
            .send(Some(&keys.admin), Method::PATCH, "/v1/leads/l-2", Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    }
    let lead = server
        .ok(&keys.admin, Method::GET, "/v1/leads/l-2", None)
        .await;
    assert_eq!(lead["phone"], "+15550111");
}
