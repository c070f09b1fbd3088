//! People's access to personal data, audited in the tenant's chain, as a hostile
//! insider with a key (and one with the data directory) would test it.
//!
//! A real host over a real socket: every route the host lists as returning or
//! changing personal data is driven once, and each must leave its records (one per
//! lead, naming the key's id and role, the client's address, the operation and the
//! fields) durable by the time the answer arrives; every documented route is either
//! listed or known to touch no lead's data; refused requests that name a lead are
//! recorded as denied in the caller's tenant without touching the other tenant's
//! data; with the log unwritable nothing is released; an edited record fails
//! `verify`.

use std::collections::BTreeSet;

use cally_host::api::people::{PERSONAL_DATA_ROUTES, PersonalDataRoute};
use cally_host::api::{key_hash, key_id};
use cally_host::audit::AuditRecord;
use cally_host::store::AuditFilter;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::api::{Keys, Server, appointment_reminder, consent, start_call};

/// Documented routes that return or change no lead's personal data, and why.
const NO_PERSONAL_DATA: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "liveness only"),
    ("GET", "/metrics", "host-wide counters"),
    ("GET", "/v1/openapi.json", "the API's description"),
    ("POST", "/v1/tenants", "a tenant and its first key"),
    ("POST", "/v1/keys", "a key; no lead"),
    ("GET", "/v1/keys", "key ids, roles and labels"),
    ("DELETE", "/v1/keys/{id}", "revokes a key"),
    ("POST", "/v1/plugins", "a component and its manifest"),
    ("GET", "/v1/plugins", "plugin names and versions"),
    ("GET", "/v1/plugins/{name}", "a plugin's versions"),
    ("POST", "/v1/plugins/{name}/rollback", "release state"),
    (
        "GET",
        "/v1/plugins/{name}/versions/{version}/inspect",
        "a manifest's report",
    ),
    (
        "GET",
        "/v1/plugins/{name}/versions/{version}/diff",
        "two manifests",
    ),
    (
        "POST",
        "/v1/plugins/{name}/versions/{version}/approve",
        "release state",
    ),
    (
        "POST",
        "/v1/plugins/{name}/versions/{version}/activate",
        "release state",
    ),
    ("GET", "/v1/retention", "the policy and counts"),
    ("PUT", "/v1/retention", "the policy"),
    ("POST", "/v1/retention/purge", "audited by the purge itself"),
    (
        "POST",
        "/v1/calls/{call_id}/events",
        "the plugin's reads are audited as its own uses",
    ),
    ("GET", "/v1/audit/verify", "a verdict on the chain"),
    ("GET", "/v1/audit/checkpoint", "a signed chain head"),
    ("POST", "/v1/audit/checkpoint", "a signed chain head"),
];

/// The key's id, as records and `GET /v1/keys` name it.
pub(crate) fn id_of(key: &str) -> String {
    key_id(&key_hash(key))
}

/// The tenant's records, straight from the store (reading them over the API would
/// not add records, but the store is what an insider would read).
pub(crate) async fn records(server: &Server, tenant: &str) -> Vec<AuditRecord> {
    server
        .host
        .store()
        .audit_records(tenant, &AuditFilter::default())
        .await
        .unwrap()
}

/// The lead's pseudonym in `tenant`'s chain.
pub(crate) fn pseudonym(server: &Server, tenant: &str, lead: &str) -> String {
    server.host.services.pseudonyms.pseudonym(tenant, lead)
}

/// An adult lead `id` named `name`, as `POST /v1/leads` takes it.
pub(crate) fn lead(id: &str, name: &str) -> Value {
    json!({"lead_id": id, "name": name, "phone": "+15550142", "age": "adult"})
}

/// A tenant with a released appointment reminder and one consenting lead.
async fn tenant_with_a_lead(server: &Server, tenant: &str) -> Keys {
    let keys = server.tenant(tenant).await;
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
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("lead-ada", "Ada Lovelace")),
        )
        .await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent("call-handling")),
        )
        .await;
    keys
}

