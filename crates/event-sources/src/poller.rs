//! Runs one enabled mapping: a supervisor that sizes the pool of pollers to the backlog, and
//! pollers that fetch a batch, drop what the mapping's filters reject, invoke the function and
//! acknowledge only what succeeded.
//!
//! Scaling follows Lambda's SQS behaviour: up to 5 pollers at once to begin with, then at most
//! 5 more every second (Lambda's 300 a minute), never more than one per waiting batch, and
//! never more than the mapping's maximum concurrency: `ScalingConfig.MaximumConcurrency`, or
//! without it Lambda's ceiling of 1,250 (in practice the function's reserved concurrency or the
//! account's pool stops it first: a throttled poller retires and the pool does not grow during
//! the next interval, so Lambent settles at the concurrency the function can have). Each
//! poller runs one invocation at a time, so the number of pollers bounds the mapping's
//! concurrent invocations.

use crate::filter::Filters;
use crate::invoke::{FunctionInvoker, InvokeOutcome};
use crate::source::{Source, SourceRecord};
use lambent_invoker::MAX_SYNC_PAYLOAD;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the supervisor re-reads the backlog.
const SCALE_INTERVAL: Duration = Duration::from_secs(1);
/// Pollers added per interval at most (also the initial pool), Lambda's 300 a minute.
const SCALE_STEP: usize = 5;
/// Pause after a throttle or a failure to invoke, so a broken function is not hammered.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PollerSettings {
    pub function_arn: String,
    pub batch_size: usize,
    pub window: Duration,
    pub max_concurrency: usize,
    pub report_batch_item_failures: bool,
    pub filters: Option<Filters>,
    /// FIFO: a batch split for size stops at the first part that fails, so later messages of
    /// a group never overtake earlier ones.
    pub ordered: bool,
}

/// A running mapping; stopping it (or dropping it) ends its pollers after their current batch.
pub struct Runner {
    stop: watch::Sender<bool>,
    /// Closed once the supervisor and every poller ended (each holds a sender).
    finished: mpsc::Receiver<()>,
}

impl Runner {
    /// Starts a mapping's pollers once `previous` (the same mapping before an update) has
    /// finished its batches, so that an update never runs more batches at once than either
    /// configuration allows.
    pub fn start(
        settings: PollerSettings,
        source: Arc<dyn Source>,
        invoker: Arc<dyn FunctionInvoker>,
        previous: Option<Runner>,
    ) -> Runner {
        let (stop, stopped) = watch::channel(false);
        let (alive, finished) = mpsc::channel(1);
        tokio::spawn(async move {
            if let Some(previous) = previous {
                previous.finish().await;
            }
            supervise(settings, source, invoker, stopped, alive).await;
        });
        Runner { stop, finished }
    }

    /// Stops the pollers and waits until their current batches are done.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        while self.finished.recv().await.is_some() {}
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What the pollers of one mapping share with their supervisor.
struct Pool {
    active: AtomicUsize,
    throttled: AtomicBool,
}

async fn supervise(
    settings: PollerSettings,
    source: Arc<dyn Source>,
    invoker: Arc<dyn FunctionInvoker>,
    mut stopped: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let pool = Arc::new(Pool {
        active: AtomicUsize::new(0),
        throttled: AtomicBool::new(false),
    });
    loop {
        if *stopped.borrow() {
            return;
        }
        let active = pool.active.load(Ordering::SeqCst);
        let throttled = pool.throttled.swap(false, Ordering::SeqCst);
        let step_limit = if throttled {
            active
        } else {
            active + SCALE_STEP
        };
        let wanted = source
            .backlog()
            .div_ceil(settings.batch_size.max(1))
            .min(step_limit)
            .clamp(1, settings.max_concurrency.max(1));
        while pool.active.load(Ordering::SeqCst) < wanted {
            pool.active.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(poll_loop(
                settings.clone(),
                Arc::clone(&source),
                Arc::clone(&invoker),
                Arc::clone(&pool),
                stopped.clone(),
                alive.clone(),
            ));
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(SCALE_INTERVAL) => {}
        }
    }
}

/// Leaves the pool unless this is its last poller; true when it left.
fn retire(pool: &Pool) -> bool {
    pool.active
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n > 1).then(|| n - 1)
        })
        .is_ok()
}

