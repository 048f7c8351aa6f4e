//! The HTTP API: submit, get, queue counts, health, the running config and
//! reloading it.
//!
//! Request bodies are parsed here (not by axum's extractor) so that every
//! malformed request gets a 4xx with a JSON `{"error": "..."}` body.

pub mod serve;
pub mod submit;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};

use crate::bp::scheduler::BpRuntime;
use crate::bp::strategy::Arm;
use crate::reload::{Outcome, ReloadHandle};
use crate::server::Submitter;

/// What handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The business-process runtime.
    pub runtime: Arc<BpRuntime>,
    /// Submission batching.
    pub submitter: Submitter,
    /// The reload path.
    pub reloads: ReloadHandle,
}

/// An error answer: status and message.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/interactions", post(submit::submit))
        .route("/v1/interactions/{id}", get(get_interaction))
        .route("/v1/queues", get(queues))
        .route("/v1/config", get(config))
        .route("/v1/strategies", get(strategies))
        .route("/v1/admin/reload", post(reload))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint".into(),
            )
        })
        .with_state(state)
}

fn storage_error(e: ixn_plugin_api::storage::StorageError) -> ApiError {
    match e.kind {
        ixn_plugin_api::storage::ErrorKind::Retriable => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, e.message)
        }
        ixn_plugin_api::storage::ErrorKind::Permanent => {
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.message)
        }
    }
}

/// How long after a logger lost a record `/health` still reports it degraded.
const RECENT_LOSS_MS: i64 = 60_000;

/// `GET /health`: `ok`, or `degraded` with every reason. 503 while the
/// storage cannot store (submissions would fail); a logger that fails or lost
/// records recently degrades the status but the server still takes work.
async fn health(State(s): State<ApiState>) -> Response {
    let rt = &s.runtime;
    let now = crate::time::now_ms();
    let mut reasons: Vec<String> = Vec::new();
    let storage_failing = rt.storage.failing();
    if let Some(f) = &storage_failing {
        reasons.push(format!(
            "storage `{}` cannot store for {} s: {}",
            rt.storage.name(),
            (now - f.since).max(0) / 1000,
            f.error
        ));
    }
    let loggers: Vec<Json> = rt
        .bus
        .loggers()
        .iter()
        .map(|l| {
            let st = l.stats();
            let failing = st.failing();
            if let Some(f) = &failing {
                reasons.push(format!(
                    "event logger `{}`: its sink fails for {} s, events are kept and retried: {}",
                    l.name(),
                    (now - f.since).max(0) / 1000,
                    f.error
                ));
            }
            let last_loss = st.last_loss_at.load(Ordering::Relaxed);
            if last_loss > 0 && now - last_loss < RECENT_LOSS_MS {
                reasons.push(format!(
                    "event logger `{}` discarded events in the last {} s",
                    l.name(),
                    RECENT_LOSS_MS / 1000
                ));
            }
            let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            json!({
                "name": l.name(),
                "sink_state": if failing.is_some() { "failing" } else { "ok" },
                "received": load(&st.received),
                "filtered": load(&st.filtered),
                "queued": load(&st.queued),
                "queue_length": l.queue_length(),
                "written": load(&st.written),
                "retried": load(&st.retried),
                "write_errors": load(&st.write_errors),
                "spooled": load(&st.spooled),
                "spool_records": load(&st.spool_records),
                "spool_bytes": load(&st.spool_bytes),
                "dead_lettered": load(&st.dead_lettered),
                "discarded_overflow": load(&st.discarded_overflow),
                "discarded_spool_full": load(&st.discarded_spool_full),
                "discarded_rejected": load(&st.discarded_rejected),
                "discarded_shutdown": load(&st.discarded_shutdown),
                "failing_since": failing.map(|f| f.since),
                "last_error": st.last_error().map(|e| json!({"at": e.since, "message": e.error})),
            })
        })
        .collect();
    let views: Vec<Json> = rt
        .config()
        .views()
        .map(|v| {
            // A view whose pullers have not started yet has counted nothing.
            let st = rt.view_stats(&v.name).unwrap_or_default();
            json!({
                "name": v.name, "queue": v.queue, "strategy": v.strategy, "enabled": v.enabled,
                "claimed": st.claimed.load(Ordering::Relaxed),
                "decided": st.decided.load(Ordering::Relaxed),
                "failed": st.failed.load(Ordering::Relaxed),
                "lease_lost": st.lease_lost.load(Ordering::Relaxed),
            })
        })
        .collect();
    let status = if reasons.is_empty() { "ok" } else { "degraded" };
    let code = if storage_failing.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": status,
        "reasons": reasons,
        "accepting_submissions": storage_failing.is_none(),
        "storage": rt.storage.name(),
        "events_origin": rt.bus.origin(),
        "events_produced": rt.bus.produced(),
        "loggers": loggers,
        "views": views,
    });
    (code, axum::Json(body)).into_response()
}

