//! AddPermission, RemovePermission, GetPolicy.

use crate::query::QueryParams;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::input::AddPermissionInput;
use serde_json::json;

pub async fn add(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: AddPermissionInput = body::json(request, "AddPermission").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let statement = state.service.add_permission(&reference, input).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "Statement": statement }),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    Path((name, statement_id)): Path<(String, String)>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    state
        .service
        .remove_permission(&reference, &statement_id, query.get("RevisionId"))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let (policy, revision) = state.service.get_policy(&reference).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "Policy": policy, "RevisionId": revision }),
    ))
}