/// One request for `route`, as the role it admits: the key used and the leads
/// whose records it must leave.
struct Probe {
    key: String,
    role: &'static str,
    leads: Vec<String>,
}

/// Drives `route` once against `tenant` (which has `lead-ada` and a released
/// reminder); panics for a route without a probe, so a new personal-data route
/// cannot go untested.
async fn probe(server: &Server, keys: &Keys, route: &PersonalDataRoute, n: usize) -> Probe {
    let admin = |leads: &[&str]| Probe {
        key: keys.admin.clone(),
        role: "tenant-admin",
        leads: leads.iter().map(|l| (*l).to_owned()).collect(),
    };
    let send = |key: &str, method: Method, path: String, body: Option<Value>| {
        let key = key.to_owned();
        async move { server.ok(&key, method, &path, body).await }
    };
    match route.operation {
        "lead.create" => {
            let id = format!("lead-new-{n}");
            send(
                &keys.admin,
                Method::POST,
                "/v1/leads".into(),
                Some(lead(&id, "Grace Hopper")),
            )
            .await;
            admin(&[&id])
        }
        "lead.list" => {
            let listed = send(&keys.admin, Method::GET, "/v1/leads".into(), None).await;
            let ids: Vec<String> = listed
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["lead_id"].as_str().unwrap().to_owned())
                .collect();
            assert!(ids.len() >= 2, "{ids:?}");
            Probe {
                leads: ids,
                ..admin(&[])
            }
        }
        "lead.import" => {
            let list = json!([
                lead(&format!("imp-{n}-1"), "Alan Turing"),
                lead(&format!("imp-{n}-2"), "Edsger Dijkstra"),
                lead(&format!("imp-{n}-3"), "Barbara Liskov"),
            ]);
            send(
                &keys.admin,
                Method::POST,
                "/v1/leads/import".into(),
                Some(list),
            )
            .await;
            Probe {
                leads: (1..=3).map(|i| format!("imp-{n}-{i}")).collect(),
                ..admin(&[])
            }
        }
        "lead.read" => {
            send(&keys.admin, Method::GET, "/v1/leads/lead-ada".into(), None).await;
            admin(&["lead-ada"])
        }
        "lead.correct" => {
            let body = json!({"location": "Marylebone"});
            send(
                &keys.admin,
                Method::PATCH,
                "/v1/leads/lead-ada".into(),
                Some(body),
            )
            .await;
            admin(&["lead-ada"])
        }
        "consent.grant" => {
            let path = "/v1/leads/lead-ada/consents".to_owned();
            send(&keys.admin, Method::POST, path, Some(consent("marketing"))).await;
            admin(&["lead-ada"])
        }
        "consent.list" => {
            let path = "/v1/leads/lead-ada/consents".to_owned();
            send(&keys.admin, Method::GET, path, None).await;
            admin(&["lead-ada"])
        }
        "consent.withdraw" => {
            let path = "/v1/leads/lead-ada/consents".to_owned();
            let granted = send(&keys.admin, Method::POST, path, Some(consent("analytics"))).await;
            let withdraw = format!("/v1/leads/lead-ada/consents/{}/withdraw", granted["id"]);
            send(&keys.admin, Method::POST, withdraw, None).await;
            admin(&["lead-ada"])
        }
        "lead.access-report" => {
            let path = "/v1/leads/lead-ada/access-report".to_owned();
            let report = send(&keys.admin, Method::GET, path, None).await;
            // The earlier read by this key is in the report, in words.
            let line = format!(
                "lead.read by the tenant-admin key `{}` from 127.0.0.1",
                id_of(&keys.admin)
            );
            let summary = report["summary"].as_array().unwrap();
            assert!(
                summary
                    .iter()
                    .any(|s| s.as_str().unwrap().starts_with(&line)),
                "no `{line}` in {summary:#?}"
            );
            assert_eq!(summary.len(), report["uses"].as_array().unwrap().len());
            admin(&["lead-ada"])
        }
        "lead.restrict" => {
            let body = json!({"restricted": false});
            send(
                &keys.admin,
                Method::POST,
                "/v1/leads/lead-ada/restriction".into(),
                Some(body),
            )
            .await;
            admin(&["lead-ada"])
        }
        "lead.erase" => {
            let id = format!("lead-gone-{n}");
            send(
                &keys.admin,
                Method::POST,
                "/v1/leads".into(),
                Some(lead(&id, "Ida Rhodes")),
            )
            .await;
            send(
                &keys.admin,
                Method::POST,
                format!("/v1/leads/{id}/erase"),
                None,
            )
            .await;
            admin(&[&id])
        }
        "lead.export" => {
            send(
                &keys.admin,
                Method::GET,
                "/v1/leads/lead-ada/export".into(),
                None,
            )
            .await;
            admin(&["lead-ada"])
        }
        "audit.query" | "audit.export" => {
            let path = if route.operation == "audit.query" {
                "/v1/audit?lead=lead-ada"
            } else {
                "/v1/audit/export?lead=lead-ada"
            };
            let (status, _) = server
                .send(Some(&keys.reviewer), Method::GET, path, None)
                .await;
            assert_eq!(status, StatusCode::OK);
            Probe {
                key: keys.reviewer.clone(),
                role: "reviewer",
                leads: vec!["lead-ada".into()],
            }
        }
        "call.start" => {
            // Starting a call releases nothing itself: what the plugin reads is
            // recorded as its own uses. (A refused start naming a lead is denied.)
            let start = start_call("appointment-reminder", &format!("people-start-{n}"));
            send(&keys.runtime, Method::POST, "/v1/calls".into(), Some(start)).await;
            Probe {
                key: keys.runtime.clone(),
                role: "runtime",
                leads: Vec::new(),
            }
        }
        "call.read" | "call.end" => {
            let call_id = format!("people-call-{n}");
            let start = start_call("appointment-reminder", &call_id);
            send(&keys.runtime, Method::POST, "/v1/calls".into(), Some(start)).await;
            if route.operation == "call.end" {
                send(
                    &keys.runtime,
                    Method::POST,
                    format!("/v1/calls/{call_id}/end"),
                    None,
                )
                .await;
            } else {
                send(
                    &keys.runtime,
                    Method::GET,
                    format!("/v1/calls/{call_id}"),
                    None,
                )
                .await;
            }
            Probe {
                key: keys.runtime.clone(),
                role: "runtime",
                leads: vec!["lead-ada".into()],
            }
        }
        other => panic!(
            "personal-data operation `{other}` ({} {}) has no probe: add one here",
            route.method, route.path
        ),
    }
}

