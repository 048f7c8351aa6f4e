//! `POST /v1/interactions`: validating a submission and storing it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use ixn_plugin_api::storage::{ErrorKind, Interaction, NewInteraction, Property, Value};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{ApiError, ApiState};

/// The submission body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitRequest {
    /// Client-chosen id; a 16-character time-ordered one is made otherwise.
    id: Option<String>,
    #[serde(default = "default_tenant")]
    tenant: String,
    media_type: String,
    #[serde(default = "default_type")]
    interaction_type: String,
    #[serde(default)]
    interaction_subtype: String,
    /// A queue of any business process; default: the entry queue of `business_process`.
    queue: Option<String>,
    /// Needed when several processes are configured and no queue is given.
    business_process: Option<String>,
    #[serde(default)]
    priority: i32,
    external_id: Option<String>,
    parent_id: Option<String>,
    #[serde(default = "default_submitter")]
    submitted_by: String,
    /// Attached data: strings, integers, floats, booleans, or `{"timestamp": ms}`.
    #[serde(default)]
    properties: BTreeMap<String, Json>,
}

fn default_tenant() -> String {
    "default".into()
}
fn default_type() -> String {
    "Inbound".into()
}
fn default_submitter() -> String {
    "api".into()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn property_value(key: &str, v: Json) -> Result<Value, ApiError> {
    Ok(match v {
        Json::String(s) => Value::Str(s),
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            // An integer beyond 64 bits would silently lose digits as a float.
            None if n.is_u64() => {
                return Err(bad(format!(
                    "property `{key}`: integer {n} does not fit in 64 bits"
                )));
            }
            None => Value::Float(
                n.as_f64()
                    .ok_or_else(|| bad(format!("property `{key}`: number out of range")))?,
            ),
        },
        Json::Object(o) if o.len() == 1 && o.get("timestamp").is_some_and(|t| t.is_i64()) => {
            Value::Timestamp(
                o.get("timestamp")
                    .and_then(Json::as_i64)
                    .unwrap_or_default(),
            )
        }
        other => {
            return Err(bad(format!(
                "property `{key}`: {other} is not a string, number, boolean or {{\"timestamp\": ms}}"
            )));
        }
    })
}

/// Refuses text no storage backend can hold: a NUL character (PostgreSQL's
/// text and JSONB refuse it), naming the field.
fn check_text(req: &SubmitRequest) -> Result<(), ApiError> {
    let nul = |field: &str| {
        bad(format!(
            "{field}: contains a NUL character (U+0000), which cannot be stored"
        ))
    };
    let fields: [(&str, Option<&str>); 7] = [
        ("tenant", Some(&req.tenant)),
        ("media_type", Some(&req.media_type)),
        ("interaction_type", Some(&req.interaction_type)),
        ("interaction_subtype", Some(&req.interaction_subtype)),
        ("external_id", req.external_id.as_deref()),
        ("parent_id", req.parent_id.as_deref()),
        ("submitted_by", Some(&req.submitted_by)),
    ];
    for (field, text) in fields {
        if text.is_some_and(|t| t.contains('\0')) {
            return Err(nul(field));
        }
    }
    for (key, value) in &req.properties {
        if key.contains('\0') {
            return Err(nul(&format!("properties: key {key:?}")));
        }
        if key.is_empty() {
            return Err(bad("properties: a key is empty"));
        }
        if value.as_str().is_some_and(|v| v.contains('\0')) {
            return Err(nul(&format!("properties.{key}")));
        }
    }
    Ok(())
}

