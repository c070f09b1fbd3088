//! `/v1/leads` and their consents (tenant admin). A withdrawal counts from the
//! next read, in live calls too: every read loads the lead's consents afresh.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::TenantAdmins;
use super::error::bounded_list;
use super::people::Released;
use super::{ApiError, ApiHost, ApiJson, ApiPath, Auth};
use crate::consent::{AgeStatus, Channel, ConsentRecord, Purpose};
use crate::store::{Lead, LeadUpdate, NewConsent};

/// The body of `POST /v1/leads`, and one lead of a contact list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    /// The tenant's id for the lead: 1 to 128 of `A-Z`, `a-z`, `0-9`, `-`,
    /// `_`, `.` and `:`, starting with a letter or digit.
    #[schema(example = "lead-ada")]
    lead_id: String,
    /// Full name.
    #[serde(default)]
    name: Option<String>,
    /// Phone number.
    #[serde(default)]
    phone: Option<String>,
    /// Email address.
    #[serde(default)]
    email: Option<String>,
    /// Location.
    #[serde(default)]
    location: Option<String>,
    /// Preferred language.
    #[serde(default)]
    language: Option<String>,
    /// Free-form preferences, a JSON object.
    #[serde(default)]
    #[schema(example = json!({"preferred-time": "mornings"}))]
    preferences: Option<Map<String, Value>>,
    /// `adult`, `minor` or `unknown` (the default; treated as a minor).
    #[serde(default = "unknown_age")]
    #[schema(default = "unknown")]
    age: AgeStatus,
    /// Whether processing is restricted (every read denied).
    #[serde(default)]
    restricted: bool,
}

fn unknown_age() -> AgeStatus {
    AgeStatus::Unknown
}

impl NewLead {
    /// The lead this body describes, for `tenant`; the error names what is wrong.
    fn into_lead(self, tenant: &str) -> Result<Lead, String> {
        if self.lead_id.trim().is_empty() || self.lead_id.len() > 128 {
            return Err(format!(
                "lead_id '{}' must be 1 to 128 characters",
                self.lead_id
            ));
        }
        let mut lead = Lead::new(tenant, self.lead_id);
        lead.name = self.name;
        lead.phone = self.phone;
        lead.email = self.email;
        lead.location = self.location;
        lead.language = self.language;
        lead.preferences = self.preferences;
        lead.age = self.age;
        lead.restricted = self.restricted;
        Ok(lead)
    }
}