/// Complete mediation for people: every listed route leaves, by the time its answer
/// arrives, one record per lead it released or changed, naming the key's id and
/// role, 127.0.0.1, the operation and its fields, in a chain that verifies.
#[tokio::test]
async fn every_personal_data_route_records_each_lead_it_touches_before_answering() {
    let server = Server::start().await;
    let keys = tenant_with_a_lead(&server, "acme").await;
    for (n, route) in PERSONAL_DATA_ROUTES.iter().enumerate() {
        let before = records(&server, "acme").await.len();
        let probe = probe(&server, &keys, route, n).await;
        // Read as the answer arrived: the records were durable before it was sent.
        // (A probe's set-up, such as the create before an erase, and the plugin's
        // own reads on a call, leave records of other operations.)
        let new: Vec<AuditRecord> = records(&server, "acme").await[before..]
            .iter()
            .filter(|r| {
                r.actor
                    .as_ref()
                    .is_some_and(|a| a.operation == route.operation)
            })
            .cloned()
            .collect();
        let expected: Vec<String> = probe
            .leads
            .iter()
            .map(|lead| pseudonym(&server, "acme", lead))
            .collect();
        let mut found: Vec<String> = new.iter().map(|r| r.lead.clone().unwrap()).collect();
        let mut wanted = expected;
        found.sort();
        wanted.sort();
        assert_eq!(found, wanted, "{} {}: {new:#?}", route.method, route.path);
        for record in &new {
            let actor = record.actor.as_ref().unwrap();
            assert_eq!(actor.key_id, id_of(&probe.key), "{}", route.operation);
            assert_eq!(actor.role, probe.role, "{}", route.operation);
            assert_eq!(actor.address, "127.0.0.1", "{}", route.operation);
            assert_eq!(record.purpose, "administration");
            assert_eq!(record.decision, "allowed", "{record:?}");
            assert_eq!(record.plugin, "cally:api");
            assert!(!record.resource.is_empty());
            if let Some(call) = route.path.strip_prefix("/v1/calls/") {
                assert_ne!(record.call_id, "-", "{call}: the record names the call");
            }
        }
    }
    let verify = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert!(verify["problem"].is_null(), "{verify:#}");
    // The key itself is nowhere in the log.
    let log = serde_json::to_string(&records(&server, "acme").await).unwrap();
    for key in [&keys.admin, &keys.reviewer, &keys.runtime] {
        assert!(!log.contains(key.as_str()));
    }
    server.stop().await;
}

