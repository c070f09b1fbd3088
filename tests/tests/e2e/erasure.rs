//! Erasure as a hostile insider checks it, and writes to a lead that race.
//!
//! A real `cally serve` process on a temporary data directory: leads with
//! distinctive names, phones and emails, calls whose plugin reads them and says
//! them back (so the stored call results quote them), corrections and a
//! restriction; then erasure over HTTP, a clean shutdown (SIGTERM), and every byte
//! of every file under the data directory (database, WAL, shared memory,
//! artifacts, keys, and the host's log, written there by the test) searched for
//! each value. Purged calls are searched for the
//! same way. The files holding personal data and keys are mode 0600.
//!
//! Races over a real socket: restrictions against corrections of the same lead
//! (no restriction that answered 2xx is lost), erasures against corrections (an
//! erased lead never gets values back).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cally_host::retention::DAY_MS;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Keys, Server};
use crate::serve_process::ServeProcess;

/// The probe's manifest: it reads the name, phone and email for call handling.
const READS_CONTACT: &str = r#"
name = "reads-data"
version = "1.0.0"
world = "call-flow"
description = "A probe that reads what the caller asks for."
purpose = "call-handling"

[[reads]]
field = "name"
reason = "Greets the caller by name."

[[reads]]
field = "phone"
reason = "Reads the number back to the caller to confirm it."

[[reads]]
field = "email"
reason = "Reads the address back to the caller to confirm it."
"#;

/// A lead whose values appear nowhere else, so finding their bytes means a copy.
struct Person {
    lead_id: &'static str,
    name: &'static str,
    phone: &'static str,
    email: &'static str,
    /// The locations the lead is corrected to, one after the other.
    towns: [&'static str; 3],
    /// A preference's value.
    preference: &'static str,
}

impl Person {
    /// What the probe reads and says.
    fn said(&self) -> [&'static str; 3] {
        [self.name, self.phone, self.email]
    }

    /// Every value of the lead, each version of it included.
    fn values(&self) -> Vec<&'static str> {
        let mut values = self.said().to_vec();
        values.extend(self.towns);
        values.push(self.preference);
        values
    }

    fn body(&self) -> Value {
        json!({
            "lead_id": self.lead_id,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "preferences": {"preferred-time": self.preference},
            "age": "adult",
        })
    }
}

const ZEBULON: Person = Person {
    lead_id: "lead-zebulon",
    name: "Zebulon Quaxworth",
    phone: "+15557319024",
    email: "zq.probe@erasure.example",
    towns: ["Quillhaven Cross", "Marrowby Fen", "Upper Tolsworth"],
    preference: "after-the-ferry-sails",
};

const WINIFRED: Person = Person {
    lead_id: "lead-winifred",
    name: "Winifred Oakhurst-Vell",
    phone: "+15558846213",
    email: "w.oakhurst@restricted.example",
    towns: ["Brackenholt Vale", "Saxby-on-Wend", "Lower Pellingham"],
    preference: "before-the-mill-opens",
};

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub(crate) fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A `cally serve` process for these tests: [`ServeProcess`] with the
/// requests they repeat.
struct Serve(ServeProcess);

impl std::ops::Deref for Serve {
    type Target = ServeProcess;

    fn deref(&self) -> &ServeProcess {
        &self.0
    }
}

