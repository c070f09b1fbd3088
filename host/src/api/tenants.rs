//! `/v1/tenants` (platform admin) and `/v1/keys`: a tenant admin issues,
//! lists and revokes its tenant's keys; a platform admin lists and revokes any.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::{KeyManagers, PlatformAdmins, TenantAdmins, key_id};
use super::{ApiError, ApiHost, ApiJson, ApiPath, Auth, IssuedKey, Role, issue_key};
use crate::store::ApiKeyRecord;

/// The body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The tenant's id: 1 to 64 of `a-z`, `0-9` and `-`, starting with a letter or digit.
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

/// Checks a tenant id: the id grammar ([`crate::ids::check_id`]: no control
/// characters, starts with a letter or digit, so never `-` or `--`), and
/// narrower still, 1 to 64 of `a-z`, `0-9` and `-`, as tenants always were.
pub fn check_tenant_id(id: &str) -> Result<(), ApiError> {
    crate::ids::check_id("tenant id", id)?;
    let ok = id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "tenant id {} must be 1 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit",
            crate::ids::shown(id)
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
        (status = 422, description = "The id is not 1 to 64 of `a-z`, `0-9` and `-` starting with a letter or digit, or the body does not fit the schema"),
    ),
    security(("api_key" = ["platform-admin"])),
)]
pub async fn create(
    _auth: Auth<PlatformAdmins>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    check_tenant_id(&body.id)?;
    let now = crate::clock::now_ms();
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
        (status = 422, description = "The label is blank, longer than 128 characters or holds a control character, or the body does not fit the schema"),
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
    crate::ids::check_text("label", &body.label, 128)?;
    let key = issue_key(host.store(), Some(auth.tenant()), body.role, &body.label).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// A key as `GET /v1/keys` lists it: never the key, never its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// The key's id, as `DELETE /v1/keys/{id}` takes it.
    #[schema(example = "3f2a9c0d41b7e865")]
    id: String,
    /// Its role.
    role: Role,
    /// Its tenant; `null` for a platform admin's key.
    #[schema(required = true)]
    tenant: Option<String>,
    /// Who holds it.
    label: String,
    /// When it was issued.
    created_at_ms: i64,
}

impl KeyView {
    fn of(record: ApiKeyRecord) -> Result<Self, ApiError> {
        Ok(Self {
            id: key_id(&record.key_hash),
            role: record
                .role
                .parse()
                .map_err(|e: String| ApiError::internal(&e))?,
            tenant: record.tenant,
            label: record.label,
            created_at_ms: record.created_at_ms,
        })
    }
}

/// The keys the caller manages: its tenant's for a tenant admin, every key
/// for a platform admin.
async fn managed_keys(
    host: &ApiHost,
    auth: &Auth<KeyManagers>,
) -> Result<Vec<ApiKeyRecord>, ApiError> {
    let tenant = match auth.caller.role {
        Role::PlatformAdmin => None,
        _ => Some(auth.tenant()),
    };
    Ok(host.store().api_keys(tenant).await?)
}

/// `GET /v1/keys`: the keys the caller manages, without secrets.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "tenants",
    operation_id = "list_keys",
    responses(
        (status = 200, description = "The tenant's keys (every key, for a platform admin), oldest first: id, role, tenant, label, issue time; never a key or its hash", body = Vec<KeyView>),
    ),
    security(("api_key" = ["platform-admin", "tenant-admin"])),
)]
pub async fn list_keys(
    auth: Auth<KeyManagers>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = managed_keys(&host, &auth).await?;
    Ok(Json(
        keys.into_iter()
            .map(KeyView::of)
            .collect::<Result<_, _>>()?,
    ))
}

/// `DELETE /v1/keys/{id}`: revokes a key at once; the next request with it
/// gets 401.
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    tag = "tenants",
    operation_id = "revoke_key",
    params(("id" = String, Path, description = "The key's id, as issued and listed")),
    responses(
        (status = 204, description = "The key is revoked: deleted, and dropped from the host's key cache"),
        (status = 400, description = "The id holds a control character or is too long"),
        (status = 404, description = "No such key among the caller's tenant's keys (another tenant's key answers the same)"),
    ),
    security(("api_key" = ["platform-admin", "tenant-admin"])),
)]
pub async fn revoke_key(
    auth: Auth<KeyManagers>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let Some(key) = managed_keys(&host, &auth)
        .await?
        .into_iter()
        .find(|key| key_id(&key.key_hash) == id)
    else {
        return Err(ApiError::not_found(format!(
            "no key {}",
            crate::ids::shown(&id)
        )));
    };
    if !host.keys.revoke(host.store(), &key.key_hash).await? {
        return Err(ApiError::not_found(format!(
            "no key {}",
            crate::ids::shown(&id)
        )));
    }
    tracing::info!(key_id = %id, role = %key.role, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
