//! The one error type every handler returns: [`ApiError`], rendered as an RFC 9457
//! `application/problem+json` document. Library errors convert into it with `From`,
//! so handlers use `?`; internal details are logged, the client gets a safe message.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::registry::RegistryError;
use crate::component::ComponentError;
use crate::manifest::{ApprovalError, ManifestErrors, Problem};
use crate::protocol::InvalidEvent;
use crate::session::StartError;
use crate::store::StoreError;

/// An error answered to an API client: a status, a stable kind, and a detail
/// naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, kebab-case name of the kind of problem, such as `not-found`;
    /// the problem's `type` is `urn:cally:problem:<kind>`.
    pub kind: &'static str,
    /// What exactly was wrong, for the client.
    pub detail: String,
    /// Every problem found in an uploaded manifest or component, when there
    /// are several; the answer lists the first 20 and counts the rest.
    pub problems: Vec<Problem>,
    /// Problems found but not listed in `detail` or `problems` (a refused
    /// import lists its first 20 rows and counts the rest).
    pub more_problems: usize,
    /// The leads a refused request named in its body (a create's `lead_id`, a
    /// refused import's rows), recorded as denied in the caller's tenant
    /// ([`super::people`]); never sent to the client.
    pub named_leads: Vec<String>,
}

/// The body of every error response (RFC 9457 `application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ProblemDocument<'a> {
    /// `urn:cally:problem:<kind>`, the kind a stable kebab-case name such as
    /// `not-found`, `invalid-manifest` or `import-refused`.
    #[schema(example = "urn:cally:problem:not-found")]
    r#type: String,
    /// The HTTP status's reason phrase.
    #[schema(example = "Not Found")]
    title: &'a str,
    /// The HTTP status.
    #[schema(example = 404)]
    status: u16,
    /// What exactly was wrong, for the client.
    #[schema(example = "no lead 'lead-42'")]
    detail: &'a str,
    /// For a refused manifest or component: the problems found (the first
    /// [`MAX_LISTED`]), each with where, what was found, what is allowed and
    /// how to fix it.
    #[serde(skip_serializing_if = "<[Problem]>::is_empty")]
    problems: &'a [Problem],
    /// How many more problems were found than `problems` (or, for a refused
    /// import, `detail`) lists; absent when every one is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    more_problems: Option<usize>,
}

/// The most problems (refused rows, manifest problems) one refusal lists; the
/// rest are counted. A million bad rows answer in a few kilobytes.
pub const MAX_LISTED: usize = 20;

/// The longest line a refusal quotes per problem, in characters: a row's
/// error can quote its own (megabyte-long) value.
pub const MAX_LINE: usize = 300;

/// `lines` as a refusal lists them: the first [`MAX_LISTED`], each cut to
/// [`MAX_LINE`] characters, then one line counting the rest. Returns the text
/// and how many were left out.
pub fn bounded_list(lines: impl ExactSizeIterator<Item = String>) -> (String, usize) {
    let total = lines.len();
    let mut listed: Vec<String> = lines.take(MAX_LISTED).map(cut_line).collect();
    let more = total.saturating_sub(MAX_LISTED);
    if more > 0 {
        listed.push(format!(
            "… and {more} more not listed (a refusal lists the first {MAX_LISTED})"
        ));
    }
    (listed.join("\n"), more)
}

/// `line`, cut to [`MAX_LINE`] characters.
fn cut_line(line: String) -> String {
    let len = line.chars().count();
    if len <= MAX_LINE {
        return line;
    }
    let head: String = line.chars().take(MAX_LINE).collect();
    format!("{head}… ({len} characters)")
}

