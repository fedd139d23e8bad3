//! InvokeWithResponseStream: `POST /2021-11-15/functions/{name}/response-streaming-invocations`.
//!
//! The response is an AWS event stream: one `PayloadChunk` message per chunk the function wrote,
//! sent as it arrives, then one `InvokeComplete` (`ErrorCode`, `ErrorDetails` when the function
//! failed, `LogResult` with `X-Amz-Log-Type: Tail`). Failures before the function runs (missing
//! function, throttles, bad headers) are ordinary JSON errors, as for Invoke.

use crate::eventstream;
use crate::invoke::{CallHeaders, insert, invalid_header, invoke_error, sync_request, too_large};
use crate::query::QueryParams;
use crate::{ApiError, AppState, body};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http_body::Frame;
use lambent_invoker::{Completion, MAX_SYNC_PAYLOAD, ResponseBody, StreamEvent};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The response's content type: the SDKs switch to event-stream decoding on it.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

pub async fn invoke_with_response_stream(
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
    let payload = body::read(request, MAX_SYNC_PAYLOAD, "InvokeWithResponseStream")
        .await
        .map_err(|_| too_large(MAX_SYNC_PAYLOAD))?;
    match invocation_type {
        "DryRun" => {
            state.service.resolve(&reference.or_latest()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "RequestResponse" => {
            let request = sync_request(&headers, reference, payload, tail_logs)?;
            let invocation = state
                .invoker
                .invoke_stream(request)
                .await
                .map_err(invoke_error)?;
            let mut reply = Response::new(Body::new(EventStreamBody {
                events: invocation.body,
            }));
            let out = reply.headers_mut();
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
            insert(out, "x-amzn-RequestId", &invocation.request_id);
            insert(out, "X-Amz-Executed-Version", &invocation.executed_version);
            Ok(reply)
        }
        other => Err(invalid_header(
            other,
            "invocationType",
            "[RequestResponse, DryRun]",
        )),
    }
}

/// The invocation's events, encoded as event-stream messages as they arrive. Dropping it (the
/// client hung up) drops the [`ResponseBody`]; the invoker then discards the rest and lets the
/// function finish.
struct EventStreamBody {
    events: ResponseBody,
}

impl http_body::Body for EventStreamBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.get_mut().events.poll_next(cx).map(|event| {
            event.map(|event| {
                Ok(Frame::data(match event {
                    StreamEvent::Chunk(chunk) => payload_chunk(&chunk),
                    StreamEvent::Complete(done) => invoke_complete(&done),
                }))
            })
        })
    }
}

fn payload_chunk(chunk: &[u8]) -> Bytes {
    eventstream::event("PayloadChunk", "application/octet-stream", chunk)
}

/// `InvokeComplete` with only the members that have a value, as Lambda sends it.
fn invoke_complete(done: &Completion) -> Bytes {
    let mut members = serde_json::Map::new();
    if let Some(error) = &done.error {
        members.insert("ErrorCode".into(), error.error_code.clone().into());
        members.insert("ErrorDetails".into(), error.error_details.clone().into());
    }
    if let Some(tail) = &done.log_tail {
        let encoded = base64::engine::general_purpose::STANDARD.encode(tail.as_bytes());
        members.insert("LogResult".into(), encoded.into());
    }
    let payload = serde_json::Value::Object(members).to_string();
    eventstream::event("InvokeComplete", "application/json", payload.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::decode;
    use lambent_invoker::StreamError;

    #[test]
    fn completion_carries_error_and_log_only_when_present() {
        let plain = decode::all(&invoke_complete(&Completion::default())).expect("decode");
        assert_eq!(plain[0].header(":event-type"), Some("InvokeComplete"));
        assert_eq!(plain[0].payload, b"{}");

        let failed = invoke_complete(&Completion {
            error: Some(StreamError {
                error_code: "Sandbox.Timedout".into(),
                error_details: "Task timed out after 1.00 seconds".into(),
            }),
            log_tail: Some("END\n".into()),
        });
        let message = &decode::all(&failed).expect("decode")[0];
        let members: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(members["ErrorCode"], "Sandbox.Timedout");
        assert_eq!(members["ErrorDetails"], "Task timed out after 1.00 seconds");
        assert_eq!(members["LogResult"], "RU5ECg==");
    }

    #[test]
    fn chunks_are_payload_chunk_events_with_the_raw_bytes() {
        let message = &decode::all(&payload_chunk(b"\x00\xffdata")).expect("decode")[0];
        assert_eq!(message.header(":event-type"), Some("PayloadChunk"));
        assert_eq!(message.header(":message-type"), Some("event"));
        assert_eq!(message.payload, b"\x00\xffdata");
    }
}