/// The largest submission body accepted.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Reads the whole body within `body-read-timeout`: a client that trickles
/// its body (or stops sending) is answered 408 instead of holding a task and
/// a connection forever.
async fn read_body(
    body: axum::body::Body,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => Err(ApiError(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s (body-read-timeout)",
                timeout.as_secs()
            ),
        )),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                bad(format!("the request body could not be read: {e}"))
            })
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// Turns a submission body into the interaction to store, or the 4xx that
/// says what is wrong with it. Pure: no I/O, so it can be fuzzed.
pub fn parse_submission(
    body: &[u8],
    config: &crate::config::Config,
    now_ms: i64,
) -> Result<NewInteraction, ApiError> {
    let json: Json = serde_json::from_slice(body)
        .map_err(|e| bad(format!("invalid submission: not valid JSON: {e}")))?;
    let kind = match &json {
        Json::Object(_) => None,
        Json::Array(_) => Some("an array"),
        Json::String(_) => Some("a string"),
        Json::Number(_) => Some("a number"),
        Json::Bool(_) => Some("a boolean"),
        Json::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(bad(format!(
            "invalid submission: invalid type {kind}, expected a JSON object"
        )));
    }
    let req: SubmitRequest =
        serde_json::from_value(json).map_err(|e| bad(format!("invalid submission: {e}")))?;
    if req.media_type.trim().is_empty() {
        return Err(bad("media_type is empty"));
    }
    check_text(&req)?;
    let queue = match (&req.queue, &req.business_process) {
        (Some(q), bp) => {
            let Some(owner) = config.process_of(q) else {
                return Err(bad(format!("queue: no queue `{q}`")));
            };
            // Both given: they must agree, or the submitter meant something else.
            if let Some(bp) = bp {
                if !config.business_processes.iter().any(|p| &p.name == bp) {
                    return Err(bad(format!("business_process: no business process `{bp}`")));
                }
                if &owner.name != bp {
                    return Err(bad(format!(
                        "business_process: queue `{q}` belongs to business process `{}`, not `{bp}`",
                        owner.name
                    )));
                }
            }
            q.clone()
        }
        (None, Some(bp)) => match config.business_processes.iter().find(|p| &p.name == bp) {
            Some(p) => p.entry_queue.clone(),
            None => {
                return Err(bad(format!("business_process: no business process `{bp}`")));
            }
        },
        (None, None) => match config.business_processes.as_slice() {
            [only] => only.entry_queue.clone(),
            _ => {
                return Err(bad(
                    "several business processes are configured: name `business_process` or `queue`",
                ));
            }
        },
    };
    let id = match req.id {
        Some(id) if crate::ids::is_valid_id(&id) => id,
        Some(id) => {
            return Err(bad(format!(
                "id: `{id}` is not an id: {}",
                crate::ids::ID_RULE
            )));
        }
        None => crate::ids::new_id(),
    };
    let mut properties = Vec::with_capacity(req.properties.len());
    for (key, v) in req.properties {
        let value = property_value(&key, v)?;
        properties.push(Property { key, value });
    }
    Ok(NewInteraction {
        id,
        tenant: req.tenant,
        media_type: req.media_type,
        interaction_type: req.interaction_type,
        interaction_subtype: req.interaction_subtype,
        external_id: req.external_id,
        parent_id: req.parent_id,
        queue,
        priority: req.priority,
        submitted_by: req.submitted_by,
        submitted_at: now_ms,
        properties,
    })
}

pub(super) async fn submit(
    State(s): State<ApiState>,
    request: axum::extract::Request,
) -> Result<(StatusCode, axum::Json<Json>), ApiError> {
    let config = s.runtime.config();
    let body = read_body(request.into_body(), config.server.body_read_timeout).await?;
    let ix = parse_submission(&body, &config, crate::time::now_ms())?;
    let (id, queue) = (ix.id.clone(), ix.queue.clone());
    match s.submitter.submit(ix).await {
        Ok(()) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "id": id, "queue": queue })),
        )),
        Err(e) if e.kind == ErrorKind::Permanent => {
            Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.message))
        }
        Err(e) => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, e.message)),
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!(s),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Boolean(b) => json!(b),
        Value::Timestamp(t) => json!({ "timestamp": t }),
    }
}

/// An interaction as the API shows it.
pub fn interaction_json(ix: &Interaction) -> Json {
    let props: serde_json::Map<String, Json> = ix
        .properties
        .iter()
        .map(|p| (p.key.clone(), value_json(&p.value)))
        .collect();
    json!({
        "id": ix.id, "tenant": ix.tenant, "media_type": ix.media_type,
        "interaction_type": ix.interaction_type, "interaction_subtype": ix.interaction_subtype,
        "external_id": ix.external_id, "parent_id": ix.parent_id,
        "queue": ix.queue, "state": ix.state.code(), "is_locked": ix.is_locked, "priority": ix.priority,
        "submitted_by": ix.submitted_by, "submitted_at": ix.submitted_at,
        "placed_in_queue_at": ix.placed_in_queue_at, "moved_to_queue_at": ix.moved_to_queue_at,
        "delivered_at": ix.delivered_at, "assigned_to": ix.assigned_to, "workbin": ix.workbin,
        "scheduled_at": ix.scheduled_at, "lease_owner": ix.lease_owner, "lease_until": ix.lease_until,
        "lease_expiries": ix.lease_expiries, "stopped_at": ix.stopped_at, "stop_reason": ix.stop_reason,
        "component_version": ix.component_version,
        "properties": props,
    })
}
