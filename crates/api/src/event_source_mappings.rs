//! Create/Get/Update/Delete/ListEventSourceMappings under `/2015-03-31/event-source-mappings`.
//! Lambda answers Create, Update and Delete with 202 (the change completes in the background).

use crate::query::QueryParams;
use crate::{ApiError, AppState, body, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_event_sources::{CreateInput, EsmError, EventSourceMappings, UpdateInput};

impl From<EsmError> for ApiError {
    fn from(e: EsmError) -> Self {
        let message = e.to_string();
        match e {
            EsmError::InvalidParameterValue(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                message,
            ),
            EsmError::Validation(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
            }
            EsmError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
            }
            EsmError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "ResourceConflictException", message)
            }
            EsmError::InUse(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "ResourceInUseException", message)
            }
            EsmError::Control(c) => c.into(),
            EsmError::Internal(detail) => {
                tracing::error!(%detail, "event source mapping failure");
                ApiError::service(detail)
            }
        }
    }
}

fn mappings(state: &AppState) -> Result<&EventSourceMappings, ApiError> {
    state
        .event_sources
        .as_deref()
        .ok_or_else(|| ApiError::not_implemented("event source mapping"))
}

pub async fn create(State(state): State<AppState>, request: Body) -> Result<Response, ApiError> {
    let input: CreateInput = body::json(request, "CreateEventSourceMapping").await?;
    let created = mappings(&state)?.create(input).await?;
    Ok(json_response(StatusCode::ACCEPTED, created))
}

pub async fn list(State(state): State<AppState>, query: RawQuery) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let max_items = match query.get("MaxItems") {
        Some(raw) => Some(
            raw.parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterValueException",
                        format!("1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000"),
                    )
                })?,
        ),
        None => None,
    };
    let listed = mappings(&state)?
        .list(
            query.get("EventSourceArn"),
            query.get("FunctionName"),
            query.get("Marker"),
            max_items,
        )
        .await?;
    Ok(json_response(StatusCode::OK, listed))
}

pub async fn get(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let mapping = mappings(&state)?.get(&uuid).await?;
    Ok(json_response(StatusCode::OK, mapping))
}

pub async fn update(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    request: Body,
) -> Result<Response, ApiError> {
    let input: UpdateInput = body::json(request, "UpdateEventSourceMapping").await?;
    let updated = mappings(&state)?.update(&uuid, input).await?;
    Ok(json_response(StatusCode::ACCEPTED, updated))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let deleted = mappings(&state)?.delete(&uuid).await?;
    Ok(json_response(StatusCode::ACCEPTED, deleted))
}
