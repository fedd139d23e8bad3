//! Streamed responses: `POST /invocation/{id}/response` with
//! `Lambda-Runtime-Function-Response-Mode: streaming` and a chunked body.
//!
//! The body is forwarded chunk by chunk as it arrives, so a caller sees the first bytes while the
//! function is still running. A function that fails mid-stream says so in the trailers
//! `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (base64 of the
//! error JSON), as the Node runtime interface client sends them. Lambda's rules apply: at most
//! [`MAX_STREAMED_RESPONSE_BYTES`], the first [`FREE_STREAMED_BYTES`] at full speed and the rest
//! at [`STREAMED_BYTES_PER_SECOND`].

use crate::InvocationResult;
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Lambda's limit on a streamed response (20 MiB).
pub const MAX_STREAMED_RESPONSE_BYTES: usize = 20 * 1024 * 1024;

/// How much of a streamed response Lambda sends without limiting its bandwidth (6 MiB).
pub const FREE_STREAMED_BYTES: usize = 6 * 1024 * 1024;

/// Lambda's bandwidth for the part of a streamed response beyond [`FREE_STREAMED_BYTES`]
/// (2 MiB/s, the Runtime Interface Emulator's default).
pub const STREAMED_BYTES_PER_SECOND: usize = 2 * 1024 * 1024;

/// How many chunks may wait between the runtime and the invoker: beyond this the Runtime API
/// stops reading, so a slow consumer slows the function down (TCP back-pressure) instead of
/// filling memory.
const CHUNKS_IN_FLIGHT: usize = 16;

/// How much of an oversized stream is read and discarded so the runtime's request completes
/// normally; beyond this the connection is dropped.
const MAX_DISCARDED_BYTES: usize = 64 * 1024 * 1024;

/// What the runtime answered to an invocation dispatched with
/// [`crate::RuntimeApi::dispatch_streaming`].
#[derive(Debug)]
pub enum StreamingResult {
    /// A whole response or an error posted the ordinary way (a handler that does not stream).
    Buffered(InvocationResult),
    /// The runtime started a streamed response; its chunks follow on `frames`, which ends with
    /// exactly one [`StreamFrame::End`].
    Stream {
        /// The stream's `Content-Type` (`application/octet-stream` when the runtime sent none).
        content_type: String,
        frames: mpsc::Receiver<StreamFrame>,
    },
}

/// One step of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFrame {
    Data(Bytes),
    End(StreamEnd),
}

/// How a streamed response ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEnd {
    /// The body ended without error trailers.
    Complete,
    /// The runtime reported an error in the trailers. `body` is the decoded error JSON (empty
    /// when the trailer was missing or not base64).
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
    /// The stream grew beyond [`MAX_STREAMED_RESPONSE_BYTES`]; nothing more is forwarded.
    TooLarge,
    /// The connection broke before the body ended (the runtime crashed or gave up).
    Truncated,
}

/// Forwards a streamed body to `frames`, applying the size and bandwidth limits. Returns whether
/// the stream was too large (the caller answers 413 then). A consumer that went away does not
/// stop the reading: the runtime must be able to finish its request and ask for the next event.
pub(crate) async fn forward(mut body: Incoming, frames: mpsc::Sender<StreamFrame>) -> bool {
    let mut shaper = Shaper::new(Instant::now());
    let mut seen = 0usize;
    let mut end = StreamEnd::Complete;
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            if !too_large {
                end = StreamEnd::Truncated;
            }
            break;
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                seen = seen.saturating_add(data.len());
                if too_large {
                    if seen > MAX_DISCARDED_BYTES {
                        break;
                    }
                    continue;
                }
                if seen > MAX_STREAMED_RESPONSE_BYTES {
                    too_large = true;
                    end = StreamEnd::TooLarge;
                    // Tell the invoker now: the function may go on writing for a long time.
                    let _ = frames.send(StreamFrame::End(end.clone())).await;
                    continue;
                }
                if let Some(wait) = shaper.admit(seen, Instant::now()) {
                    tokio::time::sleep_until(wait).await;
                }
                frame_data(data)
            }
            Err(frame) => {
                if let Some(trailers) = frame.trailers_ref()
                    && !too_large
                {
                    end = trailer_error(trailers).unwrap_or(StreamEnd::Complete);
                }
                continue;
            }
        };
        if let Some(frame) = frame {
            // A closed receiver means nobody listens any more; keep draining the runtime.
            let _ = frames.send(frame).await;
        }
    }
    if !too_large {
        let _ = frames.send(StreamFrame::End(end)).await;
    }
    too_large
}

fn frame_data(data: Bytes) -> Option<StreamFrame> {
    (!data.is_empty()).then_some(StreamFrame::Data(data))
}

/// The error a runtime reported in the trailers, if it did.
pub(crate) fn trailer_error(trailers: &http::HeaderMap) -> Option<StreamEnd> {
    let error_type = trailers
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = trailers
        .get("Lambda-Runtime-Function-Error-Body")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .map(Bytes::from);
    if error_type.is_none() && body.is_none() {
        return None;
    }
    Some(StreamEnd::Error {
        error_type,
        body: body.unwrap_or_default(),
    })
}

/// A channel for one streamed response.
pub(crate) fn channel() -> (mpsc::Sender<StreamFrame>, mpsc::Receiver<StreamFrame>) {
    mpsc::channel(CHUNKS_IN_FLIGHT)
}

/// Lambda's bandwidth rule: the first [`FREE_STREAMED_BYTES`] go at once, after that the stream
/// is held to [`STREAMED_BYTES_PER_SECOND`] on average.
struct Shaper {
    /// When the stream passed the free allowance.
    limited_since: Option<Instant>,
    started: Instant,
}

impl Shaper {
    fn new(now: Instant) -> Self {
        Self {
            limited_since: None,
            started: now,
        }
    }

    /// After `total` bytes were read at `now`: when the next chunk may be forwarded, if not now.
    fn admit(&mut self, total: usize, now: Instant) -> Option<Instant> {
        let limited = total.checked_sub(FREE_STREAMED_BYTES).filter(|b| *b > 0)?;
        let since = *self.limited_since.get_or_insert(now.max(self.started));
        let due =
            since + Duration::from_secs_f64(limited as f64 / STREAMED_BYTES_PER_SECOND as f64);
        (due > now).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_megabytes_are_free_then_two_mib_per_second() {
        let start = Instant::now();
        let mut shaper = Shaper::new(start);
        assert_eq!(shaper.admit(FREE_STREAMED_BYTES, start), None);
        let one_more_mib = FREE_STREAMED_BYTES + 1024 * 1024;
        let due = shaper.admit(one_more_mib, start).expect("limited");
        assert_eq!(due - start, Duration::from_millis(500));
        // Time already spent counts: no wait once the average rate is below the limit.
        assert_eq!(
            shaper.admit(one_more_mib, start + Duration::from_secs(1)),
            None
        );
    }

    #[test]
    fn trailers_carry_the_error_type_and_base64_body() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(
            "Lambda-Runtime-Function-Error-Type",
            http::HeaderValue::from_static("Error"),
        );
        trailers.insert(
            "Lambda-Runtime-Function-Error-Body",
            http::HeaderValue::from_static("eyJlcnJvclR5cGUiOiJFcnJvciJ9"),
        );
        assert_eq!(
            trailer_error(&trailers),
            Some(StreamEnd::Error {
                error_type: Some("Error".into()),
                body: Bytes::from_static(br#"{"errorType":"Error"}"#),
            })
        );
        assert_eq!(trailer_error(&http::HeaderMap::new()), None);
    }
}
