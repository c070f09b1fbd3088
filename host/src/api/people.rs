//! People's access to personal data through the API, audited in the tenant's chain
//! beside plugins' uses.
//!
//! Every route that can return or change a lead's personal data is listed once, in
//! [`PERSONAL_DATA_ROUTES`], with the operation and fields it is recorded as. A
//! middleware ([`record_people_access`]) wraps exactly those routes:
//!
//! - The handler declares on its answer which leads it released or changed
//!   ([`Released`]); the middleware appends one record per lead through the
//!   group-commit writer and holds the answer until they are durable. If the log
//!   cannot take them, the answer is replaced by `503 audit-unavailable`: nothing
//!   is released unrecorded.
//! - A refused request (an error answer) that names a lead in its path or `lead`
//!   query, by a key of a tenant, is recorded as denied in that key's tenant, the
//!   lead named by its pseudonym under the caller's tenant, so a probe for another
//!   tenant's lead leaves a trace without touching the other tenant's data.
//! - A successful answer on a listed route that declares nothing is a bug that
//!   would release data unrecorded: it is replaced by a 500 (fail closed).
//!
//! A record names the actor (the key's id and role, never the key), the client's
//! address, the operation, the fields and the outcome; its purpose is
//! `administration`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use serde::Deserialize;

use super::auth::{Caller, Identified};
use super::error::{NamedLeads, ProblemKind};
use super::{ApiError, ApiHost};
use crate::audit::{AuditActor, AuditDecision, AuditEntry, AuditPurpose};

/// The `plugin` of a person's record: the API, a name no plugin can have (plugin
/// names are kebab-case without `:`).
pub const AUDIT_ACTOR: &str = "cally:api";

/// A lead record's personal fields, as a read or a write of a whole lead is recorded.
pub const LEAD_FIELDS: &str = "name,phone,email,location,language,preferences,age";

/// One route that can return or change personal data, and how its records read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalDataRoute {
    /// The HTTP method.
    pub method: &'static str,
    /// The route's path as the router matches it, `{id}` for the lead's id.
    pub path: &'static str,
    /// The record's operation.
    pub operation: &'static str,
    /// The record's resource: the fields the request reads or writes (a handler
    /// may name fewer, such as the fields a correction changed).
    pub fields: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    operation: &'static str,
    fields: &'static str,
) -> PersonalDataRoute {
    PersonalDataRoute {
        method,
        path,
        operation,
        fields,
    }
}

/// Every API route that can return or change a lead's personal data. The
/// complete-mediation tests check that every documented route is either here or
/// in their list of routes that touch no lead's data, so a new route cannot be
/// added unclassified.
pub const PERSONAL_DATA_ROUTES: &[PersonalDataRoute] = &[
    route("POST", "/v1/leads", "lead.create", LEAD_FIELDS),
    route("GET", "/v1/leads", "lead.list", LEAD_FIELDS),
    route("POST", "/v1/leads/import", "lead.import", LEAD_FIELDS),
    route("GET", "/v1/leads/{id}", "lead.read", LEAD_FIELDS),
    route("PATCH", "/v1/leads/{id}", "lead.correct", LEAD_FIELDS),
    route(
        "POST",
        "/v1/leads/{id}/consents",
        "consent.grant",
        "consents",
    ),
    route("GET", "/v1/leads/{id}/consents", "consent.list", "consents"),
    route(
        "POST",
        "/v1/leads/{id}/consents/{consent_id}/withdraw",
        "consent.withdraw",
        "consents",
    ),
    route(
        "GET",
        "/v1/leads/{id}/access-report",
        "lead.access-report",
        "name,phone,email,location,language,preferences,age,consents,tags,messages,audit",
    ),
    route(
        "POST",
        "/v1/leads/{id}/restriction",
        "lead.restrict",
        "restricted",
    ),
    route("POST", "/v1/leads/{id}/erase", "lead.erase", LEAD_FIELDS),
    route(
        "GET",
        "/v1/leads/{id}/export",
        "lead.export",
        "name,phone,email,location,language,preferences,age,consents,tags,messages,audit",
    ),
    route("GET", "/v1/audit", "audit.query", "audit"),
    route("GET", "/v1/audit/export", "audit.export", "audit"),
    route("POST", "/v1/calls", "call.start", "lead"),
    route("GET", "/v1/calls/{call_id}", "call.read", "call-record"),
    route("POST", "/v1/calls/{call_id}/end", "call.end", "call-record"),
];

