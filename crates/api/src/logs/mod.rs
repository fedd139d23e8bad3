//! The CloudWatch Logs JSON 1.1 protocol (`POST /` with `X-Amz-Target: Logs_20140328.<Op>`),
//! as boto3's `logs` client and the AWS CLI speak it, over the log store the invoker feeds
//! (`lambent-telemetry`). It parses and renders; the store keeps groups, streams and events.

mod error;
mod events;
mod groups;

pub use error::LogsError;

use crate::{AppState, body};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambent_telemetry::{LogStore, LogStoreError};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET_PREFIX: &str = "Logs_20140328.";

/// What every operation needs besides its input.
pub struct Context {
    pub store: LogStore,
    pub region: String,
    pub account_id: String,
}

impl Context {
    /// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (DescribeLogGroups adds `:*` for `arn`).
    pub fn group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.region, self.account_id
        )
    }

    /// Runs a store call off the async workers: SQLite blocks, and the writer shares the lock.
    pub async fn run<T, F>(&self, f: F) -> Result<T, LogsError>
    where
        T: Send + 'static,
        F: FnOnce(&LogStore) -> Result<T, LogStoreError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result.map_err(LogsError::from),
            Err(e) => Err(LogsError::internal(format!("log store task failed: {e}"))),
        }
    }
}

/// Whether a request names a CloudWatch Logs operation.
pub fn is_logs_request(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

/// `POST /` with a `Logs_20140328.` target.
pub async fn handle(state: AppState, headers: HeaderMap, request: Body) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let bytes = match body::read(request, body::MAX_CONTROL_BODY, &operation).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => return serialization_error(e).into_response(),
        }
    };
    let Some(store) = state.logs.clone() else {
        return LogsError::new(
            StatusCode::BAD_REQUEST,
            "ServiceUnavailableException",
            "The log service is not enabled on this server.",
        )
        .into_response();
    };
    let account = state.service.account();
    let context = Context {
        store,
        region: account.region.clone(),
        account_id: account.account_id.clone(),
    };
    match dispatch(&context, &operation, input).await {
        Ok(output) => {
            let mut response = (StatusCode::OK, output.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn dispatch(context: &Context, operation: &str, input: Value) -> Result<Value, LogsError> {
    match operation {
        "DescribeLogGroups" => groups::describe(context, parse(input)?).await,
        "CreateLogGroup" => groups::create(context, parse(input)?).await,
        "DeleteLogGroup" => groups::delete(context, parse(input)?).await,
        "PutRetentionPolicy" => groups::put_retention(context, parse(input)?).await,
        "DeleteRetentionPolicy" => groups::delete_retention(context, parse(input)?).await,
        "TagResource" => groups::tag_resource(context, parse(input)?).await,
        "UntagResource" => groups::untag_resource(context, parse(input)?).await,
        "ListTagsForResource" => groups::list_tags_for_resource(context, parse(input)?).await,
        "TagLogGroup" => groups::tag_log_group(context, parse(input)?).await,
        "UntagLogGroup" => groups::untag_log_group(context, parse(input)?).await,
        "ListTagsLogGroup" => groups::list_tags_log_group(context, parse(input)?).await,
        "DescribeLogStreams" => events::describe_streams(context, parse(input)?).await,
        "GetLogEvents" => events::get(context, parse(input)?).await,
        "FilterLogEvents" => events::filter(context, parse(input)?).await,
        "CreateLogStream" => events::create_stream(context, parse(input)?).await,
        "PutLogEvents" => events::put(context, parse(input)?).await,
        _ => Err(LogsError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("The {operation} operation is not implemented by this Lambent release yet."),
        )),
    }
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T, LogsError> {
    serde_json::from_value(input).map_err(serialization_error)
}

fn serialization_error(e: serde_json::Error) -> LogsError {
    LogsError::new(
        StatusCode::BAD_REQUEST,
        "SerializationException",
        format!("Could not parse the request: {e}"),
    )
}

/// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
pub fn group_name(
    context: &Context,
    name: Option<String>,
    identifier: Option<String>,
) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(name), None) => Ok(name),
        (None, Some(id)) => {
            let prefix = format!(
                "arn:aws:logs:{}:{}:log-group:",
                context.region, context.account_id
            );
            Ok(match id.strip_prefix(&prefix) {
                Some(rest) => rest.strip_suffix(":*").unwrap_or(rest).to_owned(),
                None => id,
            })
        }
        (None, None) => Err(LogsError::invalid(
            "Should provide either a LogGroup name or a LogGroup ARN.",
        )),
    }
}

/// AWS's model-validation message for a `limit` outside `1..=max`.
pub fn check_limit(limit: Option<i64>, max: i64) -> Result<usize, LogsError> {
    match limit {
        None => Ok(max as usize),
        Some(n) if n < 1 => Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        ))),
        Some(n) if n > max => Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to {max}"
        ))),
        Some(n) => Ok(n as usize),
    }
}
