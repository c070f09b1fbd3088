//! One `cally serve` process for a test: started with the test's arguments and
//! environment, its banner read (address, platform-admin key, demo keys), HTTP
//! requests sent to it, and stopped the way an operator stops it: SIGTERM, then
//! a clean exit. A test that fails half-way kills its process on drop, so no
//! server outlives its test.
//!
//! The in-process `crate::api::Server` is the harness for everything that does
//! not need the binary; this one is for what only a real process shows (the
//! banner, signals, files under its data directory, its log).

use std::ffi::OsStr;
use std::io::Lines;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Far longer than a clean shutdown takes on the slowest machine; a server that
/// hangs after SIGTERM fails the test instead of hanging it.
const STOP_GUARD: Duration = Duration::from_secs(120);

/// A running `cally serve` process and what it printed before it listened.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:<port>` (`https://` with TLS), from the `listening on` line.
    pub url: String,
    /// The platform admin's key, printed on a data directory's first start only.
    pub admin_key: Option<String>,
    /// With `--demo`: the demo tenant's keys as `(role, key)`, in printed order.
    pub demo_keys: Vec<(String, String)>,
    client: reqwest::Client,
    /// The rest of its stdout, kept open so the server never writes to a closed pipe.
    _stdout: Option<Lines<BufReader<ChildStdout>>>,
}

impl ServeProcess {
    /// `cally serve` as the test binary runs it, its log (stderr) shown with the
    /// test's output; add arguments, environment or another stderr, then
    /// [`ServeProcess::spawn`] it.
    pub fn command() -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cally-e2e"));
        command.arg("serve").stderr(Stdio::inherit());
        command
    }

    /// Starts `cally serve <args>` and waits until it listens.
    pub fn start<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Self::command();
        command.args(args);
        Self::spawn(command)
    }

    /// Starts `command` (from [`ServeProcess::command`]; its stdout is taken
    /// here for the banner) and waits until it prints `listening on`.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start cally serve");
        let stdout = child.stdout.take().unwrap();
        // Owned from here on, so a failed read below still kills the process.
        let mut serve = Self {
            child,
            url: String::new(),
            admin_key: None,
            demo_keys: Vec::new(),
            client: reqwest::Client::new(),
            _stdout: None,
        };
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("cally serve printed its address")
                .unwrap();
            if let Some(key) = line.strip_prefix("platform-admin key (shown once; keep it): ") {
                serve.admin_key = Some(key.to_owned());
            } else if let Some(url) = line.strip_prefix("listening on ") {
                serve.url = url.to_owned();
                serve._stdout = Some(lines);
                return serve;
            } else if let Some(rest) = line.strip_prefix("  ") {
                let (role, key) = rest.split_once(' ').unwrap();
                serve
                    .demo_keys
                    .push((role.to_owned(), key.trim().to_owned()));
            }
        }
    }

    /// The platform admin's key; panics on a restart, which prints none.
    pub fn admin_key(&self) -> &str {
        self.admin_key
            .as_deref()
            .expect("a platform-admin key on the first start")
    }

    /// The demo tenant's key for `role` (`tenant-admin`, `developer`,
    /// `reviewer`, `runtime`); panics without `--demo`.
    pub fn demo_key(&self, role: &str) -> &str {
        &self
            .demo_keys
            .iter()
            .find(|(r, _)| r == role)
            .unwrap_or_else(|| panic!("no demo key for role {role}"))
            .1
    }

    /// Sends `method path` with `key` as bearer and `body` as JSON; the answer's
    /// status and body (JSON, or the text as a JSON string if it is not JSON).
    pub async fn send(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) to this process only, by its id.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Stops the server as an operator does and checks it exits cleanly: once it
    /// has answered `GET /healthz` (plain HTTP only: the signal handlers are
    /// installed before the banner, so an HTTPS server is not asked), SIGTERM
    /// to this process only, by its id; then waits for exit status 0, failing
    /// after [`STOP_GUARD`] (the process is then killed).
    ///
    /// Blocking: from an async test on a current-thread runtime this is fine
    /// (the server is another process); to bound it more tightly, run it in
    /// `spawn_blocking`.
    pub fn stop(mut self) {
        if self.url.starts_with("http://") {
            assert_eq!(self.healthz(), "ok", "cally serve answers before SIGTERM");
        }
        self.signal("TERM");
        let deadline = Instant::now() + STOP_GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cally serve did not exit within {STOP_GUARD:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "cally serve exited {status}");
    }

    /// The body of `GET /healthz`, over a plain socket (so [`ServeProcess::stop`]
    /// needs no runtime).
    fn healthz(&self) -> String {
        let address = self.url.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}

impl Drop for ServeProcess {
    /// Kills a server a failed test left running (after `stop`, it has exited).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
