//! Lead taggers run when a call ends over the API: the tenant's active
//! `lead-tagger` plugin gets the call's summary and transcript through its own
//! data gate; its tags are written and audited when declared and consented,
//! and denied (audited, not written) otherwise.

use reqwest::Method;
use serde_json::json;

use crate::api::{Keys, Server, appointment_reminder};

fn qualifier() -> (Vec<u8>, String) {
    let component = std::fs::read(cally_tests::example("lead-qualifier")).unwrap();
    let manifest =
        std::fs::read_to_string(cally_tests::example_dir("lead-qualifier").join("cally.toml"))
            .unwrap();
    (component, manifest)
}

/// A server with tenant `acme` whose appointment reminder and lead qualifier
/// are both released (uploaded, approved, active).
async fn tenant_with_reminder_and_qualifier() -> (Server, Keys) {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let (reminder, reminder_manifest) = appointment_reminder();
    server
        .release(
            &keys,
            &reminder_manifest,
            &reminder,
            "appointment-reminder",
            "0.1.0",
        )
        .await;
    let (tagger, tagger_manifest) = qualifier();
    server
        .release(&keys, &tagger_manifest, &tagger, "lead-qualifier", "0.1.0")
        .await;
    (server, keys)
}

#[tokio::test]
async fn the_tenants_lead_tagger_runs_when_a_call_ends_and_its_tags_are_checked() {
    let (server, keys) = tenant_with_reminder_and_qualifier().await;
    let lead = json!({"lead_id": "lead-ada", "name": "Ada Lovelace", "phone": "+15550100", "age": "adult"});
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(lead))
        .await;
    for purpose in ["call-handling", "crm-tagging"] {
        let consent = json!({"purpose": purpose, "source": "web-form", "evidence": "form-1"});
        server
            .ok(
                &keys.admin,
                Method::POST,
                "/v1/leads/lead-ada/consents",
                Some(consent),
            )
            .await;
    }

    let start = json!({
        "plugin": "appointment-reminder", "call_id": "call-1", "lead_id": "lead-ada",
        "direction": "outbound", "campaign": "spring-checkups", "locale": "en-US",
    });
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(start))
        .await;
    let yes = json!({"type": "digits", "digits": "1"});
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/events",
            Some(yes),
        )
        .await;
    let ended = json!({"type": "ended", "reason": "flow_hung_up"});
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/events",
            Some(ended),
        )
        .await;
    let result = server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-1/end", None)
        .await;

    let taggers = result["taggers"]
        .as_array()
        .expect("the lead taggers' results");
    assert_eq!(taggers.len(), 1, "{result:#}");
    let qualifier = &taggers[0];
    assert_eq!(qualifier["plugin"], "lead-qualifier");
    let written: Vec<&str> = qualifier["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(written.contains(&"confirmed-appointment"), "{qualifier:#}");
    assert!(written.contains(&"pressed-keys"), "{qualifier:#}");
    let data: Vec<&str> = qualifier["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["resource"].as_str().unwrap())
        .collect();
    assert!(
        data.contains(&"transcript"),
        "the tagger read the transcript: {data:?}"
    );

    // The tags are on the lead and their uses in the audit log.
    let audit = server
        .ok(&keys.reviewer, Method::GET, "/v1/audit?call=call-1", None)
        .await;
    let records = audit.as_array().expect("records").clone();
    let tag_records: Vec<_> = records
        .iter()
        .filter(|r| r["resource"].as_str().unwrap_or("").starts_with("tag:"))
        .collect();
    assert_eq!(tag_records.len(), written.len(), "{records:#?}");
    assert!(
        tag_records
            .iter()
            .all(|r| r["plugin"] == "lead-qualifier" && r["decision"] == "allowed")
    );
}

#[tokio::test]
async fn without_a_crm_tagging_consent_no_tag_is_written_and_each_denial_is_audited() {
    let (server, keys) = tenant_with_reminder_and_qualifier().await;
    let lead = json!({"lead_id": "lead-ada", "name": "Ada Lovelace", "age": "adult"});
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(lead))
        .await;
    let consent = json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-1"});
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(consent),
        )
        .await;
    let start = json!({
        "plugin": "appointment-reminder", "call_id": "call-2", "lead_id": "lead-ada",
        "direction": "outbound", "locale": "en-US",
    });
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(start))
        .await;
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-2/events",
            Some(json!({"type": "digits", "digits": "1"})),
        )
        .await;
    let result = server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-2/end", None)
        .await;
    let qualifier = &result["taggers"][0];
    assert!(
        !qualifier["tags"].as_array().unwrap().is_empty(),
        "{qualifier:#}"
    );
    assert!(
        qualifier["written"].as_array().unwrap().is_empty(),
        "{qualifier:#}"
    );
    let reasons: Vec<&str> = qualifier["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["resource"].as_str().unwrap().starts_with("tag:"))
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(
        !reasons.is_empty() && reasons.iter().all(|r| *r == "no-consent"),
        "{reasons:?}"
    );
}
