//! Metrics and metering of invocations.
//!
//! The invoker knows what happened to each invocation (the data of its REPORT line, throttles,
//! cold starts); this crate turns that into
//! - metrics: per function and executed version, cumulative for Prometheus (`/metrics`) and per
//!   minute in a ring buffer for the JSON query API (`metrics.rs`; in memory, so it restarts empty
//!   after a server restart);
//! - usage: requests, billed duration × memory (GB-seconds) and ephemeral storage above 512 MB per
//!   function and minute, persisted in SQLite, reported per day or month with a cost (`usage.rs`).
//!
//! Invariant: the invoke path never waits. The invoker holds an [`Observer`] and *sends* each
//! [`InvocationRecord`] into an unbounded channel (a non-blocking push; no lock is held across an
//! await); one writer thread applies records to the metrics and writes usage to SQLite in batches.
//! Unbounded so that metering is exact: a record is never dropped for back-pressure. Records sent
//! before [`Metering::flush`] are on disk when it returns, which is how a clean shutdown loses
//! nothing.

mod histogram;
mod metrics;
mod usage;
mod writer;

pub use histogram::{BOUNDS_MS, Histogram};
pub use metrics::{MetricsSettings, MinutePoint, OTHER};
pub use usage::{Granularity, Prices, UsageRow};

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// What the invoker reports about one invocation (or one refused attempt).
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationRecord {
    pub function: String,
    /// The version that ran (`$LATEST` or a number); an alias is resolved to it.
    pub version: String,
    /// The qualifier the caller used (alias or version), if any.
    pub qualifier: Option<String>,
    pub request_id: String,
    /// When the invocation ended, in milliseconds since the Unix epoch.
    pub ended_at_ms: i64,
    pub outcome: Outcome,
    /// The REPORT line's Duration (zero when nothing ran).
    pub duration: Duration,
    /// The REPORT line's Billed Duration in ms (0 when no REPORT line was written).
    pub billed_ms: u64,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    /// The REPORT line's Init Duration: set exactly for cold starts.
    pub init_duration: Option<Duration>,
}

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A function error (handled or not: timeout, crash, out of memory, ...), with its type.
    Error(String),
    /// The cold start's Init failed; no REPORT line, nothing billed.
    InitError,
    /// Refused by admission (concurrency or memory budget); nothing ran.
    Throttled,
}

impl InvocationRecord {
    /// Whether a REPORT line was written for it, i.e. whether it is billed.
    pub fn billed(&self) -> bool {
        matches!(self.outcome, Outcome::Success | Outcome::Error(_))
    }
}

#[derive(Debug, Error)]
pub enum MeteringError {
    #[error("usage database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the metering writer has stopped")]
    Stopped,
}

pub(crate) enum Message {
    Record(Box<InvocationRecord>),
    Begin(String, i64),
    End(String),
    Flush(tokio::sync::oneshot::Sender<()>),
    Usage(
        Granularity,
        tokio::sync::oneshot::Sender<Result<Vec<UsageRow>, MeteringError>>,
    ),
}

/// The invoker's end: cheap to clone; every method returns at once.
#[derive(Clone)]
pub struct Observer {
    tx: mpsc::Sender<Message>,
}

impl Observer {
    pub fn record(&self, record: InvocationRecord) {
        // Fails only once the writer is gone (shutdown); there is nobody left to count for.
        let _ = self.tx.send(Message::Record(Box::new(record)));
    }

    /// Counts an admitted invocation of `function` as running until the guard is dropped
    /// (ConcurrentExecutions).
    pub fn begin(&self, function: &str) -> InFlight {
        let _ = self.tx.send(Message::Begin(
            function.to_owned(),
            chrono::Utc::now().timestamp_millis(),
        ));
        InFlight {
            tx: self.tx.clone(),
            function: function.to_owned(),
        }
    }
}

/// One running invocation, as counted by [`Observer::begin`].
pub struct InFlight {
    tx: mpsc::Sender<Message>,
    function: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let _ = self
            .tx
            .send(Message::End(std::mem::take(&mut self.function)));
    }
}

/// Settings of [`Metering`].
#[derive(Clone, Debug, Default)]
pub struct MeteringSettings {
    pub metrics: MetricsSettings,
    pub prices: Prices,
}

/// The metering service: owns the writer thread, answers metric and usage queries.
pub struct Metering {
    tx: mpsc::Sender<Message>,
    metrics: Arc<Mutex<metrics::Metrics>>,
    prices: Prices,
}

impl Metering {
    /// Opens (or creates) the usage database at `path` and starts the writer thread.
    pub fn open(path: &Path, settings: MeteringSettings) -> Result<Arc<Self>, MeteringError> {
        let db = usage::UsageDb::open(path)?;
        let metrics = Arc::new(Mutex::new(metrics::Metrics::new(settings.metrics)));
        let (tx, rx) = mpsc::channel();
        writer::spawn(rx, db, Arc::clone(&metrics)).map_err(|source| MeteringError::Io {
            path: "metering writer thread".into(),
            source,
        })?;
        Ok(Arc::new(Self {
            tx,
            metrics,
            prices: settings.prices,
        }))
    }

    pub fn observer(&self) -> Observer {
        Observer {
            tx: self.tx.clone(),
        }
    }

    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    /// Returns once every record sent before the call is applied and written to disk.
    pub async fn flush(&self) -> Result<(), MeteringError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Message::Flush(done))
            .map_err(|_| MeteringError::Stopped)?;
        wait.await.map_err(|_| MeteringError::Stopped)
    }

    /// Usage per function and day or month, including every record sent before the call.
    pub async fn usage(&self, granularity: Granularity) -> Result<Vec<UsageRow>, MeteringError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Message::Usage(granularity, done))
            .map_err(|_| MeteringError::Stopped)?;
        wait.await.map_err(|_| MeteringError::Stopped)?
    }

    /// The Prometheus text exposition of every metric.
    pub fn prometheus(&self) -> String {
        match self.metrics.lock() {
            Ok(m) => m.prometheus(),
            Err(_) => String::new(),
        }
    }

    /// One point per minute with data for `function` (or [`OTHER`]) in `[start_ms, end_ms)`.
    pub fn query(&self, function: &str, start_ms: i64, end_ms: i64) -> Vec<MinutePoint> {
        match self.metrics.lock() {
            Ok(m) => m.query(function, start_ms, end_ms),
            Err(_) => Vec::new(),
        }
    }

    /// The label a function's metrics are kept under (itself, or [`OTHER`] past the cap).
    pub fn label_of(&self, function: &str) -> String {
        match self.metrics.lock() {
            Ok(m) => m.label_of(function).to_owned(),
            Err(_) => OTHER.to_owned(),
        }
    }
}
