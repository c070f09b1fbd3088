//! Signed audit checkpoints over a real socket: a reviewer fetches (and asks for) the
//! tenant's checkpoint and the host's public key, checks the signature, keeps the
//! line outside the host, and `cally audit verify --checkpoint` accepts it; another
//! tenant's reviewer sees only their own tenant's checkpoint.

use std::process::Command;

use cally_host::audit::{Checkpoint, PublicKey};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Keys, Server};

/// One audited action of the tenant: a retention purge (one audit record per run).
async fn audited_purge(server: &Server, keys: &Keys) {
    server
        .ok(
            &keys.admin,
            Method::PUT,
            "/v1/retention",
            Some(json!({"calls_days": 30})),
        )
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/retention/purge", None)
        .await;
}

/// The checkpoint of an answer, its signature checked under the answer's key.
fn signed(answer: &Value) -> Checkpoint {
    let key: PublicKey = answer["public_key"].as_str().unwrap().parse().unwrap();
    let checkpoint: Checkpoint = serde_json::from_value(answer["checkpoint"].clone()).unwrap();
    assert_eq!(checkpoint.signature_problem(&key), None, "{answer:#}");
    checkpoint
}

#[tokio::test]
async fn a_reviewer_fetches_a_signed_checkpoint_of_their_tenant_and_verify_accepts_it() {
    let server = Server::start().await;
    let acme = server.tenant("acme").await;
    let globex = server.tenant("globex").await;
    let public_key = server.host.checkpoints.public_key().to_string();

    let answer = server
        .ok(&acme.reviewer, Method::GET, "/v1/audit/checkpoint", None)
        .await;
    assert_eq!(
        answer,
        json!({"public_key": public_key, "checkpoint": null})
    );

    audited_purge(&server, &acme).await;
    audited_purge(&server, &acme).await;
    let posted = server
        .ok(&acme.reviewer, Method::POST, "/v1/audit/checkpoint", None)
        .await;
    let checkpoint = signed(&posted);
    assert_eq!((checkpoint.tenant.as_str(), checkpoint.seq), ("acme", 2));
    let head = server
        .host
        .store()
        .audit_head("acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.hash, head.last_hash);
    let fetched = server
        .ok(&acme.reviewer, Method::GET, "/v1/audit/checkpoint", None)
        .await;
    assert_eq!(fetched, posted, "GET serves the latest");

    // Another tenant's reviewer never sees acme's checkpoint.
    let other = server
        .ok(&globex.reviewer, Method::POST, "/v1/audit/checkpoint", None)
        .await;
    assert_eq!(other["checkpoint"], Value::Null, "{other:#}");
    audited_purge(&server, &globex).await;
    let other = server
        .ok(&globex.reviewer, Method::GET, "/v1/audit/checkpoint", None)
        .await;
    assert_eq!(
        other["checkpoint"],
        Value::Null,
        "not signed until asked or scheduled"
    );
    let other = server
        .ok(&globex.reviewer, Method::POST, "/v1/audit/checkpoint", None)
        .await;
    assert_eq!(
        (signed(&other).tenant.as_str(), signed(&other).seq),
        ("globex", 1)
    );

    // The reviewer keeps the line outside the host, with the key; the CLI checks it.
    let kept_dir = tempfile::tempdir().unwrap();
    let kept = kept_dir.path().join("acme.jsonl");
    std::fs::write(&kept, format!("{}\n", posted["checkpoint"])).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .args(["audit", "verify", "--tenant", "acme", "--data-dir"])
        .arg(server.dir.path())
        .arg("--checkpoint")
        .arg(&kept)
        .args(["--public-key", &public_key])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(report.contains("1 of 1 checkpoint(s)"), "{report}");
    let file = server
        .dir
        .path()
        .join(cally_host::audit::CHECKPOINT_FILE_NAME);
    assert_eq!(
        std::fs::read_to_string(file).unwrap().lines().count(),
        2,
        "one line per signed head, both tenants"
    );
    server.stop().await;
}
