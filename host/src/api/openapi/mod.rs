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
        (name = "audit", description = "The tenant's hash-chained audit log: query, export, verify, and its chain head signed with the host key (reviewer)."),
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
mod tests;
