//! What the engine needs from the rest of Lambent, as traits: running a function, reading a
//! function's asynchronous settings, and sending to a queue. The engine's tests use fakes; the
//! adapters for the real control plane and invoker are in `adapters.rs`, and the queue adapter is
//! wired by the binary (the queue service is its own crate).

use async_trait::async_trait;
use bytes::Bytes;
pub use lambent_control::AsyncSettings;

/// One attempt to run an event.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub function: String,
    /// What the caller invoked (`None`: unqualified, which runs `$LATEST`).
    pub qualifier: Option<String>,
    /// The version chosen when the event was accepted.
    pub version: String,
    pub request_id: String,
    pub payload: Bytes,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempted {
    /// The function ran; `function_error` is `Some("Unhandled")` when it failed.
    Ran {
        executed_version: String,
        payload: Bytes,
        function_error: Option<String>,
    },
    /// Over a concurrency limit: retried with backoff, not counted as a retry.
    Throttled(String),
    /// Lambent could not run it (no environment could start, …): retried like a throttle.
    SystemError(String),
    /// The function or the version no longer exists: the event is dropped.
    Gone(String),
}

#[async_trait]
pub trait Runner: Send + Sync + 'static {
    async fn run(&self, delivery: &Delivery) -> Attempted;
}

/// A function an event can be sent to (a destination).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTarget {
    pub function: String,
    pub qualifier: Option<String>,
    pub version: String,
}

#[async_trait]
pub trait Functions: Send + Sync + 'static {
    /// Settings for an event sent to `qualifier` (`$LATEST` when unqualified) and run on
    /// `version`; `Ok(None)` once the function or qualifier is gone.
    async fn settings(
        &self,
        function: &str,
        qualifier: &str,
        version: &str,
    ) -> Result<Option<AsyncSettings>, String>;

    /// Resolves a function ARN (a destination) to the version an event sent now would run.
    async fn resolve(&self, function_arn: &str) -> Result<ResolvedTarget, String>;

    /// The qualified ARN of a function.
    fn qualified_arn(&self, function: &str, qualifier: &str) -> String;
}

/// An SQS message attribute (`DataType` `String` or `Number`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAttribute {
    pub name: String,
    pub data_type: String,
    pub value: String,
}

impl MessageAttribute {
    pub fn string(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            data_type: "String".into(),
            value: value.into(),
        }
    }

    pub fn number(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            data_type: "Number".into(),
            value: value.into(),
        }
    }
}

/// Sends a message to a Lambent queue by ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
#[async_trait]
pub trait QueueSender: Send + Sync + 'static {
    async fn send_message(
        &self,
        queue_arn: &str,
        body: String,
        attributes: Vec<MessageAttribute>,
    ) -> Result<(), String>;
}
