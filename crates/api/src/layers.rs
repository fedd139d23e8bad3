//! PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
//! DeleteLayerVersion.

use crate::query::QueryParams;
use crate::wire::layer_version;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lambent_control::LayerVersionView;
use lambent_control::input::PublishLayerInput;
use serde_json::{Value, json};

fn content(state: &AppState, headers: &HeaderMap, layer: &LayerVersionView) -> Value {
    json!({
        "Location": state.code_urls.location(headers, &layer.record.code_sha256_hex),
        "CodeSha256": crate::wire::code_sha256_base64(&layer.record.code_sha256_hex),
        "CodeSize": layer.record.code_size,
    })
}

pub async fn publish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let input: PublishLayerInput = body::json(request, "PublishLayerVersion").await?;
    let layer = state.service.publish_layer_version(&name, input).await?;
    let body = layer_version(&layer, Some(content(&state, &headers, &layer)));
    Ok(json_response(StatusCode::CREATED, body))
}

/// Lambda's version numbers are numbers in the path; anything else is refused as Lambda does.
fn version_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{raw}' at 'versionNumber' failed to satisfy \
                 constraint: Member must be a number"
            ),
        )
    })
}

pub async fn get(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state
        .service
        .get_layer_version(&name, version_number(&version)?)
        .await?;
    let body = layer_version(&layer, Some(content(&state, &headers, &layer)));
    Ok(json_response(StatusCode::OK, body))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state
        .service
        .delete_layer_version(&name, version_number(&version)?)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn list_versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let (versions, next) = state
        .service
        .list_layer_versions(
            &name,
            query.get("CompatibleRuntime"),
            query.get("CompatibleArchitecture"),
            query.get("Marker"),
            query.max_items()?,
        )
        .await?;
    let rendered: Vec<_> = versions.iter().map(|l| layer_version(l, None)).collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("LayerVersions", rendered, next),
    ))
}

/// `GET /2018-10-31/layers`: ListLayers, or GetLayerVersionByArn with `find=LayerVersion`.
pub async fn list_or_find(
    State(state): State<AppState>,
    query: RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    if query.get("find") == Some("LayerVersion") {
        let arn = query.get("Arn").unwrap_or_default();
        let layer = state.service.get_layer_version_by_arn(arn).await?;
        let body = layer_version(&layer, Some(content(&state, &headers, &layer)));
        return Ok(json_response(StatusCode::OK, body));
    }
    let (layers, next) = state
        .service
        .list_layers(
            query.get("CompatibleRuntime"),
            query.get("CompatibleArchitecture"),
            query.get("Marker"),
            query.max_items()?,
        )
        .await?;
    let rendered: Vec<_> = layers
        .iter()
        .map(|l| {
            json!({
                "LayerName": l.record.name,
                "LayerArn": l.layer_arn,
                "LatestMatchingVersion": layer_version(l, None),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("Layers", rendered, next),
    ))
}