/// The listed route `method` and `path` match, if any. `HEAD` matches the `GET`
/// route: the router answers it with the `GET` handler (the body dropped, its
/// length and headers sent), so it reads what the `GET` reads and is recorded so.
pub fn personal_data_route(method: &Method, path: &str) -> Option<&'static PersonalDataRoute> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    PERSONAL_DATA_ROUTES
        .iter()
        .find(|route| route.path == path && route.method == method.as_str())
}

/// What a handler of a listed route released or changed: the leads (by their ids,
/// which the middleware turns into pseudonyms), optionally narrower fields than the
/// route's, and the call the data came from. A response part, so a handler returns
/// `(Released::lead(&id), Json(..))`.
#[derive(Debug, Clone, Default)]
pub struct Released {
    leads: Vec<String>,
    fields: Option<Cow<'static, str>>,
    call_id: Option<String>,
}

impl Released {
    /// The request touched no lead's data (a call without a lead, an audit query
    /// by pseudonyms only): nothing to record.
    pub fn nothing() -> Released {
        Released::default()
    }

    /// The request read or changed the lead `id`.
    pub fn lead(id: &str) -> Released {
        Released {
            leads: vec![id.to_owned()],
            ..Released::default()
        }
    }

    /// The request read or changed each of `ids`: one record each.
    pub fn leads(ids: impl IntoIterator<Item = String>) -> Released {
        Released {
            leads: ids.into_iter().collect(),
            ..Released::default()
        }
    }

    /// Only these fields were read or written (comma separated, from the fixed
    /// vocabulary), instead of the route's.
    pub fn fields(mut self, fields: impl Into<Cow<'static, str>>) -> Released {
        self.fields = Some(fields.into());
        self
    }

    /// The data came from the call `call_id` (its stored record).
    pub fn on_call(mut self, call_id: &str) -> Released {
        self.call_id = Some(call_id.to_owned());
        self
    }
}

impl IntoResponseParts for Released {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.extensions_mut().insert(self);
        Ok(parts)
    }
}

/// The `lead` a query string names (`/v1/audit?lead=...`), other parameters ignored.
#[derive(Deserialize)]
struct NamedInQuery {
    lead: Option<String>,
}

/// The lead a request names: its path's `{id}` on a lead route, or its `lead`
/// query parameter on the audit routes, whose filter it is (a malformed query names
/// none; the handler refuses it). Elsewhere the handler ignores a `lead` query, so it
/// names nothing: a key cannot write refusals against any lead it likes.
async fn named_lead(route: &PersonalDataRoute, request: &mut Request) -> Option<String> {
    use axum::extract::FromRequestParts as _;
    let (mut parts, body) = std::mem::take(request).into_parts();
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok();
    *request = Request::from_parts(parts, body);
    let from_path = params.and_then(|params| {
        params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_owned())
    });
    if !route.path.starts_with("/v1/audit") {
        return from_path;
    }
    from_path.or_else(|| {
        axum::extract::Query::<NamedInQuery>::try_from_uri(request.uri())
            .ok()?
            .0
            .lead
    })
}

/// The client's address as the socket saw it, or `unknown` (a request that did not
/// come over a socket, such as a test's `oneshot`).
fn client_address(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The middleware on [`PERSONAL_DATA_ROUTES`]: see the module's documentation.
///
/// The handler and the recording run in their own task: hyper drops a request's
/// future when its client hangs up, and a change the handler committed (an erasure,
/// a correction) must get its record all the same. A handler that panics is
/// answered 500.
pub async fn record_people_access(
    State(host): State<Arc<ApiHost>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| personal_data_route(request.method(), path.as_str()));
    let Some(route) = route else {
        return next.run(request).await;
    };
    match tokio::spawn(handle_and_record(host, route, request, next)).await {
        Ok(response) => response,
        Err(error) => ApiError::internal(&format!(
            "{} {} ({}) failed: {error}",
            route.method, route.path, route.operation
        ))
        .into_response(),
    }
}

