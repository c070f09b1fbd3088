//! A minor's data deleted at once, as a hostile insider checks it.
//!
//! A real host over a real socket, on a real SQLite file: leads created,
//! imported (JSON and CSV) or corrected with age `minor` and no verifiable
//! parental consent in force are erased in the same transaction; the answer
//! says so; every byte of every file under the data directory is searched for
//! their values; a live call's next read is denied `lead-erased`. A parental
//! consent in force keeps the lead (a withdrawn one does not). Leads of unknown
//! age are kept and listed in the retention answer for the tenant to resolve.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Keys, Server, consent, probe_and_consenting_ada, said, speech, start_call};
use crate::erasure::files_holding;

/// A person whose values appear nowhere else, so finding their bytes means a copy.
struct Person {
    lead_id: &'static str,
    name: &'static str,
    phone: &'static str,
    email: &'static str,
    location: &'static str,
    preference: &'static str,
}

impl Person {
    fn values(&self) -> [&'static str; 5] {
        [
            self.name,
            self.phone,
            self.email,
            self.location,
            self.preference,
        ]
    }

    fn body(&self, age: &str) -> Value {
        json!({
            "lead_id": self.lead_id,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "location": self.location,
            "preferences": {"preferred-time": self.preference},
            "age": age,
        })
    }

    /// The person as a CSV row of the header [`CSV_HEADER`].
    fn csv_row(&self, age: &str) -> String {
        format!(
            "{},{},{},{},{},{age},\"{{\"\"preferred-time\"\": \"\"{}\"\"}}\"\n",
            self.lead_id, self.name, self.phone, self.email, self.location, self.preference
        )
    }
}

/// A location a correction to `minor` writes in the same request.
const NEW_TOWN: &str = "Wickerfold-under-Lyme";

const CSV_HEADER: &str = "lead_id,name,phone,email,location,age,preferences\n";

const PIP: Person = Person {
    lead_id: "lead-pip",
    name: "Pipperell Marchbanks",
    phone: "+15559071346",
    email: "pip.marchbanks@minor.example",
    location: "Thistlecombe Reach",
    preference: "after-the-school-bell",
};

const TANSY: Person = Person {
    lead_id: "lead-tansy",
    name: "Tansy Wrexford-Ode",
    phone: "+15556248813",
    email: "tansy.wo@minor.example",
    location: "Gillyflower Holm",
    preference: "weekends-only-please",
};

const ODO: Person = Person {
    lead_id: "lead-odo",
    name: "Odoric Fennimore",
    phone: "+15553390172",
    email: "odoric.f@minor.example",
    location: "Cresswater Quay",
    preference: "never-before-noon",
};

/// The adult imported beside them: their values must be found, so the
/// search can fail.
const GRETA: Person = Person {
    lead_id: "lead-greta",
    name: "Gretchenna Albury",
    phone: "+15554407719",
    email: "greta.albury@adult.example",
    location: "Hollowmere Downs",
    preference: "evenings-after-six",
};

/// The files under the host's data directory holding any of `values`.
fn copies(server: &Server, values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| {
            files_holding(server.dir.path(), value)
                .into_iter()
                .map(move |file| format!("{value} in {}", file.display()))
        })
        .collect()
}

/// Asserts the lead as the API shows it has no personal field left and is erased.
async fn assert_erased(server: &Server, keys: &Keys, lead_id: &str) {
    let lead = server
        .ok(
            &keys.admin,
            Method::GET,
            &format!("/v1/leads/{lead_id}"),
            None,
        )
        .await;
    assert!(lead["erased_at_ms"].is_i64(), "{lead:#}");
    for field in [
        "name",
        "phone",
        "email",
        "location",
        "language",
        "preferences",
    ] {
        assert!(lead[field].is_null(), "{field} of {lead:#}");
    }
}

