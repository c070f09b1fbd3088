//! `/v1/plugins`: upload (developer); list, get, inspect, diff (developer,
//! reviewer); approve, activate, roll back (reviewer).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::auth::{Developers, PluginReaders, Reviewers};
use super::registry::{PluginView, Uploaded};
use super::{ApiError, ApiHost, ApiJson, ApiPath, Auth, COMPONENT_LIMIT};
use crate::manifest::{InspectReport, ManifestDiff, ReleaseState};

/// The body of `POST /v1/plugins`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The manifest (`cally.toml`) as text; its digest is what a reviewer approves.
    manifest: String,
    /// The component (built for wasm32-wasip2), base64 (standard alphabet, padded).
    component_base64: String,
}

/// `POST /v1/plugins`: checks and stores a new version (state `uploaded`).
///
/// The manifest is checked like `cally manifest check` (size, schema,
/// semantics, imports against grants, limits) and the version number against
/// those uploaded before, and only then is the component compiled: a refused
/// upload stores nothing and compiles nothing. The manifest may be 64 KiB, the
/// component 8 MiB.
#[utoipa::path(
    post,
    path = "/plugins",
    tag = "plugins",
    operation_id = "upload_plugin",
    request_body = Upload,
    responses(
        (status = 201, description = "The plugin's name and the version, stored in state `uploaded`", body = Uploaded),
        (status = 400, description = "`component_base64` is not base64, or the body is not JSON"),
        (status = 409, description = "The version was uploaded before"),
        (status = 413, description = "The component is larger than 8 MiB"),
        (status = 422, description = "The manifest (such as one over 64 KiB) or the component was refused; `problems` lists every problem found"),
    ),
    security(("api_key" = ["developer"])),
)]
pub async fn upload(
    auth: Auth<Developers>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<Upload>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let component = base64::engine::general_purpose::STANDARD
        .decode(body.component_base64.trim())
        .map_err(|e| ApiError::bad_request(format!("component_base64 is not valid base64: {e}")))?;
    if component.len() > COMPONENT_LIMIT {
        return Err(ApiError::too_large(format!(
            "the component is {} bytes; at most {COMPONENT_LIMIT} are accepted",
            component.len()
        )));
    }
    let uploaded = host
        .registry
        .upload(auth.tenant(), &auth.caller.label, body.manifest, component)
        .await?;
    Ok((StatusCode::CREATED, Json(uploaded)))
}

/// `GET /v1/plugins`: the tenant's plugins.
#[utoipa::path(
    get,
    path = "/plugins",
    tag = "plugins",
    operation_id = "list_plugins",
    responses((status = 200, description = "Every plugin of the tenant, with its versions", body = Vec<PluginView>)),
    security(("api_key" = ["developer", "reviewer"])),
)]
pub async fn list(
    auth: Auth<PluginReaders>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<Vec<PluginView>>, ApiError> {
    Ok(Json(host.registry.list(auth.tenant()).await?))
}

/// `GET /v1/plugins/{name}`: one plugin and its versions.
#[utoipa::path(
    get,
    path = "/plugins/{name}",
    tag = "plugins",
    operation_id = "get_plugin",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest")),
    responses(
        (status = 200, description = "The plugin and its versions", body = PluginView),
        (status = 404, description = "The tenant has no plugin of that name"),
    ),
    security(("api_key" = ["developer", "reviewer"])),
)]
pub async fn get(
    auth: Auth<PluginReaders>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginView>, ApiError> {
    Ok(Json(host.registry.get(auth.tenant(), &name).await?))
}

fn version(text: &str) -> Result<semver::Version, ApiError> {
    semver::Version::parse(text)
        .map_err(|e| ApiError::bad_request(format!("'{text}' is not a version (semver): {e}")))
}

/// The answer to inspect: the reviewer's report and the version's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inspection {
    /// Where the version is in its life.
    state: ReleaseState,
    /// The reviewer's report; its two digests are what `approve` takes.
    #[serde(flatten)]
    report: InspectReport,
}

/// `GET /v1/plugins/{name}/versions/{version}/inspect`: the reviewer's report.
#[utoipa::path(
    get,
    path = "/plugins/{name}/versions/{version}/inspect",
    tag = "plugins",
    operation_id = "inspect_plugin_version",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest"), ("version" = String, Path, description = "The version (semver), such as `0.1.0`")),
    responses(
        (status = 200, description = "The report (as `cally manifest inspect --json`) and the version's state", body = Inspection),
        (status = 400, description = "The version is not semver"),
        (status = 404, description = "No such plugin or version"),
    ),
    security(("api_key" = ["developer", "reviewer"])),
)]
pub async fn inspect(
    auth: Auth<PluginReaders>,
    State(host): State<Arc<ApiHost>>,
    ApiPath((name, number)): ApiPath<(String, String)>,
) -> Result<Json<Inspection>, ApiError> {
    let number = version(&number)?;
    let (report, state) = host.registry.inspect(auth.tenant(), &name, &number).await?;
    Ok(Json(Inspection { state, report }))
}

