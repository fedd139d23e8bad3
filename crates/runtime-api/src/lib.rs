//! The Runtime API (2018-06-01) served to ONE execution environment.
//!
//! The listener is bound by the host inside the environment's network namespace at
//! `127.0.0.1:9001`, so only that environment can reach it. This crate moves events and results
//! between the invoker and the runtime; it decides nothing about scheduling. Invariants: at most
//! one invocation is outstanding; a result is accepted only for the request id that was handed
//! out, once.

mod server;
mod streaming;

pub use server::{RuntimeApi, serve};
pub use streaming::{
    FREE_STREAMED_BYTES, MAX_STREAMED_RESPONSE_BYTES, STREAMED_BYTES_PER_SECOND, StreamEnd,
    StreamFrame, StreamingResult,
};

use bytes::Bytes;

/// Lambda's limit on a synchronous response (6 MiB plus the RIE's 100 bytes of slack).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// An event handed to the runtime by `/next`.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// Unix epoch milliseconds.
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
}

/// What the runtime reported for one invocation.
#[derive(Clone, Debug, PartialEq)]
pub enum InvocationResult {
    Response {
        body: Bytes,
        content_type: Option<String>,
    },
    Error {
        body: Bytes,
        error_type: Option<String>,
    },
    /// The runtime tried to post more than [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge,
}

/// How initialisation ended: the runtime asked for its first event, or reported an init error.
#[derive(Clone, Debug, PartialEq)]
pub enum InitOutcome {
    Ready,
    Failed {
        body: Bytes,
        error_type: Option<String>,
    },
}