/// A minor imported (JSON and CSV) or created with distinctive values: the
/// answer names them erased with the rule, the adult imported beside them is
/// kept, and no file under the data directory (database, WAL, shared memory,
/// keys) holds any of the minors' values, while the adult's are found.
#[tokio::test]
async fn a_lead_imported_as_a_minor_has_no_personal_field_left_in_any_file() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;

    let imported = server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/import",
            Some(json!([PIP.body("minor"), GRETA.body("adult")])),
        )
        .await;
    assert_eq!(imported["imported"], 2, "{imported:#}");
    assert_eq!(imported["erased"], json!([PIP.lead_id]), "{imported:#}");
    assert!(
        imported["erased_reason"]
            .as_str()
            .is_some_and(|r| r.contains("minor-without-parental-consent")),
        "{imported:#}"
    );

    let csv = format!("{CSV_HEADER}{}", TANSY.csv_row("minor"));
    let response = server
        .client
        .post(format!("{}/v1/leads/import", server.url))
        .bearer_auth(&keys.admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let imported: Value = response.json().await.unwrap();
    assert_eq!(imported["erased"], json!([TANSY.lead_id]), "{imported:#}");

    let created = server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(ODO.body("minor")),
        )
        .await;
    assert_eq!(created["erased"], true, "{created:#}");
    assert!(created["erased_at_ms"].is_i64(), "{created:#}");
    assert!(created["name"].is_null(), "{created:#}");
    assert!(
        created["erased_reason"]
            .as_str()
            .is_some_and(|r| r.contains("minor-without-parental-consent")),
        "{created:#}"
    );

    for minor in [&PIP, &TANSY, &ODO] {
        assert_erased(&server, &keys, minor.lead_id).await;
    }
    let greta = server
        .ok(&keys.admin, Method::GET, "/v1/leads/lead-greta", None)
        .await;
    assert_eq!(greta["phone"], GRETA.phone);
    assert!(greta["erased_at_ms"].is_null(), "{greta:#}");
    for value in GRETA.values() {
        assert!(
            !files_holding(server.dir.path(), value).is_empty(),
            "the adult's {value} is stored, so the search can find a value"
        );
    }
    let minors: Vec<&str> = [&PIP, &TANSY, &ODO]
        .iter()
        .flat_map(|p| p.values())
        .collect();
    assert_eq!(copies(&server, &minors), Vec::<String>::new());
}

