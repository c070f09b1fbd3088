//! `/v1/plugins`: upload (developer); list, get, inspect, diff (developer,
//! reviewer); approve, activate, roll back (reviewer).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::auth::{Developers, PluginReaders, Reviewers};
use super::registry::{PluginView, VersionView};
use super::{ApiError, ApiHost, ApiJson, ApiPath, Auth, COMPONENT_LIMIT};
use crate::manifest::{InspectReport, ManifestDiff, ReleaseState};

/// The body of `POST /v1/plugins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The manifest (`cally.toml`) as text; its digest is what a reviewer approves.
    manifest: String,
    /// The component (built for wasm32-wasip2), base64 (standard alphabet, padded).
    component_base64: String,
}

/// `POST /v1/plugins`: checks and stores a new version (state `uploaded`).
pub async fn upload(
    auth: Auth<Developers>,
    State(host): State<Arc<ApiHost>>,
    ApiJson(body): ApiJson<Upload>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    let component = base64::engine::general_purpose::STANDARD
        .decode(body.component_base64.trim())
        .map_err(|e| ApiError::bad_request(format!("component_base64 is not valid base64: {e}")))?;
    if component.len() > COMPONENT_LIMIT {
        return Err(ApiError::too_large(format!(
            "the component is {} bytes; at most {COMPONENT_LIMIT} are accepted",
            component.len()
        )));
    }
    let view = host
        .registry
        .upload(auth.tenant(), &auth.caller.label, body.manifest, component)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/plugins`: the tenant's plugins.
pub async fn list(
    auth: Auth<PluginReaders>,
    State(host): State<Arc<ApiHost>>,
) -> Result<Json<Vec<PluginView>>, ApiError> {
    Ok(Json(host.registry.list(auth.tenant()).await?))
}

/// `GET /v1/plugins/{name}`: one plugin and its versions.
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
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// Where the version is in its life.
    state: ReleaseState,
    /// The reviewer's report; its two digests are what `approve` takes.
    #[serde(flatten)]
    report: InspectReport,
}

/// `GET /v1/plugins/{name}/versions/{version}/inspect`: the reviewer's report.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The component digest from the inspect report (`sha256:...`).
    component_digest: String,
    /// The manifest digest from the inspect report (`sha256:...`).
    manifest_digest: String,
}

/// `POST /v1/plugins/{name}/versions/{version}/approve`: approves exactly the
/// digests given, which must be the version's.
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