async fn poll_loop(
    settings: PollerSettings,
    source: Arc<dyn Source>,
    invoker: Arc<dyn FunctionInvoker>,
    pool: Arc<Pool>,
    mut stopped: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    loop {
        if *stopped.borrow() {
            break;
        }
        let polled = tokio::select! {
            _ = stopped.changed() => break,
            polled = source.poll(settings.batch_size, settings.window) => polled,
        };
        let records = match polled {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(function = %settings.function_arn, %error, "event source poll failed");
                if pause(&mut stopped).await {
                    break;
                }
                continue;
            }
        };
        if records.is_empty() {
            // An idle poller beyond the first retires; the supervisor adds pollers back when a
            // backlog builds up.
            if retire(&pool) {
                return;
            }
            continue;
        }
        match process(&settings, source.as_ref(), invoker.as_ref(), records).await {
            Outcome::Done | Outcome::Partial => {}
            Outcome::Throttled => {
                pool.throttled.store(true, Ordering::SeqCst);
                if retire(&pool) {
                    return;
                }
                if pause(&mut stopped).await {
                    break;
                }
            }
            Outcome::Failed => {
                if pause(&mut stopped).await {
                    break;
                }
            }
        }
    }
    pool.active.fetch_sub(1, Ordering::SeqCst);
}

/// Waits out the backoff; true when the mapping was stopped meanwhile.
async fn pause(stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stopped.changed() => true,
        _ = tokio::time::sleep(BACKOFF) => *stopped.borrow(),
    }
}

enum Outcome {
    /// Every record succeeded.
    Done,
    /// The function ran but failed for some or all records (left to the source's redelivery).
    Partial,
    /// Over a concurrency limit.
    Throttled,
    /// The function could not run.
    Failed,
}

/// Filters a batch, then invokes the function once per part that fits the synchronous payload
/// limit.
async fn process(
    settings: &PollerSettings,
    source: &dyn Source,
    invoker: &dyn FunctionInvoker,
    records: Vec<SourceRecord>,
) -> Outcome {
    let records = match &settings.filters {
        None => records,
        Some(filters) => {
            let (keep, drop): (Vec<SourceRecord>, Vec<SourceRecord>) = records
                .into_iter()
                .partition(|r| filters.matches(&source.filter_view(r)));
            // Lambda deletes what the filters reject without invoking the function.
            source.ack(&drop.iter().collect::<Vec<_>>()).await;
            keep
        }
    };
    if records.is_empty() {
        return Outcome::Done;
    }
    let parts = split_for_payload(source, &records, MAX_SYNC_PAYLOAD);
    let mut outcome = Outcome::Done;
    for (index, part) in parts.iter().enumerate() {
        outcome = invoke_part(settings, source, invoker, part).await;
        let stop = match outcome {
            Outcome::Done => false,
            Outcome::Partial => settings.ordered,
            Outcome::Throttled | Outcome::Failed => true,
        };
        if stop {
            let rest: Vec<&SourceRecord> = parts[index + 1..].iter().flatten().copied().collect();
            source.nack(&rest).await;
            break;
        }
    }
    outcome
}

