//! `InvokeMode: RESPONSE_STREAM` function URLs: the function runs through
//! [`lambent_invoker::Invoker::invoke_stream`] and its bytes go to the client as they arrive,
//! with chunked transfer encoding, instead of waiting for the whole result.
//!
//! The head comes from the stream: from the HTTP integration prelude when the function declared
//! `application/vnd.awslambda.http-integration-response` (`awslambda.HttpResponseStream.from`),
//! else 200 with the stream's content type (see `lambent_http_gateway::streaming` for why a
//! handler that does not stream has its result sent as it is). The head is written once the
//! first bytes of body (or the complete prelude) exist, so a function that fails before writing
//! anything still gets Lambda's 502 rather than a 200 with an empty body.
//!
//! Once the head is sent the status cannot change: a function that fails mid-stream (an
//! exception, a timeout, a stream over 20 MB) has its response cut off. The body then ends with
//! an error, so the connection is closed without chunked encoding's final empty chunk and the
//! client sees an incomplete response, never a truncated one that looks complete.

use super::invoke::write;
use bytes::Bytes;
use http_body::Frame;
use lambent_http_gateway::HttpResponse;
use lambent_http_gateway::streaming::{self, Prelude, PreludeError};
use lambent_invoker::{ResponseBody, StreamError, StreamEvent, StreamingInvocation};
use std::pin::Pin;
use std::task::{Context, Poll};
use thiserror::Error;

/// Why a streamed response could not be answered normally.
#[derive(Debug, Error)]
pub enum StreamFailure {
    /// The function failed before any of its response could be sent.
    #[error("the function failed before its response began: {}: {}", .0.error_code, .0.error_details)]
    Function(StreamError),
    /// The prelude was unusable.
    #[error(transparent)]
    Prelude(#[from] PreludeError),
}

/// The response's head (its `body` empty) and what is left of the stream to send after it.
pub struct Started {
    pub head: HttpResponse,
    pub body: StreamedBody,
}

/// Reads the stream until the head is known: the prelude when there is one, else the first
/// event.
pub async fn start(invocation: StreamingInvocation) -> Result<Started, StreamFailure> {
    let StreamingInvocation {
        content_type,
        mut body,
        ..
    } = invocation;
    if !streaming::has_prelude(&content_type) {
        let (first, done) = match body.next().await {
            Some(StreamEvent::Chunk(chunk)) => (chunk, false),
            Some(StreamEvent::Complete(done)) => match done.error {
                Some(error) => return Err(StreamFailure::Function(error)),
                None => (Bytes::new(), true),
            },
            None => (Bytes::new(), true),
        };
        return Ok(Started {
            head: streaming::plain_head(&content_type),
            body: StreamedBody::new(first, (!done).then_some(body)),
        });
    }
    let mut prelude = Prelude::new();
    loop {
        match body.next().await {
            Some(StreamEvent::Chunk(chunk)) => {
                if let Some((head, rest)) = prelude.push(&chunk)? {
                    return Ok(Started {
                        head,
                        body: StreamedBody::new(rest, Some(body)),
                    });
                }
            }
            Some(StreamEvent::Complete(done)) => {
                if let Some(error) = done.error {
                    return Err(StreamFailure::Function(error));
                }
                break;
            }
            None => break,
        }
    }
    Ok(Started {
        head: prelude.finish()?,
        body: StreamedBody::new(Bytes::new(), None),
    })
}

/// The head on the wire with `body` streamed after it. Framing headers from the prelude are
/// dropped: the body's length is unknown, so it is always sent chunked (or, to an HTTP/1.0
/// client, until the connection closes).
pub fn write_streamed(
    mut head: HttpResponse,
    body: StreamedBody,
    request_id: &str,
) -> axum::response::Response {
    head.headers.retain(|(name, _)| {
        !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
    });
    head.body = Bytes::new();
    let mut out = write(head, request_id);
    *out.body_mut() = axum::body::Body::new(body);
    out
}

/// The function failed after its response began; the response is cut off.
#[derive(Debug, Error)]
#[error("the function failed mid-stream: {code}")]
pub struct MidStreamError {
    code: String,
}

/// The rest of a streamed response: bytes already read while looking for the head, then the
/// chunks as the function writes them. Dropping it (the client left) drops the
/// [`ResponseBody`]; the invoker then discards the rest and lets the function finish.
pub struct StreamedBody {
    pending: Option<Bytes>,
    events: Option<ResponseBody>,
}

impl StreamedBody {
    fn new(pending: Bytes, events: Option<ResponseBody>) -> Self {
        Self {
            pending: (!pending.is_empty()).then_some(pending),
            events,
        }
    }
}

impl http_body::Body for StreamedBody {
    type Data = Bytes;
    type Error = MidStreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(pending) = this.pending.take() {
            return Poll::Ready(Some(Ok(Frame::data(pending))));
        }
        loop {
            let Some(events) = this.events.as_mut() else {
                return Poll::Ready(None);
            };
            match events.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                // An empty chunk carries nothing, and written as a chunk it would end the body.
                Poll::Ready(Some(StreamEvent::Chunk(chunk))) if chunk.is_empty() => {}
                Poll::Ready(Some(StreamEvent::Chunk(chunk))) => {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                Poll::Ready(Some(StreamEvent::Complete(done))) => {
                    this.events = None;
                    if let Some(error) = done.error {
                        tracing::info!(
                            error_code = %error.error_code,
                            details = %error.error_details,
                            "streamed function URL response cut off"
                        );
                        return Poll::Ready(Some(Err(MidStreamError {
                            code: error.error_code,
                        })));
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => {
                    this.events = None;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.events.is_none()
    }
}
