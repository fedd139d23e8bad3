//! The invoker: runs an invocation on an execution environment of the function's version and
//! gives back the result.
//!
//! It owns environment pools (warm reuse, one invocation at a time per environment, reaping after
//! a keep-alive), timeouts, crash and out-of-memory detection, and the per-invocation log lines
//! (START / END / REPORT). It never touches namespaces or cgroups itself: that is
//! `lambent-sandbox`. Invariants: an environment serves one function version and one invocation at
//! a time; an environment whose invocation timed out, crashed or ran out of memory is never
//! reused; a configuration or code change retires the old version's environments.
//!
//! Metering hook: with [`Invoker::set_observer`], every invocation's REPORT figures (and every
//! throttle and failed Init) are sent to a `lambent_metering::Observer` without waiting; the
//! metrics and usage are computed there, never on the invoke path.

mod admission;
mod environment;
mod keepalive;
mod live;
mod logs;
mod pool;
mod prestart;
mod provisioned;
mod report;
mod scaling;
mod settings;
mod streaming;

pub use admission::ThrottleReason;
pub use environment::Isolation;
pub use pool::Invoker;
pub use scaling::FunctionScaling;
pub use settings::InvokerSettings;
pub use streaming::{Completion, ResponseBody, StreamError, StreamEvent, StreamingInvocation};

use bytes::Bytes;
use lambent_control::{ControlError, FunctionRef};
use thiserror::Error;

/// Lambda's limit on a synchronous invocation's request payload.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub function: FunctionRef,
    pub payload: Bytes,
    /// `X-Amz-Log-Type: Tail`: return the last 4 KB of this invocation's log.
    pub tail_logs: bool,
    /// The decoded `X-Amz-Client-Context` JSON.
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
    /// The request id the function sees; `None` makes a new one. An asynchronous event keeps the
    /// id it was accepted with across all its attempts, as on Lambda.
    pub request_id: Option<String>,
}

/// The outcome of a synchronous invocation. A function error is still a response (HTTP 200 with
/// `X-Amz-Function-Error`), not an [`InvokeError`].
#[derive(Debug, Clone)]
pub struct InvokeResponse {
    pub request_id: String,
    pub executed_version: String,
    pub payload: Bytes,
    pub content_type: Option<String>,
    /// `Some("Unhandled")` when the function failed.
    pub function_error: Option<&'static str>,
    /// The log tail (START through REPORT), at most 4 KB, when requested.
    pub log_tail: Option<String>,
}

/// Why an invocation could not be run at all.
#[derive(Debug, Error)]
pub enum InvokeError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(
        "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
    )]
    RequestTooLarge,
    /// The function exists but cannot run (e.g. its runtime has no interpreter on this host).
    #[error("{0}")]
    ResourceNotReady(String),
    /// Over a concurrency limit or the host's memory budget.
    #[error("Rate Exceeded.")]
    Throttled(ThrottleReason),
    #[error("{0}")]
    Service(String),
}
