//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document, generated from the
//! code, never kept by hand. Each handler's `#[utoipa::path]` annotation gives
//! its method, path, parameters, body, answers, tag and roles; the request and
//! response types derive `ToSchema` (their doc comments are the descriptions);
//! and the router and the document are built from one route list
//! (`documented_routes` in `mod.rs`). This module adds what every operation
//! shares, so no handler can forget it: the bearer-key security scheme, the
//! `application/problem+json` body of every error, and the errors that the key
//! check and the JSON extractor give.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::ApiError;
use super::error::ProblemDocument;

/// The name of the security scheme every keyed operation names; its scopes
/// are the roles the operation admits (OpenAPI 3.1 allows role names there).
pub const SECURITY_SCHEME: &str = "api_key";

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The document's fixed part: info, tags, the security scheme and the problem
/// schema. [`document`] adds every route's operations to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cally",
        version = env!("CARGO_PKG_VERSION"),
        description = "Cally's HTTP API: tenants and keys, plugin uploads and reviews, leads and consents, live calls, data subjects' rights, retention and the audit log.",
    ),
    tags(
        (name = "tenants", description = "Tenants and their API keys (platform admin, tenant admin)."),
        (name = "plugins", description = "Plugin versions: upload (developer); inspect, diff, approve, activate, roll back (reviewer)."),
        (name = "leads", description = "A tenant's leads: create, list, correct, import a contact list (tenant admin)."),
        (name = "consents", description = "A lead's consents: record, list, withdraw (tenant admin)."),
        (name = "rights", description = "Data subjects' rights: access report, restriction, erasure, portability export (tenant admin)."),
        (name = "retention", description = "The tenant's retention policy and purges (tenant admin)."),
        (name = "calls", description = "Live calls: start, post events, end, read (runtime)."),
        (name = "audit", description = "The tenant's hash-chained audit log: query, export, verify (reviewer)."),
        (name = "operations", description = "Health, metrics and this document; no key."),
    ),
    components(schemas(ProblemDocument)),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

/// Declares the `api_key` security scheme: `Authorization: Bearer cally_<64 hex>`.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("cally_<64 hex digits>")
            .description(Some(
                "An API key, shown once when issued. Each key has one role (the \
                 requirement's scopes list the roles an operation admits) and, but for \
                 the platform admin's, one tenant.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(SECURITY_SCHEME, SecurityScheme::Http(scheme));
    }
}

/// The whole document: the fixed part, every route's operation, and the
/// answers operations share: 401, 403 and 500 for a keyed one, the JSON
/// extractor's errors for one with a JSON body, and the problem document as
/// every error's body.
pub fn document() -> openapi::OpenApi {
    let (_, mut document) = super::documented_routes().split_for_parts();
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            complete(operation);
        }
    }
    document
}

/// Adds to `operation` the errors it can answer without its handler saying so,
/// and gives every error the problem document as its body:
/// - an operation that takes a key: 401 (no or unknown key), 403 (a role it
///   does not admit), 500 (the host failed);
/// - one that takes a JSON body: 400, 413, 415 and 422 from the JSON extractor.
///
/// An answer the handler's annotation describes keeps its description.
fn complete(operation: &mut Operation) {
    let keyed = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if keyed {
        shared.extend([
            ("401", "No key, or a key that was never issued"),
            ("403", "The key's role may not call this endpoint"),
            (
                "500",
                "The host failed; the error is in its log, not in the answer",
            ),
        ]);
    }
    if json_body {
        shared.extend([
            ("400", "The body is not well-formed JSON"),
            ("413", "The body is larger than the endpoint accepts"),
            ("415", "The body is not sent as `Content-Type: application/json`"),
            ("422", "The JSON does not fit the schema (a missing, unknown or mistyped field) or a value is refused"),
        ]);
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(openapi::Response::new(description)));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        response.content.clear();
        response.content.insert(
            PROBLEM_JSON.to_owned(),
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ProblemDocument::name())))
                .build(),
        );
        if status == "401" {
            response.headers.insert(
                "WWW-Authenticate".to_owned(),
                HeaderBuilder::new()
                    .schema(String::schema())
                    .description(Some("`Bearer`"))
                    .build(),
            );
        }
    }
}

