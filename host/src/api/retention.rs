//! `/v1/retention` (tenant admin): the tenant's retention policy, and a purge on
//! demand. See [`crate::retention`] for what a purge removes and how it is audited.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::auth::TenantAdmins;
use super::{ApiError, ApiHost, ApiJson, Auth};
use crate::retention::{self, MAX_DAYS, PurgeError, PurgeReport, Trigger};
use crate::store::{RetentionPolicy, UnknownAgeLeads};

/// The body of `PUT /v1/retention`: the whole policy (an absent or `null` limit
/// keeps that kind of data until the lead is erased).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Days an ended call (and its stored result) is kept: 1 to 36500.
    #[serde(default)]
    calls_days: Option<u32>,
    /// Days a message (outbox row) is kept after it was queued: 1 to 36500.
    #[serde(default)]
    messages_days: Option<u32>,
}

/// The tenant's policy as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// Days an ended call is kept; `null`: until the lead is erased.
    calls_days: Option<u32>,
    /// Days a message is kept; `null`: until the lead is erased.
    messages_days: Option<u32>,
    /// When the policy was last set; `null` if it never was.
    updated_at_ms: Option<i64>,
    /// Live leads whose age is unknown, for the tenant to resolve: they are
    /// treated as minors (every read denied without a parental consent) but,
    /// unlike a known minor's, their data is kept. Set the age with `PATCH
    /// /v1/leads/{id}` (`minor` erases it unless a parental consent is in force).
    unknown_age_leads: UnknownAgeLeads,
}

/// The most lead ids of unknown age a retention answer names (all are counted).
pub const MAX_UNKNOWN_AGE_IDS: u32 = 1000;

impl PolicyView {
    /// The tenant's policy and its leads of unknown age, as stored now.
    async fn read(host: &ApiHost, tenant: &str) -> Result<Self, ApiError> {
        let store = host.store();
        let unknown_age_leads = store.unknown_age_leads(tenant, MAX_UNKNOWN_AGE_IDS).await?;
        Ok(match store.retention_policy(tenant).await? {
            Some(p) => Self {
                calls_days: p.calls_days,
                messages_days: p.messages_days,
                updated_at_ms: Some(p.updated_at_ms),
                unknown_age_leads,
            },
            None => Self {
                calls_days: None,
                messages_days: None,
                updated_at_ms: None,
                unknown_age_leads,
            },
        })
    }
}

fn check_days(name: &str, days: Option<u32>) -> Result<(), ApiError> {
    match days {
        Some(d) if d == 0 || d > MAX_DAYS => Err(ApiError::unprocessable(format!(
            "{name} is {d}; it must be 1 to {MAX_DAYS} days, or null to keep that data"
        ))),
        _ => Ok(()),
    }
}

/// `GET /v1/retention`: the tenant's policy.
#[utoipa::path(
    get,
    path = "/retention",
    tag = "retention",
    operation_id = "get_retention_policy",
    responses((status = 200, description = "The policy (every limit `null` if none was set) and the live leads of unknown age to resolve", body = PolicyView)),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn get(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(PolicyView::read(&host, auth.tenant()).await?))
}

/// `PUT /v1/retention`: sets the tenant's policy (the next purge applies it).
#[utoipa::path(
    put,
    path = "/retention",
    tag = "retention",
    operation_id = "set_retention_policy",
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The policy as set", body = PolicyView),
        (status = 422, description = "A limit is not 1 to 36500 days, or the body does not fit the schema"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn put(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<PolicyView>, ApiError> {
    check_days("calls_days", body.calls_days)?;
    check_days("messages_days", body.messages_days)?;
    let tenant = auth.tenant();
    host.store()
        .set_retention_policy(&RetentionPolicy {
            tenant: tenant.to_owned(),
            calls_days: body.calls_days,
            messages_days: body.messages_days,
            updated_at_ms: crate::clock::now_ms(),
        })
        .await?;
    Ok(Json(PolicyView::read(&host, tenant).await?))
}

/// `POST /v1/retention/purge`: purges now what the policy says is too old,
/// audited with one record; 409 if the tenant has no policy.
#[utoipa::path(
    post,
    path = "/retention/purge",
    tag = "retention",
    operation_id = "purge_now",
    responses(
        (status = 200, description = "What the purge removed, and its audit record's sequence number", body = PurgeReport),
        (status = 409, description = "The tenant has no retention policy; set one with `PUT /v1/retention`"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn purge(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<PurgeReport>, ApiError> {
    let tenant = auth.tenant();
    let policy = host
        .store()
        .retention_policy(tenant)
        .await?
        .ok_or_else(|| {
            ApiError::conflict("the tenant has no retention policy; set one with PUT /v1/retention")
        })?;
    let now = crate::clock::now_ms();
    match retention::purge(&host.services, &policy, now, Trigger::OnDemand).await {
        Ok(report) => Ok(Json(report)),
        Err(PurgeError::Store(error)) => Err(error.into()),
        Err(error) => Err(ApiError::internal(&error)),
    }
}
