//! Telemetry: the durable log store of function output (CloudWatch Logs' model of groups,
//! streams and events). Later: metrics, usage records, traces.
//!
//! Invariant: the invoke path never waits on a log write. Producers hand events to a [`LogSink`]
//! (a bounded channel); one writer task batches them into the store.

pub mod filter;
mod store;

pub use filter::{FilterPattern, FilterPatternError};
pub use store::{Clock, EventQuery, GroupInfo, LogStore, LogStoreError, StoredEvent, StreamInfo};

use tokio::sync::mpsc;

/// One line of a function's log, as CloudWatch stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch when the line was produced.
    pub timestamp_ms: i64,
    pub message: String,
}

/// A batch of events for one stream.
#[derive(Debug)]
pub struct LogBatch {
    pub group: String,
    pub stream: String,
    pub events: Vec<LogEvent>,
}

/// Where producers put log events; cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::Sender<LogBatch>,
}

impl LogSink {
    /// Queues a batch for writing. Waits only when the writer is far behind, which slows the
    /// producing function's output, never an invocation's response.
    pub async fn append(&self, batch: LogBatch) {
        if batch.events.is_empty() {
            return;
        }
        if self.tx.send(batch).await.is_err() {
            tracing::warn!("log writer has stopped; dropping log events");
        }
    }
}

/// How long the writer collects batches before writing them in one transaction.
const GROUP_COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// Starts the writer task for `store` and returns the sink that feeds it. The task ends when every
/// sink is dropped, after writing what was queued.
pub fn spawn_writer(store: LogStore) -> (LogSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<LogBatch>(1024);
    let handle = tokio::task::spawn_blocking(move || {
        while let Some(first) = rx.blocking_recv() {
            // Group commit: an invocation's lines arrive as several batches (START, output, END
            // and REPORT), and under load many invocations' at once. Collecting for a moment
            // turns them into one transaction instead of one each; the writer's CPU is shared
            // with the invocations it would otherwise interrupt. Logs become readable a few
            // milliseconds later, which is what a log store promises anyway.
            std::thread::sleep(GROUP_COMMIT_WINDOW);
            let mut batches = vec![first];
            while let Ok(more) = rx.try_recv() {
                batches.push(more);
                if batches.len() >= 256 {
                    break;
                }
            }
            if let Err(e) = store.write(&batches) {
                tracing::error!(error = %e, "writing log events failed");
            }
        }
    });
    (LogSink { tx }, handle)
}
