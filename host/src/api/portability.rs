//! `GET /v1/leads/{id}/export` (tenant admin): the data subject's portability
//! export, one JSON document to hand over: the lead's record, consents, tags,
//! messages, and the audit records about the lead (found by its pseudonym).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::TenantAdmins;
use super::leads::existing;
use super::people::Released;
use super::{ApiError, ApiHost, ApiPath, Auth};
use crate::audit::AuditRecord;
use crate::consent::ConsentRecord;
use crate::store::{AuditFilter, Lead, LeadTag, OutboxMessage};

/// The `format` of the export document, versioned for whoever imports it.
pub const EXPORT_FORMAT: &str = "cally-lead-export/1";

/// The portability export of one lead.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadExport {
    /// [`EXPORT_FORMAT`].
    #[schema(example = "cally-lead-export/1")]
    format: &'static str,
    /// When it was produced (host clock).
    exported_at_ms: i64,
    /// The lead's record (personal fields empty once erased).
    lead: Lead,
    /// The pseudonym the audit log knows the lead by.
    pseudonym: String,
    /// Every consent, withdrawn and expired ones included, oldest first.
    consents: Vec<ConsentRecord>,
    /// The CRM tags written on the lead.
    tags: Vec<LeadTag>,
    /// The messages plugins asked to send the lead (those the retention policy kept).
    messages: Vec<OutboxMessage>,
    /// Every audit record about the lead, in sequence order.
    audit: Vec<AuditRecord>,
}

/// The download's file name: `lead-<id>.json`, the id's characters outside
/// `A-Z a-z 0-9 . _ -` replaced by `_`.
fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("lead-{safe}.json")
}

/// `GET /v1/leads/{id}/export`: the lead's data as a JSON attachment.
#[utoipa::path(
    get,
    path = "/leads/{id}/export",
    tag = "rights",
    operation_id = "export_lead",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    responses(
        (status = 200, description = "The export document, as an attachment", body = LeadExport,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"lead-<id>.json\"`"))),
        (status = 404, description = "The tenant has no lead with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn export(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = auth.tenant();
    let store = host.store();
    let lead = existing(&host, tenant, &id).await?;
    let pseudonym = host.services.pseudonyms.pseudonym(tenant, &id);
    let filter = AuditFilter {
        lead: Some(pseudonym.clone()),
        ..AuditFilter::default()
    };
    let document = LeadExport {
        format: EXPORT_FORMAT,
        exported_at_ms: crate::clock::now_ms(),
        consents: store.consents(tenant, &id).await?,
        tags: store.lead_tags(tenant, &id).await?,
        messages: store.outbox(tenant, &id).await?,
        audit: store.audit_records(tenant, &filter).await?,
        pseudonym,
        lead,
    };
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file_name(&id)))
            .map_err(|e| ApiError::internal(&e))?;
    let mut response = (Released::lead(&id), Json(document)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_name_keeps_only_safe_characters() {
        assert_eq!(super::file_name("lead-ada"), "lead-lead-ada.json");
        assert_eq!(super::file_name("a\"b/c d"), "lead-a_b_c_d.json");
    }
}