/// A lead created as an adult, with consent, on a live call whose plugin reads
/// its phone; a correction to `minor` erases it at once (the answer says so),
/// the call's very next read is denied `lead-erased`, and once the call ends no
/// file under the data directory holds the lead's name or phone.
#[tokio::test]
async fn a_lead_corrected_to_minor_is_erased_and_a_live_call_gets_lead_erased() {
    let (server, keys, _) = probe_and_consenting_ada().await;
    server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-m")),
        )
        .await;
    let ask = async || {
        let outcome = server
            .ok(
                &keys.runtime,
                Method::POST,
                "/v1/calls/call-m/events",
                Some(speech("get phone")),
            )
            .await;
        said(&outcome)
    };
    assert_eq!(ask().await, ["phone=+15550100"]);
    assert!(!files_holding(server.dir.path(), "Ada Lovelace").is_empty());

    let corrected = server
        .ok(
            &keys.admin,
            Method::PATCH,
            "/v1/leads/lead-ada",
            Some(json!({"age": "minor"})),
        )
        .await;
    assert_eq!(corrected["erased"], true, "{corrected:#}");
    assert_eq!(corrected["age"], "minor", "{corrected:#}");
    assert!(corrected["phone"].is_null(), "{corrected:#}");
    assert!(corrected["erased_at_ms"].is_i64(), "{corrected:#}");
    assert_eq!(ask().await, ["phone!lead-erased"]);
    assert_erased(&server, &keys, "lead-ada").await;

    server
        .ok(&keys.runtime, Method::POST, "/v1/calls/call-m/end", None)
        .await;
    assert_eq!(
        copies(&server, &["Ada Lovelace", "+15550100"]),
        Vec::<String>::new()
    );
    // A correction of an erased lead is refused: its values never come back.
    let (status, _) = server
        .send(
            Some(&keys.admin),
            Method::PATCH,
            "/v1/leads/lead-ada",
            Some(json!({"age": "adult", "phone": "+15550100"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// A minor with a verifiable parental consent in force is kept (the answer
/// says `erased: false`) and a live call may read it; a parental consent that
/// was withdrawn does not count, and a non-parental one neither: that lead is
/// erased with the location the same correction wrote.
#[tokio::test]
async fn a_minor_with_a_parental_consent_on_record_is_not_erased() {
    let (server, keys, _) = probe_and_consenting_ada().await;
    let mut parental = consent("call-handling");
    parental["parental"] = json!(true);
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads/lead-ada/consents",
            Some(parental.clone()),
        )
        .await;
    let corrected = server
        .ok(
            &keys.admin,
            Method::PATCH,
            "/v1/leads/lead-ada",
            Some(json!({"age": "minor"})),
        )
        .await;
    assert_eq!(corrected["erased"], false, "{corrected:#}");
    assert!(corrected.get("erased_reason").is_none(), "{corrected:#}");
    assert_eq!(corrected["phone"], "+15550100");
    assert!(corrected["erased_at_ms"].is_null(), "{corrected:#}");
    let started = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls",
            Some(start_call("reads-data", "call-p")),
        )
        .await;
    assert_eq!(said(&started), ["ready"]);
    let outcome = server
        .ok(
            &keys.runtime,
            Method::POST,
            "/v1/calls/call-p/events",
            Some(speech("get phone")),
        )
        .await;
    assert_eq!(said(&outcome), ["phone=+15550100"]);

    // A second lead: an adult whose parental consent was withdrawn.
    server
        .ok(
            &keys.admin,
            Method::POST,
            "/v1/leads",
            Some(PIP.body("adult")),
        )
        .await;
    let consents = format!("/v1/leads/{}/consents", PIP.lead_id);
    server
        .ok(
            &keys.admin,
            Method::POST,
            &consents,
            Some(consent("call-handling")),
        )
        .await;
    let granted = server
        .ok(&keys.admin, Method::POST, &consents, Some(parental))
        .await;
    let withdraw = format!("{consents}/{}/withdraw", granted["id"]);
    server.ok(&keys.admin, Method::POST, &withdraw, None).await;
    let corrected = server
        .ok(
            &keys.admin,
            Method::PATCH,
            &format!("/v1/leads/{}", PIP.lead_id),
            Some(json!({"age": "minor", "location": NEW_TOWN})),
        )
        .await;
    assert_eq!(corrected["erased"], true, "{corrected:#}");
    assert_erased(&server, &keys, PIP.lead_id).await;
    // The values the correction itself wrote are gone too.
    let mut values = PIP.values().to_vec();
    values.push(NEW_TOWN);
    assert_eq!(copies(&server, &values), Vec::<String>::new());
}

/// Leads of unknown age are kept (denied without parental consent, as before)
/// and listed in the tenant's retention answer to resolve: not adults, not
/// erased minors, not another tenant's; resolving the age takes a lead off.
#[tokio::test]
async fn an_unknown_age_lead_shows_in_the_retention_report() {
    let server = Server::start().await;
    let keys = server.tenant("acme").await;
    let other = server.tenant("globex").await;
    let unsure = json!({"lead_id": "lead-unsure", "name": "Ambry Nodd"});
    let created = server
        .ok(&keys.admin, Method::POST, "/v1/leads", Some(unsure))
        .await;
    assert_eq!(created["erased"], false, "{created:#}");
    assert_eq!(created["name"], "Ambry Nodd", "unknown age is kept");
    let leads = json!([
        {"lead_id": "lead-also-unsure", "age": "unknown"},
        {"lead_id": "lead-grown", "age": "adult"},
        {"lead_id": "lead-child", "age": "minor"},
        {"lead_id": "lead-gone"},
    ]);
    server
        .ok(&keys.admin, Method::POST, "/v1/leads/import", Some(leads))
        .await;
    server
        .ok(&keys.admin, Method::POST, "/v1/leads/lead-gone/erase", None)
        .await;
    server
        .ok(
            &other.admin,
            Method::POST,
            "/v1/leads",
            Some(json!({"lead_id": "lead-elsewhere"})),
        )
        .await;

    let report = server
        .ok(&keys.admin, Method::GET, "/v1/retention", None)
        .await;
    assert_eq!(
        report["unknown_age_leads"],
        json!({"count": 2, "lead_ids": ["lead-also-unsure", "lead-unsure"]}),
        "{report:#}"
    );

    server
        .ok(
            &keys.admin,
            Method::PATCH,
            "/v1/leads/lead-unsure",
            Some(json!({"age": "adult"})),
        )
        .await;
    let report = server
        .ok(&keys.admin, Method::GET, "/v1/retention", None)
        .await;
    assert_eq!(
        report["unknown_age_leads"],
        json!({"count": 1, "lead_ids": ["lead-also-unsure"]}),
        "{report:#}"
    );
    let theirs = server
        .ok(&other.admin, Method::GET, "/v1/retention", None)
        .await;
    assert_eq!(
        theirs["unknown_age_leads"],
        json!({"count": 1, "lead_ids": ["lead-elsewhere"]}),
        "{theirs:#}"
    );
}
