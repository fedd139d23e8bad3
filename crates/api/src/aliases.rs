//! CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases.

use crate::query::QueryParams;
use crate::wire::alias_configuration;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::input::AliasInput;

pub async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: AliasInput = body::json(request, "CreateAlias").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let alias = state.service.create_alias(&reference, input).await?;
    Ok(json_response(
        StatusCode::CREATED,
        alias_configuration(&alias, state.service.account()),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reference = state.service.parse_ref(&name, None)?;
    let alias = state.service.get_alias(&reference, &alias).await?;
    Ok(json_response(
        StatusCode::OK,
        alias_configuration(&alias, state.service.account()),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: AliasInput = body::json(request, "UpdateAlias").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let alias = state
        .service
        .update_alias(&reference, &alias, input)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        alias_configuration(&alias, state.service.account()),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reference = state.service.parse_ref(&name, None)?;
    state.service.delete_alias(&reference, &alias).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, None)?;
    let (aliases, next) = state
        .service
        .list_aliases(
            &reference,
            query.get("FunctionVersion"),
            query.get("Marker"),
            query.max_items()?,
        )
        .await?;
    let account = state.service.account();
    let rendered: Vec<_> = aliases
        .iter()
        .map(|a| alias_configuration(a, account))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("Aliases", rendered, next),
    ))
}
