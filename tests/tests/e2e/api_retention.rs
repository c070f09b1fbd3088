//! Retention and portability over a real socket: the policy (`/v1/retention`),
//! the purge on demand and on the schedule removing exactly what is older than
//! the policy's limits, one audit record per run with the chain still valid,
//! another tenant untouched; the lead's portability export.

use std::time::Duration;

use cally_host::consent::Channel;
use cally_host::retention::{DAY_MS, Schedule};
use cally_host::store::{CallStart, NewMessage, NewTag};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Keys, Server, appointment_reminder};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Stores, straight into the tenant's store, calls and messages of `lead-ada`
/// aged around the limits of 30 days (calls) and 90 days (messages).
async fn seed(server: &Server, tenant: &str) {
    let store = server.host.store();
    let now = now_ms();
    // (call id, started, ended)
    let calls = [
        (
            "old-call",
            now - 31 * DAY_MS - 60_000,
            Some(now - 31 * DAY_MS),
        ),
        (
            "new-call",
            now - 29 * DAY_MS - 60_000,
            Some(now - 29 * DAY_MS),
        ),
        ("abandoned-call", now - 40 * DAY_MS, None),
    ];
    for (call_id, started, ended) in calls {
        store
            .record_call_start(&CallStart {
                tenant: tenant.into(),
                call_id: call_id.into(),
                plugin: "appointment-reminder".into(),
                plugin_version: "0.1.0".into(),
                component_digest: "sha256:00".into(),
                lead_id: Some("lead-ada".into()),
                started_at_ms: started,
            })
            .await
            .unwrap();
        if let Some(ended) = ended {
            store
                .record_call_end(tenant, call_id, ended, &json!({"actions": []}))
                .await
                .unwrap();
        }
    }
    for (template, at) in [
        ("old-note", now - 91 * DAY_MS),
        ("new-note", now - 89 * DAY_MS),
    ] {
        store
            .enqueue_message(&NewMessage {
                tenant: tenant.into(),
                lead_id: "lead-ada".into(),
                channel: Channel::Sms,
                template: template.into(),
                params: json!({"first_name": "Ada"}),
                call_id: "old-call".into(),
                created_at_ms: at,
            })
            .await
            .unwrap();
    }
}

async fn tenant_with_ada(server: &Server, tenant: &str) -> Keys {
    let keys = server.tenant(tenant).await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(json!({"lead_id": "lead-ada", "name": "Ada Lovelace", "phone": "+15550100", "age": "adult"})),
        )
        .await;
    keys
}

/// Which seeded calls and message templates the tenant still has.
async fn remaining(server: &Server, tenant: &str) -> (Vec<&'static str>, Vec<String>) {
    let store = server.host.store();
    let mut calls = Vec::new();
    for call_id in ["old-call", "new-call", "abandoned-call"] {
        if store.call(tenant, call_id).await.unwrap().is_some() {
            calls.push(call_id);
        }
    }
    let messages = store
        .outbox(tenant, "lead-ada")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.template)
        .collect();
    (calls, messages)
}

