//! PublishVersion and ListVersionsByFunction.

use crate::query::QueryParams;
use crate::wire::function_configuration;
use crate::{ApiError, AppState, body, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::input::PublishVersionInput;

pub async fn publish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: PublishVersionInput = body::json(request, "PublishVersion").await?;
    let reference = state.service.parse_ref(&name, None)?;
    let view = state.service.publish_version(&reference, input).await?;
    Ok(json_response(
        StatusCode::CREATED,
        function_configuration(&view, state.service.account()),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, None)?;
    let (versions, next) = state
        .service
        .list_versions(&reference, query.get("Marker"), query.max_items()?)
        .await?;
    let account = state.service.account();
    let rendered: Vec<_> = versions
        .iter()
        .map(|v| function_configuration(v, account))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("Versions", rendered, next),
    ))
}