impl Serve {
    /// Starts `cally serve` on `data_dir` (no retention schedule) on a free port,
    /// its log (stderr) appended to `<data_dir>/serve.log`, so that the search of
    /// the data directory covers the host's log too.
    fn start(data_dir: &Path) -> Serve {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("serve.log"))
            .unwrap();
        let mut command = ServeProcess::command();
        command
            .args(["--bind", "127.0.0.1:0", "--retention-interval-secs", "0"])
            .arg("--data-dir")
            .arg(data_dir)
            .stderr(log);
        Serve(ServeProcess::spawn(command))
    }

    async fn ok(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send(key, method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value:#}");
        value
    }

    /// Creates the tenant `acme` with its keys, and releases the probe.
    async fn acme_with_probe(&self) -> Keys {
        let platform_admin = self.admin_key.as_deref().expect("a first start");
        let created = self
            .ok(
                platform_admin,
                Method::POST,
                "/v1/tenants",
                Some(json!({"id": "acme"})),
            )
            .await;
        let admin = created["admin_key"]["key"].as_str().unwrap().to_owned();
        let mut issued = Vec::new();
        for role in ["developer", "reviewer", "runtime"] {
            let key = self
                .ok(
                    &admin,
                    Method::POST,
                    "/v1/keys",
                    Some(json!({"role": role, "label": role})),
                )
                .await;
            issued.push(key["key"].as_str().unwrap().to_owned());
        }
        let [developer, reviewer, runtime] = issued.try_into().unwrap();
        let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
        use base64::Engine as _;
        let upload = json!({
            "manifest": READS_CONTACT,
            "component_base64": base64::engine::general_purpose::STANDARD.encode(probe),
        });
        self.ok(&developer, Method::POST, "/v1/plugins", Some(upload))
            .await;
        let base = "/v1/plugins/reads-data/versions/1.0.0";
        let report = self
            .ok(&reviewer, Method::GET, &format!("{base}/inspect"), None)
            .await;
        let digests = json!({
            "component_digest": report["component_digest"],
            "manifest_digest": report["manifest_digest"],
        });
        self.ok(
            &reviewer,
            Method::POST,
            &format!("{base}/approve"),
            Some(digests),
        )
        .await;
        self.ok(&reviewer, Method::POST, &format!("{base}/activate"), None)
            .await;
        Keys {
            admin,
            developer,
            reviewer,
            runtime,
        }
    }

    /// Stops the server with SIGTERM and waits for a clean exit
    /// ([`ServeProcess::stop`]).
    fn stop(self) {
        self.0.stop();
    }
}

/// Creates `person` with consent, and runs a call in which the probe reads and
/// says their name, phone and email (so the call's stored result quotes them);
/// corrects the lead's location a few times (each a new version of its row).
async fn call_that_quotes(serve: &Serve, keys: &Keys, person: &Person, call_id: &str) {
    serve
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(person.body()))
        .await;
    let consent =
        json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"});
    let consents = format!("/v1/leads/{}/consents", person.lead_id);
    serve
        .ok(&keys.admin, Method::POST, &consents, Some(consent))
        .await;
    let start = json!({
        "plugin": "reads-data",
        "call_id": call_id,
        "lead_id": person.lead_id,
        "direction": "outbound",
        "locale": "en-US",
    });
    serve
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(start))
        .await;
    let speech = json!({"type": "speech", "text": "many name phone email", "confidence": 0.9, "final": true});
    let events = format!("/v1/calls/{call_id}/events");
    let outcome = serve
        .ok(&keys.runtime, Method::POST, &events, Some(speech))
        .await;
    let text = outcome.to_string();
    for value in person.said() {
        assert!(text.contains(value), "the probe said {value}: {text}");
    }
    for town in person.towns {
        let lead = format!("/v1/leads/{}", person.lead_id);
        serve
            .ok(
                &keys.admin,
                Method::PATCH,
                &lead,
                Some(json!({"location": town})),
            )
            .await;
    }
    let end = format!("/v1/calls/{call_id}/end");
    serve.ok(&keys.runtime, Method::POST, &end, None).await;
}

