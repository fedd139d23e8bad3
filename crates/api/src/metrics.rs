//! Built-in metrics (not Lambda operations): `GET /metrics` in Prometheus text format and
//! `GET /_lambent/metrics?function=NAME&start=..&end=..`, one datapoint per minute.
//!
//! `/metrics` is served without a signature, like `/healthz`, because Prometheus cannot sign
//! requests; it names functions (at most the configured number, the rest as `other`) and counts,
//! nothing else. The JSON API is signed like the Lambda API when credentials are configured. Both
//! wait until every invocation finished before the request is counted (a flush of the metering
//! writer), so a client that invoked and then asks sees its invocation.

use crate::query::QueryParams;
use crate::{ApiError, AppState, json_response};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const PROMETHEUS_ROUTE: &str = "/metrics";
pub const ROUTE: &str = "/_lambent/metrics";

/// Default time range of the JSON API: the last hour.
const DEFAULT_RANGE_MS: i64 = 60 * 60 * 1000;

pub(crate) fn metering(state: &AppState) -> Result<&lambent_metering::Metering, ApiError> {
    state
        .metering
        .as_deref()
        .ok_or_else(|| ApiError::service("metering is not enabled on this server"))
}

pub async fn prometheus(State(state): State<AppState>) -> Response {
    let metering = match metering(&state) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = metering.flush().await {
        return ApiError::service(e.to_string()).into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metering.prometheus(),
    )
        .into_response()
}

pub async fn query(State(state): State<AppState>, raw: RawQuery) -> Result<Response, ApiError> {
    let metering = metering(&state)?;
    let params = QueryParams::parse(&raw);
    let function = params
        .get("function")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| invalid("the query parameter 'function' is required"))?;
    let now = chrono::Utc::now().timestamp_millis();
    let end = params
        .get("end")
        .map(parse_time)
        .transpose()?
        .unwrap_or(now);
    let start = params
        .get("start")
        .map(parse_time)
        .transpose()?
        .unwrap_or(end - DEFAULT_RANGE_MS);
    if start > end {
        return Err(invalid("'start' must not be after 'end'"));
    }
    metering
        .flush()
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    let points = metering.query(function, start, end);
    let sum = |f: fn(&lambent_metering::MinutePoint) -> u64| points.iter().map(f).sum::<u64>();
    Ok(json_response(
        StatusCode::OK,
        json!({
            "FunctionName": function,
            "Label": metering.label_of(function),
            "Start": start,
            "End": end,
            "PeriodSeconds": 60,
            "Datapoints": points,
            "Sum": {
                "Invocations": sum(|p| p.invocations),
                "Errors": sum(|p| p.errors),
                "Throttles": sum(|p| p.throttles),
                "ColdStarts": sum(|p| p.cold_starts),
                "MaxConcurrentExecutions":
                    points.iter().map(|p| p.concurrent_executions).max().unwrap_or(0),
            },
        }),
    ))
}

/// Milliseconds since the epoch from epoch seconds (integer or fractional) or RFC 3339.
pub(crate) fn parse_time(raw: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = raw.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            invalid(format!(
                "'{raw}' is not a time: use seconds since the epoch or RFC 3339"
            ))
        })
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_seconds_or_rfc3339() {
        assert_eq!(parse_time("60").ok(), Some(60_000));
        assert_eq!(parse_time("1.5").ok(), Some(1_500));
        assert_eq!(parse_time("1970-01-01T00:01:00Z").ok(), Some(60_000));
        assert!(parse_time("yesterday").is_err());
    }
}
