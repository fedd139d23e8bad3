//! Streamed invocations: what [`crate::Invoker::invoke_stream`] hands back, and the sink through
//! which an environment forwards a function's response chunks while it runs.
//!
//! How to consume a [`StreamingInvocation`]:
//!
//! ```ignore
//! let mut invocation = invoker.invoke_stream(request).await?; // throttles, missing functions: Err
//! // invocation.content_type is the stream's (e.g. the http-integration prelude type)
//! while let Some(event) = invocation.body.next().await {
//!     match event {
//!         StreamEvent::Chunk(bytes) => send_to_client(bytes).await,
//!         StreamEvent::Complete(done) => { /* done.error: Some(..) if the function failed */ break }
//!     }
//! }
//! ```
//!
//! The body always ends with exactly one [`StreamEvent::Complete`]. Dropping the body early (the
//! client went away) is fine: the function still runs to its end, its environment returns to the
//! pool and its log lines are written; its remaining chunks are discarded.

use crate::InvokeError;
use bytes::Bytes;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// How many chunks wait between the environment and a slow client before the function itself is
/// slowed down (back-pressure up to the runtime's socket, as on Lambda).
pub(crate) const CHUNKS_IN_FLIGHT: usize = 16;

/// A running invocation whose response is read as it is produced.
#[derive(Debug)]
pub struct StreamingInvocation {
    pub request_id: String,
    pub executed_version: String,
    /// The response's content type: what the runtime declared for its stream
    /// (`application/vnd.awslambda.http-integration-response` for
    /// `awslambda.HttpResponseStream.from`, `application/octet-stream` by default), or the
    /// content type of a whole response from a handler that does not stream.
    pub content_type: String,
    pub body: ResponseBody,
}

/// One step of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Response bytes, in order. A handler that does not stream produces one chunk.
    Chunk(Bytes),
    /// The end of the invocation, always last.
    Complete(Completion),
}

/// How a streamed invocation ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// Set when the function failed, before or after streaming began (an exception, a timeout,
    /// a crash, an oversized stream).
    pub error: Option<StreamError>,
    /// The log tail (START through REPORT, at most 4 KB) when `tail_logs` was requested.
    pub log_tail: Option<String>,
}

/// A function failure, as `InvokeComplete` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamError {
    /// The error type (`errorType` of the error JSON, e.g. `Error`, `Sandbox.Timedout`).
    pub error_code: String,
    /// The error message (`errorMessage`), or the whole error body when it has none.
    pub error_details: String,
}

impl StreamError {
    /// Reads Lambda's error JSON (`{"errorType": ..., "errorMessage": ...}`).
    pub(crate) fn from_error_body(body: &[u8]) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            error_code: field("errorType").unwrap_or_else(|| "Unhandled".to_owned()),
            error_details: field("errorMessage")
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        }
    }
}

/// The response chunks of a [`StreamingInvocation`].
#[derive(Debug)]
pub struct ResponseBody {
    events: mpsc::Receiver<StreamEvent>,
    completed: bool,
}

impl ResponseBody {
    pub(crate) fn new(events: mpsc::Receiver<StreamEvent>) -> Self {
        Self {
            events,
            completed: false,
        }
    }

    /// The next event; `None` only after [`StreamEvent::Complete`] was returned.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Polling form of [`ResponseBody::next`], for implementing an HTTP body.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamEvent>> {
        if self.completed {
            return Poll::Ready(None);
        }
        let event = match self.events.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(event)) => event,
            // The invocation task ended without completing (it cannot, short of a panic): end
            // the stream with an error rather than leaving the client to guess.
            Poll::Ready(None) => StreamEvent::Complete(Completion {
                error: Some(StreamError {
                    error_code: "ServiceException".into(),
                    error_details: "The invocation ended without completing its response.".into(),
                }),
                log_tail: None,
            }),
        };
        self.completed = matches!(event, StreamEvent::Complete(_));
        Poll::Ready(Some(event))
    }
}

/// What [`crate::Invoker::invoke_stream`] waits for before it returns: the response began (or
/// the invocation ended without streaming), or the invocation could not run at all.
pub(crate) type Start = Result<StreamingInvocation, InvokeError>;