/// Runs the handler of the listed `route` and records what it released or was refused.
async fn handle_and_record(
    host: Arc<ApiHost>,
    route: &'static PersonalDataRoute,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = host.identify(request.headers()).await.ok();
    if let Some(caller) = &caller {
        // The handler's `Auth` takes it from here instead of looking the key up again.
        request.extensions_mut().insert(Identified(caller.clone()));
    }
    let address = client_address(&request);
    let named = named_lead(route, &mut request).await;
    let mut response = next.run(request).await;
    // A key without a tenant (a platform admin) has no chain to write in; a request
    // without a valid key was answered 401 and names no tenant.
    let Some((caller, tenant)) = caller.and_then(|c| c.tenant.clone().map(|t| (c, t))) else {
        return response;
    };
    let released = response.extensions_mut().remove::<Released>();
    let success = response.status().is_success();
    let entries = match (released, success) {
        (Some(released), true) => allowed(&host, route, &caller, &tenant, &address, released),
        (_, false) => {
            let reason = response
                .extensions()
                .get::<ProblemKind>()
                .map(|kind| kind.0.to_owned())
                .unwrap_or_else(|| status_reason(response.status()));
            let in_body = response
                .extensions_mut()
                .remove::<NamedLeads>()
                .map(|named| named.0)
                .unwrap_or_default();
            named
                .into_iter()
                .chain(in_body)
                .map(|lead| {
                    denied(
                        &host,
                        route,
                        &caller,
                        &tenant,
                        &address,
                        &lead,
                        reason.clone(),
                    )
                })
                .collect()
        }
        (None, true) => {
            tracing::error!(
                operation = route.operation,
                "a personal-data route answered without declaring what it released; answer withheld"
            );
            return ApiError::internal(&format!(
                "{} {} answered without declaring the leads it released, so it cannot be audited",
                route.method, route.path
            ))
            .into_response();
        }
    };
    if entries.is_empty() {
        return response;
    }
    match host.services.audit.append(entries).await {
        Ok(_) => response,
        Err(error) => {
            tracing::error!(operation = route.operation, %error, "cannot record a person's access; answer withheld");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                format!(
                    "the audit log cannot record this {} ({error}); nothing was released. \
                     A change the request made is kept; retry once the log is writable",
                    route.operation
                ),
            )
            .into_response()
        }
    }
}

fn status_reason(status: StatusCode) -> String {
    format!("http-{}", status.as_u16())
}

fn entry(
    host: &ApiHost,
    route: &PersonalDataRoute,
    caller: &Caller,
    tenant: &str,
    address: &str,
    lead: &str,
) -> AuditEntry {
    AuditEntry {
        tenant: tenant.to_owned(),
        time_ms: crate::clock::now_ms(),
        plugin: AUDIT_ACTOR.to_owned(),
        plugin_version: env!("CARGO_PKG_VERSION").to_owned(),
        component_digest: "-".to_owned(),
        call_id: "-".to_owned(),
        lead: Some(host.services.pseudonyms.pseudonym(tenant, lead)),
        resource: route.fields.to_owned(),
        purpose: AuditPurpose::Administration,
        decision: AuditDecision::Allowed,
        reason: None,
        consent_id: None,
        actor: Some(AuditActor {
            key_id: caller.key_id.clone(),
            role: caller.role.as_str().to_owned(),
            address: address.to_owned(),
            operation: route.operation.to_owned(),
        }),
    }
}

fn allowed(
    host: &ApiHost,
    route: &PersonalDataRoute,
    caller: &Caller,
    tenant: &str,
    address: &str,
    released: Released,
) -> Vec<AuditEntry> {
    released
        .leads
        .iter()
        .map(|lead| {
            let mut entry = entry(host, route, caller, tenant, address, lead);
            if let Some(fields) = &released.fields {
                entry.resource = fields.to_string();
            }
            if let Some(call_id) = &released.call_id {
                entry.call_id = call_id.clone();
            }
            entry
        })
        .collect()
}