/// `GET /v1/plugins/{name}/versions/{version}/diff`: what the version asks
/// for beyond the active one.
#[utoipa::path(
    get,
    path = "/plugins/{name}/versions/{version}/diff",
    tag = "plugins",
    operation_id = "diff_plugin_version",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest"), ("version" = String, Path, description = "The version (semver), such as `0.1.0`")),
    responses(
        (status = 200, description = "Every change from the active version, escalations marked", body = ManifestDiff),
        (status = 400, description = "The version is not semver"),
        (status = 404, description = "No such plugin or version"),
        (status = 409, description = "The plugin has no active version to compare with"),
    ),
    security(("api_key" = ["developer", "reviewer"])),
)]
pub async fn diff(
    auth: Auth<PluginReaders>,
    State(host): State<Arc<ApiHost>>,
    ApiPath((name, number)): ApiPath<(String, String)>,
) -> Result<Json<ManifestDiff>, ApiError> {
    let number = version(&number)?;
    Ok(Json(
        host.registry.diff(auth.tenant(), &name, &number).await?,
    ))
}

/// The body of approve: the digests the reviewer inspected.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The component digest from the inspect report (`sha256:...`).
    component_digest: String,
    /// The manifest digest from the inspect report (`sha256:...`).
    manifest_digest: String,
}

/// `POST /v1/plugins/{name}/versions/{version}/approve`: approves exactly the
/// digests given, which must be the version's.
#[utoipa::path(
    post,
    path = "/plugins/{name}/versions/{version}/approve",
    tag = "plugins",
    operation_id = "approve_plugin_version",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest"), ("version" = String, Path, description = "The version (semver), such as `0.1.0`")),
    request_body = ApproveBody,
    responses(
        (status = 200, description = "The plugin, the version in state `approved`", body = PluginView),
        (status = 400, description = "The version is not semver, or the body is not JSON"),
        (status = 404, description = "No such plugin or version"),
        (status = 409, description = "The digests are not the version's, or its state does not allow approval"),
    ),
    security(("api_key" = ["reviewer"])),
)]
pub async fn approve(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
    ApiPath((name, number)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<PluginView>, ApiError> {
    let number = version(&number)?;
    let view = host
        .registry
        .approve(
            auth.tenant(),
            &name,
            &number,
            &auth.caller.label,
            &body.component_digest,
            &body.manifest_digest,
        )
        .await?;
    Ok(Json(view))
}

/// `POST /v1/plugins/{name}/versions/{version}/activate`: makes the version active.
///
/// A version that asks for nothing beyond the active one may be activated
/// without approval; one with escalations (see `.../diff`) may not.
#[utoipa::path(
    post,
    path = "/plugins/{name}/versions/{version}/activate",
    tag = "plugins",
    operation_id = "activate_plugin_version",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest"), ("version" = String, Path, description = "The version (semver), such as `0.1.0`")),
    responses(
        (status = 200, description = "The plugin, the version active", body = PluginView),
        (status = 400, description = "The version is not semver"),
        (status = 404, description = "No such plugin or version"),
        (status = 409, description = "The version needs an approval first, or its state does not allow activation"),
    ),
    security(("api_key" = ["reviewer"])),
)]
pub async fn activate(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
    ApiPath((name, number)): ApiPath<(String, String)>,
) -> Result<Json<PluginView>, ApiError> {
    let number = version(&number)?;
    let view = host
        .registry
        .activate(auth.tenant(), &name, &number, &auth.caller.label)
        .await?;
    Ok(Json(view))
}

/// `POST /v1/plugins/{name}/rollback`: returns to the version the active one superseded.
#[utoipa::path(
    post,
    path = "/plugins/{name}/rollback",
    tag = "plugins",
    operation_id = "roll_back_plugin",
    params(("name" = String, Path, description = "The plugin's name, as in its manifest")),
    responses(
        (status = 200, description = "The plugin, the version before active again", body = PluginView),
        (status = 404, description = "The tenant has no plugin of that name"),
        (status = 409, description = "There is no earlier version to return to"),
    ),
    security(("api_key" = ["reviewer"])),
)]
pub async fn roll_back(
    auth: Auth<Reviewers>,
    State(host): State<Arc<ApiHost>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PluginView>, ApiError> {
    let view = host
        .registry
        .roll_back(auth.tenant(), &name, &auth.caller.label)
        .await?;
    Ok(Json(view))
}