/// `GET /v1/openapi.json`: this API's OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi_document",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API, generated from the code", body = Object, content_type = "application/json")),
)]
pub async fn serve_document() -> Result<Response, ApiError> {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = match JSON.get() {
        Some(json) => json,
        None => {
            let json = document().to_json().map_err(|e| ApiError::internal(&e))?;
            JSON.get_or_init(|| json)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response())
}

#[cfg(test)]
mod tests {
    //! The document against the router it was built with: every documented
    //! operation is routed, asks for a key exactly when it says so, admits
    //! exactly the roles it names, and the document itself is well-formed.

    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::{Method, Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;
    use crate::api::{ApiHost, Role, app, issue_key};
    use crate::sandbox::SandboxConfig;

    /// One operation of the document.
    struct Documented {
        method: Method,
        /// The path template, such as `/v1/leads/{id}`.
        path: String,
        /// The roles its security requirement names; `None`: it takes no key.
        roles: Option<BTreeSet<String>>,
        operation: Value,
    }

    fn json() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn operations(document: &Value) -> Vec<Documented> {
        let mut found = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let roles = operation.get("security").map(|requirements| {
                    let requirements = requirements.as_array().unwrap();
                    assert_eq!(requirements.len(), 1, "{method} {path}: one requirement");
                    let scopes = &requirements[0][SECURITY_SCHEME];
                    assert!(
                        scopes.is_array(),
                        "{method} {path}: the requirement names `{SECURITY_SCHEME}`"
                    );
                    scopes
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|role| role.as_str().unwrap().to_owned())
                        .collect()
                });
                found.push(Documented {
                    method,
                    path: path.clone(),
                    roles,
                    operation: operation.clone(),
                });
            }
        }
        assert!(
            found.len() > 30,
            "only {} operations documented",
            found.len()
        );
        found
    }

    /// A request path for a template: every `{parameter}` becomes `x`.
    fn concrete(template: &str) -> String {
        template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    async fn host() -> (tempfile::TempDir, Arc<ApiHost>) {
        let dir = tempfile::tempdir().unwrap();
        let config = SandboxConfig {
            max_concurrent_calls: 2,
            ..SandboxConfig::default()
        };
        let (host, _sqlite) = ApiHost::open(dir.path(), config).await.unwrap();
        (dir, host)
    }

    async fn send(
        router: &Router,
        method: &Method,
        path: &str,
        key: Option<&str>,
    ) -> (StatusCode, String, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, body.to_vec())
    }

    #[tokio::test]
    async fn every_documented_operation_is_routed_and_takes_a_key_exactly_when_documented() {
        let (_dir, host) = host().await;
        let router = app(host);
        let document = json();
        let operations = operations(&document);
        for op in &operations {
            let path = concrete(&op.path);
            let (status, content_type, body) = send(&router, &op.method, &path, None).await;
            let answer = String::from_utf8_lossy(&body);
            match op.roles {
                Some(_) => assert!(
                    status == StatusCode::UNAUTHORIZED && content_type == PROBLEM_JSON,
                    "{} {path} without a key: {status} {answer}",
                    op.method
                ),
                None => assert_eq!(
                    status,
                    StatusCode::OK,
                    "{} {path} needs no key: {answer}",
                    op.method
                ),
            }
        }
        // And a method a path does not document is not routed there either.
        let mut documented: BTreeMap<&str, BTreeSet<Method>> = BTreeMap::new();
        for op in &operations {
            documented
                .entry(&op.path)
                .or_default()
                .insert(op.method.clone());
        }
        for (template, methods) in documented {
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                if methods.contains(&method) {
                    continue;
                }
                let (status, _, body) = send(&router, &method, &concrete(template), None).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template} is routed but not documented: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[tokio::test]
    async fn every_keyed_operation_admits_exactly_the_roles_it_documents() {
        let (_dir, host) = host().await;
        host.store().create_tenant("acme", 1).await.unwrap();
        let mut keys = Vec::new();
        for role in Role::ALL {
            let tenant = (role != Role::PlatformAdmin).then_some("acme");
            let issued = issue_key(host.store(), tenant, role, "openapi-test")
                .await
                .unwrap();
            keys.push((role, issued.key));
        }
        let router = app(host);
        for op in operations(&json()) {
            let Some(roles) = &op.roles else { continue };
            for role in roles {
                assert!(
                    role.parse::<Role>().is_ok(),
                    "{} {}: `{role}` is not a role",
                    op.method,
                    op.path
                );
            }
            for (role, key) in &keys {
                let path = concrete(&op.path);
                let (status, _, body) = send(&router, &op.method, &path, Some(key)).await;
                let admitted = roles.contains(role.as_str());
                assert_eq!(
                    status == StatusCode::FORBIDDEN,
                    !admitted,
                    "{} {path} with a {role} key (documented roles {roles:?}): {status} {}",
                    op.method,
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn the_document_is_complete_and_consistent() {
        let document = json();
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(document["info"]["title"], "Cally");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        let scheme = &document["components"]["securitySchemes"][SECURITY_SCHEME];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        let tags: BTreeSet<&str> = document["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| tag["name"].as_str().unwrap())
            .collect();
        let mut ids = BTreeSet::new();
        for op in operations(&document) {
            let name = format!("{} {}", op.method, op.path);
            let operation = &op.operation;
            assert!(op.path.starts_with("/v1/") || op.roles.is_none(), "{name}");
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{name}: operationId {id} twice");
            let op_tags = operation["tags"].as_array().unwrap();
            assert_eq!(op_tags.len(), 1, "{name}: one tag");
            assert!(tags.contains(op_tags[0].as_str().unwrap()), "{name}");
            assert!(operation["summary"].is_string(), "{name}: a summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{name}");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"][PROBLEM_JSON]["schema"]["$ref"],
                        "#/components/schemas/ProblemDocument",
                        "{name} {status}"
                    );
                }
            }
            if op.roles.is_some() {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{name}: no {status}");
                }
            }
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: BTreeSet<&str> = op
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_path, "{name}: path parameters");
        }
        assert_references_resolve(&document, &document);
    }

    /// The values an enum's schema allows, next to what serde writes for each variant.
    fn schema_and_serde<T: ToSchema + serde::Serialize>(all: &[T]) -> (Value, Value) {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let serde = all
            .iter()
            .map(|v| serde_json::to_value(v).unwrap())
            .collect();
        (schema["enum"].clone(), serde)
    }

    /// The consent vocabulary is spelled by a macro whose per-variant serde
    /// renames the schema derive cannot read; the schema must still allow
    /// exactly what serde reads and writes.
    #[test]
    fn vocabulary_schemas_allow_exactly_the_serde_spellings() {
        use crate::consent::{AgeStatus, Channel, DataField, Purpose};
        let pairs = [
            schema_and_serde(Purpose::ALL),
            schema_and_serde(Channel::ALL),
            schema_and_serde(DataField::ALL),
            schema_and_serde(AgeStatus::ALL),
        ];
        for (schema, serde) in pairs {
            assert_eq!(schema, serde);
        }
    }

    /// Every `$ref` in `value` names a component of `document`.
    fn assert_references_resolve(document: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let pointer = reference.strip_prefix('#').unwrap();
                    assert!(
                        document.pointer(pointer).is_some(),
                        "{reference} names nothing"
                    );
                }
                map.values()
                    .for_each(|v| assert_references_resolve(document, v));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|v| assert_references_resolve(document, v)),
            _ => {}
        }
    }

    #[tokio::test]
    async fn the_document_is_served_without_a_key() {
        let (_dir, host) = host().await;
        let router = app(host);
        let (status, content_type, body) =
            send(&router, &Method::GET, "/v1/openapi.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let served: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, json());
    }

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
            AuditContext, AuditRecord, ChainProblem, GENESIS_HASH, ProblemKind, VerifyReport,
            verify,
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
                    decision: "allowed",
                    reason: None,
                    message: None,
                    consent_id: Some(7),
                    audit_seq: Some(1),
                },
                DataUse {
                    resource: "message:whatsapp".into(),
                    purpose: Purpose::Marketing,
                    decision: "denied",
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

    /// The checker above fails on the drift it is there to catch.
    #[test]
    fn the_schema_checker_finds_drift() {
        let document = json();
        let schema = serde_json::json!({ "$ref": "#/components/schemas/EventOutcome" });
        let outcome = &values::event_outcomes()[0];
        let fits =
            |json: &Value| misfits(&document, &schema, json, "EventOutcome", &BTreeSet::new());
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

    /// Routes reach the router only through `documented_routes`' `.routes(routes!(..))`:
    /// a plain axum route would be served but missing from the document.
    #[test]
    fn no_route_bypasses_the_documented_list() {
        let source = include_str!("mod.rs");
        for bypass in [".route(", ".route_service(", ".nest_service(", ".merge("] {
            assert!(
                !source.contains(bypass),
                "mod.rs calls `{bypass}`: add the endpoint with `.routes(routes!(handler))` \
                 and a `#[utoipa::path]` on its handler, so the OpenAPI document shows it"
            );
        }
    }
}