fn denied(
    host: &ApiHost,
    route: &PersonalDataRoute,
    caller: &Caller,
    tenant: &str,
    address: &str,
    lead: &str,
    reason: String,
) -> AuditEntry {
    AuditEntry {
        decision: AuditDecision::Denied,
        reason: Some(reason),
        ..entry(host, route, caller, tenant, address, lead)
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;
    use crate::api::{Role, issue_key};
    use crate::sandbox::SandboxConfig;
    use crate::store::AuditFilter;

    /// A router with one listed route whose handler forgets to declare what it
    /// released, and one that declares it.
    async fn router() -> (tempfile::TempDir, Arc<ApiHost>, Router, String) {
        let dir = tempfile::tempdir().unwrap();
        let (host, _sqlite) = ApiHost::open(dir.path(), SandboxConfig::default())
            .await
            .unwrap();
        host.store().create_tenant("acme", 1).await.unwrap();
        let key = issue_key(host.store(), Some("acme"), Role::TenantAdmin, "ta")
            .await
            .unwrap()
            .key;
        let router = Router::new()
            .route("/v1/leads/{id}", get(|| async { "Ada Lovelace" }))
            .route(
                "/v1/leads/{id}/consents",
                get(|| async { (Released::lead("lead-ada"), "consents") }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                host.clone(),
                record_people_access,
            ))
            .with_state(host.clone());
        (dir, host, router, key)
    }

    async fn send(router: &Router, path: &str, key: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_answer_that_declares_nothing_is_withheld() {
        let (_dir, host, router, key) = router().await;
        let (status, body) = send(&router, "/v1/leads/lead-ada", &key).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(!body.contains("Ada"), "{body}");
        let records = host
            .store()
            .audit_records("acme", &AuditFilter::default())
            .await
            .unwrap();
        assert!(records.is_empty(), "{records:?}");

        let (status, body) = send(&router, "/v1/leads/lead-ada/consents", &key).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "consents"));
        let records = host
            .store()
            .audit_records("acme", &AuditFilter::default())
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        let actor = records[0].actor.as_ref().unwrap();
        assert_eq!(actor.operation, "consent.list");
        assert_eq!(actor.address, "unknown", "no socket under oneshot");
    }

    /// A client that closes its connection while the handler runs makes hyper drop
    /// the request's future. The change the handler committed must still get its
    /// record: a hostile admin must not be able to erase or correct a lead unrecorded
    /// by hanging up before the answer.
    #[tokio::test]
    async fn a_client_gone_before_the_answer_still_leaves_the_record() {
        use tokio::io::AsyncWriteExt as _;
        use tokio::sync::{Notify, oneshot};

        let dir = tempfile::tempdir().unwrap();
        let (host, _sqlite) = ApiHost::open(dir.path(), SandboxConfig::default())
            .await
            .unwrap();
        host.store().create_tenant("acme", 1).await.unwrap();
        let key = issue_key(host.store(), Some("acme"), Role::TenantAdmin, "ta")
            .await
            .unwrap()
            .key;
        // The erasure "commits", tells the test, then waits for the test to hang up.
        let (committed, on_commit) = oneshot::channel::<()>();
        let committed = Arc::new(std::sync::Mutex::new(Some(committed)));
        let gate = Arc::new(Notify::new());
        let handler = {
            let gate = gate.clone();
            move || async move {
                if let Some(committed) = committed.lock().unwrap().take() {
                    committed.send(()).unwrap();
                }
                gate.notified().await;
                (Released::lead("lead-ada"), "erased")
            }
        };
        let router = Router::new()
            .route("/v1/leads/{id}/erase", axum::routing::post(handler))
            .route_layer(axum::middleware::from_fn_with_state(
                host.clone(),
                record_people_access,
            ))
            .with_state(host.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client
            .write_all(
                format!(
                    "POST /v1/leads/lead-ada/erase HTTP/1.1\r\nhost: x\r\n\
                     authorization: Bearer {key}\r\ncontent-length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        on_commit.await.unwrap();
        drop(client);
        // Give the server the hang-up before the handler finishes.
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        gate.notify_one();
        let mut records = Vec::new();
        for _ in 0..100 {
            records = host
                .store()
                .audit_records("acme", &AuditFilter::default())
                .await
                .unwrap();
            if !records.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(records.len(), 1, "the erasure left no record: {records:?}");
        assert_eq!(records[0].actor.as_ref().unwrap().operation, "lead.erase");
    }

    #[test]
    fn every_listed_route_has_a_distinct_operation_from_the_vocabulary() {
        let mut operations = std::collections::BTreeSet::new();
        for route in PERSONAL_DATA_ROUTES {
            assert!(
                operations.insert(route.operation),
                "{} listed twice",
                route.operation
            );
            let (noun, verb) = route.operation.split_once('.').unwrap();
            assert!(["lead", "consent", "audit", "call"].contains(&noun));
            assert!(verb.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(
                route
                    .fields
                    .split(',')
                    .all(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            );
        }
    }
}
