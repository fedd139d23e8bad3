//! PutProvisionedConcurrencyConfig, GetProvisionedConcurrencyConfig,
//! DeleteProvisionedConcurrencyConfig, ListProvisionedConcurrencyConfigs.

use crate::query::QueryParams;
use crate::wire::lambda_timestamp;
use crate::{ApiError, AppState, body, empty_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambent_control::ProvisionedView;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProvisionedInput {
    provisioned_concurrent_executions: Option<i64>,
}

/// The configuration with the invoker's allocation: READY once every environment is initialised.
fn render(state: &AppState, view: &ProvisionedView) -> Value {
    let allocated = state
        .invoker
        .provisioned_allocated(&view.function_name, &view.qualifier)
        .min(view.requested as usize);
    let status = if allocated >= view.requested as usize {
        "READY"
    } else {
        "IN_PROGRESS"
    };
    json!({
        "RequestedProvisionedConcurrentExecutions": view.requested,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": lambda_timestamp(&view.last_modified),
    })
}

pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let input: ProvisionedInput = body::json(request, "PutProvisionedConcurrencyConfig").await?;
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .put_provisioned_concurrency(&reference, input.provisioned_concurrent_executions)
        .await?;
    Ok(json_response(StatusCode::ACCEPTED, render(&state, &view)))
}

/// GET: one configuration (`Qualifier`), or all of them (`List=ALL`).
pub async fn get_or_list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    if query.get("List") == Some("ALL") {
        let reference = state.service.parse_ref(&name, None)?;
        let configs = state
            .service
            .list_provisioned_concurrency(&reference)
            .await?;
        let account = state.service.account();
        let rendered: Vec<Value> = configs
            .iter()
            .map(|view| {
                let mut item = render(&state, view);
                item["FunctionArn"] =
                    json!(account.qualified_arn(&view.function_name, Some(&view.qualifier)));
                item
            })
            .collect();
        return Ok(json_response(
            StatusCode::OK,
            json!({ "ProvisionedConcurrencyConfigs": rendered }),
        ));
    }
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let view = state
        .service
        .get_provisioned_concurrency(&reference)
        .await?;
    Ok(json_response(StatusCode::OK, render(&state, &view)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    state
        .service
        .delete_provisioned_concurrency(&reference)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
