//! The front door: Lambda's REST API on one port, with AWS's wire formats, SigV4 verification and
//! error shapes. It parses and renders; every decision is made by `lambent-control` (what a
//! function is) or the invoker (how it runs).

mod account;
mod aliases;
mod auth;
mod body;
mod code_urls;
mod concurrency;
mod error;
mod event_invoke_config;
mod event_source_mappings;
mod eventstream;
mod front_door;
mod function_urls;
mod functions;
mod invoke;
mod invoke_stream;
mod layers;
mod logs;
mod metrics;
mod permissions;
mod provisioned;
mod query;
mod routes;
mod scaling;
pub mod sigv4;
mod sqs;
mod tagging;
mod unimplemented;
mod usage;
mod versions;
pub mod wire;

pub use auth::CredentialSet;
pub use code_urls::CodeUrls;
pub use error::ApiError;
pub use front_door::FrontDoors;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use lambent_control::FunctionService;
use std::sync::Arc;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<FunctionService>,
    /// `None`: accept any signature (only allowed on loopback; the binary enforces that).
    pub credentials: Option<Arc<CredentialSet>>,
    pub code_urls: Arc<CodeUrls>,
    pub invoker: Arc<lambent_invoker::Invoker>,
    /// Asynchronous invocation (`InvocationType: Event`); `None`: such calls are refused.
    pub async_invoke: Option<lambent_async_invoke::AsyncInvoke>,
    /// The built-in SQS-compatible queue service; `None`: SQS requests are refused.
    pub queues: Option<Arc<lambent_queues::QueueService>>,
    /// Event source mappings (pollers feeding functions); `None`: the operations are refused.
    pub event_sources: Option<Arc<lambent_event_sources::EventSourceMappings>>,
    /// Function URLs and the route table.
    pub front_doors: FrontDoors,
    /// The log store behind the CloudWatch Logs API; `None`: Logs requests are refused.
    pub logs: Option<lambent_telemetry::LogStore>,
    /// Metrics and usage (`/metrics`, `/_lambent/metrics`, `/_lambent/usage`); `None`: those
    /// answer with an error.
    pub metering: Option<Arc<lambent_metering::Metering>>,
}

/// The whole HTTP surface of a Lambent server.
pub fn router(state: AppState) -> Router {
    let lambda = Router::new()
        .route(
            "/2015-03-31/functions",
            post(functions::create).get(functions::list),
        )
        .route("/2015-03-31/functions/", get(functions::list))
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::get).delete(functions::delete),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            axum::routing::put(functions::update_code),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            post(invoke_stream::invoke_with_response_stream),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(event_invoke_config::get)
                .put(event_invoke_config::put)
                .post(event_invoke_config::update)
                .delete(event_invoke_config::delete),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(event_invoke_config::list),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            post(versions::publish).get(versions::list),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases",
            post(aliases::create).get(aliases::list),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(aliases::get)
                .put(aliases::update)
                .delete(aliases::delete),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            axum::routing::put(concurrency::put).delete(concurrency::delete),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(concurrency::get),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(provisioned::get_or_list)
                .put(provisioned::put)
                .delete(provisioned::delete),
        )
        .route("/2018-10-31/layers", get(layers::list_or_find))
        .route("/2018-10-31/layers/", get(layers::list_or_find))
        .route(
            "/2018-10-31/layers/{name}/versions",
            post(layers::publish).get(layers::list_versions),
        )
        .route(
            "/2018-10-31/layers/{name}/versions/{version}",
            get(layers::get).delete(layers::delete),
        )
        .route(
            "/2015-03-31/functions/{name}/policy",
            post(permissions::add).get(permissions::get),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{statement_id}",
            delete(permissions::remove),
        )
        .route(
            "/2020-06-30/functions/{name}/code-signing-config",
            get(functions::code_signing_config),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            get(tagging::list).post(tagging::tag).delete(tagging::untag),
        )
        .route("/", post(json_protocol))
        .route(
            "/2015-03-31/event-source-mappings",
            post(event_source_mappings::create).get(event_source_mappings::list),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(event_source_mappings::create).get(event_source_mappings::list),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(event_source_mappings::get)
                .put(event_source_mappings::update)
                .delete(event_source_mappings::delete),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            get(function_urls::get)
                .post(function_urls::create)
                .put(function_urls::update)
                .delete(function_urls::delete),
        )
        .route(
            "/2021-10-31/functions/{name}/urls",
            get(function_urls::list),
        )
        .route(routes::ROUTE, get(routes::list).post(routes::create))
        .route(
            routes::ROUTE_ONE,
            get(routes::get).put(routes::update).delete(routes::delete),
        )
        .route(scaling::ROUTE, get(scaling::get))
        .route(metrics::ROUTE, get(metrics::query))
        .route(usage::ROUTE, get(usage::get))
        .route("/2016-08-19/account-settings", get(account::settings))
        .route("/2016-08-19/account-settings/", get(account::settings))
        .fallback(unimplemented::fallback)
        .method_not_allowed_fallback(unimplemented::fallback)
        .layer(middleware::from_fn_with_state(state.clone(), auth::verify));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(metrics::PROMETHEUS_ROUTE, get(metrics::prometheus))
        .route(code_urls::ROUTE, get(code_urls::download))
        .merge(lambda)
        .layer(middleware::from_fn(sqs::translate_errors))
        .layer(middleware::from_fn(request_id))
        .layer(DefaultBodyLimit::disable())
        // Outermost: URL and route requests never reach the Lambda API's signature check.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            front_door::dispatch,
        ))
        .with_state(state)
}

/// `POST /` carries AWS JSON-protocol services, told apart by their `X-Amz-Target` prefix:
/// CloudWatch Logs here, SQS (and anything else) in `sqs::handle`.
async fn json_protocol(
    axum::extract::State(state): axum::extract::State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    if logs::is_logs_request(&headers) {
        return logs::handle(state, headers, body).await;
    }
    sqs::handle(axum::extract::State(state), method, uri, headers, body).await
}

/// Every response carries `x-amzn-RequestId`; handlers that know a better id (Invoke) set it first.
async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key("x-amzn-RequestId")
        && let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) fn empty_response(status: StatusCode) -> Response {
    status.into_response()
}
