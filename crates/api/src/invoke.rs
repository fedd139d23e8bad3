//! Invoke: `POST /2015-03-31/functions/{name}/invocations`.

use crate::query::QueryParams;
use crate::{ApiError, AppState, body};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use lambent_async_invoke::{MAX_ASYNC_PAYLOAD, NewEvent};
use lambent_control::FunctionRef;
use lambent_invoker::{InvokeError, InvokeRequest, MAX_SYNC_PAYLOAD};

/// Lambda's limit on `X-Amz-Client-Context` (base64 of at most 3,583 bytes of JSON).
const MAX_CLIENT_CONTEXT: usize = 3583;

pub async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(&query);
    let reference = state.service.parse_ref(&name, query.get("Qualifier"))?;
    let CallHeaders {
        invocation_type,
        tail_logs,
    } = CallHeaders::read(&headers)?;
    let limit = if invocation_type == "Event" {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    let payload = body::read(request, limit, "InvokeFunction")
        .await
        .map_err(|_| too_large(limit))?;
    match invocation_type {
        "DryRun" => {
            state.service.resolve(&reference.or_latest()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "Event" => enqueue(&state, reference, payload).await,
        "RequestResponse" => {
            let request = sync_request(&headers, reference, payload, tail_logs)?;
            let response = state.invoker.invoke(request).await.map_err(invoke_error)?;
            let mut reply = (StatusCode::OK, Body::from(response.payload)).into_response();
            let out = reply.headers_mut();
            let content_type = response
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
                .unwrap_or_else(|| HeaderValue::from_static("application/json"));
            out.insert(header::CONTENT_TYPE, content_type);
            insert(out, "x-amzn-RequestId", &response.request_id);
            insert(out, "X-Amz-Executed-Version", &response.executed_version);
            if let Some(error) = response.function_error {
                insert(out, "X-Amz-Function-Error", error);
            }
            if let Some(tail) = response.log_tail {
                let encoded = base64::engine::general_purpose::STANDARD.encode(tail.as_bytes());
                insert(out, "X-Amz-Log-Result", &encoded);
            }
            Ok(reply)
        }
        other => Err(invalid_header(
            other,
            "invocationType",
            "[Event, RequestResponse, DryRun]",
        )),
    }
}

pub(crate) fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The headers that say how to call, shared by Invoke and InvokeWithResponseStream.
pub(crate) struct CallHeaders<'a> {
    /// `X-Amz-Invocation-Type` (default `RequestResponse`).
    pub invocation_type: &'a str,
    /// `X-Amz-Log-Type: Tail`.
    pub tail_logs: bool,
}

impl<'a> CallHeaders<'a> {
    pub(crate) fn read(headers: &'a HeaderMap) -> Result<Self, ApiError> {
        let invocation_type =
            header_str(headers, "X-Amz-Invocation-Type").unwrap_or("RequestResponse");
        let log_type = header_str(headers, "X-Amz-Log-Type").unwrap_or("None");
        if !matches!(log_type, "None" | "Tail") {
            return Err(invalid_header(log_type, "logType", "[None, Tail]"));
        }
        Ok(Self {
            invocation_type,
            tail_logs: log_type == "Tail",
        })
    }
}

/// A synchronous invocation of `function` with what its request headers carry (client context,
/// trace id).
pub(crate) fn sync_request(
    headers: &HeaderMap,
    function: FunctionRef,
    payload: bytes::Bytes,
    tail_logs: bool,
) -> Result<InvokeRequest, ApiError> {
    let client_context = header_str(headers, "X-Amz-Client-Context")
        .map(decode_client_context)
        .transpose()?;
    Ok(InvokeRequest {
        function,
        payload,
        tail_logs,
        client_context,
        trace_id: header_str(headers, "X-Amzn-Trace-Id").map(str::to_owned),
        request_id: None,
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn invalid_header(value: &str, member: &str, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: Member must satisfy enum value set: {allowed}"
        ),
    )
}

fn decode_client_context(encoded: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid())?;
    if bytes.len() > MAX_CLIENT_CONTEXT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!("Client context must be smaller than {MAX_CLIENT_CONTEXT} bytes."),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|_| invalid())?;
    Ok(text)
}

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
    )
}

/// `InvocationType: Event`: resolve the qualifier now (an alias picks its version when the event
/// is accepted, as in Lambda), journal the event durably, and only then answer 202 with the
/// request id the function will see.
async fn enqueue(
    state: &AppState,
    reference: FunctionRef,
    payload: bytes::Bytes,
) -> Result<Response, ApiError> {
    let Some(engine) = &state.async_invoke else {
        return Err(ApiError::not_implemented("Invoke (InvocationType Event)"));
    };
    let resolved = state.service.resolve(&reference.or_latest()).await?;
    let request_id = engine
        .enqueue(NewEvent {
            function: resolved.name,
            qualifier: reference.qualifier,
            version: resolved.version,
            payload,
        })
        .await
        .map_err(|e| ApiError::service(format!("cannot store the event: {e}")))?;
    let mut reply = (StatusCode::ACCEPTED, Body::empty()).into_response();
    let out = reply.headers_mut();
    insert(out, "x-amzn-RequestId", &request_id);
    insert(out, "X-Amz-Request-Id", &request_id);
    Ok(reply)
}

pub(crate) fn invoke_error(e: InvokeError) -> ApiError {
    match e {
        InvokeError::Control(c) => c.into(),
        InvokeError::RequestTooLarge => too_large(MAX_SYNC_PAYLOAD),
        InvokeError::ResourceNotReady(message) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "ResourceNotReadyException",
            message,
        ),
        InvokeError::Throttled(reason) => {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate Exceeded.",
            );
            error.headers.push(("Retry-After", "1".into()));
            error.members.push(("Reason", reason.as_str().into()));
            error
        }
        InvokeError::Service(message) => ApiError::service(message),
    }
}
