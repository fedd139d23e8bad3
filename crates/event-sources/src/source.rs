//! The poller abstraction every event source plugs into, and the SQS source.
//!
//! A [`Source`] hands out batches of records and is told which were processed; the poller
//! (`poller.rs`) owns scaling, batching windows and invocation. Kafka, RabbitMQ, NATS, Redis
//! Streams or PostgreSQL changes become new `Source`s with their own [`SourceFactory`], without
//! touching the mapping API or the poller.

use crate::EsmError;
use async_trait::async_trait;
use base64::Engine;
use lambent_queues::{QueueError, QueueService, ReceiveRequest};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// One record pulled from a source: its id (what `batchItemFailures` names), its rendering in
/// the event, and the token that acknowledges it.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub id: String,
    pub event: Value,
    pub ack_token: String,
}

#[async_trait]
pub trait Source: Send + Sync {
    /// Waits for records (dropping the future cancels the wait): up to `max`, gathering for at
    /// most `window` after the first one arrived. An empty batch means nothing came for a
    /// while.
    async fn poll(&self, max: usize, window: Duration) -> Result<Vec<SourceRecord>, String>;
    /// The function's payload for a batch: an envelope around the records' `event`s in a JSON
    /// array (the poller relies on that shape to keep a payload under the invoke limit).
    fn event(&self, records: &[SourceRecord]) -> Value;
    /// The record as `FilterCriteria` patterns see it. The default is the record as the
    /// function gets it.
    fn filter_view(&self, record: &SourceRecord) -> Value {
        record.event.clone()
    }
    /// Removes processed records from the source.
    async fn ack(&self, records: &[&SourceRecord]);
    /// Records that were not processed. The default leaves them to the source's own
    /// redelivery (for SQS: visible again after the visibility timeout, then the redrive
    /// policy decides).
    async fn nack(&self, _records: &[&SourceRecord]) {}
    /// Records waiting, to decide how many pollers run.
    fn backlog(&self) -> usize;
}

/// Recognises a source ARN and opens the source.
pub trait SourceFactory: Send + Sync {
    /// `None`: not this factory's kind of ARN. `Some(Err)`: its kind, but unusable.
    fn open(&self, arn: &str) -> Option<Result<OpenedSource, EsmError>>;
}

pub struct OpenedSource {
    pub source: Arc<dyn Source>,
    /// FIFO sources cap BatchSize at 10.
    pub fifo: bool,
}

/// Lambent's own SQS queues.
pub struct SqsSourceFactory {
    pub queues: Arc<QueueService>,
}

impl SourceFactory for SqsSourceFactory {
    fn open(&self, arn: &str) -> Option<Result<OpenedSource, EsmError>> {
        if !arn.starts_with("arn:aws:sqs:") {
            return None;
        }
        let opened = self
            .queues
            .name_from_arn(arn)
            .and_then(|name| Ok((self.queues.attributes(&name)?, name)))
            .map(|(attributes, name)| OpenedSource {
                source: Arc::new(SqsSource {
                    queues: Arc::clone(&self.queues),
                    name,
                    arn: arn.to_owned(),
                }),
                fifo: attributes.is_fifo(),
            })
            .map_err(|_| {
                EsmError::InvalidParameterValue(
                    "Error occurred while ReceiveMessage. SQS Error Code: \
                     AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified \
                     queue does not exist or you do not have access to it."
                        .into(),
                )
            });
        Some(opened)
    }
}

pub struct SqsSource {
    queues: Arc<QueueService>,
    name: String,
    arn: String,
}

/// Long-poll length of one receive while waiting for the first record.
const LONG_POLL: Duration = Duration::from_secs(20);

