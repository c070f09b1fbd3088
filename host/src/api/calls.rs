//! Live calls: each started call is a [`CallSession`] (one task owning its plugin
//! instance) kept in a per-host map by tenant and call id. A call is pinned to the
//! host that started it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::registry::RegistryError;
use super::tagging::{self, CallFacts, TaggerResult};
use super::{ApiError, ApiHost};
use crate::capabilities::gate::{CallScope, DataGate, Declared};
use crate::component::World;
use crate::protocol::{CallEvent, CallStarted, CallSummary, Direction, EndReason};
use crate::session::{
    CallOptions, CallRecord, CallSession, EventOutcome, FlowInstance, PluginFailure,
};
use crate::store::CallStart;

/// The body of `POST /v1/calls`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCall {
    /// The plugin whose active version runs the call.
    pub plugin: String,
    /// The platform's id for the call; unique within the tenant: 1 to 128 of
    /// `A-Z`, `a-z`, `0-9`, `-`, `_`, `.` and `:`, starting with a letter or digit.
    pub call_id: String,
    /// The lead on the call, if known; its data is reached only through the
    /// plugin's manifest and the lead's consents.
    #[serde(default)]
    pub lead_id: Option<String>,
    /// Who placed the call.
    pub direction: Direction,
    /// The tenant's campaign, if any.
    #[serde(default)]
    pub campaign: Option<String>,
    /// The caller's locale (BCP 47).
    pub locale: String,
    /// The platform's reference to the call's recording, if it is recorded.
    #[serde(default)]
    pub recording: Option<String>,
}

impl StartCall {
    /// Checks every id of the request against the id grammar ([`crate::ids`])
    /// before anything is looked up or logged: the new call's id, campaign and
    /// locale must fit it; the plugin and lead it names are looked up, so they
    /// only must hold no control characters.
    fn check_ids(&self) -> Result<(), crate::ids::InvalidId> {
        use crate::ids::{check_id, check_lookup};
        check_id("call_id", &self.call_id)?;
        check_lookup("plugin", &self.plugin)?;
        if let Some(lead) = &self.lead_id {
            check_lookup("lead_id", lead)?;
        }
        if let Some(campaign) = &self.campaign {
            check_id("campaign", campaign)?;
        }
        check_id("locale", &self.locale)?;
        if let Some(recording) = &self.recording {
            crate::ids::check_text("recording", recording, 1024)?;
        }
        Ok(())
    }
}

/// The answer to `POST /v1/calls`: which version runs it, and the actions for `started`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallStartedView {
    /// The call.
    pub call_id: String,
    /// The plugin.
    pub plugin: String,
    /// Its active version, now running the call.
    pub plugin_version: String,
    /// Its component digest.
    pub component_digest: String,
    /// What the plugin made of `started`.
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// A live call's session and what the API needs to know about it.
struct LiveCall {
    session: CallSession,
    /// The lead on the call: its result is redacted if the lead is erased.
    lead_id: Option<String>,
    /// What the platform said at the start, for the lead taggers' summary.
    facts: CallFacts,
}

/// The optional body of `POST /v1/calls/{call_id}/end`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCall {
    /// Why the call ended, spelled as in a script's `ended` event
    /// (`caller_hung_up`, `flow_hung_up`, ...): the plugin is handed `ended`
    /// with it before the call ends, so its `ended` logic runs.
    pub reason: EndReason,
}