impl ApiError {
    /// An error with `status`, `kind` and `detail`.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            problems: Vec::new(),
            more_problems: 0,
            named_leads: Vec::new(),
        }
    }

    /// This refusal named the lead `id` in the request's body: its denied record
    /// names the lead too.
    pub fn naming_lead(mut self, id: &str) -> Self {
        self.named_leads.push(id.to_owned());
        self
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 401: no key, or a key that was never issued.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: the key's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404: no such resource in the key's tenant (another tenant's answers the same).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 409: the resource is not in a state that allows this.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 413: the body is larger than the endpoint accepts.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail)
    }

    /// 422: well-formed, but refused (a manifest or component that fails its checks).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail)
    }

    /// 503 with `Retry-After`: no room for the work now (the host's pool or
    /// memory budget is full); nothing was started, and the same request may
    /// succeed later.
    pub fn busy(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail)
    }

    /// 429 with `Retry-After`: the tenant is at its own cap (live instances or
    /// memory); its calls may start again once one of its calls ends, while
    /// other tenants' calls go on.
    pub fn tenant_busy(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "tenant-busy", detail)
    }

    /// Whether this is a refusal for lack of room ([`ApiError::busy`] or
    /// [`ApiError::tenant_busy`]): the same request may succeed later.
    pub fn is_busy(&self) -> bool {
        matches!(self.kind, "busy" | "tenant-busy")
    }

    /// 500: the host failed; `error` is logged, the client is told nothing of it.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed inside the host");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the host failed to complete the request; the error is in its log",
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.kind, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let listed = self.problems.len().min(MAX_LISTED);
        let more = self.more_problems + (self.problems.len() - listed);
        let document = ProblemDocument {
            r#type: format!("urn:cally:problem:{}", self.kind),
            title: self.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            problems: &self.problems[..listed],
            more_problems: (more > 0).then_some(more),
        };
        let mut response = (self.status, Json(&document)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response.extensions_mut().insert(ProblemKind(self.kind));
        if !self.named_leads.is_empty() {
            response
                .extensions_mut()
                .insert(NamedLeads(self.named_leads));
        }
        response
    }
}

/// The leads a refused request named in its body ([`ApiError::named_leads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedLeads(pub Vec<String>);

/// The kind of an error answer, kept on the response for the middleware that
/// records a refused request naming a lead (its record's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemKind(pub &'static str);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let detail = rejection.body_text();
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::too_large(format!("request body too large: {detail}"))
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported-media-type",
                "expected a JSON body with `Content-Type: application/json`",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                Self::unprocessable(format!("invalid JSON body: {detail}"))
            }
            _ => Self::bad_request(format!("invalid JSON body: {detail}")),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(format!("invalid path: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::UnknownLead { lead, .. } => Self::not_found(format!("no lead '{lead}'")),
            StoreError::NotFound { what, .. } => Self::not_found(format!("no {what}")),
            StoreError::LeadErased { lead, .. } => Self::conflict(format!(
                "lead '{lead}' was erased; it cannot be changed or given consent"
            )),
            StoreError::Conflict { what, .. } => Self::conflict(format!("{what} already exists")),
            StoreError::Invalid { .. } => Self::unprocessable(error.to_string()),
            _ => Self::internal(&error),
        }
    }
}

impl From<ManifestErrors> for ApiError {
    fn from(errors: ManifestErrors) -> Self {
        let source = &errors.manifest;
        let (lines, _) = bounded_list(errors.problems.iter().map(|p| format!("{source}: {p}")));
        let mut error = Self::unprocessable(format!("the manifest was refused:\n{lines}"));
        error.kind = "invalid-manifest";
        error.problems = errors.problems;
        error
    }
}

impl From<crate::ids::InvalidId> for ApiError {
    fn from(error: crate::ids::InvalidId) -> Self {
        let mut api = Self::unprocessable(error.to_string());
        api.kind = "invalid-id";
        api
    }
}

impl From<ComponentError> for ApiError {
    fn from(error: ComponentError) -> Self {
        let mut api = Self::unprocessable(format!("the component was refused: {error}"));
        api.kind = "invalid-component";
        api
    }
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Component(error) => error.into(),
            StartError::Busy(busy) if busy.is_tenant_cap() => Self::tenant_busy(busy.to_string()),
            StartError::Busy(busy) => Self::busy(busy.to_string()),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(error: ApprovalError) -> Self {
        match error {
            ApprovalError::NotUploaded { .. } => Self::not_found(error.to_string()),
            _ => Self::conflict(error.to_string()),
        }
    }
}

impl From<InvalidEvent> for ApiError {
    fn from(error: InvalidEvent) -> Self {
        Self::unprocessable(error.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound(what) => Self::not_found(format!("no {what}")),
            RegistryError::NoActiveVersion { plugin } => Self::conflict(format!(
                "plugin '{plugin}' has no active version; a reviewer must approve and activate one"
            )),
            RegistryError::Manifest(errors) => errors.into(),
            RegistryError::Component(error) => error.into(),
            RegistryError::Rejected { problems } => {
                let (lines, _) = bounded_list(problems.iter().map(|p| p.to_string()));
                let mut api = Self::unprocessable(format!(
                    "the component does not match its manifest:\n{lines}"
                ));
                api.kind = "invalid-component";
                api.problems = problems;
                api
            }
            RegistryError::Approval(error) => error.into(),
            RegistryError::Refused(error) => Self::conflict(error.to_string()),
            RegistryError::Store(error) => error.into(),
            RegistryError::Replay { .. } => Self::internal(&error),
        }
    }
}
