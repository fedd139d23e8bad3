//! Runs one enabled mapping: a supervisor that sizes the pool of pollers to the backlog (at
//! least one, at most the mapping's maximum concurrency), and pollers that fetch a batch,
//! invoke the function, and acknowledge only what succeeded.

use crate::invoke::{FunctionInvoker, InvokeOutcome};
use crate::source::{Source, SourceRecord};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often the supervisor re-reads the backlog.
const SCALE_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after a throttle or a failure to invoke, so a broken function is not hammered.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PollerSettings {
    pub function_arn: String,
    pub batch_size: usize,
    pub window: Duration,
    pub max_concurrency: usize,
    pub report_batch_item_failures: bool,
}

/// A running mapping; stopping it (or dropping it) ends its pollers after their current batch.
pub struct Runner {
    stop: watch::Sender<bool>,
}

impl Runner {
    pub fn start(
        settings: PollerSettings,
        source: Arc<dyn Source>,
        invoker: Arc<dyn FunctionInvoker>,
    ) -> Runner {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(supervise(settings, source, invoker, stopped));
        Runner { stop }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn supervise(
    settings: PollerSettings,
    source: Arc<dyn Source>,
    invoker: Arc<dyn FunctionInvoker>,
    mut stopped: watch::Receiver<bool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let wanted = source
            .backlog()
            .div_ceil(settings.batch_size.max(1))
            .clamp(1, settings.max_concurrency.max(1));
        while active.load(Ordering::SeqCst) < wanted {
            active.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(poll_loop(
                settings.clone(),
                Arc::clone(&source),
                Arc::clone(&invoker),
                Arc::clone(&active),
                stopped.clone(),
            ));
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(SCALE_INTERVAL) => {}
        }
    }
}

async fn poll_loop(
    settings: PollerSettings,
    source: Arc<dyn Source>,
    invoker: Arc<dyn FunctionInvoker>,
    active: Arc<AtomicUsize>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        if *stopped.borrow() {
            active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let polled = tokio::select! {
            _ = stopped.changed() => {
                active.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            polled = source.poll(settings.batch_size, settings.window) => polled,
        };
        let records = match polled {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(function = %settings.function_arn, %error, "event source poll failed");
                if pause(&mut stopped).await {
                    active.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                continue;
            }
        };
        if records.is_empty() {
            // An idle poller beyond the first retires; the supervisor adds pollers back when a
            // backlog builds up.
            let retired = active
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n > 1).then(|| n - 1)
                })
                .is_ok();
            if retired {
                return;
            }
            continue;
        }
        let backoff = process(&settings, source.as_ref(), invoker.as_ref(), &records).await;
        if backoff && pause(&mut stopped).await {
            active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Waits out the backoff; true when the mapping was stopped meanwhile.
async fn pause(stopped: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stopped.changed() => true,
        _ = tokio::time::sleep(BACKOFF) => *stopped.borrow(),
    }
}

/// Invokes the function with one batch; returns whether the poller should back off.
async fn process(
    settings: &PollerSettings,
    source: &dyn Source,
    invoker: &dyn FunctionInvoker,
    records: &[SourceRecord],
) -> bool {
    let payload = match serde_json::to_vec(&source.event(records)) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::error!(error = %e, "rendering an event source batch");
            return true;
        }
    };
    let all: Vec<&SourceRecord> = records.iter().collect();
    match invoker.invoke(&settings.function_arn, payload.into()).await {
        InvokeOutcome::Success(response) => {
            let failed = if settings.report_batch_item_failures {
                failed_items(&response, records)
            } else {
                Some(HashSet::new())
            };
            match failed {
                Some(failed) => {
                    let (retry, done): (Vec<&SourceRecord>, Vec<&SourceRecord>) = all
                        .into_iter()
                        .partition(|r| failed.contains(r.id.as_str()));
                    source.ack(&done).await;
                    source.nack(&retry).await;
                }
                None => source.nack(&all).await,
            }
            false
        }
        InvokeOutcome::FunctionError => {
            source.nack(&all).await;
            false
        }
        InvokeOutcome::Throttled => {
            source.nack(&all).await;
            true
        }
        InvokeOutcome::Failed(error) => {
            tracing::warn!(function = %settings.function_arn, %error, "event source invoke failed");
            source.nack(&all).await;
            true
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
    use serde_json::json;

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
