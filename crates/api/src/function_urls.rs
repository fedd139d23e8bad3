//! CreateFunctionUrlConfig (POST), GetFunctionUrlConfig, UpdateFunctionUrlConfig (PUT),
//! DeleteFunctionUrlConfig on `/2021-10-31/functions/{name}/url[?Qualifier=alias]` and
//! ListFunctionUrlConfigs on `/2021-10-31/functions/{name}/urls`.
//!
//! The answers follow the AWS recordings: Create and Update show `InvokeMode` only when it was
//! set, Get and List always (`BUFFERED` by default); Create has no `LastModifiedTime`; times are
//! ISO-8601 strings.

use crate::query::QueryParams;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::function_urls::{FunctionUrlInput, FunctionUrlView};
use lambent_http_gateway::host::url_host;
use serde_json::{Map, Value, json};

pub async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: FunctionUrlInput = body::json(request, "CreateFunctionUrlConfig").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .create_function_url(&reference, &input)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        render(&state, &view, Shape::Create),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: FunctionUrlInput = body::json(request, "UpdateFunctionUrlConfig").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .update_function_url(&reference, &input)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        render(&state, &view, Shape::Update),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state.service.get_function_url(&reference).await?;
    Ok(json_response(
        StatusCode::OK,
        render(&state, &view, Shape::Get),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    state.service.delete_function_url(&reference).await?;
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
        .list_function_urls(&reference, query.get("Marker"), query.max_items()?)
        .await?;
    let items = views
        .iter()
        .map(|v| render(&state, v, Shape::Get))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        crate::wire::page("FunctionUrlConfigs", items, next),
    ))
}

/// The public URL of a URL id on this server.
pub fn function_url(state: &AppState, url_id: &str) -> String {
    format!(
        "http://{}:{}/",
        url_host(url_id, &state.service.account().region),
        state.front_doors.port
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Create,
    Update,
    Get,
}

fn render(state: &AppState, view: &FunctionUrlView, shape: Shape) -> Value {
    let mut out = Map::new();
    out.insert(
        "FunctionUrl".into(),
        json!(function_url(state, &view.url_id)),
    );
    out.insert("FunctionArn".into(), json!(view.function_arn));
    out.insert("AuthType".into(), json!(view.auth_type));
    if let Some(cors) = &view.cors {
        let mut c = Map::new();
        if let Some(v) = cors.allow_credentials {
            c.insert("AllowCredentials".into(), json!(v));
        }
        for (key, list) in [
            ("AllowHeaders", &cors.allow_headers),
            ("AllowMethods", &cors.allow_methods),
            ("AllowOrigins", &cors.allow_origins),
            ("ExposeHeaders", &cors.expose_headers),
        ] {
            if let Some(list) = list {
                c.insert(key.into(), json!(list));
            }
        }
        if let Some(age) = cors.max_age {
            c.insert("MaxAge".into(), json!(age));
        }
        out.insert("Cors".into(), Value::Object(c));
    }
    out.insert("CreationTime".into(), json!(iso(&view.created)));
    if shape != Shape::Create {
        out.insert("LastModifiedTime".into(), json!(iso(&view.last_modified)));
    }
    let mode = match shape {
        Shape::Get => Some(view.invoke_mode.as_deref().unwrap_or("BUFFERED")),
        Shape::Create | Shape::Update => view.invoke_mode.as_deref(),
    };
    if let Some(mode) = mode {
        out.insert("InvokeMode".into(), json!(mode));
    }
    Value::Object(out)
}

/// `2021-10-31T12:00:00.000000Z`, the URL operations' time format.
fn iso(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
