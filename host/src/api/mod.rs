//! The HTTP API behind `cally serve`: axum, JSON, API keys with roles, every
//! request scoped to its key's tenant.
//!
//! - `mod.rs`: [`ApiHost`] (what one host shares), [`app`] (the router) and [`serve`].
//! - `auth.rs`: [`Role`], key issue and hashing, the [`Auth`] extractor (401/403).
//! - `error.rs`: [`ApiError`], the `application/problem+json` answer to every error.
//! - `extract.rs`: JSON, path and query extractors rejecting with [`ApiError`].
//! - `registry.rs`: [`PluginRegistry`], uploads and the persisted approval state.
//! - `seal.rs`: the approval key and the MACs on the records that bind a version.
//! - `calls.rs`: live calls, one [`crate::session::CallSession`] each.
//! - `tenants.rs`, `plugins.rs`, `leads.rs`, `rights.rs`, `audit.rs`,
//!   `retention.rs`, `portability.rs`: the handlers, thin: parse, call the library, format.
//! - `people.rs`: people's access to personal data, recorded in the tenant's audit
//!   chain by a middleware on the routes it lists ([`people::PERSONAL_DATA_ROUTES`]).
//! - `metrics.rs`: `GET /metrics`, host-wide counters in the Prometheus text format.
//! - `openapi/`: `GET /v1/openapi.json`, the OpenAPI document generated from
//!   the handlers' annotations and [`app`]'s one route list.
//! - `demo.rs`: the demo tenant of `cally serve --demo`.
//! - `tls.rs`: HTTPS ([`tls::serve_tls`]), the reloadable certificate, HSTS.
//!
//! A resource of another tenant answers 404 exactly as a missing one: every
//! lookup takes the caller's tenant, so another tenant's rows are never found.

mod audit;
mod auth;
pub mod calls;
pub mod demo;
mod error;
mod extract;
mod leads;
mod metrics;
pub mod openapi;
pub mod people;
mod plugins;
mod portability;
pub mod registry;
mod retention;
mod rights;
pub mod seal;
pub mod tagging;
mod tenants;
pub mod tls;

pub use auth::{
    Auth, Caller, IssueError, IssuedKey, KEY_PREFIX, Role, issue_key, key_hash, key_id,
};
pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use registry::{PluginRegistry, RegistryError};

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::audit::{AuditWriter, CheckpointError, CheckpointLog, PseudonymKeyError, Pseudonymizer};
use crate::capabilities::gate::DataServices;
use crate::component::{ArtifactKey, ArtifactStore, ComponentCache};
use crate::host_key::HostKeyError;
use crate::sandbox::{Sandbox, SandboxConfig, SandboxError};
use crate::store::{SqliteStore, Store, StoreError};
use seal::ApprovalKey;

