//! PutFunctionEventInvokeConfig (PUT), UpdateFunctionEventInvokeConfig (POST),
//! GetFunctionEventInvokeConfig, DeleteFunctionEventInvokeConfig and
//! ListFunctionEventInvokeConfigs on `/2019-09-25/functions/{name}/event-invoke-config[/list]`.

use crate::query::QueryParams;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::{EventInvokeConfigInput, EventInvokeConfigView};
use serde_json::{Map, Value, json};

pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: EventInvokeConfigInput = body::json(request, "PutFunctionEventInvokeConfig").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .put_event_invoke_config(&reference, &input)
        .await?;
    Ok(json_response(StatusCode::OK, render(&view)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: EventInvokeConfigInput =
        body::json(request, "UpdateFunctionEventInvokeConfig").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .update_event_invoke_config(&reference, &input)
        .await?;
    Ok(json_response(StatusCode::OK, render(&view)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state.service.get_event_invoke_config(&reference).await?;
    Ok(json_response(StatusCode::OK, render(&view)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    state.service.delete_event_invoke_config(&reference).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, None)?;
    let (views, next) = state
        .service
        .list_event_invoke_configs(&reference, query.get("Marker"), query.max_items()?)
        .await?;
    let items = views.iter().map(render).collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("FunctionEventInvokeConfigs", items, next),
    ))
}

/// FunctionEventInvokeConfig: `LastModified` is a timestamp (epoch seconds as a number), unset
/// limits are omitted, and `DestinationConfig` always has both sides (empty when unset).
fn render(view: &EventInvokeConfigView) -> Value {
    let side = |destination: &Option<String>| match destination {
        Some(arn) => json!({ "Destination": arn }),
        None => json!({}),
    };
    let mut out = Map::new();
    out.insert(
        "LastModified".into(),
        json!(view.last_modified.timestamp_millis() as f64 / 1000.0),
    );
    out.insert("FunctionArn".into(), json!(view.function_arn));
    if let Some(n) = view.maximum_retry_attempts {
        out.insert("MaximumRetryAttempts".into(), json!(n));
    }
    if let Some(n) = view.maximum_event_age_seconds {
        out.insert("MaximumEventAgeInSeconds".into(), json!(n));
    }
    out.insert(
        "DestinationConfig".into(),
        json!({
            "OnSuccess": side(&view.on_success),
            "OnFailure": side(&view.on_failure),
        }),
    );
    Value::Object(out)
}
