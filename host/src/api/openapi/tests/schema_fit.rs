//! The schemas the document publishes for the session's and the audit log's
//! answers, checked against what serde really writes for real values, with a
//! small checker for the subset of JSON Schema utoipa writes.

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::ToSchema;

use super::json;

/// Where `value` (what serde wrote) does not fit `schema` (one of
/// `document`'s, or a part of one), one line per misfit: a property serde
/// writes that the schema does not declare, a required property missing, a
/// JSON type or enum value the schema does not allow, an array item that
/// does not fit, or not exactly one `oneOf` branch fitting. `extra` names
/// properties another `allOf` part (a flattened field) declares. Knows the
/// subset of JSON Schema utoipa writes for this API: `$ref`, `allOf`,
/// `oneOf`, `type`, `enum`, `minimum`, `properties`, `required`,
/// `additionalProperties`, `items` and `prefixItems`.
fn misfits(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    extra: &BTreeSet<String>,
) -> Vec<String> {
    let schema = match schema {
        Value::Bool(true) => return Vec::new(),
        Value::Bool(false) => return vec![format!("{at}: the schema allows nothing here")],
        Value::Object(schema) => schema,
        other => return vec![format!("{at}: {other} is not a schema")],
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let Some(target) = reference
            .strip_prefix('#')
            .and_then(|p| document.pointer(p))
        else {
            return vec![format!("{at}: {reference} names nothing")];
        };
        return misfits(document, target, value, at, extra);
    }
    let mut found = Vec::new();
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for (i, part) in parts.iter().enumerate() {
            let mut others = extra.clone();
            for (j, other) in parts.iter().enumerate() {
                if i != j {
                    others.extend(declared(document, other));
                }
            }
            found.extend(misfits(document, part, value, at, &others));
        }
    }
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|branch| misfits(document, branch, value, at, extra))
            .collect();
        let fitting = results.iter().filter(|r| r.is_empty()).count();
        if fitting != 1 {
            found.push(format!(
                "{at}: {value} fits {fitting} of {} `oneOf` branches; the branches say: {}",
                branches.len(),
                results.concat().join("; ")
            ));
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = allowed.iter().any(|ty| match *ty {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            found.push(format!("{at}: {value} is not of type {types}"));
            return found;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(minimum), Some(number)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && number < minimum
    {
        found.push(format!("{at}: {value} is below the minimum {minimum}"));
    }
    match value {
        Value::Object(object)
            if schema.contains_key("properties")
                || schema.contains_key("required")
                || schema.get("type").is_some_and(|t| t == "object") =>
        {
            let empty = serde_json::Map::new();
            let properties = schema
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (key, item) in object {
                let here = format!("{at}.{key}");
                if let Some(property) = properties.get(key) {
                    found.extend(misfits(document, property, item, &here, &BTreeSet::new()));
                } else if extra.contains(key) {
                    // Another `allOf` part declares it and checks it.
                } else if let Some(additional) = schema.get("additionalProperties") {
                    found.extend(misfits(document, additional, item, &here, &BTreeSet::new()));
                } else {
                    found.push(format!(
                        "{here}: serde writes it, but the schema declares no such property"
                    ));
                }
            }
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    found.push(format!(
                        "{at}.{required}: the schema requires it, but serde does not write it"
                    ));
                }
            }
        }
        Value::Array(items) => {
            let prefix = schema
                .get("prefixItems")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}[{i}]");
                let item_schema = prefix.get(i).or_else(|| schema.get("items"));
                if let Some(item_schema) = item_schema {
                    found.extend(misfits(
                        document,
                        item_schema,
                        item,
                        &here,
                        &BTreeSet::new(),
                    ));
                }
            }
        }
        _ => {}
    }
    found
}

/// The property names `schema` declares at its top level, through `$ref`,
/// `allOf` and every `oneOf` branch.
fn declared(document: &Value, schema: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(target) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| document.pointer(p))
    {
        return declared(document, target);
    }
    if let Some(properties) = schema["properties"].as_object() {
        names.extend(properties.keys().cloned());
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for part in schema[combinator].as_array().into_iter().flatten() {
            names.extend(declared(document, part));
        }
    }
    names
}

