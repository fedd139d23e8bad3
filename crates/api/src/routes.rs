//! Lambent's route table API (signed like the Lambda API when credentials are configured):
//!
//! - `POST /_lambent/routes` `{"RouteKey": "GET /items/{id}", "FunctionName": "f",
//!   "Qualifier": "live", "PayloadFormatVersion": "2.0", "TimeoutInMillis": 30000}` → 201 route
//! - `GET /_lambent/routes` → `{"Routes": [...]}`
//! - `GET|PUT|DELETE /_lambent/routes/{RouteId}` (PUT changes the members it names)
//!
//! Routes are served under `/_lambent/http/...` and on the host `execute-api.localhost`.
//! The function is not required to exist yet (a deployment may create routes first); a route to a
//! missing function answers 500 when called.

use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_http_gateway::routes::{MAX_TIMEOUT_MS, Route, RouteStore, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub const ROUTE: &str = "/_lambent/routes";
pub const ROUTE_ONE: &str = "/_lambent/routes/{id}";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteInput {
    route_key: Option<String>,
    function_name: Option<String>,
    qualifier: Option<String>,
    payload_format_version: Option<String>,
    timeout_in_millis: Option<u32>,
}

pub async fn create(State(state): State<AppState>, request: Body) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let input: RouteInput = body::json(request, "CreateRoute").await?;
    let route = Route {
        route_id: uuid::Uuid::new_v4().simple().to_string()[..10].to_owned(),
        route_key: input.route_key.ok_or_else(|| bad("RouteKey is required"))?,
        function: input
            .function_name
            .ok_or_else(|| bad("FunctionName is required"))?,
        qualifier: input.qualifier,
        payload_format_version: input.payload_format_version.unwrap_or_else(|| "2.0".into()),
        timeout_ms: input.timeout_in_millis.unwrap_or(MAX_TIMEOUT_MS),
        created: chrono::Utc::now(),
    };
    check_function(&state, &route)?;
    let created = blocking(move || store.create(route)).await?;
    Ok(json_response(StatusCode::CREATED, render(&created)))
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let routes: Vec<Value> = store.routes().iter().map(render).collect();
    Ok(json_response(StatusCode::OK, json!({ "Routes": routes })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let route = store.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(json_response(StatusCode::OK, render(&route)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let input: RouteInput = body::json(request, "UpdateRoute").await?;
    let mut route = store.get(&id).ok_or_else(|| not_found(&id))?;
    if let Some(key) = input.route_key {
        route.route_key = key;
    }
    if let Some(function) = input.function_name {
        route.function = function;
        route.qualifier = None;
    }
    if input.qualifier.is_some() {
        route.qualifier = input.qualifier;
    }
    if let Some(version) = input.payload_format_version {
        route.payload_format_version = version;
    }
    if let Some(timeout) = input.timeout_in_millis {
        route.timeout_ms = timeout;
    }
    check_function(&state, &route)?;
    let updated = blocking(move || store.update(route)).await?;
    Ok(json_response(StatusCode::OK, render(&updated)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store(&state)?;
    blocking(move || store.delete(&id)).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn render(route: &Route) -> Value {
    let mut out = json!({
        "RouteId": route.route_id,
        "RouteKey": route.route_key,
        "FunctionName": route.function,
        "PayloadFormatVersion": route.payload_format_version,
        "TimeoutInMillis": route.timeout_ms,
        "CreatedDate": crate::wire::lambda_timestamp(&route.created),
    });
    if let (Some(q), Value::Object(map)) = (&route.qualifier, &mut out) {
        map.insert("Qualifier".into(), json!(q));
    }
    out
}

/// The function name must be one Lambda would accept (it need not exist yet).
fn check_function(state: &AppState, route: &Route) -> Result<(), ApiError> {
    state
        .service
        .parse_ref(&route.function, route.qualifier.as_deref())
        .map(drop)
        .map_err(ApiError::from)
}

fn store(state: &AppState) -> Result<Arc<RouteStore>, ApiError> {
    state
        .front_doors
        .routes
        .clone()
        .ok_or_else(|| ApiError::not_implemented("route table"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::service(format!("route store task failed: {e}")))?
        .map_err(|e| match e {
            StoreError::Invalid(e) => bad(&e.to_string()),
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "ConflictException", e.to_string())
            }
            StoreError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "NotFoundException", e.to_string())
            }
            StoreError::Storage(m) => ApiError::service(m),
        })
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        format!("route {id} not found"),
    )
}