/// The tenant's audit records of retention purges started by `trigger`.
async fn purge_records(server: &Server, keys: &Keys, trigger: &str) -> Vec<Value> {
    server
        .ok(
            &keys.reviewer,
            Method::GET,
            &format!("/v1/audit?call=retention-purge:{trigger}"),
            None,
        )
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn chain_is_clean(server: &Server, keys: &Keys) {
    let report = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert!(report["problem"].is_null(), "{report:#}");
}

#[tokio::test]
async fn retention_endpoints_check_the_key_and_its_role() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let endpoints = [
        (Method::GET, "/v1/retention", None),
        (
            Method::PUT,
            "/v1/retention",
            Some(json!({"calls_days": 30})),
        ),
        (Method::POST, "/v1/retention/purge", None),
    ];
    for (method, path, body) in endpoints {
        let (status, problem) = server.send(None, method.clone(), path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {problem:#}"
        );
        for key in [
            &server.admin_key,
            &keys.developer,
            &keys.reviewer,
            &keys.runtime,
        ] {
            let (status, problem) = server
                .send(Some(key), method.clone(), path, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {problem:#}"
            );
            assert_eq!(problem["type"], "urn:cally:problem:forbidden");
        }
    }
    // Nothing was set by the refused requests.
    let policy = server
        .ok(&keys.admin, Method::GET, "/v1/retention", None)
        .await;
    assert_eq!(
        policy,
        json!({
            "calls_days": null,
            "messages_days": null,
            "updated_at_ms": null,
            "unknown_age_leads": {"count": 0, "lead_ids": []},
        })
    );
}

#[tokio::test]
async fn a_purge_removes_exactly_what_is_older_than_the_policy_and_audits_it() {
    let server = Server::start().await;
    let acme = tenant_with_ada(&server, "acme").await;
    let other = tenant_with_ada(&server, "other").await;
    seed(&server, "acme").await;
    seed(&server, "other").await;

    // Bad policies are refused, and change nothing.
    for body in [
        json!({"calls_days": 0}),
        json!({"messages_days": 36_501}),
        json!({"calls_days": -1}),
        json!({"calls_days": 30, "audit_days": 10}),
    ] {
        let (status, problem) = server
            .send(
                Some(&acme.admin),
                Method::PUT,
                "/v1/retention",
                Some(body.clone()),
            )
            .await;
        assert!(status.is_client_error(), "{body}: {status} {problem:#}");
    }
    let (status, problem) = server
        .send(Some(&acme.admin), Method::POST, "/v1/retention/purge", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/retention")
    );

    let policy = server
        .ok(
            &acme.admin,
            Method::PUT,
            "/v1/retention",
            Some(json!({"calls_days": 30, "messages_days": 90})),
        )
        .await;
    assert_eq!(policy["calls_days"], 30);
    assert_eq!(policy["messages_days"], 90);
    assert!(policy["updated_at_ms"].as_i64().unwrap() > 0);
    let read = server
        .ok(&acme.admin, Method::GET, "/v1/retention", None)
        .await;
    assert_eq!(read, policy);
    // The other tenant's policy is its own.
    let theirs = server
        .ok(&other.admin, Method::GET, "/v1/retention", None)
        .await;
    assert!(theirs["calls_days"].is_null());

    let report = server
        .ok(&acme.admin, Method::POST, "/v1/retention/purge", None)
        .await;
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["trigger"], "on-demand");
    assert_eq!(report["calls"]["limit_days"], 30);
    assert_eq!(report["calls"]["removed"], 2, "{report:#}");
    assert_eq!(report["messages"]["limit_days"], 90);
    assert_eq!(report["messages"]["removed"], 1, "{report:#}");

    // Exactly the old: the call ended 31 days ago and the one abandoned 40 days
    // ago went; the one ended 29 days ago stayed; the message queued 91 days ago
    // went, the one of 89 days stayed.
    assert_eq!(
        remaining(&server, "acme").await,
        (vec!["new-call"], vec!["new-note".to_owned()])
    );
    let (status, _) = server
        .send(Some(&acme.runtime), Method::GET, "/v1/calls/old-call", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server
        .ok(&acme.runtime, Method::GET, "/v1/calls/new-call", None)
        .await;
    // Another tenant's data is untouched.
    assert_eq!(
        remaining(&server, "other").await,
        (
            vec!["old-call", "new-call", "abandoned-call"],
            vec!["old-note".to_owned(), "new-note".to_owned()]
        )
    );

    // One audit record for the run, naming what went, with no lead; chain valid.
    let records = purge_records(&server, &acme, "on-demand").await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["resource"], "retention:calls>30d=2,messages>90d=1");
    assert_eq!(record["plugin"], "cally:retention");
    assert!(record["lead"].is_null());
    assert_eq!(record["seq"], report["audit_seq"]);
    chain_is_clean(&server, &acme).await;
    assert!(purge_records(&server, &other, "on-demand").await.is_empty());

    // A second run finds nothing more to remove, and is audited too.
    let again = server
        .ok(&acme.admin, Method::POST, "/v1/retention/purge", None)
        .await;
    assert_eq!(again["calls"]["removed"], 0);
    assert_eq!(again["messages"]["removed"], 0);
    let records = purge_records(&server, &acme, "on-demand").await;
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1]["resource"],
        "retention:calls>30d=0,messages>90d=0"
    );
    chain_is_clean(&server, &acme).await;

    // A policy limiting messages only leaves calls alone.
    server
        .ok(
            &other.admin,
            Method::PUT,
            "/v1/retention",
            Some(json!({"messages_days": 90})),
        )
        .await;
    let report = server
        .ok(&other.admin, Method::POST, "/v1/retention/purge", None)
        .await;
    assert!(report["calls"].is_null(), "{report:#}");
    assert_eq!(report["messages"]["removed"], 1);
    assert_eq!(
        remaining(&server, "other").await,
        (
            vec!["old-call", "new-call", "abandoned-call"],
            vec!["new-note".to_owned()]
        )
    );
    let records = purge_records(&server, &other, "on-demand").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["resource"], "retention:messages>90d=1");
    chain_is_clean(&server, &other).await;
    server.stop().await;
}

