//! `POST /v1/calls/{call_id}/end` with an end reason: the plugin is handed
//! `ended` with it before the call ends, over a real socket; without a body
//! the call ends as it always did; a body of another shape is refused and
//! leaves the call live.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api::{Keys, Server};

/// A call-flow manifest for the `well-behaved` plugin, which answers `ended`
/// with `say "ended"` and a hang-up.
const WELL_BEHAVED: &str = r#"
name = "well-behaved"
version = "1.0.0"
world = "call-flow"
description = "Names every event it is given, and hangs up when the call ends."
purpose = "call-handling"
"#;

/// A server whose tenant `acme` has `well-behaved` released.
async fn tenant_with_well_behaved() -> (Server, Keys) {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let component = std::fs::read(cally_tests::plugin("well-behaved")).unwrap();
    server
        .release(&keys, WELL_BEHAVED, &component, "well-behaved", "1.0.0")
        .await;
    (server, keys)
}

async fn start(server: &Server, keys: &Keys, call_id: &str) {
    let start = json!({
        "plugin": "well-behaved", "call_id": call_id,
        "direction": "inbound", "locale": "en-US",
    });
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(start))
        .await;
}

fn said(record: &serde_json::Value) -> Vec<&str> {
    record["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|action| action["text"].as_str())
        .collect()
}

#[tokio::test]
async fn an_end_reason_reaches_the_plugins_ended_logic() {
    let (server, keys) = tenant_with_well_behaved().await;

    start(&server, &keys, "call-1").await;
    let ended = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/end",
            Some(json!({"reason": "caller_hung_up"})),
        )
        .await;
    assert_eq!(said(&ended), ["started", "ended"], "{ended:#}");
    assert_eq!(ended["end_reason"], "caller_hung_up", "{ended:#}");
    assert_eq!(ended["events"], 2, "{ended:#}");
    let stored = server
        .ok(&keys.runtime, Method::GET, "/v1/calls/call-1", None)
        .await;
    assert_eq!(
        stored["result"]["end_reason"], "caller_hung_up",
        "{stored:#}"
    );

    // Without a body: as before, the plugin is not told.
    start(&server, &keys, "call-2").await;
    let ended = server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-2/end", None)
        .await;
    assert_eq!(said(&ended), ["started"], "{ended:#}");
    assert!(ended.get("end_reason").is_none(), "{ended:#}");
    assert_eq!(ended["events"], 1, "{ended:#}");
}

#[tokio::test]
async fn an_end_body_of_another_shape_is_refused_and_the_call_stays_live() {
    let (server, keys) = tenant_with_well_behaved().await;
    start(&server, &keys, "call-1").await;
    for body in [
        json!({"reason": "hung_up"}),
        json!({"why": "caller_hung_up"}),
        json!("caller_hung_up"),
    ] {
        let (status, problem) = server
            .send(
                Some(&keys.runtime),
                Method::POST,
                "/v1/calls/call-1/end",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem:#}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("must be empty or {\"reason\": \"<end reason>\"}")
                && detail.contains("caller_hung_up, flow_hung_up"),
            "{detail}"
        );
    }
    let ended = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-1/end",
            Some(json!({"reason": "network_error"})),
        )
        .await;
    assert_eq!(ended["end_reason"], "network_error", "{ended:#}");
}