/// After erasure over HTTP, no byte of an erased lead's values (name, phone,
/// email, every location it was corrected to, a preference) is in any file under
/// the data directory, while the server runs and after a
/// clean shutdown; one of the leads was restricted before it was erased. The
/// values are found before the erasure, so the search can fail; the database,
/// its WAL and shared-memory files and the pseudonym key are mode 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_erasure_no_file_under_the_data_directory_holds_the_leads_values() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let keys = serve.acme_with_probe().await;
    call_that_quotes(&serve, &keys, &ZEBULON, "call-zebulon").await;
    call_that_quotes(&serve, &keys, &WINIFRED, "call-winifred").await;
    let restriction = format!("/v1/leads/{}/restriction", WINIFRED.lead_id);
    let restricted = serve
        .ok(
            &keys.admin,
            Method::POST,
            &restriction,
            Some(json!({"restricted": true})),
        )
        .await;
    assert_eq!(restricted["restricted"], true);

    for value in ZEBULON.values().into_iter().chain(WINIFRED.values()) {
        assert!(
            !files_holding(dir.path(), value).is_empty(),
            "{value} is stored before the erasure"
        );
    }
    for person in [&ZEBULON, &WINIFRED] {
        let erase = format!("/v1/leads/{}/erase", person.lead_id);
        let erased = serve.ok(&keys.admin, Method::POST, &erase, None).await;
        assert!(erased["erased_at_ms"].is_i64(), "{erased:#}");
    }
    for value in ZEBULON.values().into_iter().chain(WINIFRED.values()) {
        assert_eq!(
            files_holding(dir.path(), value),
            Vec::<PathBuf>::new(),
            "{value} after erasure, server running"
        );
    }
    let call = serve
        .ok(&keys.runtime, Method::GET, "/v1/calls/call-zebulon", None)
        .await;
    assert!(!call.to_string().contains(ZEBULON.name), "{call:#}");
    for file in ["cally.db", "cally.db-wal", "cally.db-shm", "pseudonym.key"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }

    serve.stop();
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("cally: stopped"),
        "the log was captured: {log}"
    );
    for value in ZEBULON.values().into_iter().chain(WINIFRED.values()) {
        assert_eq!(
            files_holding(dir.path(), value),
            Vec::<PathBuf>::new(),
            "{value} after erasure and shutdown"
        );
    }
    assert_eq!(mode(&dir.path().join("cally.db")), 0o600);
    assert_eq!(mode(&dir.path().join("pseudonym.key")), 0o600);
}

/// A database an earlier version left readable by every local account is made
/// 0600 when `cally serve` starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cally_serve_makes_a_shared_database_private() {
    let dir = tempfile::tempdir().unwrap();
    let first = Serve::start(dir.path());
    first.acme_with_probe().await;
    first.stop();
    for file in ["cally.db", "pseudonym.key"] {
        let path = dir.path().join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let serve = Serve::start(dir.path());
    for file in ["cally.db", "cally.db-wal", "cally.db-shm", "pseudonym.key"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    // Answering shows it runs on the database (and has its SIGTERM handler).
    let (status, _) = serve
        .send("no-such-key", Method::GET, "/v1/leads", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    serve.stop();
}

/// A retention purge leaves no copy of the calls it removed: the line the probe
/// said (which only the call's stored result holds) is in no file afterwards,
/// while the lead itself, not purged, still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_purge_no_file_holds_the_purged_calls() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let probe = std::fs::read(cally_tests::plugin("reads-data")).unwrap();
    server
        .release(&keys, READS_CONTACT, &probe, "reads-data", "1.0.0")
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(ZEBULON.body()))
        .await;
    let consent =
        json!({"purpose": "call-handling", "source": "web-form", "evidence": "form-2291"});
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-zebulon/consents",
            Some(consent),
        )
        .await;
    let start = json!({
        "plugin": "reads-data",
        "call_id": "call-old",
        "lead_id": "lead-zebulon",
        "direction": "outbound",
        "locale": "en-US",
    });
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls", Some(start))
        .await;
    let speech = json!({"type": "speech", "text": "get name", "confidence": 0.9, "final": true});
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-old/events",
            Some(speech),
        )
        .await;
    server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-old/end", None)
        .await;
    let said = format!("name={}", ZEBULON.name);
    assert!(
        !files_holding(server.dir.path(), &said).is_empty(),
        "the call's result quotes it"
    );

    // The call ended 31 days ago, as far as the store knows.
    let store = server.host.store();
    let stored = store.call("acme", "call-old").await.unwrap().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    store
        .record_call_end(
            "acme",
            "call-old",
            now - 31 * DAY_MS,
            &stored.result.unwrap(),
        )
        .await
        .unwrap();
    server
        .ok(
            &keys.admin,
            Method::PUT,
            "/v1/retention",
            Some(json!({"calls_days": 30})),
        )
        .await;
    let report = server
        .ok(&keys.admin, Method::POST, "/v1/retention/purge", None)
        .await;
    assert_eq!(report["calls"]["removed"], 1, "{report:#}");

    assert_eq!(
        files_holding(server.dir.path(), &said),
        Vec::<PathBuf>::new()
    );
    assert!(
        !files_holding(server.dir.path(), ZEBULON.name).is_empty(),
        "the lead, not purged, still holds the name"
    );
    server.stop().await;
}

