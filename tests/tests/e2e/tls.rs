//! HTTPS in `cally serve`, as a client and an operator meet it: a rustls client
//! that trusts only the test's own CA gets answers with HSTS; plain HTTP to the
//! TLS port gets none; a non-loopback bind in clear is refused unless
//! `--insecure-http` (then warned); SIGHUP loads a new certificate for new
//! connections, and a bad one leaves the old in place.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::StatusCode;

use crate::serve_process::ServeProcess;

/// Far longer than a reload takes; a server that never logs it fails the test.
const LOG_GUARD: Duration = Duration::from_secs(60);

/// The test's own certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// A server certificate for 127.0.0.1 and localhost named `name`, and its
    /// key, both in PEM; and the certificate's DER, to recognise it on the wire.
    fn issue(&self, name: &str) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    /// A client whose only root is this CA, that reports the server's
    /// certificate, and that opens a new connection for every request. A new
    /// client has no TLS session to resume either, so its first handshake is a
    /// full one and sees the certificate served at that moment.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).unwrap(),
            )
            .tls_info(true)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }
}

/// Writes `cert` and `key` as `<dir>/server.crt` and `<dir>/server.key`.
fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&key_path, key).unwrap();
    std::fs::write(&cert_path, cert).unwrap();
    (cert_path, key_path)
}

/// `https://127.0.0.1:<port>` for a server that printed `https://<any>:<port>`.
fn loopback_url(url: &str) -> String {
    let port = url.rsplit_once(':').unwrap().1;
    format!("https://127.0.0.1:{port}")
}

/// `GET /healthz` over a fresh connection: status, HSTS header, body and the
/// DER of the certificate the server presented.
async fn healthz(
    client: &reqwest::Client,
    url: &str,
) -> (StatusCode, Option<String>, String, Vec<u8>) {
    let response = client.get(format!("{url}/healthz")).send().await.unwrap();
    let status = response.status();
    let hsts = response
        .headers()
        .get("strict-transport-security")
        .map(|value| value.to_str().unwrap().to_owned());
    let peer = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the server presented a certificate")
        .to_vec();
    (status, hsts, response.text().await.unwrap(), peer)
}

/// `cally serve` with the TLS variables of the test's environment removed.
fn serve_command(data_dir: &Path) -> Command {
    let mut command = ServeProcess::command();
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CALLY_BIND")
        .env_remove("CALLY_TLS_CERT")
        .env_remove("CALLY_TLS_KEY")
        .env_remove("CALLY_INSECURE_HTTP");
    command
}

/// Runs `command` to its exit and returns its exit code and stderr; a server
/// that starts instead of refusing is killed after [`LOG_GUARD`] and fails the
/// test rather than hanging it.
fn run_refused(mut command: Command, dir: &Path) -> (Option<i32>, String) {
    let log = dir.join("refused.log");
    let mut child = command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LOG_GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cally serve ran instead of refusing: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&log).unwrap())
}