/// The misfits of `value`'s serde JSON against the schema `document`
/// publishes under `T`'s name (which must be there).
fn misfits_of<T: ToSchema + serde::Serialize>(document: &Value, value: &T) -> Vec<String> {
    let name = T::name();
    assert!(
        document["components"]["schemas"][name.as_ref()].is_object(),
        "the document publishes no schema `{name}`"
    );
    let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
    let json = serde_json::to_value(value).unwrap();
    misfits(document, &schema, &json, &name, &BTreeSet::new())
}

mod values {
    //! Values of the five response types (and of everything in them) as the
    //! host builds them, covering every variant and every optional field
    //! both written and left out.

    use std::time::Duration;

    use crate::audit::{
        AuditContext, AuditRecord, ChainProblem, GENESIS_HASH, ProblemKind, VerifyReport, verify,
    };
    use crate::capabilities::gate::DataUse;
    use crate::consent::{Channel as ConsentChannel, Decision, DenyReason, Purpose};
    use crate::protocol::{Action, Channel, EndReason};
    use crate::sandbox::{LogLevel, LogLine};
    use crate::session::{CallRecord, EventOutcome, PluginFailure, TagOutcome};

    /// Every way a plugin can fail.
    pub fn failures() -> Vec<PluginFailure> {
        let message = "wasm trap: unreachable".to_owned();
        vec![
            PluginFailure::DeadlineExceeded { deadline_ms: 50 },
            PluginFailure::MemoryExhausted {
                requested_bytes: 1 << 30,
                limit_bytes: 1 << 24,
            },
            PluginFailure::StackOverflow {
                limit_bytes: 1 << 20,
            },
            PluginFailure::Trap {
                message: message.clone(),
            },
            PluginFailure::InvalidOutput {
                message: message.clone(),
            },
            PluginFailure::Instantiation { message },
        ]
    }

    fn actions() -> Vec<Action> {
        vec![
            Action::say("Hello"),
            Action::Play {
                asset: "jingle".into(),
            },
            Action::Gather {
                prompt: Some("Press 1".into()),
                timeout_ms: 5000,
                max_digits: 1,
                speech: true,
            },
            Action::Gather {
                prompt: None,
                timeout_ms: 5000,
                max_digits: 0,
                speech: true,
            },
            Action::Transfer {
                target: "sales".into(),
            },
            Action::SendMessage {
                channel: Channel::Whatsapp,
                template: "reminder".into(),
                params: vec![("time".into(), "10:00".into())],
            },
            Action::TagLead {
                tag: "hot-lead".into(),
            },
            Action::SetDisposition {
                disposition: "confirmed".into(),
            },
            Action::ScheduleCallback {
                after_minutes: 30,
                reason: "busy".into(),
            },
            Action::HangUp,
        ]
    }

    fn log() -> Vec<LogLine> {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .map(|level| LogLine {
            level,
            message: format!("{level:?}"),
        })
        .collect()
    }

    fn data() -> Vec<DataUse> {
        let denied = DenyReason::NoConsent {
            purpose: Purpose::Marketing,
            channel: Some(ConsentChannel::Whatsapp),
        };
        vec![
            DataUse {
                resource: "phone".into(),
                purpose: Purpose::CallHandling,
                decision: crate::audit::AuditDecision::Allowed,
                reason: None,
                message: None,
                consent_id: Some(7),
                audit_seq: Some(1),
            },
            DataUse {
                resource: "message:whatsapp".into(),
                purpose: Purpose::Marketing,
                decision: crate::audit::AuditDecision::Denied,
                reason: Some(denied.as_str()),
                message: Some(denied.to_string()),
                consent_id: None,
                audit_seq: None,
            },
        ]
    }

    /// One with every optional field written, one per failure, one with none.
    pub fn event_outcomes() -> Vec<EventOutcome> {
        let full = |failure| EventOutcome {
            actions: actions(),
            log: log(),
            plugin_time: Duration::from_micros(1234),
            host_time: Duration::from_micros(56),
            data: data(),
            failure,
        };
        let mut all: Vec<_> = failures().into_iter().map(Some).map(full).collect();
        all.push(EventOutcome {
            actions: Vec::new(),
            log: Vec::new(),
            plugin_time: Duration::ZERO,
            host_time: Duration::ZERO,
            data: Vec::new(),
            failure: None,
        });
        all
    }