/// The environment's end of a streamed invocation.
pub(crate) struct StreamSink {
    request_id: String,
    executed_version: String,
    start: Option<oneshot::Sender<Start>>,
    /// Handed to the caller with the start.
    body: Option<mpsc::Receiver<StreamEvent>>,
    events: mpsc::Sender<StreamEvent>,
    /// False once the caller dropped the body: chunks are discarded from then on.
    listening: bool,
}

impl StreamSink {
    pub(crate) fn new(start: oneshot::Sender<Start>) -> Self {
        let (events, body) = mpsc::channel(CHUNKS_IN_FLIGHT);
        Self {
            request_id: String::new(),
            executed_version: String::new(),
            start: Some(start),
            body: Some(body),
            events,
            listening: true,
        }
    }

    /// Names the invocation once it has an id and a version.
    pub(crate) fn identify(&mut self, request_id: &str, executed_version: &str) {
        request_id.clone_into(&mut self.request_id);
        executed_version.clone_into(&mut self.executed_version);
    }

    /// The invocation could not run: the caller gets `error` instead of a stream.
    pub(crate) fn refuse(mut self, error: InvokeError) {
        if let Some(start) = self.start.take() {
            let _ = start.send(Err(error));
        }
    }

    /// The response begins with `content_type`; only the first call has an effect.
    pub(crate) fn begin(&mut self, content_type: &str) {
        let (Some(start), Some(body)) = (self.start.take(), self.body.take()) else {
            return;
        };
        let invocation = StreamingInvocation {
            request_id: self.request_id.clone(),
            executed_version: self.executed_version.clone(),
            content_type: content_type.to_owned(),
            body: ResponseBody::new(body),
        };
        if start.send(Ok(invocation)).is_err() {
            self.listening = false;
        }
    }

    pub(crate) fn started(&self) -> bool {
        self.start.is_none()
    }

    /// Forwards a chunk, waiting while the caller is behind; discards it if the caller left.
    pub(crate) async fn chunk(&mut self, data: bytes::Bytes) {
        if self.listening && self.events.send(StreamEvent::Chunk(data)).await.is_err() {
            self.listening = false;
        }
    }

    /// Ends the stream (beginning it first with `content_type` if nothing was streamed).
    pub(crate) async fn complete(mut self, content_type: &str, completion: Completion) {
        self.begin(content_type);
        if self.listening {
            let _ = self.events.send(StreamEvent::Complete(completion)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_code_and_details() {
        let error = StreamError::from_error_body(
            br#"{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 1.00 seconds"}"#,
        );
        assert_eq!(error.error_code, "Sandbox.Timedout");
        assert_eq!(error.error_details, "Task timed out after 1.00 seconds");
        let odd = StreamError::from_error_body(b"not json");
        assert_eq!(odd.error_code, "Unhandled");
        assert_eq!(odd.error_details, "not json");
    }

    #[tokio::test]
    async fn chunks_reach_the_caller_and_a_gone_caller_does_not_block_the_function() {
        let (start_tx, start_rx) = oneshot::channel();
        let mut sink = StreamSink::new(start_tx);
        sink.identify("r", "$LATEST");
        sink.begin("text/plain");
        let mut invocation = start_rx.await.expect("start").expect("stream");
        assert_eq!(invocation.content_type, "text/plain");
        sink.chunk(Bytes::from_static(b"a")).await;
        assert_eq!(
            invocation.body.next().await,
            Some(StreamEvent::Chunk(Bytes::from_static(b"a")))
        );
        drop(invocation);
        // More chunks than the channel holds: must not wait for a reader that is gone.
        for _ in 0..CHUNKS_IN_FLIGHT * 2 {
            sink.chunk(Bytes::from_static(b"b")).await;
        }
        sink.complete("text/plain", Completion::default()).await;
    }

    #[tokio::test]
    async fn a_body_whose_invocation_vanished_ends_with_an_error() {
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        let mut body = ResponseBody::new(rx);
        let Some(StreamEvent::Complete(done)) = body.next().await else {
            panic!("want a completion");
        };
        assert!(done.error.is_some());
        assert_eq!(body.next().await, None);
    }
}
