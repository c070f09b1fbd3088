//! `/v1/tenants` (platform admin) and `/v1/keys` (tenant admin).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{PlatformAdmins, TenantAdmins};
use super::{ApiError, ApiHost, ApiJson, Auth, IssuedKey, Role, issue_key};

/// The body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The tenant's id: 1 to 64 of `a-z`, `0-9` and `-`.
    #[schema(example = "acme-clinic")]
    id: String,
}

/// A tenant just created, with its first admin key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    /// The tenant's id.
    tenant: String,
    /// Its first tenant-admin key (shown once).
    admin_key: IssuedKey,
}

/// Checks a tenant id: 1 to 64 of `a-z`, `0-9` and `-`.
pub fn check_tenant_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "tenant id '{id}' must be 1 to 64 characters of a-z, 0-9 and '-'"
        )))
    }
}

/// `POST /v1/tenants`: creates a tenant and issues its first tenant-admin key.
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    operation_id = "create_tenant",
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant, with its first tenant-admin key (shown once)", body = CreatedTenant),
        (status = 409, description = "A tenant with that id exists"),
        (status = 422, description = "The id is not 1 to 64 of `a-z`, `0-9` and `-`, or the body does not fit the schema"),
    ),
    security(("api_key" = ["platform-admin"])),
)]
pub async fn create(
    _auth: Auth<PlatformAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    check_tenant_id(&body.id)?;
    let now = crate::session::now_ms() as i64;
    if !host.store().create_tenant(&body.id, now).await? {
        return Err(ApiError::conflict(format!(
            "tenant '{}' already exists",
            body.id
        )));
    }
    let label = format!("{}-admin", body.id);
    let admin_key = issue_key(host.store(), Some(&body.id), Role::TenantAdmin, &label).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            tenant: body.id,
            admin_key,
        }),
    ))
}

/// The body of `POST /v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The role: `tenant-admin`, `developer`, `reviewer` or `runtime`.
    role: Role,
    /// Who or what will hold the key (recorded as uploader or reviewer).
    label: String,
}

/// `POST /v1/keys`: issues a key of the caller's tenant.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "tenants",
    operation_id = "create_key",
    request_body = NewKey,
    responses(
        (status = 201, description = "The key (shown once; only its hash is stored)", body = IssuedKey),
        (status = 403, description = "The key's role may not call this endpoint, or the body asks for a platform-admin key"),
        (status = 422, description = "The label is not 1 to 128 characters, or the body does not fit the schema"),
    ),
    security(("api_key" = ["tenant-admin"])),
)]
pub async fn create_key(
    auth: Auth<TenantAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    if body.role == Role::PlatformAdmin {
        return Err(ApiError::forbidden(
            "a tenant admin cannot issue platform-admin keys",
        ));
    }
    if body.label.trim().is_empty() || body.label.len() > 128 {
        return Err(ApiError::unprocessable("label must be 1 to 128 characters"));
    }
    let key = issue_key(host.store(), Some(auth.tenant()), body.role, &body.label).await?;
    Ok((StatusCode::CREATED, Json(key)))
}
