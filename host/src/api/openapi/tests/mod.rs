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

mod schema_fit;

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
    let (status, content_type, body) = send(&router, &Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, json());
}

/// Routes reach the router only through `documented_routes`' `.routes(routes!(..))`:
/// a plain axum route would be served but missing from the document.
#[test]
fn no_route_bypasses_the_documented_list() {
    let source = include_str!("../../mod.rs");
    for bypass in [".route(", ".route_service(", ".nest_service(", ".merge("] {
        assert!(
            !source.contains(bypass),
            "api/mod.rs calls `{bypass}`: add the endpoint with `.routes(routes!(handler))` \
             and a `#[utoipa::path]` on its handler, so the OpenAPI document shows it"
        );
    }
}
