//! PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency.

use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyInput {
    reserved_concurrent_executions: Option<i64>,
}

pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: ConcurrencyInput = body::json(request, "PutFunctionConcurrency").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let reserved = state
        .service
        .put_function_concurrency(&reference, input.reserved_concurrent_executions)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "ReservedConcurrentExecutions": reserved }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let reference = state.service.parse_ref(&name, None)?;
    let body = match state.service.get_function_concurrency(&reference).await? {
        Some(reserved) => json!({ "ReservedConcurrentExecutions": reserved }),
        None => json!({}),
    };
    Ok(json_response(StatusCode::OK, body))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let reference = state.service.parse_ref(&name, None)?;
    state
        .service
        .delete_function_concurrency(&reference)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