#[tokio::test]
async fn the_schedule_purges_every_tenant_with_a_policy_until_stopped() {
    let server = Server::start().await;
    let acme = tenant_with_ada(&server, "acme").await;
    let other = tenant_with_ada(&server, "other").await;
    seed(&server, "acme").await;
    seed(&server, "other").await;
    server
        .ok(
            &acme.admin,
            Method::PUT,
            "/v1/retention",
            Some(json!({"calls_days": 30, "messages_days": 90})),
        )
        .await;

    let schedule = Schedule::start(server.host.services.clone(), Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while purge_records(&server, &acme, "scheduled").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no scheduled purge ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    schedule.stop().await;
    let runs = purge_records(&server, &acme, "scheduled").await;
    assert_eq!(runs[0]["resource"], "retention:calls>30d=2,messages>90d=1");
    assert!(
        runs[1..]
            .iter()
            .all(|r| r["resource"] == "retention:calls>30d=0,messages>90d=0"),
        "{runs:?}"
    );
    assert_eq!(
        remaining(&server, "acme").await,
        (vec!["new-call"], vec!["new-note".to_owned()])
    );
    chain_is_clean(&server, &acme).await;
    // A tenant without a policy: nothing purged, nothing audited.
    assert_eq!(remaining(&server, "other").await.0.len(), 3);
    assert!(purge_records(&server, &other, "scheduled").await.is_empty());
    // Stopped: no more runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        purge_records(&server, &acme, "scheduled").await.len(),
        runs.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_portability_export_holds_the_leads_data_and_its_audit_records() {
    let server = Server::start().await;
    let acme = tenant_with_ada(&server, "acme").await;
    let other = tenant_with_ada(&server, "other").await;
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
        .ok(
            &acme.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(
                json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"}),
            ),
        )
        .await;
    server
        .ok(
            &acme.runtime,
            Method::POST,
            "/v1/calls",
            Some(json!({"plugin": "appointment-reminder", "call_id": "call-1", "lead_id": "lead-ada", "direction": "outbound", "locale": "en-US"})),
        )
        .await;
    server
        .ok(&acme.runtime, Method::POST, "/v1/calls/call-1/end", None)
        .await;
    let store = server.host.store();
    store
        .insert_tag(&NewTag {
            tenant: "acme".into(),
            lead_id: "lead-ada".into(),
            tag: "hot-lead".into(),
            call_id: "call-1".into(),
            plugin: "appointment-reminder".into(),
            created_at_ms: now_ms(),
        })
        .await
        .unwrap();
    store
        .enqueue_message(&NewMessage {
            tenant: "acme".into(),
            lead_id: "lead-ada".into(),
            channel: Channel::Whatsapp,
            template: "plan-details".into(),
            params: json!({"first_name": "Ada"}),
            call_id: "call-1".into(),
            created_at_ms: now_ms(),
        })
        .await
        .unwrap();

    let response = server
        .client
        .get(format!("{}/v1/leads/lead-ada/export", server.url))
        .bearer_auth(&acme.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"lead-lead-ada.json\""
    );
    assert!(header("content-type").starts_with("application/json"));
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["format"], "cally-lead-export/1");
    assert_eq!(export["lead"]["lead_id"], "lead-ada");
    assert_eq!(export["lead"]["name"], "Ada Lovelace");
    assert_eq!(export["lead"]["phone"], "+15550100");
    assert_eq!(export["consents"].as_array().unwrap().len(), 1);
    assert_eq!(export["consents"][0]["purpose"], "call-handling");
    assert_eq!(export["tags"][0]["tag"], "hot-lead");
    assert_eq!(export["messages"][0]["template"], "plan-details");
    let pseudonym = export["pseudonym"].as_str().unwrap();
    assert_ne!(pseudonym, "lead-ada");
    let audit = crate::api::plugin_uses(&export["audit"]);
    assert!(!audit.is_empty(), "{export:#}");
    assert!(
        audit
            .iter()
            .all(|r| r["lead"] == pseudonym && r["call_id"] == "call-1" && r["tenant"] == "acme"),
        "{audit:?}"
    );
    // The same records the reviewer's audit query finds for the lead.
    let by_lead = server
        .ok(&acme.reviewer, Method::GET, "/v1/audit?lead=lead-ada", None)
        .await;
    // ... and after them, the record of the export itself, made before it answered.
    let by_lead = by_lead.as_array().unwrap();
    let exported = export["audit"].as_array().unwrap();
    assert_eq!(&by_lead[..exported.len()], exported.as_slice());
    assert_eq!(by_lead.len(), exported.len() + 1, "{by_lead:#?}");
    assert_eq!(by_lead[exported.len()]["actor"]["operation"], "lead.export");

    // Another tenant's lead of the same id: its own data, none of acme's.
    let theirs = server
        .ok(&other.admin, Method::GET, "/v1/leads/lead-ada/export", None)
        .await;
    assert_eq!(theirs["lead"]["tenant"], "other");
    assert!(crate::api::plugin_uses(&theirs["audit"]).is_empty());
    assert!(theirs["tags"].as_array().unwrap().is_empty());
    // A lead only another tenant has: 404, exactly as a missing one.
    server
        .ok(
            &acme.admin,
            Method::POST,
            "/v1/leads",
            Some(json!({"lead_id": "lead-grace", "name": "Grace Hopper"})),
        )
        .await;
    let (status, foreign) = server
        .send(
            Some(&other.admin),
            Method::GET,
            "/v1/leads/lead-grace/export",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, missing) = server
        .send(
            Some(&other.admin),
            Method::GET,
            "/v1/leads/lead-nobody/export",
            None,
        )
        .await;
    assert_eq!(foreign["type"], missing["type"]);
    assert_eq!(foreign["detail"], "no lead 'lead-grace'");

    let (status, _) = server
        .send(None, Method::GET, "/v1/leads/lead-ada/export", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for key in [
        &server.admin_key,
        &acme.developer,
        &acme.reviewer,
        &acme.runtime,
    ] {
        let (status, _) = server
            .send(Some(key), Method::GET, "/v1/leads/lead-ada/export", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    server.stop().await;
}