/// `POST /v1/leads`: creates a lead (409 if the id is taken).
#[utoipa::path(
    post,
    path = "/leads",
    tag = "leads",
    operation_id = "create_lead",
    request_body = NewLead,
    responses(
        (status = 201, description = "The lead as stored; `erased` says whether it was erased at once (a minor without parental consent)", body = WrittenLead),
        (status = 409, description = "The tenant has a lead with that id"),
        (status = 422, description = "`lead_id` does not fit the id grammar (1 to 128 of A-Z, a-z, 0-9, '-', '_', '.', ':', starting with a letter or digit), or the body does not fit the schema"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn create(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<NewLead>,
) -> Result<(StatusCode, Released, Json<WrittenLead>), ApiError> {
    let tenant = auth.tenant();
    let named = body.lead_id.clone();
    let naming = |error: ApiError| error.naming_lead(&named);
    crate::ids::check_id("lead_id", &body.lead_id).map_err(|e| naming(e.into()))?;
    let lead = body
        .into_lead(tenant)
        .map_err(|e| naming(ApiError::unprocessable(e)))?;
    // One transaction, refused whole if the id is taken (never an overwrite); a
    // minor is erased in it.
    let erased = host
        .store()
        .insert_leads(tenant, std::slice::from_ref(&lead))
        .await
        .map_err(|e| naming(e.into()))?;
    let stored = existing(&host, tenant, &lead.lead_id).await?;
    Ok((
        StatusCode::CREATED,
        Released::lead(&lead.lead_id).fields(given_fields(&lead)),
        Json(WrittenLead::new(stored, !erased.is_empty())),
    ))
}

/// The personal fields `lead` was created with, comma separated (what its record
/// says was written).
fn given_fields(lead: &Lead) -> String {
    let fields = [
        ("name", lead.name.is_some()),
        ("phone", lead.phone.is_some()),
        ("email", lead.email.is_some()),
        ("location", lead.location.is_some()),
        ("language", lead.language.is_some()),
        ("preferences", lead.preferences.is_some()),
        ("age", true),
    ];
    let given: Vec<&str> = fields
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| *name)
        .collect();
    given.join(",")
}

/// Why a lead was erased as it was written: the privacy policy deletes a
/// minor's data at once unless a verifiable parental consent is on record.
pub const MINOR_ERASURE_REASON: &str = "minor-without-parental-consent: a lead whose age is \
     `minor` with no verifiable parental consent in force is erased as soon as it is written";

/// A lead as a create or correction wrote it, and whether that write erased
/// it (the rule for minors): the answer says so rather than leaving the
/// caller to notice the empty fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WrittenLead {
    /// The lead as stored (personal fields empty once erased).
    #[serde(flatten)]
    lead: Lead,
    /// True if this request erased the lead's personal data: its age is
    /// `minor` and no verifiable parental consent is in force.
    erased: bool,
    /// Why it was erased, naming the rule; absent if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    erased_reason: Option<&'static str>,
}

impl WrittenLead {
    /// `lead` as written; `erased` if this write erased it (the minor rule).
    pub(crate) fn new(lead: Lead, erased: bool) -> Self {
        WrittenLead {
            lead,
            erased,
            erased_reason: erased.then_some(MINOR_ERASURE_REASON),
        }
    }
}

/// `GET /v1/leads`: every lead of the tenant.
#[utoipa::path(
    get,
    path = "/leads",
    tag = "leads",
    operation_id = "list_leads",
    responses((status = 200, description = "Every lead of the tenant", body = Vec<Lead>)),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn list(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
) -> Result<(Released, Json<Vec<Lead>>), ApiError> {
    let leads = host.store().leads(auth.tenant()).await?;
    let released = Released::leads(leads.iter().map(|lead| lead.lead_id.clone()));
    Ok((released, Json(leads)))
}

