//! Lambent's built-in SQS-compatible queue service: standard and FIFO queues, visibility
//! timeouts, long polling, redrive to dead-letter queues, deduplication, durable messages.
//!
//! The state lives in memory (one mutex per queue) and every change is mirrored to
//! `queues.sqlite3` by a single writer thread with group commit (see [`storage`]). A send is
//! acknowledged only after its transaction committed with `synchronous=FULL`, so an acknowledged
//! message survives `kill -9`; delivery is at least once (a receive or delete that had not
//! committed when the process died is repeated after restart).
//!
//! Other components (the SQS API, event source mappings, Lambda destinations) use
//! [`QueueService`]; nothing outside this crate sees SQL.

mod attributes;
mod error;
mod message;
mod queue;
mod receipt;
mod service;
mod storage;
#[cfg(test)]
mod tests;

pub use attributes::{MAX_MESSAGE_SIZE, QueueAttributes, RedrivePolicy};
pub use error::QueueError;
pub use message::{
    MAX_MESSAGE_ATTRIBUTES, MessageAttributeValue, MessageAttributes, md5_of_attributes,
    md5_of_body,
};
pub use queue::ReceivedMessage;
pub use service::{
    QueueDepth, QueueService, ReceiveRequest, SendRequest, SendResult, validate_queue_name,
};

/// Milliseconds since the Unix epoch (message timestamps and visibility deadlines).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