impl EndCall {
    /// The end reason in `body`: none for an empty body (the call ends
    /// without an `ended` event), else `{"reason": "<end reason>"}`.
    pub fn parse(body: &[u8]) -> Result<Option<EndReason>, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice::<EndCall>(body)
            .map(|end| Some(end.reason))
            .map_err(|error| {
                ApiError::unprocessable(format!(
                    "the body of /end must be empty or {{\"reason\": \"<end reason>\"}} with one of {}: {error}",
                    EndReason::ALL
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// The answer to `POST /v1/calls/{call_id}/end`: what happened on the call,
/// and what each of the tenant's lead taggers made of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallEnded {
    /// Events, actions, data uses, failure.
    #[serde(flatten)]
    pub record: CallRecord,
    /// One entry per active lead tagger (none when the call had no lead).
    pub taggers: Vec<TaggerResult>,
    /// The call's lead, whose data the record may quote (for the audit record
    /// of this answer; not sent).
    #[serde(skip)]
    pub lead_id: Option<String>,
}

/// The calls this host is running, by (tenant, call id).
#[derive(Default)]
pub struct LiveCalls {
    calls: Mutex<HashMap<(String, String), LiveCall>>,
    /// Ended calls whose lead taggers found no room to run (`/end` answered
    /// 503): a retried `/end` runs the taggers still owed.
    owed_taggers: Mutex<HashMap<(String, String), OwedTaggers>>,
}

/// An ended call's lead taggers still to run, kept for a retried `/end`.
struct OwedTaggers {
    lead_id: String,
    summary: CallSummary,
    record: CallRecord,
    /// The taggers that ran before there was no room.
    done: Vec<TaggerResult>,
    /// When the call ended: the debt is forgotten after the idle timeout.
    since: std::time::Instant,
}

impl LiveCalls {
    /// Keeps `owed` for a retry, dropping debts older than `expiry`.
    fn owe_taggers(
        &self,
        tenant: &str,
        call_id: &str,
        owed: OwedTaggers,
        expiry: std::time::Duration,
    ) {
        let mut map = self.owed_taggers.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, debt| debt.since.elapsed() < expiry);
        map.insert((tenant.to_owned(), call_id.to_owned()), owed);
    }

    fn take_owed_taggers(&self, tenant: &str, call_id: &str) -> Option<OwedTaggers> {
        self.owed_taggers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(tenant.to_owned(), call_id.to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), LiveCall>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn session(&self, tenant: &str, call_id: &str) -> Option<CallSession> {
        self.lock()
            .get(&(tenant.to_owned(), call_id.to_owned()))
            .map(|call| call.session.clone())
    }

    fn remove(&self, tenant: &str, call_id: &str) -> Option<LiveCall> {
        self.lock().remove(&(tenant.to_owned(), call_id.to_owned()))
    }

    /// Whether the call is live on this host.
    pub fn is_live(&self, tenant: &str, call_id: &str) -> bool {
        self.lock()
            .contains_key(&(tenant.to_owned(), call_id.to_owned()))
    }

    /// How many calls are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn drain(&self) -> Vec<((String, String), LiveCall)> {
        self.lock().drain().collect()
    }
}

/// Starts call `request.call_id` of `tenant` with the active version of
/// `request.plugin`, under its manifest's limits, fallback, purpose and
/// declared data, and hands it `started`.
pub async fn start(
    host: &ApiHost,
    tenant: &str,
    request: StartCall,
) -> Result<CallStartedView, ApiError> {
    request.check_ids()?;
    let store = host.store();
    if let Some(lead) = &request.lead_id
        && store.lead(tenant, lead).await?.is_none()
    {
        return Err(ApiError::not_found(format!("no lead '{lead}'")));
    }
    if host.calls.is_live(tenant, &request.call_id)
        || store.call(tenant, &request.call_id).await?.is_some()
    {
        return Err(ApiError::conflict(format!(
            "call '{}' was already started; call ids are used once",
            request.call_id
        )));
    }
    let version = match host.registry.active(tenant, &request.plugin).await {
        Ok(version) => version,
        Err(RegistryError::Refused(refusal)) => {
            return refused(host, tenant, request, refusal).await;
        }
        Err(other) => return Err(other.into()),
    };
    let manifest = &version.manifest;
    if manifest.world != World::CallFlow {
        return Err(ApiError::conflict(format!(
            "plugin '{}' is a {} plugin; calls run call-flow plugins",
            request.plugin, manifest.world
        )));
    }
    let compiled = host.registry.compiled(&version).await?;
    let sandbox = host.cache.sandbox().clone();
    let limits = manifest.plugin_limits(sandbox.config())?;
    let digest = compiled.digest.to_string();
    let plugin_version = manifest.version.to_string();
    let scope = CallScope::new(
        &host.services,
        tenant,
        &request.call_id,
        request.lead_id.clone(),
        (&manifest.name, &plugin_version, &digest),
        manifest.purpose,
        Declared::from_manifest(manifest),
        request.recording.clone(),
    );
    let mut options = CallOptions::new(limits);
    if let Some(fallback) = manifest.fallback_actions() {
        options.fallback = fallback;
    }
    options.data = Some(DataGate {
        services: host.services.clone(),
        scope: Arc::new(scope),
    });
    let instance = FlowInstance::start(sandbox.clone(), &compiled, options).await?;
    let recorded = store
        .record_call_start(&CallStart {
            tenant: tenant.to_owned(),
            call_id: request.call_id.clone(),
            plugin: manifest.name.clone(),
            plugin_version: plugin_version.clone(),
            component_digest: digest.clone(),
            lead_id: request.lead_id.clone(),
            started_at_ms: crate::clock::now_ms(),
        })
        .await;
    if let Err(error) = recorded {
        // Two starts of one call id racing: the second finds the first's row.
        return Err(match store.call(tenant, &request.call_id).await {
            Ok(Some(_)) => ApiError::conflict(format!(
                "call '{}' was already started; call ids are used once",
                request.call_id
            )),
            _ => error.into(),
        });
    }
    let session = CallSession::spawn(instance, sandbox.config().idle_timeout);
    host.calls.lock().insert(
        (tenant.to_owned(), request.call_id.clone()),
        LiveCall {
            session: session.clone(),
            lead_id: request.lead_id.clone(),
            facts: CallFacts {
                direction: request.direction,
                campaign: request.campaign.clone(),
                started_at_ms: crate::clock::now_ms_unsigned(),
            },
        },
    );
    tracing::info!(tenant, call_id = %request.call_id, plugin = %manifest.name, version = %plugin_version, "call started");
    let started = CallEvent::Started(CallStarted {
        call_id: request.call_id.clone(),
        direction: request.direction,
        campaign: request.campaign,
        started_at_ms: None,
        locale: request.locale,
    });
    host.metrics.call_started();
    let outcome = session
        .event(started)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    host.metrics.event(&outcome);
    Ok(CallStartedView {
        call_id: request.call_id,
        plugin: manifest.name.clone(),
        plugin_version,
        component_digest: digest,
        outcome,
    })
}

/// Answers the start of a call whose plugin's active version is refused (its
/// stored bytes are not the ones reviewed): nothing is instantiated, the call
/// gets the host's default fallback (the refused manifest's own fallback is
/// not trusted either) with the refusal as its failure, and is stored as
/// started and ended, so its id is used up and `GET /v1/calls/{id}` shows why.
async fn refused(
    host: &ApiHost,
    tenant: &str,
    request: StartCall,
    refusal: Box<super::seal::Refusal>,
) -> Result<CallStartedView, ApiError> {
    tracing::error!(tenant, call_id = %request.call_id, plugin = %request.plugin, %refusal, "call refused its plugin version; performing the default fallback");
    let stored_digest = host
        .registry
        .get(tenant, &request.plugin)
        .await?
        .versions
        .into_iter()
        .find(|v| v.version == refusal.version().to_string())
        .map(|v| v.component_digest)
        .unwrap_or_default();
    let failure = PluginFailure::Instantiation {
        message: refusal.to_string(),
    };
    let fallback = crate::session::default_fallback();
    let store = host.store();
    let recorded = store
        .record_call_start(&CallStart {
            tenant: tenant.to_owned(),
            call_id: request.call_id.clone(),
            plugin: request.plugin.clone(),
            plugin_version: refusal.version().to_string(),
            component_digest: stored_digest.clone(),
            lead_id: request.lead_id.clone(),
            started_at_ms: crate::clock::now_ms(),
        })
        .await;
    if let Err(error) = recorded {
        // Two starts of one call id racing: the second finds the first's row.
        return Err(match store.call(tenant, &request.call_id).await {
            Ok(Some(_)) => ApiError::conflict(format!(
                "call '{}' was already started; call ids are used once",
                request.call_id
            )),
            _ => error.into(),
        });
    }
    let record = CallRecord {
        events: 1,
        actions: fallback.clone(),
        failure: Some(failure.clone()),
        ..CallRecord::default()
    };
    store_end(
        host,
        tenant,
        &request.call_id,
        request.lead_id.as_deref(),
        &record,
    )
    .await?;
    let outcome = EventOutcome {
        actions: fallback,
        log: Vec::new(),
        plugin_time: std::time::Duration::ZERO,
        host_time: std::time::Duration::ZERO,
        data: Vec::new(),
        failure: Some(failure),
    };
    host.metrics.call_started();
    host.metrics.event(&outcome);
    host.metrics.call_ended();
    Ok(CallStartedView {
        call_id: request.call_id,
        plugin: request.plugin,
        plugin_version: refusal.version().to_string(),
        component_digest: stored_digest,
        outcome,
    })
}

/// Hands `event` to the live call's plugin and returns its outcome.
pub async fn event(
    host: &ApiHost,
    tenant: &str,
    call_id: &str,
    event: CallEvent,
) -> Result<EventOutcome, ApiError> {
    event.validate()?;
    if matches!(event, CallEvent::Started(_)) {
        return Err(ApiError::unprocessable(
            "a call starts once, with POST /v1/calls; `started` cannot be posted as an event",
        ));
    }
    let Some(session) = host.calls.session(tenant, call_id) else {
        return Err(not_live(host, tenant, call_id).await);
    };
    match session.event(event).await {
        Ok(outcome) => {
            host.metrics.event(&outcome);
            Ok(outcome)
        }
        Err(closed) => {
            host.calls.remove(tenant, call_id);
            Err(ApiError::conflict(format!("call '{call_id}': {closed}")))
        }
    }
}

/// Ends the live call: hands the plugin `ended` with `reason` when one is
/// given, frees it, runs the tenant's lead taggers on the call (when it had a
/// lead), stores its record and returns both.
pub async fn end(
    host: &ApiHost,
    tenant: &str,
    call_id: &str,
    reason: Option<EndReason>,
) -> Result<CallEnded, ApiError> {
    if let Some(owed) = host.calls.take_owed_taggers(tenant, call_id) {
        return run_owed_taggers(host, tenant, call_id, owed).await;
    }
    let Some(call) = host.calls.remove(tenant, call_id) else {
        return Err(not_live(host, tenant, call_id).await);
    };
    if let Some(reason) = reason {
        // As if the platform had posted `ended`: its actions (a tag, a
        // message) are decided and performed, and kept in the record.
        if let Ok(outcome) = call.session.event(CallEvent::Ended { reason }).await {
            host.metrics.event(&outcome);
        }
    }
    // A session that already ended (freed after being idle past its grace)
    // has no record left: the call's end is stored all the same.
    let record = call.session.finish().await.unwrap_or_default();
    store_end(host, tenant, call_id, call.lead_id.as_deref(), &record).await?;
    host.metrics.call_ended();
    let Some(lead_id) = call.lead_id else {
        return Ok(CallEnded {
            record,
            taggers: Vec::new(),
            lead_id: None,
        });
    };
    let owed = OwedTaggers {
        summary: tagging::summary(
            call_id,
            &call.facts,
            &record,
            crate::clock::now_ms_unsigned(),
        ),
        lead_id,
        record,
        done: Vec::new(),
        since: std::time::Instant::now(),
    };
    run_owed_taggers(host, tenant, call_id, owed).await
}

/// Runs the lead taggers `owed` for an ended call. When one finds no room
/// (`503 busy`), what ran is kept and the rest stay owed for a retried `/end`.
async fn run_owed_taggers(
    host: &ApiHost,
    tenant: &str,
    call_id: &str,
    mut owed: OwedTaggers,
) -> Result<CallEnded, ApiError> {
    let ran = tagging::run_lead_taggers(
        host,
        tenant,
        &owed.lead_id,
        &owed.summary,
        &owed.record,
        &mut owed.done,
    )
    .await;
    match ran {
        Ok(()) => Ok(CallEnded {
            record: owed.record,
            taggers: owed.done,
            lead_id: Some(owed.lead_id),
        }),
        Err(error) => {
            if error.is_busy() {
                let expiry = host.cache.sandbox().config().idle_timeout;
                host.calls.owe_taggers(tenant, call_id, owed, expiry);
            }
            Err(error)
        }
    }
}

/// What an erased lead's calls keep as their result.
pub fn erased_note() -> serde_json::Value {
    crate::store::erased_call_result()
}

async fn store_end(
    host: &ApiHost,
    tenant: &str,
    call_id: &str,
    lead_id: Option<&str>,
    record: &CallRecord,
) -> Result<(), ApiError> {
    let erased = match lead_id {
        Some(lead) => host
            .store()
            .lead(tenant, lead)
            .await?
            .is_none_or(|lead| lead.erased_at_ms.is_some()),
        None => false,
    };
    let result = if erased {
        erased_note()
    } else {
        serde_json::to_value(record).map_err(|e| ApiError::internal(&e))?
    };
    host.store()
        .record_call_end(tenant, call_id, crate::clock::now_ms(), &result)
        .await?;
    tracing::info!(tenant, call_id, events = record.events, "call ended");
    Ok(())
}

/// The error for a call that is not live here: never started (404), or over (409).
async fn not_live(host: &ApiHost, tenant: &str, call_id: &str) -> ApiError {
    match host.store().call(tenant, call_id).await {
        Ok(Some(_)) => ApiError::conflict(format!("call '{call_id}' has ended")),
        Ok(None) => ApiError::not_found(format!("no call '{call_id}'")),
        Err(error) => error.into(),
    }
}

/// Ends every live call (at shutdown): each plugin is told the call ended,
/// then freed, and its record stored. The calls end side by side, and each
/// event is bounded by the host's wall-clock limit, so shutdown takes about
/// one such limit however many calls are live and whatever their plugins do.
pub async fn end_all(host: &Arc<ApiHost>) {
    let mut ending = tokio::task::JoinSet::new();
    for ((tenant, call_id), live) in host.calls.drain() {
        let host = host.clone();
        ending.spawn(async move { end_one(&host, tenant, call_id, live).await });
    }
    while ending.join_next().await.is_some() {}
}

/// Ends one live call at shutdown; see [`end_all`].
async fn end_one(host: &ApiHost, tenant: String, call_id: String, live: LiveCall) {
    let LiveCall {
        session, lead_id, ..
    } = live;
    let _ = session
        .event(CallEvent::Ended {
            reason: EndReason::NetworkError,
        })
        .await;
    match session.finish().await {
        Ok(record) => {
            if let Err(error) =
                store_end(host, &tenant, &call_id, lead_id.as_deref(), &record).await
            {
                tracing::warn!(tenant = %tenant, call_id = %call_id, %error, "cannot store the end of a call at shutdown");
            }
        }
        Err(closed) => {
            tracing::info!(tenant = %tenant, call_id = %call_id, %closed, "call already over at shutdown")
        }
    }
}

/// The HTTP handlers of `/v1/calls` (role runtime).
pub mod handlers {
    use std::sync::Arc;

    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use serde::Serialize;

    use super::{CallStartedView, StartCall};
    use crate::api::auth::{Auth, Runtimes};
    use crate::api::people::Released;
    use crate::api::{ApiError, ApiHost, ApiJson, ApiPath};
    use crate::protocol::CallEvent;
    use crate::session::EventOutcome;

    /// `POST /v1/calls`: starts a call; answers the actions for `started`.
    ///
    /// The plugin's active version runs it, under its manifest's limits,
    /// fallback, purpose and declared reads.
    #[utoipa::path(
        post,
        path = "/calls",
        tag = "calls",
        operation_id = "start_call",
        request_body = StartCall,
        responses(
            (status = 201, description = "The call is live; the plugin's outcome for `started`", body = CallStartedView),
            (status = 404, description = "No such plugin or lead"),
            (status = 409, description = "The call id was used before, or the plugin has no active version or is not a call-flow plugin"),
            (status = 422, description = "`call_id`, `campaign` or `locale` does not fit the id grammar (1 to 128 of A-Z, a-z, 0-9, '-', '_', '.', ':', starting with a letter or digit), or the body does not fit the schema"),
            (status = 429, description = "The tenant is at its own cap of live plugin instances or plugin memory: nothing was started; retry after `Retry-After` seconds or once one of its calls ends (other tenants' calls go on)"),
            (status = 503, description = "The host's instance pool or plugin memory budget is full: nothing was started; retry after `Retry-After` seconds"),
        ),
        security(("api_key" = ["runtime"])),
    )]
    pub async fn start(
        auth: Auth<Runtimes>,
        State(host): State<Arc<ApiHost>>,
        ApiJson(request): ApiJson<StartCall>,
    ) -> Result<(StatusCode, Released, Json<CallStartedView>), ApiError> {
        // A refusal names the lead it was asked for (a probe for a lead the
        // tenant does not have leaves a denied record); a busy host's 429 or
        // 503 does not, so an overload adds no audit writes.
        let lead = request.lead_id.clone();
        let view =
            super::start(&host, auth.tenant(), request)
                .await
                .map_err(|error| match &lead {
                    Some(lead)
                        if error.status.is_client_error()
                            && error.status != StatusCode::TOO_MANY_REQUESTS =>
                    {
                        error.naming_lead(lead)
                    }
                    _ => error,
                })?;
        // What the plugin read is recorded as its own uses.
        Ok((StatusCode::CREATED, Released::nothing(), Json(view)))
    }

    /// `POST /v1/calls/{call_id}/events`: one event in, the plugin's outcome out.
    #[utoipa::path(
        post,
        path = "/calls/{call_id}/events",
        tag = "calls",
        operation_id = "post_call_event",
        params(("call_id" = String, Path, description = "The platform's id for the call")),
        request_body(content = CallEvent, description = "One event, as in a `cally simulate` script; not `started`", example = json!({"type": "speech", "text": "yes please", "confidence": 0.92, "final": true})),
        responses(
            (status = 200, description = "What the plugin made of the event: its actions, or the fallback if it failed", body = EventOutcome),
            (status = 404, description = "The tenant never started a call with that id"),
            (status = 409, description = "The call has ended"),
            (status = 422, description = "The event is invalid (such as `started`, or a confidence outside 0 to 1) or does not fit the schema"),
        ),
        security(("api_key" = ["runtime"])),
    )]
    pub async fn event(
        auth: Auth<Runtimes>,
        State(host): State<Arc<ApiHost>>,
        ApiPath(call_id): ApiPath<String>,
        ApiJson(event): ApiJson<CallEvent>,
    ) -> Result<Json<EventOutcome>, ApiError> {
        Ok(Json(
            super::event(&host, auth.tenant(), &call_id, event).await?,
        ))
    }

    /// `POST /v1/calls/{call_id}/end`: ends the call; answers what happened on
    /// it and what the tenant's lead taggers made of it.
    #[utoipa::path(
        post,
        path = "/calls/{call_id}/end",
        tag = "calls",
        operation_id = "end_call",
        params(("call_id" = String, Path, description = "The platform's id for the call")),
        request_body(content = Option<super::EndCall>, description = "Optional: `{\"reason\": \"caller_hung_up\"}` hands the plugin `ended` with that reason before the call ends. Without a body the plugin is not told (unless `ended` was posted as an event), and the lead taggers' summary says `plugin_failed` if the plugin failed, else `caller_hung_up`", example = json!({"reason": "caller_hung_up"})),
        responses(
            (status = 200, description = "The call's record, and each active lead tagger's tags, those written and its data uses", body = super::CallEnded),
            (status = 404, description = "The tenant never started a call with that id"),
            (status = 409, description = "The call has ended"),
            (status = 422, description = "The body is neither empty nor `{\"reason\": \"<end reason>\"}`"),
        ),
        security(("api_key" = ["runtime"])),
    )]
    pub async fn end(
        auth: Auth<Runtimes>,
        State(host): State<Arc<ApiHost>>,
        ApiPath(call_id): ApiPath<String>,
        body: axum::body::Bytes,
    ) -> Result<(Released, Json<super::CallEnded>), ApiError> {
        let reason = super::EndCall::parse(&body)?;
        let ended = super::end(&host, auth.tenant(), &call_id, reason).await?;
        let released = quoting(ended.lead_id.as_deref(), &call_id);
        Ok((released, Json(ended)))
    }

    /// A call's stored record quotes what its plugin read about its lead: its
    /// answer is recorded against the lead, if the call had one.
    fn quoting(lead_id: Option<&str>, call_id: &str) -> Released {
        match lead_id {
            Some(lead) => Released::lead(lead).on_call(call_id),
            None => Released::nothing(),
        }
    }

    /// A call as `GET /v1/calls/{call_id}` shows it.
    #[derive(Serialize, utoipa::ToSchema)]
    pub struct CallView {
        /// Whether it is running on this host.
        live: bool,
        /// The call as stored; its `result` (actions, data uses, failure) once ended.
        #[serde(flatten)]
        call: crate::store::CallRecord,
    }

    /// `GET /v1/calls/{call_id}`: the call, and its result once it ended.
    #[utoipa::path(
        get,
        path = "/calls/{call_id}",
        tag = "calls",
        operation_id = "get_call",
        params(("call_id" = String, Path, description = "The platform's id for the call")),
        responses(
            (status = 200, description = "The call as stored, whether it is live on this host, and its result once ended", body = CallView),
            (status = 404, description = "The tenant never started a call with that id"),
        ),
        security(("api_key" = ["runtime"])),
    )]
    pub async fn get(
        auth: Auth<Runtimes>,
        State(host): State<Arc<ApiHost>>,
        ApiPath(call_id): ApiPath<String>,
    ) -> Result<(Released, Json<CallView>), ApiError> {
        let tenant = auth.tenant();
        let call = host
            .store()
            .call(tenant, &call_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no call '{call_id}'")))?;
        let released = quoting(call.lead_id.as_deref(), &call_id);
        Ok((
            released,
            Json(CallView {
                live: host.calls.is_live(tenant, &call_id),
                call,
            }),
        ))
    }
}
