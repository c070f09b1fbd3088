//! `/v1/audit` (reviewer): query, export and verify the tenant's hash-chained log, and
//! fetch its chain head signed with the host key (a checkpoint to keep elsewhere).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::auth::Reviewers;
use super::people::Released;
use super::{ApiError, ApiHost, ApiQuery, Auth};
use crate::audit::{self, AuditRecord, Checkpoint, ExportFormat, VerifyReport};
use crate::store::AuditFilter;

/// The filters of `GET /v1/audit` and `/v1/audit/export` (which takes lead, actor
/// and times only); each one narrows.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only records about this lead (its id; the log holds its pseudonym).
    #[serde(default)]
    lead: Option<String>,
    /// Only records of this call.
    #[serde(default)]
    call: Option<String>,
    /// Only what a person did with this API key: its id, as `GET /v1/keys` lists it
    /// (16 hex digits).
    #[serde(default)]
    actor: Option<String>,
    /// Only `allowed` or only `denied` records.
    #[serde(default)]
    decision: Option<String>,
    /// Only records at or after this time (ms since the Unix epoch).
    #[serde(default)]
    from_ms: Option<i64>,
    /// Only records before this time.
    #[serde(default)]
    to_ms: Option<i64>,
    /// Export only: `jsonl` (the default) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

impl AuditQuery {
    fn filter(&self, host: &ApiHost, tenant: &str) -> Result<AuditFilter, ApiError> {
        if let Some(decision) = &self.decision
            && decision != "allowed"
            && decision != "denied"
        {
            return Err(ApiError::bad_request(format!(
                "decision '{decision}' must be `allowed` or `denied`"
            )));
        }
        Ok(AuditFilter {
            lead: self
                .lead
                .as_deref()
                .map(|lead| host.services.pseudonyms.pseudonym(tenant, lead)),
            actor: self.actor.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
        })
    }

    /// What the query releases about a lead: the records of the lead it names
    /// (a person reading a lead's history is audited), nothing without one (the
    /// log holds pseudonyms, not personal data).
    fn released(&self) -> Released {
        match &self.lead {
            Some(lead) => Released::lead(lead),
            None => Released::nothing(),
        }
    }

    fn keeps(&self, record: &AuditRecord) -> bool {
        self.call
            .as_ref()
            .is_none_or(|call| *call == record.call_id)
            && self.decision.as_ref().is_none_or(|d| *d == record.decision)
    }

    async fn records(&self, host: &ApiHost, tenant: &str) -> Result<Vec<AuditRecord>, ApiError> {
        let filter = self.filter(host, tenant)?;
        let mut records = host
            .store()
            .audit_records(tenant, &filter)
            .await
            .map_err(ApiError::from)?;
        records.retain(|record| self.keeps(record));
        Ok(records)
    }
}

/// `GET /v1/audit`: the tenant's records matching the filters, in sequence order.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    operation_id = "query_audit_log",
    params(AuditQuery),
    responses(
        (status = 200, description = "The matching records, in sequence order", body = Vec<AuditRecord>),
        (status = 400, description = "An unknown or malformed filter, `decision` other than `allowed` or `denied`, or `format` (export only)"),
    ),
    security(("api_key" = ["reviewer"])),
)]
pub async fn query(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<(Released, Json<Vec<AuditRecord>>), ApiError> {
    if query.format.is_some() {
        return Err(ApiError::bad_request(
            "`format` applies to /v1/audit/export only",
        ));
    }
    let records = query.records(&host, auth.tenant()).await?;
    Ok((query.released(), Json(records)))
}

/// `GET /v1/audit/export?format=jsonl|csv`: the matching records as a file.
#[utoipa::path(
    get,
    path = "/audit/export",
    tag = "audit",
    operation_id = "export_audit_log",
    params(AuditQuery),
    responses(
        (status = 200, description = "The matching records: one JSON object a line (`jsonl`, the default) or CSV with a header row",
            content((String = "application/x-ndjson"), (String = "text/csv; charset=utf-8"))),
        (status = 400, description = "An unknown `format`, a malformed filter, or `call` or `decision` (which export does not take)"),
    ),
    security(("api_key" = ["reviewer"])),
)]
pub async fn export(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let format: ExportFormat = query
        .format
        .as_deref()
        .unwrap_or("jsonl")
        .parse()
        .map_err(|e: crate::consent::ParseError| ApiError::bad_request(e.to_string()))?;
    if query.call.is_some() || query.decision.is_some() {
        return Err(ApiError::bad_request(
            "export filters by lead, actor, from_ms and to_ms only; use GET /v1/audit for call and decision",
        ));
    }
    let tenant = auth.tenant();
    let filter = query.filter(&host, tenant)?;
    let mut body = Vec::new();
    audit::export(host.store(), tenant, &filter, format, &mut body)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let content_type = match format {
        ExportFormat::Jsonl => "application/x-ndjson",
        ExportFormat::Csv => "text/csv; charset=utf-8",
    };
    Ok((
        query.released(),
        [(header::CONTENT_TYPE, content_type)],
        body,
    ))
}

/// `GET /v1/audit/verify`: checks the tenant's whole chain against its head.
#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    operation_id = "verify_audit_log",
    responses((status = 200, description = "The verification; `problem` is null when the chain is intact", body = VerifyReport)),
    security(("api_key" = ["reviewer"])),
)]
pub async fn verify(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<VerifyReport>, ApiError> {
    let report = audit::verify_tenant(host.store(), auth.tenant())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(report))
}

/// The answer of `GET` and `POST /v1/audit/checkpoint`: the host's public key and the
/// tenant's latest signed checkpoint, for a reviewer to keep outside the host.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointAnswer {
    /// The host's checkpoint signing key, `ed25519:<64 hex digits>`: keep it with the
    /// checkpoints and give it to `cally audit verify --public-key`.
    pub public_key: String,
    /// The tenant's latest checkpoint; `null` while its audit log is empty.
    #[schema(required = true)]
    pub checkpoint: Option<Checkpoint>,
}

/// `GET /v1/audit/checkpoint`: the tenant's latest signed checkpoint (the host signs
/// every moved head on a schedule) and the host's public key.
#[utoipa::path(
    get,
    path = "/audit/checkpoint",
    tag = "audit",
    operation_id = "latest_audit_checkpoint",
    responses((status = 200, description = "The host's public key and the tenant's latest signed checkpoint (`null` if none was signed yet)", body = CheckpointAnswer)),
    security(("api_key" = ["reviewer"])),
)]
pub async fn latest_checkpoint(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
) -> Json<CheckpointAnswer> {
    Json(CheckpointAnswer {
        public_key: host.checkpoints.public_key().to_string(),
        checkpoint: host.checkpoints.latest(auth.tenant()).await,
    })
}

/// `POST /v1/audit/checkpoint`: signs the tenant's chain head now, if it moved since
/// the latest checkpoint, and answers as `GET`.
#[utoipa::path(
    post,
    path = "/audit/checkpoint",
    tag = "audit",
    operation_id = "sign_audit_checkpoint",
    responses((status = 200, description = "The host's public key and the tenant's checkpoint of its current head (`null` while its audit log is empty)", body = CheckpointAnswer)),
    security(("api_key" = ["reviewer"])),
)]
pub async fn sign_checkpoint(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<CheckpointAnswer>, ApiError> {
    let checkpoint = host
        .checkpoints
        .checkpoint_tenant(host.store(), auth.tenant())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(CheckpointAnswer {
        public_key: host.checkpoints.public_key().to_string(),
        checkpoint,
    }))
}