/// Every documented route is either a personal-data route (above) or known to touch
/// no lead's data: a route added to the API without being classified fails here.
#[tokio::test]
async fn every_documented_route_is_classified() {
    let server = Server::start().await;
    let (status, document) = server
        .send(None, Method::GET, "/v1/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut classified = BTreeSet::new();
    for route in PERSONAL_DATA_ROUTES {
        classified.insert((route.method.to_owned(), route.path.to_owned()));
    }
    for (method, path, _why) in NO_PERSONAL_DATA {
        assert!(
            classified.insert(((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is listed twice"
        );
    }
    assert_eq!(
        documented, classified,
        "documented routes and classified routes differ: a new route must be added to \
         PERSONAL_DATA_ROUTES (host/src/api/people.rs) or to NO_PERSONAL_DATA here"
    );
    server.stop().await;
}

/// An export of N leads (the list) writes N records, one per lead, each naming it.
#[tokio::test]
async fn a_list_of_n_leads_writes_n_records() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let list: Vec<Value> = (0..25)
        .map(|i| lead(&format!("bulk-{i:02}"), "Someone"))
        .collect();
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/import",
            Some(json!(list)),
        )
        .await;
    let before = records(&server, "acme").await.len();
    let listed = server.ok(&keys.admin, Method::GET, "/v1/leads", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 25);
    let new = &records(&server, "acme").await[before..];
    assert_eq!(new.len(), 25);
    let leads: BTreeSet<_> = new.iter().map(|r| r.lead.clone().unwrap()).collect();
    let expected: BTreeSet<_> = (0..25)
        .map(|i| pseudonym(&server, "acme", &format!("bulk-{i:02}")))
        .collect();
    assert_eq!(leads, expected);
    assert!(
        new.iter()
            .all(|r| r.actor.as_ref().unwrap().operation == "lead.list")
    );

    // `?actor=` finds what one key did, and nothing of another's.
    let by_admin = server
        .ok(
            &keys.reviewer,
            Method::GET,
            &format!("/v1/audit?actor={}", id_of(&keys.admin)),
            None,
        )
        .await;
    let by_admin = by_admin.as_array().unwrap();
    assert_eq!(by_admin.len(), 25 + 25, "the import's 25 and the list's 25");
    assert!(
        by_admin
            .iter()
            .all(|r| r["actor"]["key_id"] == id_of(&keys.admin))
    );
    let by_runtime = server
        .ok(
            &keys.reviewer,
            Method::GET,
            &format!("/v1/audit?actor={}", id_of(&keys.runtime)),
            None,
        )
        .await;
    assert_eq!(by_runtime, json!([]));
    server.stop().await;
}

/// One refused request and the denied record it must leave.
struct Attempt<'k> {
    key: &'k str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    status: StatusCode,
    operation: &'static str,
    named: &'static str,
}

/// A probe for another tenant's lead (a read, a write, an existence check by
/// create or import), and a key of the wrong role, are each recorded as denied in
/// the caller's tenant, under the caller's pseudonym of the id; the other tenant's
/// log is untouched and nothing of its lead appears in the caller's.
#[tokio::test]
async fn refused_requests_naming_a_lead_are_recorded_denied_in_the_callers_tenant() {
    let server = Server::start().await;
    let victim = server.tenant("victim").await;
    server
        .ok(
            &victim.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("secret-lead", "Zebulon Quartermaine")),
        )
        .await;
    let victim_log = records(&server, "victim").await;
    let attacker = server.tenant("attacker").await;
    server
        .ok(
            &attacker.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("own-lead", "Mallory Own")),
        )
        .await;

    // (key, request, expected status, operation recorded, lead named)
    let attempts = [
        // The runtime asks for a call with the other tenant's lead.
        Attempt {
            key: &attacker.runtime,
            method: Method::POST,
            path: "/v1/calls",
            body: Some(json!({
                "plugin": "anything", "call_id": "probe-1", "lead_id": "secret-lead",
                "direction": "outbound", "locale": "en-US",
            })),
            status: StatusCode::NOT_FOUND,
            operation: "call.start",
            named: "secret-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::GET,
            path: "/v1/leads/secret-lead",
            body: None,
            status: StatusCode::NOT_FOUND,
            operation: "lead.read",
            named: "secret-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::GET,
            path: "/v1/leads/secret-lead/export",
            body: None,
            status: StatusCode::NOT_FOUND,
            operation: "lead.export",
            named: "secret-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::POST,
            path: "/v1/leads/secret-lead/erase",
            body: None,
            status: StatusCode::NOT_FOUND,
            operation: "lead.erase",
            named: "secret-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::PATCH,
            path: "/v1/leads/secret-lead",
            body: Some(json!({"name": "x"})),
            status: StatusCode::NOT_FOUND,
            operation: "lead.correct",
            named: "secret-lead",
        },
        Attempt {
            key: &attacker.developer,
            method: Method::GET,
            path: "/v1/leads/own-lead",
            body: None,
            status: StatusCode::FORBIDDEN,
            operation: "lead.read",
            named: "own-lead",
        },
        Attempt {
            key: &attacker.runtime,
            method: Method::GET,
            path: "/v1/leads/own-lead/access-report",
            body: None,
            status: StatusCode::FORBIDDEN,
            operation: "lead.access-report",
            named: "own-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::POST,
            path: "/v1/leads",
            body: Some(lead("own-lead", "Mallory Again")),
            status: StatusCode::CONFLICT,
            operation: "lead.create",
            named: "own-lead",
        },
        Attempt {
            key: &attacker.admin,
            method: Method::POST,
            path: "/v1/leads/import",
            body: Some(json!([lead("own-lead", "Mallory Thrice")])),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            operation: "lead.import",
            named: "own-lead",
        },
        Attempt {
            key: &attacker.developer,
            method: Method::GET,
            path: "/v1/audit?lead=secret-lead",
            body: None,
            status: StatusCode::FORBIDDEN,
            operation: "audit.query",
            named: "secret-lead",
        },
    ];
    for attempt in attempts {
        let Attempt {
            key,
            method,
            path,
            body,
            status,
            operation,
            named,
        } = attempt;
        let before = records(&server, "attacker").await.len();
        let (got, answer) = server.send(Some(key), method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer:#}");
        let new = &records(&server, "attacker").await[before..];
        assert_eq!(new.len(), 1, "{method} {path}: {new:#?}");
        let record = &new[0];
        assert_eq!(record.decision, "denied");
        assert_eq!(
            record.lead.as_deref(),
            Some(pseudonym(&server, "attacker", named).as_str())
        );
        let actor = record.actor.as_ref().unwrap();
        assert_eq!(actor.operation, operation);
        assert_eq!(actor.key_id, id_of(key));
        assert_eq!(actor.address, "127.0.0.1");
        let expected_reason = match status {
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::CONFLICT => "conflict",
            _ => "import-refused",
        };
        assert_eq!(record.reason.as_deref(), Some(expected_reason), "{path}");
    }
    // The victim's log did not move, and nothing of the victim's lead (its name,
    // its pseudonym in the victim's chain) is in the attacker's.
    assert_eq!(records(&server, "victim").await, victim_log);
    let attacker_log = serde_json::to_string(&records(&server, "attacker").await).unwrap();
    assert!(!attacker_log.contains("Zebulon"));
    assert!(!attacker_log.contains(&pseudonym(&server, "victim", "secret-lead")));
    assert!(
        !attacker_log.contains("secret-lead"),
        "ids are pseudonymised"
    );
    // A request without a valid key names no tenant and writes nothing.
    let total = records(&server, "attacker").await.len();
    let (status, _) = server
        .send(Some("cally_0000"), Method::GET, "/v1/leads/own-lead", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(records(&server, "attacker").await.len(), total);
    let verify = server
        .ok(&attacker.reviewer, Method::GET, "/v1/audit/verify", None)
        .await;
    assert!(verify["problem"].is_null(), "{verify:#}");
    server.stop().await;
}

/// With the audit log unwritable, a read answers 503 `audit-unavailable` and
/// releases nothing of the lead.
#[tokio::test]
async fn with_the_log_unwritable_a_person_reads_nothing() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("lead-kept", "Octavia Unreleased")),
        )
        .await;
    let db = server.dir.path().join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    for path in [
        "/v1/leads/lead-kept",
        "/v1/leads",
        "/v1/leads/lead-kept/export",
        "/v1/leads/lead-kept/access-report",
    ] {
        let (status, answer) = server
            .send(Some(&keys.admin), Method::GET, path, None)
            .await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {answer:#}"
        );
        assert_eq!(answer["type"], "urn:cally:problem:audit-unavailable");
        assert!(
            !answer.to_string().contains("Octavia"),
            "{path}: {answer:#}"
        );
    }
    server.stop().await;
}