/// Splits a batch into consecutive parts whose event stays within `limit` bytes (Lambda keeps
/// a batch under the 6 MB synchronous invoke limit). The event is the source's envelope around
/// the records' JSON, comma separated; a record too large on its own goes alone (its
/// invocation fails and the source redelivers it, as Lambda would).
fn split_for_payload<'a>(
    source: &dyn Source,
    records: &'a [SourceRecord],
    limit: usize,
) -> Vec<Vec<&'a SourceRecord>> {
    let envelope = serde_json::to_vec(&source.event(&[])).map_or(0, |v| v.len());
    let mut parts: Vec<Vec<&SourceRecord>> = Vec::new();
    let mut current: Vec<&SourceRecord> = Vec::new();
    let mut size = envelope;
    for record in records {
        let own = serde_json::to_vec(&record.event).map_or(0, |v| v.len());
        let separator = usize::from(!current.is_empty());
        if !current.is_empty() && size + separator + own > limit {
            parts.push(std::mem::take(&mut current));
            size = envelope;
        }
        size += usize::from(!current.is_empty()) + own;
        current.push(record);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Invokes the function with one part of a batch and acknowledges what succeeded.
async fn invoke_part(
    settings: &PollerSettings,
    source: &dyn Source,
    invoker: &dyn FunctionInvoker,
    records: &[&SourceRecord],
) -> Outcome {
    let owned: Vec<SourceRecord> = records.iter().map(|r| (*r).clone()).collect();
    let payload = match serde_json::to_vec(&source.event(&owned)) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::error!(error = %e, "rendering an event source batch");
            source.nack(records).await;
            return Outcome::Failed;
        }
    };
    match invoker.invoke(&settings.function_arn, payload.into()).await {
        InvokeOutcome::Success(response) => {
            let failed = if settings.report_batch_item_failures {
                failed_items(&response, &owned)
            } else {
                Some(HashSet::new())
            };
            match failed {
                Some(failed) if failed.is_empty() => {
                    source.ack(records).await;
                    Outcome::Done
                }
                Some(failed) => {
                    let (retry, done): (Vec<&SourceRecord>, Vec<&SourceRecord>) = records
                        .iter()
                        .copied()
                        .partition(|r| failed.contains(r.id.as_str()));
                    source.ack(&done).await;
                    source.nack(&retry).await;
                    Outcome::Partial
                }
                None => {
                    source.nack(records).await;
                    Outcome::Partial
                }
            }
        }
        InvokeOutcome::FunctionError => {
            source.nack(records).await;
            Outcome::Partial
        }
        InvokeOutcome::Throttled => {
            source.nack(records).await;
            Outcome::Throttled
        }
        InvokeOutcome::Failed(error) => {
            tracing::warn!(function = %settings.function_arn, %error, "event source invoke failed");
            source.nack(records).await;
            Outcome::Failed
        }
    }
}

