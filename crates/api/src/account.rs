//! GetAccountSettings.

use crate::{ApiError, AppState, json_response};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// Lambda's default code storage limit per region.
const TOTAL_CODE_SIZE: u64 = 80_530_636_800;

pub async fn settings(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (function_count, total_code_size) = state.service.usage().await?;
    let limits = state.service.code_store_limits();
    Ok(json_response(
        StatusCode::OK,
        json!({
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": limits.max_unzipped_bytes,
                "CodeSizeZipped": limits.max_zipped_bytes,
                "ConcurrentExecutions": state.service.concurrency_limit(),
                "UnreservedConcurrentExecutions": state.service.unreserved_concurrency(),
            },
            "AccountUsage": {
                "TotalCodeSize": total_code_size,
                "FunctionCount": function_count,
            },
        }),
    ))
}
