//! `scripts/walkthrough.sh`, the README's curl walkthrough, run against a real
//! `cally serve --demo` process, so the README cannot drift from the API; then
//! the demo tenant's printed keys work, and SIGTERM stops the server cleanly.

use std::process::{Command, Stdio};

use crate::serve_process::ServeProcess;

#[test]
fn the_walkthrough_script_runs_against_cally_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = ServeProcess::command();
    command
        .args(["--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    let started = ServeProcess::spawn(command);
    let roles: Vec<&str> = started
        .demo_keys
        .iter()
        .map(|(role, _)| role.as_str())
        .collect();
    assert_eq!(roles, ["tenant-admin", "developer", "reviewer", "runtime"]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/walkthrough.sh");
    let output = Command::new("bash")
        .arg(script)
        .env("CALLY_URL", &started.url)
        .env("CALLY_ADMIN_KEY", started.admin_key())
        .env(
            "CALLY_COMPONENT",
            cally_tests::example("appointment-reminder"),
        )
        .env(
            "CALLY_MANIFEST",
            cally_tests::example_dir("appointment-reminder").join("cally.toml"),
        )
        .output()
        .expect("run the walkthrough");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("== 7."), "{stdout}");
    assert!(
        stdout.contains(" name call-handling allowed call-1"),
        "{stdout}"
    );
    assert!(stdout.contains("chain intact\n"), "{stdout}");
    // The access report names the people too: the tenant admin's create, the
    // runtime's end of the call, the reviewer's query by lead.
    for line in [
        "lead.create by the tenant-admin key",
        "call.end by the runtime key",
        "audit.query by the reviewer key",
    ] {
        assert!(stdout.contains(line), "no `{line}` in {stdout}");
    }
    assert!(
        stdout.trim_end().ends_with(
            "Ada Lovelace - 1 consent(s), 6 use(s) of their data: 2 by plugins, 4 by people"
        ),
        "{stdout}"
    );

    // The demo's runtime key starts a call of the demo's active appointment reminder.
    let runtime = &started.demo_keys[3].1;
    let body = r#"{"plugin": "appointment-reminder", "call_id": "demo-1", "lead_id": "lead-ada",
                   "direction": "outbound", "locale": "en-US"}"#;
    let call = Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "-X",
            "POST",
            &format!("{}/v1/calls", started.url),
        ])
        .args([
            "-H",
            &format!("Authorization: Bearer {runtime}"),
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-d", body])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&call.stdout);
    assert!(call.status.success(), "{answer}");
    assert!(answer.contains("Ada"), "{answer}");

    // SIGTERM (to this process only, by its id): stop accepting, end the live call, exit 0.
    started.stop();
}

/// `cally serve --config cally.toml`: the file's data directory and address are
/// used (flags and environment, left unset here, would win), and a bad file is
/// refused with its name and exit code 2.
#[test]
fn cally_serve_reads_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("cally.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nbind = \"127.0.0.1:0\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut command = ServeProcess::command();
    command
        .arg("--config")
        .arg(&config)
        .env_remove("CALLY_DATA_DIR")
        .env_remove("CALLY_BIND")
        .stderr(Stdio::null());
    let started = ServeProcess::spawn(command);
    assert!(
        started.url.starts_with("http://127.0.0.1:"),
        "{}",
        started.url
    );
    assert!(
        data.join("cally.db").is_file(),
        "the config's data_dir is used"
    );
    let health = Command::new("curl")
        .args(["-sS", &format!("{}/healthz", started.url)])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok");
    started.stop();

    std::fs::write(&config, "bind = \"not an address\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cally.toml"), "{stderr}");
}

/// The platform limits come from the config file's `[limits]` too: one set there
/// is applied (a tenant cap of one live call answers the second with 429), and a
/// misspelt or out-of-range one stops the start with exit 2 naming the key,
/// before the data directory is created.
#[tokio::test]
async fn cally_serve_takes_platform_limits_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cally.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nbind = \"127.0.0.1:0\"\n[limits]\nmax_instances_per_tenant = 1\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut command = ServeProcess::command();
    command
        .arg("--demo")
        .arg("--config")
        .arg(&config)
        .env_remove("CALLY_MAX_INSTANCES_PER_TENANT")
        .env_remove("CALLY_DATA_DIR")
        .env_remove("CALLY_BIND")
        .stderr(Stdio::null());
    let started = ServeProcess::spawn(command);
    let runtime = started.demo_key("runtime").to_owned();
    let start = |call_id: &str| {
        serde_json::json!({"plugin": "appointment-reminder", "call_id": call_id,
            "lead_id": "lead-ada", "direction": "outbound", "locale": "en-US"})
    };
    let (status, started_call) = started
        .send(
            &runtime,
            reqwest::Method::POST,
            "/v1/calls",
            Some(start("one")),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{started_call:#}");
    let (status, problem) = started
        .send(
            &runtime,
            reqwest::Method::POST,
            "/v1/calls",
            Some(start("two")),
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        "{problem:#}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already has 1 live plugin instances"),
        "{problem:#}"
    );
    started.stop();

    for (text, named) in [
        (
            "[limits]\nmax_instance_per_tenant = 1\n",
            "max_instance_per_tenant",
        ),
        (
            "[limits]\nevent_wall_limit_ms = 60000\n",
            "event_wall_limit_ms",
        ),
        ("[limits]\nmax_memory_mib = 4096\n", "max_memory_mib"),
    ] {
        std::fs::write(&config, text).unwrap();
        let data = dir.path().join("never-created");
        let output = Command::new(env!("CARGO_BIN_EXE_cally-e2e"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("CALLY_EVENT_WALL_LIMIT_MS")
            .env_remove("CALLY_MAX_MEMORY_MIB")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{text}: {stderr}");
        assert!(!data.exists(), "{text}: nothing is created");
    }
}