/// An insider who edits a person's record in the database (the address, the key,
/// the operation), or strips its actor so it reads as a plugin's, is caught by
/// `verify`.
#[tokio::test]
async fn an_edited_persons_record_fails_verification() {
    let edits = [
        "UPDATE audit_log SET client_address = '10.9.9.9' WHERE operation = 'lead.read'",
        "UPDATE audit_log SET actor_key = 'ffffffffffffffff' WHERE operation = 'lead.read'",
        "UPDATE audit_log SET operation = 'lead.list' WHERE operation = 'lead.read'",
        "UPDATE audit_log SET actor_key = NULL, actor_role = NULL, client_address = NULL, \
         operation = NULL WHERE operation = 'lead.read'",
    ];
    for edit in edits {
        let server = Server::start().await;
        let keys = server.tenant("acme").await;
        server
            .ok(
                &keys.admin,
                Method::POST,
                "/v1/leads",
                Some(lead("lead-x", "Xavier Edited")),
            )
            .await;
        server
            .ok(&keys.admin, Method::GET, "/v1/leads/lead-x", None)
            .await;
        let verify = server
            .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
            .await;
        assert!(verify["problem"].is_null(), "{verify:#}");
        let db = server.dir.path().join(cally_host::store::DB_FILE_NAME);
        let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let edited = sqlx::query(edit).execute(&mut raw).await.unwrap();
        assert_eq!(edited.rows_affected(), 1, "{edit}");
        let verify = server
            .ok(&keys.reviewer, Method::GET, "/v1/audit/verify", None)
            .await;
        assert!(!verify["problem"].is_null(), "{edit}: {verify:#}");
        server.stop().await;
    }
}
