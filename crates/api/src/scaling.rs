//! `GET /_lambent/scaling`: Lambent's own view of how each function is scaled (not a Lambda
//! operation): environments busy, idle and initializing, cold starts and throttles, and the
//! runtimes started ahead of demand. Signed like the Lambda API when credentials are configured.

use crate::{AppState, json_response};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub const ROUTE: &str = "/_lambent/scaling";

pub async fn get(State(state): State<AppState>) -> Response {
    let functions: Vec<_> = state
        .invoker
        .scaling()
        .into_iter()
        .map(|f| {
            json!({
                "FunctionName": f.function,
                "Busy": f.busy,
                "Idle": f.idle,
                "Initializing": f.initializing,
                "ColdStarts": f.cold_starts,
                "Throttles": f.throttles,
                "EnvironmentIds": f.environment_ids,
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "Functions": functions,
            "PrestartedRuntimes": state.invoker.prestarted_runtimes(),
        }),
    )
}