async fn get_interaction(
    State(s): State<ApiState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<axum::Json<Json>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError(e.status(), e.body_text()))?;
    if !crate::ids::is_valid_id(&id) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("`{id}` is not an interaction id"),
        ));
    }
    match s
        .runtime
        .storage
        .get(id.clone())
        .await
        .map_err(storage_error)?
    {
        Some(ix) => Ok(axum::Json(submit::interaction_json(&ix))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no interaction `{id}`"),
        )),
    }
}

/// `GET /v1/config`: which config runs, the last reload that applied one and
/// the last one refused.
async fn config(State(s): State<ApiState>) -> axum::Json<Json> {
    let snapshot = s.runtime.snapshot();
    axum::Json(json!({
        "generation": snapshot.generation,
        "hash": snapshot.config.hash,
        "applied_at": snapshot.applied_at,
        "source": snapshot.config.source.display().to_string(),
        "components": snapshot.components.iter().map(|(name, s)| (name.clone(), json!(s.primary.version()))).collect::<serde_json::Map<_, _>>(),
        "canaries": snapshot.components.iter().filter_map(|(name, s)| {
            let c = s.canary.as_ref()?;
            Some((name.clone(), json!({"version": c.component.version(), "percent": c.percent})))
        }).collect::<serde_json::Map<_, _>>(),
        "last_applied": s.reloads.last_applied(),
        "last_rejected": s.reloads.last_rejected(),
    }))
}

/// `GET /v1/strategies`: per strategy, every component version that serves
/// it now (its arm and share) or made calls since the host started (a
/// version rolled back or replaced keeps its figures, `arm` null), each with
/// its calls, errors, traps and call latency.
async fn strategies(State(s): State<ApiState>) -> axum::Json<Json> {
    let snapshot = s.runtime.snapshot();
    let mut out = serde_json::Map::new();
    for (name, strategy) in &snapshot.components {
        let canary_share = strategy.canary.as_ref().map_or(0.0, |c| c.percent);
        let mut versions = Vec::new();
        let mut listed = Vec::new();
        for (arm, share) in [
            (Arm::Primary, 100.0 - canary_share),
            (Arm::Canary, canary_share),
        ] {
            if let Some(c) = strategy.arm(arm) {
                let figures = s.runtime.call_stats(name, c.version()).figures();
                versions.push(json!({
                    "version": c.version(),
                    "arm": arm,
                    "percent": share,
                    "component": c.strategy().component.display().to_string(),
                    "calls": figures,
                }));
                listed.push(c.version().to_string());
            }
        }
        for ((strategy_name, version), stats) in s.runtime.all_call_stats() {
            if strategy_name == *name && !listed.contains(&version) {
                versions.push(json!({
                    "version": version,
                    "arm": null,
                    "percent": 0.0,
                    "calls": stats.figures(),
                }));
            }
        }
        out.insert(name.clone(), json!({ "versions": versions }));
    }
    axum::Json(json!({ "generation": snapshot.generation, "strategies": out }))
}

/// `POST /v1/admin/reload`: reads the config file again and applies what
/// changed, as SIGHUP and a file change do. 200 with the new (or unchanged)
/// generation; 422 with every error line when the new config is refused
/// (the running one stays).
async fn reload(State(s): State<ApiState>) -> Response {
    let outcome = s.reloads.reload("POST /v1/admin/reload").await;
    let code = match outcome {
        Outcome::Applied { .. } | Outcome::Unchanged { .. } => StatusCode::OK,
        Outcome::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Outcome::Stopping => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, axum::Json(outcome.to_json())).into_response()
}

async fn queues(State(s): State<ApiState>) -> Result<axum::Json<Json>, ApiError> {
    let counts = s.runtime.storage.counts().await.map_err(storage_error)?;
    let snapshot = s.runtime.snapshot();
    let config = &snapshot.config;
    let mut rows = Vec::new();
    for bp in &config.business_processes {
        for q in &bp.queues {
            let c = counts.iter().find(|c| c.queue == q.name);
            let n = |f: fn(&ixn_plugin_api::storage::QueueCount) -> u64| c.map(f).unwrap_or(0);
            rows.push(json!({
                "queue": q.name, "business_process": bp.name,
                "queued": n(|c| c.queued), "cached": n(|c| c.cached), "routing": n(|c| c.routing),
                "handled": n(|c| c.handled), "stopped": n(|c| c.stopped),
            }));
        }
    }
    // Rows in queues no longer configured still hold interactions: show them.
    for c in counts
        .iter()
        .filter(|c| config.process_of(&c.queue).is_none())
    {
        rows.push(json!({
            "queue": c.queue, "business_process": null,
            "queued": c.queued, "cached": c.cached, "routing": c.routing, "handled": c.handled, "stopped": c.stopped,
        }));
    }
    Ok(axum::Json(
        json!({ "generation": snapshot.generation, "queues": rows }),
    ))
}
