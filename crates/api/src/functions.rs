//! CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
//! UpdateFunctionConfiguration, DeleteFunction.

use crate::query::QueryParams;
use crate::wire::function_configuration;
use crate::{ApiError, AppState, body, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lambent_control::input::{CreateFunctionInput, UpdateCodeInput, UpdateConfigurationInput};
use serde_json::json;

pub async fn create(State(state): State<AppState>, request: Body) -> Result<Response, ApiError> {
    let input: CreateFunctionInput = body::json(request, "CreateFunction").await?;
    let view = state.service.create_function(input).await?;
    Ok(json_response(
        StatusCode::CREATED,
        function_configuration(&view, state.service.account()),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let (view, tags, reserved) = state.service.get_function(&reference).await?;
    let account = state.service.account();
    let location = state.code_urls.location(&headers, &view.code_sha256_hex);
    let mut out = json!({
        "Configuration": function_configuration(&view, account),
        "Code": { "RepositoryType": "S3", "Location": location },
    });
    if !tags.is_empty() {
        out["Tags"] = json!(tags);
    }
    if let Some(reserved) = reserved {
        out["Concurrency"] = json!({ "ReservedConcurrentExecutions": reserved });
    }
    Ok(json_response(StatusCode::OK, out))
}

pub async fn get_configuration(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let (view, _, _) = state.service.get_function(&reference).await?;
    Ok(json_response(
        StatusCode::OK,
        function_configuration(&view, state.service.account()),
    ))
}

pub async fn list(State(state): State<AppState>, query: RawQuery) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    if let Some(version) = query.get("FunctionVersion")
        && version != "ALL"
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{version}' at 'functionVersion' failed to \
                 satisfy constraint: Member must satisfy enum value set: [ALL]"
            ),
        ));
    }
    let max_items = query.max_items()?;
    let (page, next) = state
        .service
        .list_functions(
            query.get("Marker"),
            max_items,
            query.get("FunctionVersion") == Some("ALL"),
        )
        .await?;
    let account = state.service.account();
    let functions: Vec<_> = page
        .iter()
        .map(|r| function_configuration(r, account))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("Functions", functions, next),
    ))
}

pub async fn update_code(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: UpdateCodeInput = body::json(request, "UpdateFunctionCode").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let view = state.service.update_code(&reference, input).await?;
    Ok(json_response(
        StatusCode::OK,
        function_configuration(&view, state.service.account()),
    ))
}

pub async fn update_configuration(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: UpdateConfigurationInput =
        body::json(request, "UpdateFunctionConfiguration").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let record = state
        .service
        .update_configuration(&reference, input)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        function_configuration(&record, state.service.account()),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    state.service.delete_function(&reference).await?;
    Ok(crate::empty_response(StatusCode::NO_CONTENT))
}

/// GetFunctionCodeSigningConfig: Lambent has no code signing, which Lambda reports as an empty ARN.
pub async fn code_signing_config(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let reference = state.service.parse_ref(&name, None)?;
    let (view, _, _) = state.service.get_function(&reference).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "CodeSigningConfigArn": "", "FunctionName": view.name }),
    ))
}
