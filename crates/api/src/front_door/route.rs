//! Route table requests, with API Gateway HTTP API behaviour: the most specific route's function
//! gets a payload 1.0 or 2.0 event; an integration that runs past the route's timeout is answered
//! 504 while the invocation finishes on its own; errors use API Gateway's statuses and
//! lower-case `message` bodies (payload 2.0: 500 for a function error; 1.0: 502, as REST APIs).

use super::invoke::{Outcome, message, read_request, request_refusal, run, write};
use crate::AppState;
use axum::extract::Request;
use axum::response::Response;
use lambent_http_gateway::event::{self, EventContext};
use lambent_http_gateway::routes::match_route;
use lambent_http_gateway::{HttpResponse, response};
use lambent_invoker::InvokeError;
use std::time::Duration;

/// The API id routes report in `requestContext.apiId` (Lambent has one route table).
const API_ID: &str = "lambent";

pub async fn serve(state: &AppState, host: String, raw_path: String, request: Request) -> Response {
    let Some(routes) = state.front_doors.routes.clone() else {
        return message(404, "message", "Not Found", None);
    };
    let (_, http) = match read_request(request, &raw_path).await {
        Ok(read) => read,
        Err(e) => return request_refusal(&e, "message"),
    };
    let table = routes.routes();
    let Some(matched) = match_route(&table, &http.method, &http.raw_path) else {
        return message(404, "message", "Not Found", None);
    };
    let route = matched.route;
    let v1 = route.payload_format_version == "1.0";
    let request_id = uuid::Uuid::new_v4().to_string();
    let domain_name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_owned();
    let domain_prefix = domain_name.split('.').next().unwrap_or("").to_owned();
    let ctx = EventContext {
        account_id: state.service.account().account_id.clone(),
        api_id: API_ID.into(),
        domain_name,
        domain_prefix,
        route_key: route.route_key.clone(),
        stage: "$default".into(),
        request_id: request_id.clone(),
        resource: matched.resource.clone(),
        path_parameters: matched.path_parameters.clone(),
        iam: None,
        time: chrono::Utc::now(),
    };
    let function = match state
        .service
        .parse_ref(&route.function, route.qualifier.as_deref())
    {
        Ok(function) => function,
        Err(_) => return internal_error(v1, &request_id),
    };
    let event = if v1 {
        event::v1(&http, &ctx)
    } else {
        event::v2(&http, &ctx)
    };
    let wait = Duration::from_millis(u64::from(route.timeout_ms));
    match run(state, function, &event, &request_id, Some(wait)).await {
        Outcome::Done(done) if done.function_error.is_none() => {
            let parsed = if v1 {
                response::from_v1(&done.payload)
            } else {
                response::from_v2(&done.payload)
            };
            match parsed {
                Ok(answer) => write(answer, &request_id),
                Err(e) => {
                    tracing::info!(route = %route.route_key, error = %e, "route result is not a response");
                    internal_error(v1, &request_id)
                }
            }
        }
        Outcome::Done(_) => internal_error(v1, &request_id),
        Outcome::TimedOut => write(
            HttpResponse::json_message(504, "message", "Endpoint request timed out"),
            &request_id,
        ),
        Outcome::Refused(InvokeError::Throttled(_)) => write(
            HttpResponse::json_message(429, "message", "Too Many Requests"),
            &request_id,
        ),
        Outcome::Refused(InvokeError::RequestTooLarge) => write(
            HttpResponse::json_message(413, "message", "Request Entity Too Large"),
            &request_id,
        ),
        Outcome::Refused(e) => {
            tracing::warn!(route = %route.route_key, error = %e, "route invocation failed");
            internal_error(v1, &request_id)
        }
    }
}

fn internal_error(v1: bool, request_id: &str) -> Response {
    let answer = if v1 {
        HttpResponse::json_message(502, "message", "Internal server error")
    } else {
        HttpResponse::json_message(500, "message", "Internal Server Error")
    };
    write(answer, request_id)
}