/// Creates `count` leads `race-<i>`, unrestricted, each with a name.
async fn race_leads(server: &Server, keys: &Keys, count: usize) {
    for i in 0..count {
        let lead = json!({"lead_id": format!("race-{i}"), "name": "Ada Lovelace", "age": "adult"});
        server
            .ok(&keys.admin, Method::POST, "/v1/leads", Some(lead))
            .await;
    }
}

/// 60 races, each a restriction against three corrections of the same lead,
/// sent together over a real socket to a multi-threaded server: in every race
/// where the restriction answered 2xx, the lead is restricted afterwards (a
/// correction that read the lead before the restriction never writes the old
/// `restricted` back), and every correction is kept too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_restriction_is_lost_to_a_concurrent_correction() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    const RACES: usize = 60;
    race_leads(&server, &keys, RACES).await;
    let (mut lost_restrictions, mut lost_corrections) = (Vec::new(), Vec::new());
    for i in 0..RACES {
        let lead = format!("/v1/leads/race-{i}");
        let restriction = format!("{lead}/restriction");
        let restrict = server.send(
            Some(&keys.admin),
            Method::POST,
            &restriction,
            Some(json!({"restricted": true})),
        );
        let correct = |field: &str, value: String| {
            server.send(
                Some(&keys.admin),
                Method::PATCH,
                &lead,
                Some(json!({ field: value })),
            )
        };
        let (restricted, a, b, c) = tokio::join!(
            restrict,
            correct("location", format!("town-{i}")),
            correct("language", format!("lang-{i}")),
            correct("phone", format!("+1555{i:04}")),
        );
        for (status, body) in [&restricted, &a, &b, &c] {
            assert!(status.is_success(), "race {i}: {status} {body:#}");
        }
        let after = server.ok(&keys.admin, Method::GET, &lead, None).await;
        if after["restricted"] != true {
            lost_restrictions.push(i);
        }
        let kept = [
            after["location"] == format!("town-{i}"),
            after["language"] == format!("lang-{i}"),
            after["phone"] == format!("+1555{i:04}"),
        ];
        if kept.contains(&false) {
            lost_corrections.push(i);
        }
    }
    assert_eq!(
        (lost_restrictions, lost_corrections),
        (Vec::new(), Vec::new()),
        "races (of {RACES}) where a restriction or a correction answered 200 and was lost"
    );
    server.stop().await;
}

/// 60 races of an erasure against a correction of the same lead: whichever
/// commits first, the erased lead has no personal value afterwards, and a
/// correction that lost the race answers 409 naming the erased lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_lead_never_gets_values_back_from_a_concurrent_correction() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    const RACES: usize = 60;
    race_leads(&server, &keys, RACES).await;
    for i in 0..RACES {
        let lead = format!("/v1/leads/race-{i}");
        let erase = format!("{lead}/erase");
        let ((erased, body), (corrected, problem)) = tokio::join!(
            server.send(Some(&keys.admin), Method::POST, &erase, None),
            server.send(
                Some(&keys.admin),
                Method::PATCH,
                &lead,
                Some(json!({"name": format!("Revived {i}"), "phone": "+15550199"})),
            ),
        );
        assert!(erased.is_success(), "race {i}: {erased} {body:#}");
        assert!(
            corrected.is_success() || corrected == StatusCode::CONFLICT,
            "race {i}: {corrected} {problem:#}"
        );
        if corrected == StatusCode::CONFLICT {
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("race-{i}")),
                "{problem:#}"
            );
        }
        let after = server.ok(&keys.admin, Method::GET, &lead, None).await;
        assert!(after["erased_at_ms"].is_i64(), "race {i}: {after:#}");
        assert_eq!(
            (&after["name"], &after["phone"]),
            (&Value::Null, &Value::Null),
            "race {i}: {after:#}"
        );
    }
    server.stop().await;
}