/// The ids a `ReportBatchItemFailures` response names. `None` means the whole batch failed: the
/// response is not JSON, or names an item that is not in the batch or has no identifier. An
/// empty or null response, or a null or empty list, means every item succeeded.
pub fn failed_items<'a>(response: &[u8], records: &'a [SourceRecord]) -> Option<HashSet<&'a str>> {
    if response.iter().all(u8::is_ascii_whitespace) {
        return Some(HashSet::new());
    }
    let value: Value = serde_json::from_slice(response).ok()?;
    let failures = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut failed = HashSet::new();
    for item in failures {
        let id = item.get("itemIdentifier").and_then(Value::as_str)?;
        let record = records.iter().find(|r| r.id == id)?;
        failed.insert(record.id.as_str());
    }
    Some(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use bytes::Bytes;
    use serde_json::json;
    use std::sync::Mutex;

    /// A queue of `total` records handed out in batches; acknowledgements are counted.
    struct FakeSource {
        next: Mutex<usize>,
        total: usize,
        acked: AtomicUsize,
    }

    #[async_trait]
    impl Source for FakeSource {
        async fn poll(&self, max: usize, _window: Duration) -> Result<Vec<SourceRecord>, String> {
            let batch: Vec<SourceRecord> = {
                let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                let end = (*next + max).min(self.total);
                let batch = (*next..end)
                    .map(|i| SourceRecord {
                        id: i.to_string(),
                        event: json!({ "n": i }),
                        ack_token: String::new(),
                    })
                    .collect();
                *next = end;
                batch
            };
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(batch)
        }
        fn event(&self, records: &[SourceRecord]) -> Value {
            json!({ "Records": records.iter().map(|r| r.event.clone()).collect::<Vec<_>>() })
        }
        async fn ack(&self, records: &[&SourceRecord]) {
            self.acked.fetch_add(records.len(), Ordering::SeqCst);
        }
        fn backlog(&self) -> usize {
            let next = *self.next.lock().unwrap_or_else(|p| p.into_inner());
            self.total - next
        }
    }

    /// Counts invocations running at once.
    #[derive(Default)]
    struct SlowFunction {
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    #[async_trait]
    impl FunctionInvoker for SlowFunction {
        async fn invoke(&self, _function_arn: &str, _payload: Bytes) -> InvokeOutcome {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            InvokeOutcome::Success(Bytes::new())
        }
    }

    fn settings(max_concurrency: usize) -> PollerSettings {
        PollerSettings {
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            batch_size: 1,
            window: Duration::ZERO,
            max_concurrency,
            report_batch_item_failures: false,
            filters: None,
            ordered: false,
        }
    }

    async fn drain(max_concurrency: usize, total: usize) -> usize {
        let source = Arc::new(FakeSource {
            next: Mutex::new(0),
            total,
            acked: AtomicUsize::new(0),
        });
        let function = Arc::new(SlowFunction::default());
        let runner = Runner::start(
            settings(max_concurrency),
            Arc::clone(&source) as Arc<dyn Source>,
            Arc::clone(&function) as Arc<dyn FunctionInvoker>,
            None,
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while source.acked.load(Ordering::SeqCst) < total {
            assert!(tokio::time::Instant::now() < deadline, "queue not drained");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        runner.finish().await;
        function.peak.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pollers_scale_up_to_the_maximum_concurrency_and_never_beyond() {
        let peak = drain(3, 60).await;
        assert!((2..=3).contains(&peak), "peak {peak} with a maximum of 3");
        // Without ScalingConfig the pool starts with Lambda's five pollers and grows by five a
        // second; 60 short invocations finish within the first steps.
        let default = crate::config::DEFAULT_MAX_CONCURRENCY as usize;
        let peak = drain(default, 60).await;
        assert!(
            (4..=3 * SCALE_STEP).contains(&peak),
            "peak {peak} without a maximum"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_update_waits_for_the_old_pollers_before_starting_new_ones() {
        let source = Arc::new(FakeSource {
            next: Mutex::new(0),
            total: 80,
            acked: AtomicUsize::new(0),
        });
        let function = Arc::new(SlowFunction::default());
        let start = |previous| {
            Runner::start(
                settings(3),
                Arc::clone(&source) as Arc<dyn Source>,
                Arc::clone(&function) as Arc<dyn FunctionInvoker>,
                previous,
            )
        };
        let old = start(None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while function.running.load(Ordering::SeqCst) < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "old pollers never ran"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The old pool is busy with three batches; the new one (also at most 3) must not add to it.
        let new = start(Some(old));
        while source.acked.load(Ordering::SeqCst) < 80 {
            assert!(tokio::time::Instant::now() < deadline, "queue not drained");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        new.finish().await;
        let peak = function.peak.load(Ordering::SeqCst);
        assert!(
            peak <= 3,
            "peak {peak} across an update with a maximum of 3"
        );
    }

    #[test]
    fn batches_are_split_under_the_payload_limit_in_order() {
        let source = FakeSource {
            next: Mutex::new(0),
            total: 0,
            acked: AtomicUsize::new(0),
        };
        let records: Vec<SourceRecord> = (0..10)
            .map(|i| SourceRecord {
                id: i.to_string(),
                event: json!({ "body": "x".repeat(300) }),
                ack_token: String::new(),
            })
            .collect();
        let limit = 1000;
        let parts = split_for_payload(&source, &records, limit);
        assert!(parts.len() > 1);
        let mut ids = Vec::new();
        for part in &parts {
            let owned: Vec<SourceRecord> = part.iter().map(|r| (*r).clone()).collect();
            let size = serde_json::to_vec(&source.event(&owned)).map_or(0, |v| v.len());
            assert!(size <= limit, "{size} > {limit}");
            ids.extend(part.iter().map(|r| r.id.clone()));
        }
        let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(ids, expected);
        // Everything fits: one part.
        assert_eq!(split_for_payload(&source, &records, 1 << 20).len(), 1);
    }

    fn records() -> Vec<SourceRecord> {
        ["a", "b"]
            .iter()
            .map(|id| SourceRecord {
                id: (*id).into(),
                event: json!({}),
                ack_token: String::new(),
            })
            .collect()
    }

    #[test]
    fn partial_batch_responses_follow_lambda() {
        let records = records();
        let ids = |r: &[u8]| {
            failed_items(r, &records).map(|s| {
                let mut v: Vec<_> = s.into_iter().collect();
                v.sort();
                v
            })
        };
        assert_eq!(ids(b""), Some(vec![]));
        assert_eq!(ids(b"null"), Some(vec![]));
        assert_eq!(ids(br#"{"batchItemFailures":[]}"#), Some(vec![]));
        assert_eq!(ids(br#"{"batchItemFailures":null}"#), Some(vec![]));
        assert_eq!(
            ids(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
            Some(vec!["b"])
        );
        assert_eq!(
            ids(br#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#),
            None
        );
        assert_eq!(
            ids(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#),
            None
        );
        assert_eq!(ids(b"not json"), None);
    }
}