#[async_trait]
impl Source for SqsSource {
    async fn poll(&self, max: usize, window: Duration) -> Result<Vec<SourceRecord>, String> {
        let mut batch = Vec::new();
        let mut window_end = None;
        loop {
            let wait = match window_end {
                None => LONG_POLL,
                Some(end) => end - tokio::time::Instant::now().min(end),
            };
            let request = ReceiveRequest {
                max_messages: (max - batch.len()).min(10),
                wait: Some(wait),
                visibility_timeout: None,
            };
            let received = self
                .queues
                .receive(&self.name, &request)
                .await
                .map_err(|e: QueueError| e.to_string())?;
            if batch.is_empty() && received.is_empty() {
                return Ok(batch);
            }
            let end = *window_end.get_or_insert_with(|| tokio::time::Instant::now() + window);
            batch.extend(received.into_iter().map(|m| self.record(m)));
            if batch.len() >= max || tokio::time::Instant::now() >= end {
                return Ok(batch);
            }
        }
    }

    fn event(&self, records: &[SourceRecord]) -> Value {
        json!({ "Records": records.iter().map(|r| r.event.clone()).collect::<Vec<_>>() })
    }

    /// Deletes the messages concurrently, so that their deletions share the queue store's group
    /// commit instead of waiting for one fsync each.
    async fn ack(&self, records: &[&SourceRecord]) {
        let mut deletions = tokio::task::JoinSet::new();
        for record in records {
            let queues = Arc::clone(&self.queues);
            let name = self.name.clone();
            let handle = record.ack_token.clone();
            deletions.spawn(async move { queues.delete_message(&name, &handle).await });
        }
        while let Some(done) = deletions.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(queue = %self.name, error = %e, "deleting a processed message")
                }
                Err(e) => {
                    tracing::warn!(queue = %self.name, error = %e, "deleting a processed message")
                }
            }
        }
    }

    fn backlog(&self) -> usize {
        self.queues.depth(&self.name).map_or(0, |d| d.visible)
    }

    /// Lambda filters an SQS record with its body parsed when the body is a JSON object, so
    /// that patterns can reach into it; any other body stays a string, which only plain
    /// patterns (`"body": ["text"]`, `prefix`, ...) match.
    fn filter_view(&self, record: &SourceRecord) -> Value {
        let mut view = record.event.clone();
        if let Some(body) = view.get_mut("body")
            && let Some(text) = body.as_str()
            && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(text)
        {
            *body = parsed;
        }
        view
    }
}

impl SqsSource {
    /// Lambda's SQS record: camelCase keys, `eventSourceARN` with capital ARN, attributes as
    /// strings, message attributes with list members always present.
    fn record(&self, message: lambent_queues::ReceivedMessage) -> SourceRecord {
        let mut attributes = Map::new();
        for name in [
            "ApproximateReceiveCount",
            "AWSTraceHeader",
            "SentTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "SenderId",
            "MessageDeduplicationId",
            "ApproximateFirstReceiveTimestamp",
            "DeadLetterQueueSourceArn",
        ] {
            if let Some(value) = message.attributes.get(name) {
                attributes.insert(name.into(), json!(value));
            }
        }
        let message_attributes: Map<String, Value> = message
            .message_attributes
            .iter()
            .map(|(name, value)| {
                let binary = value
                    .binary_value
                    .as_ref()
                    .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
                (
                    name.clone(),
                    json!({
                        "stringValue": value.string_value,
                        "binaryValue": binary,
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.data_type,
                    }),
                )
            })
            .collect();
        let mut event = Map::new();
        event.insert("messageId".into(), json!(message.message_id));
        event.insert("receiptHandle".into(), json!(message.receipt_handle));
        event.insert("body".into(), json!(message.body));
        event.insert("attributes".into(), Value::Object(attributes));
        event.insert(
            "messageAttributes".into(),
            Value::Object(message_attributes),
        );
        if let Some(md5) = &message.md5_of_message_attributes {
            event.insert("md5OfMessageAttributes".into(), json!(md5));
        }
        event.insert("md5OfBody".into(), json!(message.md5_of_body));
        event.insert("eventSource".into(), json!("aws:sqs"));
        event.insert("eventSourceARN".into(), json!(self.arn));
        event.insert("awsRegion".into(), json!(self.queues.region()));
        SourceRecord {
            id: message.message_id,
            event: Value::Object(event),
            ack_token: message.receipt_handle,
        }
    }
}