/// Occurs when a host cannot be opened on its data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Occurs when the database cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Occurs when the pseudonym key cannot be loaded or created.
    #[error(transparent)]
    PseudonymKey(#[from] PseudonymKeyError),
    /// Occurs when a host key (the artifact key, the approval key) cannot
    /// be loaded or created.
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    /// Occurs when the audit signing key or the checkpoint file cannot be loaded
    /// (for example, a key file that group or others may read).
    #[error(transparent)]
    Checkpoints(#[from] CheckpointError),
    /// Occurs when the sandbox's engine cannot be built.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Occurs when the precompiled-artifact directory cannot be opened.
    #[error("cannot open the artifact directory '{path}': {source}")]
    Artifacts {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The largest request body, except uploads.
pub const BODY_LIMIT: usize = 1 << 20;
/// The largest component an upload may carry.
pub const COMPONENT_LIMIT: usize = 8 << 20;
/// The largest upload body: the component in base64 (4/3 of its size) and the manifest.
pub const UPLOAD_BODY_LIMIT: usize = COMPONENT_LIMIT / 3 * 4 + (1 << 20);

/// What one host shares between requests.
pub struct ApiHost {
    /// Every store trait at once: the API serves every concern.
    pub store: Arc<dyn Store>,
    /// Store, audit writer and pseudonym key: every call's data gate uses them.
    pub services: Arc<DataServices>,
    /// Compiled plugins (in memory and as artifacts on disk).
    pub cache: Arc<ComponentCache>,
    /// Each tenant's plugins and their release state.
    pub registry: PluginRegistry,
    /// The calls running on this host.
    pub calls: calls::LiveCalls,
    /// Counters behind `GET /metrics`.
    pub metrics: metrics::ApiMetrics,
    /// The host's signing key and each tenant's latest signed chain head.
    pub checkpoints: Arc<CheckpointLog>,
    /// API keys already looked up.
    keys: auth::KeyCache,
}

impl ApiHost {
    /// A host over `store` and `services` (over the same store), running
    /// plugins compiled by `cache`, with release records signed and checked
    /// under `approval_key`, signing audit checkpoints with `checkpoints`.
    pub fn new(
        store: Arc<dyn Store>,
        services: Arc<DataServices>,
        cache: Arc<ComponentCache>,
        approval_key: ApprovalKey,
        checkpoints: Arc<CheckpointLog>,
    ) -> Arc<Self> {
        Arc::new(Self {
            checkpoints,
            registry: PluginRegistry::new(store.clone(), cache.clone(), approval_key),
            store,
            services,
            cache,
            calls: calls::LiveCalls::default(),
            metrics: metrics::ApiMetrics::default(),
            keys: auth::KeyCache::default(),
        })
    }

    /// Opens a host on `data_dir`: the SQLite store, the audit writer, the
    /// pseudonym key, the audit signing key and checkpoint file, a sandbox with
    /// `config`, precompiled artifacts under `<data_dir>/artifacts`, and the
    /// approval key (signing, at the start that creates it, the release records
    /// written before records were signed; see [`seal::seal_at_upgrade`]).
    /// Returns the SQLite store too, to close it at the end.
    pub async fn open(
        data_dir: &std::path::Path,
        config: SandboxConfig,
    ) -> Result<(Arc<Self>, SqliteStore), OpenError> {
        let sqlite = SqliteStore::open(data_dir).await?;
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let pseudonyms = Pseudonymizer::load_or_create(data_dir)?;
        let checkpoints = Arc::new(CheckpointLog::open(data_dir)?);
        let audit = AuditWriter::spawn(store.clone());
        let sandbox = Sandbox::new(config)?;
        let artifact_key = ArtifactKey::load_or_create(data_dir)?;
        let path = data_dir.join("artifacts");
        let artifacts = ArtifactStore::open(&path, sandbox.engine(), artifact_key)
            .map_err(|source| OpenError::Artifacts { path, source })?;
        let cache = Arc::new(ComponentCache::new(sandbox, Some(artifacts)));
        let approval_key = ApprovalKey::load_or_create(data_dir)?;
        seal::seal_at_upgrade(store.as_ref(), &approval_key).await?;
        let services = Arc::new(DataServices::new(store.clone(), audit, pseudonyms));
        Ok((
            Self::new(store, services, cache, approval_key, checkpoints),
            sqlite,
        ))
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Issues the first platform admin key if there is none yet; returns it
    /// (the only time it is shown), or `None` if one exists.
    pub async fn bootstrap_platform_admin(&self) -> Result<Option<IssuedKey>, IssueError> {
        if self.store().has_platform_admin_key().await? {
            return Ok(None);
        }
        issue_key(self.store(), None, Role::PlatformAdmin, "platform-admin")
            .await
            .map(Some)
    }

    /// Ends every live call, storing each one's record (at shutdown).
    pub async fn end_live_calls(self: &Arc<Self>) {
        calls::end_all(self).await;
    }
}

/// Every endpoint, in one list from which both the router and the OpenAPI
/// document are built: `routes!` takes a handler's method and path from its
/// `#[utoipa::path]` annotation, so a handler without one does not compile
/// here, and one cannot be routed at a path its document does not show. Add
/// endpoints only with `.routes(routes!(..))`; the tests in `openapi/` send a
/// request to every documented operation and check its key, roles and answers.
fn documented_routes() -> OpenApiRouter<Arc<ApiHost>> {
    let v1 = OpenApiRouter::default()
        .routes(routes!(tenants::create))
        .routes(routes!(tenants::create_key, tenants::list_keys))
        .routes(routes!(tenants::revoke_key))
        .routes(routes!(plugins::upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::get))
        .routes(routes!(plugins::roll_back))
        .routes(routes!(plugins::inspect))
        .routes(routes!(plugins::diff))
        .routes(routes!(plugins::approve))
        .routes(routes!(plugins::activate))
        .routes(routes!(leads::create))
        .routes(routes!(leads::list))
        .routes(routes!(leads::import).layer(DefaultBodyLimit::max(leads::IMPORT_BODY_LIMIT)))
        .routes(routes!(leads::get))
        .routes(routes!(leads::correct))
        .routes(routes!(leads::grant))
        .routes(routes!(leads::consents))
        .routes(routes!(leads::withdraw))
        .routes(routes!(rights::access_report))
        .routes(routes!(rights::restrict))
        .routes(routes!(rights::erase))
        .routes(routes!(portability::export))
        .routes(routes!(retention::get))
        .routes(routes!(retention::put))
        .routes(routes!(retention::purge))
        .routes(routes!(calls::handlers::start))
        .routes(routes!(calls::handlers::get))
        .routes(routes!(calls::handlers::event))
        .routes(routes!(calls::handlers::end))
        .routes(routes!(audit::query))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::latest_checkpoint, audit::sign_checkpoint))
        .routes(routes!(openapi::serve_document));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics::metrics))
        .nest("/v1", v1)
}

/// The API's routes over `host`, with body limits and request tracing.
pub fn app(host: Arc<ApiHost>) -> Router {
    let (routes, _document) = documented_routes().split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            host.clone(),
            people::record_people_access,
        ))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let path = request
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            tracing::info_span!("request", method = %request.method(), path, tenant = tracing::field::Empty)
        }))
        .with_state(host)
}

/// `GET /healthz`: the host is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The host is up", body = String, content_type = "text/plain", example = "ok")),
)]
async fn healthz() -> &'static str {
    "ok"
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not take {method}", uri.path()),
    )
}

/// Serves `app(host)` on `listener` until `shutdown` completes; then stops
/// accepting, lets running requests finish, and ends every live call.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Arc<ApiHost>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = app(host.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    host.end_live_calls().await;
    Ok(())
}
