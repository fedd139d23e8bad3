//! What is stored about one asynchronous event, and how far its processing got.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One event as journaled. `qualifier` is what the caller invoked (`None` for an unqualified
/// call); `version` is what it resolved to when it was accepted (an alias picks its version then,
/// as Lambda does).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub id: u64,
    pub request_id: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub version: String,
    pub payload: Bytes,
    /// When the event was accepted (Unix epoch milliseconds): its age counts from here, across
    /// restarts.
    pub enqueued_ms: u64,
    pub progress: Progress,
}

impl EventRow {
    /// The qualifier whose event invoke configuration applies (`$LATEST` when unqualified).
    pub fn config_qualifier(&self) -> &str {
        self.qualifier.as_deref().unwrap_or("$LATEST")
    }
}

/// Attempts so far, when to try next, and the final outcome once there is one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Attempts that ran the function (successful or not).
    #[serde(default)]
    pub invocations: u32,
    /// Attempts that ended in a function error (they count against MaximumRetryAttempts).
    #[serde(default)]
    pub function_errors: u32,
    /// Attempts refused by throttling or a system error (they do not count as retries).
    #[serde(default)]
    pub throttles: u32,
    /// Not before this instant (Unix epoch ms); 0 = as soon as possible.
    #[serde(default)]
    pub due_ms: u64,
    /// What the last attempt answered.
    #[serde(default)]
    pub last: Option<Response>,
    /// Set once the event is done: what remains is to hand it to its destinations.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Failed attempts to hand the outcome to its destinations (e.g. a queue that is missing).
    #[serde(default)]
    pub dispatch_failures: u32,
}

impl Progress {
    /// Lambda's `approximateInvokeCount`: every attempt to invoke the function.
    pub fn attempts(&self) -> u32 {
        self.invocations + self.throttles
    }
}

/// What one attempt answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// 200 when the function ran (even if it failed), 429 when throttled, 500 on a system error.
    pub status_code: u16,
    pub executed_version: String,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// The function's result or error document (UTF-8, lossy), or the reason it did not run.
    pub payload: String,
}

/// Why an event is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// Where a finished event must still go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// An OnSuccess / OnFailure destination (a function or a queue) receiving the record.
    Destination(String),
    /// The function's dead-letter queue receiving the original event.
    DeadLetter(String),
}

/// The final outcome, journaled before it is dispatched so that a crash in between re-dispatches
/// it instead of invoking the function again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub condition: Condition,
    /// When the outcome was decided (the record's `timestamp`), Unix epoch ms.
    pub decided_ms: u64,
    /// The qualified ARN the record names.
    pub function_arn: String,
    pub targets: Vec<Target>,
}