/// The tenant's lead `id`, or 404 naming it (another tenant's lead is as missing).
pub(super) async fn existing(host: &ApiHost, tenant: &str, id: &str) -> Result<Lead, ApiError> {
    host.store()
        .lead(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead '{id}'")))
}

/// `GET /v1/leads/{id}`: one lead.
#[utoipa::path(
    get,
    path = "/leads/{id}",
    tag = "leads",
    operation_id = "get_lead",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    responses(
        (status = 200, description = "The lead", body = Lead),
        (status = 404, description = "The tenant has no lead with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn get(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(Released, Json<Lead>), ApiError> {
    let lead = existing(&host, auth.tenant(), &id).await?;
    Ok((Released::lead(&id), Json(lead)))
}

/// The body of `POST /v1/leads/{id}/consents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsentBody {
    /// What it allows.
    purpose: Purpose,
    /// The channel it covers, for messages.
    #[serde(default)]
    channel: Option<Channel>,
    /// When it was given, in ms since the Unix epoch, between 2000-01-01 and
    /// 2100-01-01; now if absent.
    #[serde(default)]
    granted_at_ms: Option<i64>,
    /// When it lapses, if it does: after `granted_at_ms`, before 2100-01-01.
    #[serde(default)]
    expires_at_ms: Option<i64>,
    /// Where it was collected (`web-form`, `call`, ...): 1 to 128 characters.
    source: String,
    /// What proves it (a form id, a recording reference, ...): 1 to 1024
    /// characters, not blank.
    evidence: String,
    /// A verifiable parental consent.
    #[serde(default)]
    parental: bool,
}

/// The earliest time a consent may name: 2000-01-01T00:00:00Z, in ms.
pub const EARLIEST_CONSENT_MS: i64 = 946_684_800_000;
/// The first time a consent may not name: 2100-01-01T00:00:00Z, in ms.
pub const LATEST_CONSENT_MS: i64 = 4_102_444_800_000;
/// The longest consent evidence, in characters.
pub const MAX_EVIDENCE: usize = 1024;
/// The longest consent source, in characters.
pub const MAX_SOURCE: usize = 128;

impl NewConsentBody {
    /// Checks what the schema cannot: times within 2000-01-01 ..
    /// 2100-01-01 (so `-1` and `i64::MAX` are refused, not stored as a
    /// consent that never lapses or began before the epoch), an expiry after
    /// the grant, and a source and evidence that are present, bounded and
    /// printable. The error names the field.
    fn check(&self) -> Result<(), ApiError> {
        let in_range = |field: &str, at: Option<i64>| match at {
            Some(at) if !(EARLIEST_CONSENT_MS..LATEST_CONSENT_MS).contains(&at) => {
                Err(ApiError::unprocessable(format!(
                    "{field} is {at}, but it must be between {EARLIEST_CONSENT_MS} (2000-01-01) \
                     and {LATEST_CONSENT_MS} (2100-01-01), in milliseconds since the Unix epoch"
                )))
            }
            _ => Ok(()),
        };
        in_range("granted_at_ms", self.granted_at_ms)?;
        in_range("expires_at_ms", self.expires_at_ms)?;
        if let (Some(granted), Some(expires)) = (self.granted_at_ms, self.expires_at_ms)
            && expires <= granted
        {
            return Err(ApiError::unprocessable(format!(
                "expires_at_ms is {expires}, but it must be after granted_at_ms ({granted})"
            )));
        }
        let text = |field: &str, value: &str, max: usize| {
            crate::ids::check_text(field, value, max)
                .map_err(|e| ApiError::unprocessable(e.to_string()))
        };
        text("source", &self.source, MAX_SOURCE)?;
        text("evidence", &self.evidence, MAX_EVIDENCE)
    }
}

/// `POST /v1/leads/{id}/consents`: records a consent.
#[utoipa::path(
    post,
    path = "/leads/{id}/consents",
    tag = "consents",
    operation_id = "grant_consent",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    request_body = NewConsentBody,
    responses(
        (status = 201, description = "The consent as recorded; its `id` is what a withdrawal names", body = ConsentRecord),
        (status = 404, description = "The tenant has no lead with that id"),
        (status = 409, description = "The lead was erased; it cannot be given consent"),
        (status = 422, description = "A time outside 2000-01-01 .. 2100-01-01, an expiry not after the grant, a blank or over-long `source` or `evidence` (or one with a control character), or a body that does not fit the schema; `detail` names the field"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn grant(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewConsentBody>,
) -> Result<(StatusCode, Released, Json<ConsentRecord>), ApiError> {
    body.check()?;
    let consent = host
        .store()
        .grant_consent(&NewConsent {
            tenant: auth.tenant().to_owned(),
            lead_id: id.clone(),
            purpose: body.purpose,
            channel: body.channel,
            granted_at_ms: body.granted_at_ms.unwrap_or(crate::clock::now_ms()),
            expires_at_ms: body.expires_at_ms,
            source: body.source,
            evidence: body.evidence,
            parental: body.parental,
        })
        .await?;
    Ok((StatusCode::CREATED, Released::lead(&id), Json(consent)))
}

/// `GET /v1/leads/{id}/consents`: the lead's consent history, oldest first.
#[utoipa::path(
    get,
    path = "/leads/{id}/consents",
    tag = "consents",
    operation_id = "list_consents",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    responses(
        (status = 200, description = "Every consent of the lead, withdrawn and expired ones included, oldest first", body = Vec<ConsentRecord>),
        (status = 404, description = "The tenant has no lead with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn consents(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(Released, Json<Vec<ConsentRecord>>), ApiError> {
    let tenant = auth.tenant();
    existing(&host, tenant, &id).await?;
    let consents = host.store().consents(tenant, &id).await?;
    Ok((Released::lead(&id), Json(consents)))
}

/// `POST /v1/leads/{id}/consents/{consent_id}/withdraw`: withdraws a consent
/// from now on; the next read (in a live call too) is denied.
#[utoipa::path(
    post,
    path = "/leads/{id}/consents/{consent_id}/withdraw",
    tag = "consents",
    operation_id = "withdraw_consent",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it"), ("consent_id" = i64, Path, description = "The consent's `id`")),
    responses(
        (status = 200, description = "The consent, withdrawn (withdrawing again keeps the first time)", body = ConsentRecord),
        (status = 400, description = "`consent_id` is not an integer"),
        (status = 404, description = "The lead has no consent with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn withdraw(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath((id, consent_id)): ApiPath<(String, i64)>,
) -> Result<(Released, Json<ConsentRecord>), ApiError> {
    let tenant = auth.tenant();
    let owned = host
        .store()
        .consents(tenant, &id)
        .await?
        .iter()
        .any(|c| c.id == consent_id);
    if !owned {
        return Err(ApiError::not_found(format!(
            "no consent {consent_id} of lead '{id}'"
        )));
    }
    let now = crate::clock::now_ms();
    let withdrawn = host
        .store()
        .withdraw_consent(tenant, consent_id, now)
        .await?;
    Ok((Released::lead(&id), Json(withdrawn)))
}

/// `PATCH /v1/leads/{id}`: corrects a lead. The body is a JSON object of the
/// fields to change (`name`, `phone`, `email`, `location`, `language`,
/// `preferences`, `age`, `restricted`); `null` clears a field.
#[utoipa::path(
    patch,
    path = "/leads/{id}",
    tag = "leads",
    operation_id = "correct_lead",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    request_body(
        content = Object,
        content_type = "application/json",
        description = "The fields to change, as `POST /v1/leads` takes them, but `lead_id`; `null` clears one",
        example = json!({"phone": "+15550100", "email": null}),
    ),
    responses(
        (status = 200, description = "The lead, corrected; if the correction made it a minor with no parental consent in force, erased at once and `erased` true", body = WrittenLead),
        (status = 404, description = "The tenant has no lead with that id"),
        (status = 409, description = "The lead was erased; it cannot be changed"),
        (status = 422, description = "The body names `lead_id`, or a field or value that a lead cannot have"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn correct(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<(Released, Json<WrittenLead>), ApiError> {
    if patch.contains_key("lead_id") {
        return Err(ApiError::unprocessable(
            "a lead's id cannot be corrected; create a new lead instead",
        ));
    }
    let changed = patch.keys().cloned().collect::<Vec<_>>().join(",");
    let update: LeadUpdate = serde_json::from_value(Value::Object(patch))
        .map_err(|e| ApiError::unprocessable(format!("invalid correction: {e}")))?;
    // Only the named fields are written, in one statement: a restriction (or
    // another correction) committed meanwhile is never overwritten. Only a live
    // lead is corrected, so an erased answer means this correction erased it.
    let lead = host
        .store()
        .update_lead(auth.tenant(), &id, &update)
        .await?;
    let erased = lead.erased_at_ms.is_some();
    Ok((
        Released::lead(&id).fields(changed),
        Json(WrittenLead::new(lead, erased)),
    ))
}

/// The answer to an import: how many leads were imported. (A refused import
/// answers 422 naming the first refused rows and counting the rest, and imports nothing.)
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Leads imported: all of them, or none.
    imported: usize,
    /// Every row that was refused, with why (empty here: a refused import
    /// answers 422 instead).
    rejected: Vec<RejectedRow>,
    /// The ids of the imported leads that were erased at once: age `minor`,
    /// and a new lead has no parental consent on record.
    erased: Vec<String>,
    /// Why they were erased, naming the rule; absent if none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    erased_reason: Option<&'static str>,
}

impl ImportReport {
    /// `imported` leads all written, `erased` the ids of those erased at once.
    pub(crate) fn new(imported: usize, erased: Vec<String>) -> Self {
        ImportReport {
            imported,
            rejected: Vec::new(),
            erased_reason: (!erased.is_empty()).then_some(MINOR_ERASURE_REASON),
            erased,
        }
    }
}

/// One refused row of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The row's number: 1 for the first lead (in a CSV, the line after the header).
    row: usize,
    /// The row's lead id, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    lead_id: Option<String>,
    /// What is wrong with it.
    error: String,
}

/// One row of a contact list: parsed, or refused with its lead id (if it had
/// one) and why.
type Row = Result<NewLead, (Option<String>, String)>;

/// The largest import body.
pub const IMPORT_BODY_LIMIT: usize = 8 << 20;

/// `POST /v1/leads/import`: a contact list, as JSON (an array of lead objects,
/// as `POST /v1/leads` takes) or CSV (`Content-Type: text/csv`; a header row of
/// `lead_id`, `name`, `phone`, `email`, `location`, `language`, `age`,
/// `restricted`, `preferences` (a JSON object), any subset but `lead_id`).
/// Every row is checked; if any is refused (malformed, duplicated in the
/// list, or an id the tenant has already), the answer lists the first 20 refused rows, counts the rest,
/// and nothing is imported.
#[utoipa::path(
    post,
    path = "/leads/import",
    tag = "leads",
    operation_id = "import_leads",
    request_body(
        description = "The contact list: a JSON array of leads, or a CSV with a header row (`lead_id` and any of `name`, `phone`, `email`, `location`, `language`, `age`, `restricted`, `preferences` as a JSON object). At most 8 MiB.",
        content(
            (Vec<NewLead> = "application/json"),
            (String = "text/csv", example = "lead_id,name,age\nlead-1,Ada Lovelace,adult\n"),
        ),
    ),
    responses(
        (status = 201, description = "Every lead imported; `erased` names the minors erased at once", body = ImportReport),
        (status = 400, description = "The body is not a JSON array, or the CSV has no readable header, an unknown column or no `lead_id` column"),
        (status = 409, description = "A lead of the list was created meanwhile; nothing was imported"),
        (status = 413, description = "The list is larger than 8 MiB; split it"),
        (status = 415, description = "The body is neither `application/json` nor `text/csv`"),
        (status = 422, description = "Rows were refused (malformed, an id outside the id grammar, twice in the list, an existing lead): `detail` names the first 20 and `more_problems` counts the rest; nothing was imported"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn import(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Released, Json<ImportReport>), ApiError> {
    let tenant = auth.tenant();
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!(
            "the contact list is larger than {IMPORT_BODY_LIMIT} bytes; split it"
        )),
        _ => ApiError::bad_request(rejection.body_text()),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rows: Vec<Result<NewLead, (Option<String>, String)>> =
        if content_type.starts_with("text/csv") {
            csv_rows(&body)?
        } else if content_type.starts_with("application/json") {
            let values: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request(format!("the contact list is not a JSON array: {e}"))
            })?;
            values
                .into_iter()
                .map(|value| {
                    let lead_id = value
                        .get("lead_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    serde_json::from_value(value).map_err(|e| (lead_id, e.to_string()))
                })
                .collect()
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the contact list as `application/json` (an array of leads) or `text/csv`",
            ));
        };
    let total = rows.len();
    let mut leads = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, row) in rows.into_iter().enumerate() {
        let number = index + 1;
        let checked = row.and_then(|body| {
            let id = body.lead_id.clone();
            crate::ids::check_id("lead_id", &id).map_err(|e| (Some(id.clone()), e.to_string()))?;
            body.into_lead(tenant).map_err(|e| (Some(id), e))
        });
        match checked {
            Ok(lead) if !seen.insert(lead.lead_id.clone()) => rejected.push(RejectedRow {
                row: number,
                error: format!("lead '{}' appears twice in the list", lead.lead_id),
                lead_id: Some(lead.lead_id),
            }),
            Ok(lead) => leads.push((number, lead)),
            Err((lead_id, error)) => rejected.push(RejectedRow {
                row: number,
                lead_id,
                error,
            }),
        }
    }
    // The leads the tenant has already: the only rows whose refusal says something
    // about stored data (a probe), each named once in the denied records.
    let mut existing_named = Vec::new();
    for (number, lead) in &leads {
        if host.store().lead(tenant, &lead.lead_id).await?.is_some() {
            existing_named.push(lead.lead_id.clone());
            rejected.push(RejectedRow {
                row: *number,
                lead_id: Some(lead.lead_id.clone()),
                error: format!("lead '{}' already exists", lead.lead_id),
            });
        }
    }
    if !rejected.is_empty() {
        rejected.sort_by_key(|r| r.row);
        // The first rows only, each line cut: a million refused rows (each
        // quoting its value) would otherwise answer with tens of megabytes.
        let (lines, more) = bounded_list(
            rejected
                .iter()
                .map(|r| format!("row {}: {}", r.row, r.error)),
        );
        let mut error = ApiError::unprocessable(format!(
            "{} of {total} rows refused; nothing was imported:\n{lines}",
            rejected.len(),
        ));
        error.kind = "import-refused";
        error.more_problems = more;
        // A row refused because the tenant has its lead already probed a stored lead:
        // its denied record names it. Rows refused for their shape or for repeating in
        // the list touch no stored lead, and recording each would let one 8 MiB list
        // write some 300 000 records; an id appears in `leads` once, so each
        // existing lead is named once, and no list names more than the tenant has.
        error.named_leads = existing_named;
        return Err(error);
    }
    let leads: Vec<Lead> = leads.into_iter().map(|(_, lead)| lead).collect();
    let erased = host.store().insert_leads(tenant, &leads).await?;
    let released = Released::leads(leads.iter().map(|lead| lead.lead_id.clone()));
    Ok((
        StatusCode::CREATED,
        released,
        Json(ImportReport::new(leads.len(), erased)),
    ))
}

/// The rows of a CSV contact list, each parsed or refused with why.
fn csv_rows(body: &[u8]) -> Result<Vec<Row>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("the CSV has no readable header row: {e}")))?
        .clone();
    const COLUMNS: [&str; 9] = [
        "lead_id",
        "name",
        "phone",
        "email",
        "location",
        "language",
        "age",
        "restricted",
        "preferences",
    ];
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(h)) {
        return Err(ApiError::bad_request(format!(
            "unknown CSV column '{unknown}'; the columns are {}",
            COLUMNS.join(", ")
        )));
    }
    if !headers.iter().any(|h| h == "lead_id") {
        return Err(ApiError::bad_request("the CSV needs a lead_id column"));
    }
    Ok(reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| (None, format!("unreadable CSV row: {e}")))?;
            let mut object = Map::new();
            for (column, cell) in headers.iter().zip(record.iter()) {
                if cell.is_empty() {
                    continue;
                }
                let value = match column {
                    "restricted" => match cell {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        other => Value::String(other.to_owned()),
                    },
                    "preferences" => serde_json::from_str(cell)
                        .map_err(|e| (None, format!("preferences is not a JSON object: {e}")))?,
                    _ => Value::String(cell.to_owned()),
                };
                object.insert(column.to_owned(), value);
            }
            let lead_id = object
                .get("lead_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            serde_json::from_value(Value::Object(object)).map_err(|e| (lead_id, e.to_string()))
        })
        .collect())
}