/// Waits until the file `log` contains `needle`, failing after [`LOG_GUARD`].
fn wait_for_log(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + LOG_GUARD;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "cally serve did not log {needle:?} within {LOG_GUARD:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn an_https_client_trusting_only_the_tests_ca_gets_answers_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Cally test CA");
    let (cert, key, der) = ca.issue("cally serve");
    let (cert_path, key_path) = write_pair(dir.path(), &cert, &key);
    let mut command = serve_command(&dir.path().join("data"));
    // TLS makes a non-loopback bind acceptable without --insecure-http.
    command
        .args(["--bind", "0.0.0.0:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path);
    let server = ServeProcess::spawn(command);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let url = loopback_url(&server.url);

    let client = ca.client();
    let (status, hsts, body, peer) = healthz(&client, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert_eq!(peer, der, "the configured certificate is served");

    // Error answers (no key) carry HSTS too, and the API answers over TLS.
    let response = client.get(format!("{url}/v1/leads")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let response = client
        .get(format!("{url}/no/such/endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let response = client
        .get(format!("{url}/v1/leads"))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::UNAUTHORIZED);

    // TLS 1.2 is still offered, for older clients.
    let tls12 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert.pem().as_bytes()).unwrap())
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let response = tls12.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A client that does not trust the test's CA refuses the server.
    let stranger = Ca::new("Some other CA").client();
    assert!(stranger.get(format!("{url}/healthz")).send().await.is_err());

    // Plain HTTP to the TLS port gets no answer.
    let port = url.rsplit_once(':').unwrap().1;
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP was answered on the TLS port: {:?}",
        plain.map(|r| r.status())
    );

    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn tls_files_come_from_the_config_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Cally test CA");
    let (cert, key, der) = ca.issue("from the config file");
    let (cert_path, key_path) = write_pair(dir.path(), &cert, &key);
    let config = dir.path().join("cally.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:0\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert_path.to_str().unwrap(),
            key_path.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut command = serve_command(&dir.path().join("data"));
    command.arg("--config").arg(&config);
    let server = ServeProcess::spawn(command);
    let (status, hsts, _, peer) = healthz(&ca.client(), &loopback_url(&server.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert_eq!(peer, der);
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[test]
fn a_non_loopback_bind_in_clear_is_refused_naming_the_flag_unless_insecure_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = serve_command(&data);
    command.args(["--bind", "0.0.0.0:0"]);
    let (code, stderr) = run_refused(command, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--insecure-http"), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    assert!(stderr.contains("0.0.0.0"), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");

    // The same from the config file's `bind`.
    let config = dir.path().join("cally.toml");
    std::fs::write(&config, "bind = \"0.0.0.0:0\"\n").unwrap();
    let mut command = serve_command(&data);
    command.arg("--config").arg(&config);
    let (code, stderr) = run_refused(command, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--insecure-http"), "{stderr}");

    // Accepted knowingly: it serves plain HTTP, without HSTS, and says so.
    let log = dir.path().join("serve.log");
    let mut command = serve_command(&data);
    command
        .args(["--bind", "0.0.0.0:0", "--insecure-http"])
        .stderr(std::fs::File::create(&log).unwrap());
    let server = ServeProcess::spawn(command);
    assert!(server.url.starts_with("http://0.0.0.0:"), "{}", server.url);
    let warning = wait_for_log(&log, "--insecure-http");
    assert!(warning.contains("WARN"), "{warning}");
    let port = server.url.rsplit_once(':').unwrap().1.to_owned();
    let answer = curl_headers(&format!("http://127.0.0.1:{port}/healthz"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "HSTS only on TLS answers: {answer}"
    );
    server.stop();
}

/// The status line and headers of `GET url`, by curl.
fn curl_headers(url: &str) -> String {
    let output = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_certificate_or_key_that_does_not_load_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Cally test CA");
    let (cert, _, _) = ca.issue("one");
    let (_, other_key, _) = ca.issue("two");
    let (cert_path, key_path) = write_pair(dir.path(), &cert, &other_key);
    let data = dir.path().join("data");
    let mut command = serve_command(&data);
    command
        .args(["--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path);
    let (code, stderr) = run_refused(command, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(stderr.contains("server.key"), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");

    let mut command = serve_command(&data);
    command
        .args(["--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path);
    let (code, stderr) = run_refused(command, dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Cally test CA");
    let (first_cert, first_key, first_der) = ca.issue("first");
    let (cert_path, key_path) = write_pair(dir.path(), &first_cert, &first_key);
    let log = dir.path().join("serve.log");
    let mut command = serve_command(&dir.path().join("data"));
    // From the environment this time.
    command
        .args(["--bind", "127.0.0.1:0"])
        .env("CALLY_TLS_CERT", &cert_path)
        .env("CALLY_TLS_KEY", &key_path)
        .stderr(std::fs::File::create(&log).unwrap());
    let server = ServeProcess::spawn(command);
    let url = loopback_url(&server.url);
    // A fresh client for each check: a resumed TLS session shows the
    // certificate of the session it resumes, not the one now served.
    assert_eq!(healthz(&ca.client(), &url).await.3, first_der);

    // A half-written certificate: the reload fails, the old one stays.
    std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    server.signal("HUP");
    let text = wait_for_log(&log, "cannot reload the TLS certificate");
    assert!(
        text.contains("server.crt"),
        "the log names the file: {text}"
    );
    let (status, _, _, peer) = healthz(&ca.client(), &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(peer, first_der, "a bad new certificate keeps the old one");

    // A new certificate and key: new connections see them.
    let (second_cert, second_key, second_der) = ca.issue("second");
    assert_ne!(second_der, first_der);
    write_pair(dir.path(), &second_cert, &second_key);
    server.signal("HUP");
    wait_for_log(&log, "reloaded the TLS certificate");
    let (status, hsts, _, peer) = healthz(&ca.client(), &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert_eq!(
        peer, second_der,
        "new connections get the reloaded certificate"
    );

    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_walkthrough_runs_over_https_and_sigterm_still_ends_the_live_call() {
    use sqlx::Connection as _;

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Cally test CA");
    let (cert, key, _) = ca.issue("cally serve");
    let (cert_path, key_path) = write_pair(dir.path(), &cert, &key);
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert.pem()).unwrap();
    let data = dir.path().join("data");
    let mut command = serve_command(&data);
    command
        .args(["--demo", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path);
    let server = ServeProcess::spawn(command);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // The README's walkthrough, unchanged, with curl trusting only the test's CA.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/walkthrough.sh");
    let output = Command::new("bash")
        .arg(script)
        .env("CALLY_URL", &server.url)
        .env("CURL_CA_BUNDLE", &ca_path)
        .env("CALLY_ADMIN_KEY", server.admin_key())
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
    assert!(
        output.status.success(),
        "walkthrough over HTTPS failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("chain intact\n"), "{stdout}");

    // A live call over HTTPS, its keep-alive connection left open in the pool.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/v1/calls", server.url))
        .bearer_auth(server.demo_key("runtime"))
        .json(&serde_json::json!({
            "plugin": "appointment-reminder", "call_id": "tls-1", "lead_id": "lead-ada",
            "direction": "outbound", "locale": "en-US"
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{:?}", response.status());

    // SIGTERM: the idle TLS connection does not hold the shutdown, and the live
    // call's end is stored.
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let db = data.join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let ended: Option<i64> =
        sqlx::query_scalar("SELECT ended_at_ms FROM calls WHERE call_id = 'tls-1'")
            .fetch_one(&mut raw)
            .await
            .unwrap();
    assert!(ended.is_some(), "the live call was ended at shutdown");
    drop(client);
}
