//! Data subjects' rights, exercised through the tenant admin: the access report
//! (the lead's data, consents, tags, messages, and who read what, when, for which
//! purpose), restriction (every read denied while set) and erasure (personal data
//! removed; the audit trail kept under the lead's pseudonym, chain intact).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::auth::TenantAdmins;
use super::leads::existing;
use super::people::Released;
use super::{ApiError, ApiHost, ApiJson, ApiPath, Auth};
use crate::audit::AuditRecord;
use crate::consent::ConsentRecord;
use crate::store::{AuditFilter, Lead, LeadTag, LeadUpdate, OutboxMessage};

/// Everything the tenant holds about one lead, and every use of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessReport {
    /// The lead's record (personal fields empty once erased).
    lead: Lead,
    /// The pseudonym the audit log knows the lead by.
    pseudonym: String,
    /// Every consent, withdrawn and expired ones included, oldest first.
    consents: Vec<ConsentRecord>,
    /// The CRM tags plugins wrote on the lead.
    tags: Vec<LeadTag>,
    /// The messages plugins asked to send the lead.
    messages: Vec<OutboxMessage>,
    /// Every use of the lead's data, allowed or denied, in sequence order: which
    /// plugin (and version) read what, when, on which call, for which purpose;
    /// and which person's API key (id, role, address) read, exported or changed
    /// what, when. The record of the request that produced this report is not
    /// among them; it is appended as the report is answered.
    uses: Vec<AuditRecord>,
    /// `uses`, one sentence each, in the same order: "lead.read by the
    /// tenant-admin key `0123456789abcdef` from 10.0.0.7 at
    /// 2026-11-30T03:40:40.123Z: name,phone,... (allowed)".
    summary: Vec<String>,
}

/// `GET /v1/leads/{id}/access-report`: the lead's data and who read it.
#[utoipa::path(
    get,
    path = "/leads/{id}/access-report",
    tag = "rights",
    operation_id = "lead_access_report",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    responses(
        (status = 200, description = "The lead's record, consents, tags and messages, and every use of its data", body = AccessReport),
        (status = 404, description = "The tenant has no lead with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn access_report(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(Released, Json<AccessReport>), ApiError> {
    let tenant = auth.tenant();
    let store = host.store();
    let lead = existing(&host, tenant, &id).await?;
    let pseudonym = host.services.pseudonyms.pseudonym(tenant, &id);
    let filter = AuditFilter {
        lead: Some(pseudonym.clone()),
        ..AuditFilter::default()
    };
    let uses = store.audit_records(tenant, &filter).await?;
    let report = AccessReport {
        consents: store.consents(tenant, &id).await?,
        tags: store.lead_tags(tenant, &id).await?,
        messages: store.outbox(tenant, &id).await?,
        summary: uses.iter().map(crate::audit::describe).collect(),
        uses,
        pseudonym,
        lead,
    };
    Ok((Released::lead(&id), Json(report)))
}

/// The body of `POST /v1/leads/{id}/restriction`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    /// True: every read of the lead's data is denied `lead-restricted` from the
    /// next read on; false: lifted.
    restricted: bool,
}

/// `POST /v1/leads/{id}/restriction`: sets or lifts the restriction of processing.
#[utoipa::path(
    post,
    path = "/leads/{id}/restriction",
    tag = "rights",
    operation_id = "restrict_lead",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    request_body = Restriction,
    responses(
        (status = 200, description = "The lead, restricted or not", body = Lead),
        (status = 404, description = "The tenant has no lead with that id"),
        (status = 409, description = "The lead was erased; it cannot be changed"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn restrict(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Restriction>,
) -> Result<(Released, Json<Lead>), ApiError> {
    // Only the restriction is written, in one statement: a correction running
    // at the same time can never write back the value it read before.
    let update = LeadUpdate {
        restricted: Some(body.restricted),
        ..LeadUpdate::default()
    };
    let lead = host
        .store()
        .update_lead(auth.tenant(), &id, &update)
        .await?;
    Ok((Released::lead(&id), Json(lead)))
}

/// `POST /v1/leads/{id}/erase`: erases the lead's personal data, tags and
/// queued messages for good, and the stored results of its calls (whose
/// actions may quote what was read) and of any call quoting its name, phone or
/// email; consents stay as evidence, the audit log keeps only the pseudonym.
/// No old copy is left in the database's files when it answers. Every later
/// read is denied `lead-erased`.
#[utoipa::path(
    post,
    path = "/leads/{id}/erase",
    tag = "rights",
    operation_id = "erase_lead",
    params(("id" = String, Path, description = "The lead's id, as the tenant chose it")),
    responses(
        (status = 200, description = "The lead, its personal fields empty and `erased_at_ms` set", body = Lead),
        (status = 404, description = "The tenant has no lead with that id"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn erase(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(Released, Json<Lead>), ApiError> {
    let tenant = auth.tenant();
    existing(&host, tenant, &id).await?;
    let now = crate::clock::now_ms();
    host.store().erase_lead(tenant, &id, now).await?;
    tracing::info!(tenant, "lead erased");
    let erased = existing(&host, tenant, &id).await?;
    Ok((Released::lead(&id), Json(erased)))
}
