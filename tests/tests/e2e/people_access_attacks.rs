//! People's access, audited, attacked: request shapes a hostile key holder would try
//! to read a lead, probe for one or flood the log without the records the promise
//! says each request leaves. A real host over a real socket, the store read as the
//! answer arrives.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::Server;
use crate::people_access::{id_of, lead, pseudonym, records};

/// `HEAD` runs the `GET` handler (axum answers it with the body stripped): the lead is
/// looked up, its size and the export's file name are sent, and a probe for a lead the
/// tenant does not have is refused. Each must leave the `GET`'s record.
#[tokio::test]
async fn a_head_request_is_recorded_as_the_get_it_runs() {
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
    let keys = server.tenant("acme").await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("lead-ada", "Ada Lovelace")),
        )
        .await;
    let cases = [
        (
            "/v1/leads/lead-ada",
            StatusCode::OK,
            "lead.read",
            "lead-ada",
            "allowed",
        ),
        (
            "/v1/leads/lead-ada/export",
            StatusCode::OK,
            "lead.export",
            "lead-ada",
            "allowed",
        ),
        (
            "/v1/leads",
            StatusCode::OK,
            "lead.list",
            "lead-ada",
            "allowed",
        ),
        (
            "/v1/leads/secret-lead",
            StatusCode::NOT_FOUND,
            "lead.read",
            "secret-lead",
            "denied",
        ),
    ];
    for (path, status, operation, named, decision) in cases {
        let before = records(&server, "acme").await.len();
        let response = server
            .client
            .head(format!("{}{path}", server.url))
            .bearer_auth(&keys.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "HEAD {path}");
        let new = &records(&server, "acme").await[before..];
        assert_eq!(new.len(), 1, "HEAD {path} must leave one record: {new:#?}");
        assert_eq!(new[0].decision, decision, "HEAD {path}");
        assert_eq!(
            new[0].lead.as_deref(),
            Some(pseudonym(&server, "acme", named).as_str())
        );
        let actor = new[0].actor.as_ref().unwrap();
        assert_eq!(actor.operation, operation, "HEAD {path}");
        assert_eq!(actor.key_id, id_of(&keys.admin));
    }
    assert_eq!(
        records(&server, "victim").await.len(),
        1,
        "the victim's create only"
    );
    server.stop().await;
}

/// A refused import names each lead that was refused because the tenant has it
/// already, once: one request of a few megabytes of repeated or invented ids must not
/// turn into hundreds of thousands of denied records (each a hashed, durable row in
/// the one group commit every tenant's plugins wait on). Rows refused for their own
/// shape or for repeating in the list touch no stored lead and reveal nothing.
#[tokio::test]
async fn a_refused_import_records_each_existing_lead_it_probed_once() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("lead-ada", "Ada Lovelace")),
        )
        .await;
    let mut rows = Vec::new();
    for i in 0..3000 {
        rows.push(json!({"lead_id": "lead-ada"}));
        rows.push(json!({"lead_id": "twice"}));
        rows.push(json!({"lead_id": format!("invented-{i}"), "unknown": 1}));
    }
    let before = records(&server, "acme").await.len();
    let (status, answer) = server
        .send(
            Some(&keys.admin),
            Method::POST,
            "/v1/leads/import",
            Some(Value::Array(rows)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:#}");
    let new = &records(&server, "acme").await[before..];
    assert_eq!(new.len(), 1, "{} records for one refused import", new.len());
    assert_eq!(
        new[0].lead.as_deref(),
        Some(pseudonym(&server, "acme", "lead-ada").as_str())
    );
    assert_eq!(new[0].decision, "denied");
    assert_eq!(new[0].reason.as_deref(), Some("import-refused"));
    server.stop().await;
}

/// A `lead=` query names a lead on the audit routes only (where it is the filter).
/// Elsewhere it is ignored by the handler, and must not let a key write denied records
/// against any lead it likes into that lead's access report.
#[tokio::test]
async fn a_lead_query_on_a_lead_route_does_not_name_another_lead() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(lead("lead-ada", "Ada Lovelace")),
        )
        .await;
    let before = records(&server, "acme").await.len();
    let (status, _) = server
        .send(
            Some(&keys.developer),
            Method::GET,
            "/v1/leads?lead=lead-ada",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .send(
            Some(&keys.admin),
            Method::POST,
            "/v1/leads/import?lead=lead-ada",
            Some(json!({"not": "a list"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let new = &records(&server, "acme").await[before..];
    assert!(new.is_empty(), "{new:#?}");
    // On the audit routes the query is the lead: still recorded.
    let (status, _) = server
        .send(
            Some(&keys.developer),
            Method::GET,
            "/v1/audit?lead=lead-ada",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(records(&server, "acme").await.len(), before + 1);
    server.stop().await;
}