    /// One with every optional field written, and the default (none written).
    pub fn call_records() -> Vec<CallRecord> {
        let mut all: Vec<CallRecord> = failures()
            .into_iter()
            .map(|failure| CallRecord {
                events: 3,
                actions: actions(),
                failure: Some(failure),
                disposition: Some("confirmed".into()),
                digits: vec!["1".into(), "42#".into()],
                end_reason: Some(EndReason::PluginFailed),
                data: data(),
                transcript: Vec::new(),
            })
            .collect();
        all.push(CallRecord::default());
        all
    }

    /// One with every optional field written, and one failed with none.
    pub fn tag_outcomes() -> Vec<TagOutcome> {
        vec![
            TagOutcome {
                tags: vec!["hot-lead".into(), "callback".into()],
                written: vec!["hot-lead".into()],
                data: data(),
                log: log(),
                plugin_time: Duration::from_micros(789),
                failure: Some(PluginFailure::DeadlineExceeded { deadline_ms: 50 }),
            },
            TagOutcome {
                tags: Vec::new(),
                written: Vec::new(),
                data: Vec::new(),
                log: Vec::new(),
                plugin_time: Duration::ZERO,
                failure: None,
            },
        ]
    }

    /// A sealed chain of two: an allowed read of a known lead, then a
    /// denied one with no lead.
    pub fn audit_records() -> Vec<AuditRecord> {
        let context = AuditContext {
            tenant: "acme".into(),
            plugin: "reminder".into(),
            plugin_version: "1.0.0".into(),
            component_digest: "sha256:00".into(),
            call_id: "call-1".into(),
            lead: Some("pseudonym".into()),
        };
        let allowed = context.entry(
            "phone",
            Purpose::CallHandling,
            &Decision::Allow { consent_id: 7 },
            1_700_000_000_000,
        );
        let first = AuditRecord::seal(&allowed, 1, GENESIS_HASH);
        let denied = AuditContext {
            lead: None,
            ..context
        }
        .entry(
            "transcript",
            Purpose::Analytics,
            &Decision::Deny(DenyReason::LeadRestricted),
            1_700_000_000_001,
        );
        let second = AuditRecord::seal(&denied, 2, &first.hash);
        vec![first, second]
    }

    /// An intact chain's report, an altered one's, and one per problem kind.
    pub fn verify_reports() -> Vec<VerifyReport> {
        let records = audit_records();
        let mut altered = records.clone();
        altered[1].resource = "name".into();
        let hash = || "ab".repeat(32);
        let kinds = [
            ProblemKind::Altered {
                stored: hash(),
                computed: hash(),
            },
            ProblemKind::BrokenLink {
                expected: hash(),
                found: hash(),
            },
            ProblemKind::Missing { next_seq: 4 },
            ProblemKind::OutOfOrder { found_seq: 1 },
            ProblemKind::WrongTenant {
                found: "other".into(),
            },
            ProblemKind::Truncated { head_seq: 9 },
            ProblemKind::BeyondHead { head_seq: 1 },
            ProblemKind::HeadMismatch {
                head_hash: hash(),
                record_hash: hash(),
            },
            ProblemKind::HeadMissing,
        ];
        let mut all = vec![verify(&records), verify(&altered), verify(&[])];
        all.extend(kinds.into_iter().map(|kind| VerifyReport {
            tenant: "acme".into(),
            records: 2,
            last_seq: 2,
            problem: Some(ChainProblem { seq: 2, kind }),
        }));
        all
    }
}

