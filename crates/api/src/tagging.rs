//! TagResource, UntagResource, ListTags.

use crate::query::QueryParams;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    tags: Option<BTreeMap<String, String>>,
}

pub async fn list(
    State(state): State<AppState>,
    Path(arn): Path<String>,
) -> Result<Response, ApiError> {
    let tags = match mapping_tags(&state, &arn) {
        Some(mappings) => mappings.list_tags(&arn).await?,
        None => state.service.list_tags(&arn).await?,
    };
    Ok(json_response(StatusCode::OK, json!({ "Tags": tags })))
}

pub async fn tag(
    State(state): State<AppState>,
    Path(arn): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: TagInput = body::json(request, "TagResource").await?;
    let tags = input.tags.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: \
             Member must not be null",
        )
    })?;
    match mapping_tags(&state, &arn) {
        Some(mappings) => mappings.tag_resource(&arn, &tags).await?,
        None => state.service.tag_resource(&arn, tags).await?,
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn untag(
    State(state): State<AppState>,
    Path(arn): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let keys = QueryParams::parse(&query).get_all("tagKeys");
    match mapping_tags(&state, &arn) {
        Some(mappings) => mappings.untag_resource(&arn, &keys).await?,
        None => state.service.untag_resource(&arn, &keys).await?,
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// The event source mapping service when `arn` names a mapping: their tags live with the
/// mapping, not with a function.
fn mapping_tags<'a>(
    state: &'a AppState,
    arn: &str,
) -> Option<&'a lambent_event_sources::EventSourceMappings> {
    state
        .event_sources
        .as_deref()
        .filter(|_| lambent_event_sources::EventSourceMappings::is_mapping_arn(arn))
}
