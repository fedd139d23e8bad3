//! What both front doors share: reading the request within Lambda's limits, running the function
//! on a task of its own, and writing a gateway response.

use crate::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lambent_control::FunctionRef;
use lambent_http_gateway::{HttpRequest, HttpResponse, MAX_PAYLOAD, RequestError};
use lambent_invoker::{InvokeError, InvokeRequest, InvokeResponse};
use std::time::Duration;

/// How an invocation ended, as the front doors tell them apart.
pub enum Outcome {
    Done(InvokeResponse),
    Refused(InvokeError),
    /// The front door stopped waiting (a route's integration timeout); the invocation goes on.
    TimedOut,
}

/// Reads the body (at most 6 MB) and copies what the events need; the parts as received are
/// kept for signature checks, which cover the wire path.
pub async fn read_request(
    request: Request,
    raw_path: &str,
) -> Result<(Parts, HttpRequest), RequestError> {
    let source_ip = super::source_ip(&request);
    let protocol = super::protocol(&request);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_PAYLOAD)
        .await
        .map_err(|_| RequestError::BodyTooLarge { limit: MAX_PAYLOAD })?;
    let request = HttpRequest::new(
        parts.method.as_str(),
        raw_path,
        parts.uri.query(),
        &parts.headers,
        body,
        source_ip,
        protocol,
    )?;
    Ok((parts, request))
}

/// Runs the invocation on its own task: a client that goes away, or a front door that stops
/// waiting, never cancels an invocation half-way (its environment returns to the pool as after
/// any other invocation), and no request waits for another's function.
pub async fn run(
    state: &AppState,
    function: FunctionRef,
    event: &serde_json::Value,
    request_id: &str,
    wait: Option<Duration>,
) -> Outcome {
    let payload = Bytes::from(event.to_string());
    if payload.len() > MAX_PAYLOAD {
        return Outcome::Refused(InvokeError::RequestTooLarge);
    }
    let invoker = state.invoker.clone();
    let request = InvokeRequest {
        function,
        payload,
        tail_logs: false,
        client_context: None,
        trace_id: None,
        request_id: Some(request_id.to_owned()),
    };
    let task = tokio::spawn(async move { invoker.invoke(request).await });
    let joined = match wait {
        Some(limit) => match tokio::time::timeout(limit, task).await {
            Ok(joined) => joined,
            Err(_) => return Outcome::TimedOut,
        },
        None => task.await,
    };
    match joined {
        Ok(Ok(response)) => Outcome::Done(response),
        Ok(Err(e)) => Outcome::Refused(e),
        Err(e) => Outcome::Refused(InvokeError::Service(format!("invocation task failed: {e}"))),
    }
}

/// A gateway response on the wire, with the request id Lambda's front doors send.
pub fn write(response: HttpResponse, request_id: &str) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = (status, Body::from(response.body)).into_response();
    let headers = out.headers_mut();
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    out
}

/// A front door's own answer (no function ran), e.g. `{"Message":"Forbidden"}`.
pub fn message(status: u16, key: &str, text: &str, error_type: Option<&'static str>) -> Response {
    let mut out = write(
        HttpResponse::json_message(status, key, text),
        &uuid::Uuid::new_v4().to_string(),
    );
    if let Some(kind) = error_type {
        out.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    }
    out
}

/// The status and message for a request refused before any function ran.
pub fn request_refusal(e: &RequestError, key: &str) -> Response {
    match e {
        RequestError::BodyTooLarge { limit } => message(
            413,
            key,
            &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
            Some("RequestTooLargeException"),
        ),
        RequestError::HeadersTooLarge => message(431, key, "Request Header Fields Too Large", None),
        RequestError::BadHeader(_) => message(400, key, "Bad Request", None),
    }
}