/// The schemas of the five response types `session` and `audit` define
/// are derived from the types, so they cannot drift from them: every
/// property serde writes is declared (with its JSON type and, for
/// vocabularies, its values), every required one is written, and each
/// tagged enum's value fits exactly one branch.
#[test]
fn session_and_audit_answers_fit_their_published_schemas() {
    let document = json();
    let mut found = Vec::new();
    for value in values::event_outcomes() {
        found.extend(misfits_of(&document, &value));
    }
    for value in values::call_records() {
        found.extend(misfits_of(&document, &value));
    }
    for value in values::tag_outcomes() {
        found.extend(misfits_of(&document, &value));
    }
    for value in values::audit_records() {
        found.extend(misfits_of(&document, &value));
    }
    let reports = values::verify_reports();
    assert!(reports[0].is_clean() && !reports[1].is_clean());
    for value in reports {
        found.extend(misfits_of(&document, &value));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The answers of a lead's creation or correction (erased at once as a minor,
/// or not), of an import naming the minors it erased, and the leads of unknown
/// age in the retention answer fit their published schemas.
#[test]
fn lead_write_answers_fit_their_published_schemas() {
    use crate::api::leads::{ImportReport, WrittenLead};
    use crate::store::{Lead, UnknownAgeLeads};
    let document = json();
    let mut kept = Lead::new("acme", "lead-1".to_owned());
    kept.name = Some("Ada".into());
    let mut erased = Lead::new("acme", "lead-2".to_owned());
    erased.erased_at_ms = Some(1);
    let mut found = Vec::new();
    found.extend(misfits_of(&document, &WrittenLead::new(kept, false)));
    found.extend(misfits_of(&document, &WrittenLead::new(erased, true)));
    found.extend(misfits_of(
        &document,
        &ImportReport::new(2, vec!["lead-2".into()]),
    ));
    found.extend(misfits_of(&document, &ImportReport::new(1, Vec::new())));
    found.extend(misfits_of(
        &document,
        &UnknownAgeLeads {
            count: 3,
            lead_ids: vec!["lead-3".into()],
        },
    ));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The checker above fails on the drift it is there to catch.
#[test]
fn the_schema_checker_finds_drift() {
    let document = json();
    let schema = serde_json::json!({ "$ref": "#/components/schemas/EventOutcome" });
    let outcome = &values::event_outcomes()[0];
    let fits = |json: &Value| misfits(&document, &schema, json, "EventOutcome", &BTreeSet::new());
    let good = serde_json::to_value(outcome).unwrap();
    assert_eq!(fits(&good), Vec::<String>::new());
    let drifted = [
        // A field renamed in serde but not in the schema.
        (
            "plugin_time_us",
            Some(("plugin_time_ms", serde_json::json!(1))),
        ),
        // A required field no longer written.
        ("log", None),
        // A wrong JSON type.
        (
            "host_time_us",
            Some(("host_time_us", serde_json::json!("56"))),
        ),
        // A tagged enum's tag spelled differently.
        (
            "failure",
            Some((
                "failure",
                serde_json::json!({"reason": "Trap", "message": "x"}),
            )),
        ),
        // An enum value the schema does not list.
        (
            "log",
            Some((
                "log",
                serde_json::json!([{"level": "fatal", "message": "x"}]),
            )),
        ),
    ];
    for (remove, insert) in drifted {
        let mut json = good.clone();
        let object = json.as_object_mut().unwrap();
        object.remove(remove);
        if let Some((key, value)) = insert {
            object.insert(key.to_owned(), value);
        }
        assert!(!fits(&json).is_empty(), "{json} passed");
    }
    // A flattened field's properties count, but only the ones it declares.
    let mut problem =
        serde_json::to_value(&values::verify_reports()[1]).unwrap()["problem"].clone();
    let chain = serde_json::json!({ "$ref": "#/components/schemas/ChainProblem" });
    assert_eq!(
        misfits(&document, &chain, &problem, "p", &BTreeSet::new()),
        Vec::<String>::new()
    );
    problem["found"] = serde_json::json!("x");
    assert!(!misfits(&document, &chain, &problem, "p", &BTreeSet::new()).is_empty());
}

/// The answer of `GET`/`POST /v1/audit/checkpoint` fits its published schema, with
/// a checkpoint and without one.
#[test]
fn the_checkpoint_answer_fits_its_published_schema() {
    use crate::api::audit::CheckpointAnswer;
    use crate::audit::{Checkpoint, HostSigningKey};
    let document = json();
    let key = HostSigningKey::from_secret([5; 32]);
    let signed = Checkpoint::sign(&key, "acme", 7, &"ab".repeat(32), 1_764_000_000_000);
    let mut found = Vec::new();
    for checkpoint in [None, Some(signed)] {
        let answer = CheckpointAnswer {
            public_key: key.public_key().to_string(),
            checkpoint,
        };
        found.extend(misfits_of(&document, &answer));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
