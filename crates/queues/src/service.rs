//! [`QueueService`]: the queue operations every front end uses.

use crate::attributes::{self, QueueAttributes, RedrivePolicy};
use crate::message::{MessageAttributes, validate_attributes, validate_body};
use crate::queue::{DEDUP_WINDOW_MS, DedupEntry, Message, Queue, ReceivedMessage};
use crate::storage::{self, MessagePayload, Op, QueueRecord, Writer};
use crate::{QueueError, now_ms, receipt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// SQS refuses to re-create a queue name for this long after DeleteQueue.
const RECREATE_DELAY: Duration = Duration::from_secs(60);
/// One PurgeQueue per queue per this long.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const MAX_TAGS: usize = 50;

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    pub body: String,
    pub attributes: MessageAttributes,
    /// `None`: the queue's DelaySeconds.
    pub delay_seconds: Option<u32>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// Who sent it (`SenderId`): the caller's access key id or the account.
    pub sender_id: String,
    /// `AWSTraceHeader` system attribute.
    pub trace_header: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_message_attributes: Option<String>,
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReceiveRequest {
    pub max_messages: usize,
    /// Long polling; `None`: the queue's ReceiveMessageWaitTimeSeconds.
    pub wait: Option<Duration>,
    /// Seconds; `None`: the queue's VisibilityTimeout.
    pub visibility_timeout: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: usize,
    pub in_flight: usize,
    pub delayed: usize,
}

pub struct QueueService {
    region: String,
    account_id: String,
    queues: RwLock<HashMap<String, Arc<Queue>>>,
    recently_deleted: Mutex<HashMap<String, Instant>>,
    /// Serialises changes to queue metadata (create, delete, attributes, tags), which are
    /// computed, committed, then applied.
    meta: tokio::sync::Mutex<()>,
    writer: Writer,
    next_seq: AtomicU64,
}

fn lock(queue: &Queue) -> MutexGuard<'_, crate::queue::QueueState> {
    // A panic while holding the lock leaves consistent-enough state (every mutation is small
    // and ordered); refusing all further work on the queue would be worse.
    queue.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl QueueService {
    /// Opens (creating) the store at `path` and rebuilds every queue from it.
    pub fn open(path: &Path, region: &str, account_id: &str) -> Result<Self, QueueError> {
        let (writer, loaded) = storage::open(path)?;
        let mut queues = HashMap::new();
        for (name, record) in loaded.queues {
            queues.insert(name.clone(), Arc::new(Queue::new(name, record)));
        }
        let now = now_ms();
        let mut max_seq = 0;
        for stored in loaded.messages {
            max_seq = max_seq.max(stored.seq);
            let Some(queue) = queues.get(&stored.queue) else {
                continue;
            };
            let message = Message::new(
                stored.seq,
                stored.payload,
                stored.receive_count,
                stored.first_receive,
                stored.visible_at,
                stored.receipt,
            );
            lock(queue).insert(message, now);
        }
        for entry in loaded.dedup {
            if entry.expires <= now {
                continue;
            }
            if let Some(queue) = queues.get(&entry.queue) {
                lock(queue).dedup.insert(
                    entry.key,
                    DedupEntry {
                        expires: entry.expires,
                        message_id: entry.message_id,
                        sequence_number: entry.sequence_number,
                    },
                );
            }
        }
        Ok(Self {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            queues: RwLock::new(queues),
            recently_deleted: Mutex::new(HashMap::new()),
            meta: tokio::sync::Mutex::new(()),
            writer,
            next_seq: AtomicU64::new(max_seq + 1),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account_id)
    }

    /// The queue name in `arn:aws:sqs:REGION:ACCOUNT:NAME` of this server's region and account.
    pub fn name_from_arn(&self, arn: &str) -> Result<String, QueueError> {
        let prefix = format!("arn:aws:sqs:{}:{}:", self.region, self.account_id);
        match arn.strip_prefix(&prefix) {
            Some(name) if !name.is_empty() && !name.contains(':') => Ok(name.to_owned()),
            _ => Err(QueueError::QueueDoesNotExist),
        }
    }

    /// The queue name in a queue URL `http(s)://HOST/ACCOUNT/NAME` (any host: clients reach the
    /// server under many names).
    pub fn name_from_url(&self, url: &str) -> Result<String, QueueError> {
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let name = parts.next().unwrap_or_default();
        let account = parts.next().unwrap_or_default();
        if name.is_empty() || account != self.account_id {
            return Err(QueueError::QueueDoesNotExist);
        }
        Ok(name.to_owned())
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>, QueueError> {
        self.queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or(QueueError::QueueDoesNotExist)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.queue(name).is_ok()
    }

    pub fn attributes(&self, name: &str) -> Result<QueueAttributes, QueueError> {
        let queue = self.queue(name)?;
        let attributes = lock(&queue).record.attributes.clone();
        Ok(attributes)
    }

    /// CreateQueue: creates the queue, or succeeds without change when it exists with the same
    /// attributes.
    pub async fn create_queue(
        &self,
        name: &str,
        requested: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let fifo = requested
            .get("FifoQueue")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        validate_queue_name(name, fifo)?;
        let _meta = self.meta.lock().await;
        if let Ok(existing) = self.queue(name) {
            let current = lock(&existing).record.attributes.clone();
            for (attribute, value) in requested {
                let wanted = attributes::normalize(attribute, value, current.is_fifo(), true)?;
                if current.0.get(attribute) != wanted.as_ref() {
                    return Err(QueueError::QueueNameExists(format!(
                        "A queue already exists with the same name and a different value for \
                         attribute {attribute}"
                    )));
                }
            }
            return Ok(());
        }
        if let Some(deleted) = self.recently_deleted_at(name)
            && deleted.elapsed() < RECREATE_DELAY
        {
            return Err(QueueError::QueueDeletedRecently(
                "You must wait 60 seconds after deleting a queue before you can create another \
                 with the same name."
                    .into(),
            ));
        }
        let mut attributes = QueueAttributes::defaults(fifo);
        attributes.apply(requested, true)?;
        self.check_redrive_target(&attributes, fifo)?;
        validate_tags(name, tags.len())?;
        let now = now_ms() / 1000;
        let record = QueueRecord {
            attributes,
            tags: tags.clone(),
            created: now,
            modified: now,
        };
        self.persist_record(name, &record).await?;
        self.queues
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name.to_owned(),
                Arc::new(Queue::new(name.to_owned(), record)),
            );
        Ok(())
    }

    fn recently_deleted_at(&self, name: &str) -> Option<Instant> {
        let mut deleted = self
            .recently_deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        deleted.retain(|_, at| at.elapsed() < RECREATE_DELAY);
        deleted.get(name).copied()
    }

    /// A redrive policy must name an existing queue of the same type.
    fn check_redrive_target(
        &self,
        attributes: &QueueAttributes,
        fifo: bool,
    ) -> Result<(), QueueError> {
        let Some(policy) = attributes.redrive_policy() else {
            return Ok(());
        };
        let raw = attributes
            .0
            .get("RedrivePolicy")
            .cloned()
            .unwrap_or_default();
        let invalid = |reason: &str| {
            QueueError::InvalidParameterValue(format!(
                "Value {raw} for parameter RedrivePolicy is invalid. Reason: {reason}"
            ))
        };
        let target = self
            .name_from_arn(&policy.dead_letter_target_arn)
            .and_then(|n| self.queue(&n))
            .map_err(|_| invalid("Dead letter target does not exist."))?;
        if lock(&target).record.attributes.is_fifo() != fifo {
            return Err(invalid(
                "Dead-letter queue must be same type of queue as the source.",
            ));
        }
        Ok(())
    }

    async fn persist_record(&self, name: &str, record: &QueueRecord) -> Result<(), QueueError> {
        let record = serde_json::to_string(record)?;
        self.writer
            .submit(vec![Op::PutQueue {
                name: name.to_owned(),
                record,
            }])
            .wait()
            .await
    }

    pub async fn delete_queue(&self, name: &str) -> Result<(), QueueError> {
        let _meta = self.meta.lock().await;
        let queue = self.queue(name)?;
        let committed = {
            let mut state = lock(&queue);
            state.deleted = true;
            state.clear();
            self.writer.submit(vec![Op::DeleteQueue {
                name: name.to_owned(),
            }])
        };
        self.queues
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.recently_deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Instant::now());
        queue.notify.notify_waiters();
        committed.wait().await
    }

    /// Queue names starting with `prefix`, sorted.
    pub fn list_queues(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// GetQueueAttributes: `requested` may hold `All`; unknown names are refused.
    pub fn get_attributes(
        &self,
        name: &str,
        requested: &[String],
    ) -> Result<BTreeMap<String, String>, QueueError> {
        for attribute in requested {
            if !attributes::is_readable(attribute) {
                return Err(QueueError::InvalidAttributeName(format!(
                    "Unknown Attribute {attribute}."
                )));
            }
        }
        let queue = self.queue(name)?;
        let mut state = lock(&queue);
        state.advance(now_ms());
        let (visible, in_flight, delayed) = state.counts();
        let mut all = state.record.attributes.0.clone();
        for (key, value) in [
            ("ApproximateNumberOfMessages", visible.to_string()),
            (
                "ApproximateNumberOfMessagesNotVisible",
                in_flight.to_string(),
            ),
            ("ApproximateNumberOfMessagesDelayed", delayed.to_string()),
            ("CreatedTimestamp", state.record.created.to_string()),
            ("LastModifiedTimestamp", state.record.modified.to_string()),
            ("QueueArn", self.queue_arn(name)),
        ] {
            all.insert(key.to_owned(), value);
        }
        if requested.iter().any(|r| r == "All") {
            return Ok(all);
        }
        all.retain(|k, _| requested.contains(k));
        Ok(all)
    }

    pub async fn set_attributes(
        &self,
        name: &str,
        changes: &BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let _meta = self.meta.lock().await;
        let queue = self.queue(name)?;
        let mut record = lock(&queue).record.clone();
        record.attributes.apply(changes, false)?;
        self.check_redrive_target(&record.attributes, record.attributes.is_fifo())?;
        record.modified = now_ms() / 1000;
        self.persist_record(name, &record).await?;
        lock(&queue).record = record;
        // A shorter delay or wait may make messages receivable now.
        queue.notify.notify_waiters();
        Ok(())
    }

    pub async fn tag_queue(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        self.change_tags(name, |all| {
            all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        })
        .await
    }

    pub async fn untag_queue(&self, name: &str, keys: &[String]) -> Result<(), QueueError> {
        self.change_tags(name, |all| all.retain(|k, _| !keys.contains(k)))
            .await
    }

    async fn change_tags(
        &self,
        name: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<(), QueueError> {
        let _meta = self.meta.lock().await;
        let queue = self.queue(name)?;
        let mut record = lock(&queue).record.clone();
        change(&mut record.tags);
        validate_tags(name, record.tags.len())?;
        self.persist_record(name, &record).await?;
        lock(&queue).record = record;
        Ok(())
    }

    pub fn list_tags(&self, name: &str) -> Result<BTreeMap<String, String>, QueueError> {
        let queue = self.queue(name)?;
        let tags = lock(&queue).record.tags.clone();
        Ok(tags)
    }

    /// Sends one message; acknowledged only once it is durable.
    pub async fn send(&self, name: &str, request: SendRequest) -> Result<SendResult, QueueError> {
        self.send_batch(name, vec![request])
            .await?
            .pop()
            .unwrap_or_else(|| Err(QueueError::Internal("no result for the message".into())))
    }

    /// The simple form other components use (destinations, dead-letter queues): a message with
    /// attributes to the queue with this ARN; returns the message id once it is durable.
    pub async fn send_message(
        &self,
        queue_arn: &str,
        body: String,
        attributes: MessageAttributes,
    ) -> Result<String, QueueError> {
        let name = self.name_from_arn(queue_arn)?;
        let fifo = self.attributes(&name)?.is_fifo();
        let request = SendRequest {
            body,
            attributes,
            sender_id: self.account_id.clone(),
            // A FIFO target gets one group and a fresh deduplication id per message.
            group_id: fifo.then(|| "lambent".to_owned()),
            dedup_id: fifo.then(|| uuid::Uuid::new_v4().simple().to_string()),
            ..SendRequest::default()
        };
        Ok(self.send(&name, request).await?.message_id)
    }

    /// Sends several messages in one durable commit; each entry succeeds or fails on its own.
    pub async fn send_batch(
        &self,
        name: &str,
        requests: Vec<SendRequest>,
    ) -> Result<Vec<Result<SendResult, QueueError>>, QueueError> {
        let queue = self.queue(name)?;
        let now = now_ms();
        let mut results = Vec::with_capacity(requests.len());
        let mut prepared = Vec::new();
        let mut reserved = Vec::new();
        let mut ops = Vec::new();
        {
            let mut state = lock(&queue);
            let attributes = state.record.attributes.clone();
            for request in requests {
                match self.prepare(&attributes, &mut state.dedup, request, now) {
                    Err(e) => results.push(Err(e)),
                    Ok(Prepared::Duplicate(result)) => results.push(Ok(result)),
                    Ok(Prepared::New { message, dedup_key }) => {
                        let payload = serde_json::to_string(&*message.payload)?;
                        ops.push(Op::Insert {
                            seq: message.seq,
                            queue: name.to_owned(),
                            payload,
                            visible_at: message.visible_at,
                        });
                        if let Some(key) = dedup_key {
                            ops.push(Op::Dedup {
                                queue: name.to_owned(),
                                key: key.clone(),
                                expires: now + DEDUP_WINDOW_MS,
                                message_id: message.payload.id.clone(),
                                sequence_number: message.payload.sequence_number.clone(),
                            });
                            reserved.push(key);
                        }
                        results.push(Ok(result_of(&message)));
                        prepared.push(message);
                    }
                }
            }
        }
        if prepared.is_empty() {
            return Ok(results);
        }
        if let Err(e) = self.writer.submit(ops).wait().await {
            let mut state = lock(&queue);
            for key in reserved {
                state.dedup.remove(&key);
            }
            return Err(e);
        }
        let mut state = lock(&queue);
        if !state.deleted {
            for message in prepared {
                state.insert(message, now);
            }
        }
        drop(state);
        queue.notify.notify_waiters();
        Ok(results)
    }

    /// Validates one send and builds its message, or finds it is a duplicate.
    fn prepare(
        &self,
        attributes: &QueueAttributes,
        dedup: &mut HashMap<String, DedupEntry>,
        request: SendRequest,
        now: u64,
    ) -> Result<Prepared, QueueError> {
        validate_body(&request.body)?;
        let size = request.body.len() + validate_attributes(&request.attributes)?;
        let max = attributes.maximum_message_size();
        if size > max as usize {
            return Err(QueueError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} \
                 bytes."
            )));
        }
        if let Some(delay) = request.delay_seconds
            && delay > 900
        {
            return Err(QueueError::invalid_value(
                "DelaySeconds",
                delay,
                "DelaySeconds must be >= 0 and <= 900.",
            ));
        }
        let fifo = attributes.is_fifo();
        if let Some(group) = &request.group_id {
            validate_fifo_id("MessageGroupId", group)?;
        }
        let mut dedup_key = None;
        let mut sequence_number = None;
        let mut dedup_id = request.dedup_id.clone();
        if fifo {
            if request.delay_seconds.is_some_and(|d| d > 0) {
                return Err(QueueError::invalid_value(
                    "DelaySeconds",
                    request.delay_seconds.unwrap_or_default(),
                    "The request include parameter that is not valid for this queue type.",
                ));
            }
            let Some(group) = &request.group_id else {
                return Err(QueueError::MissingParameter(
                    "The request must contain the parameter MessageGroupId.".into(),
                ));
            };
            let id = match &request.dedup_id {
                Some(id) => {
                    validate_fifo_id("MessageDeduplicationId", id)?;
                    id.clone()
                }
                None if attributes.content_based_deduplication() => {
                    hex::encode(Sha256::digest(request.body.as_bytes()))
                }
                None => {
                    return Err(QueueError::InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or \
                         MessageDeduplicationId provided explicitly"
                            .into(),
                    ));
                }
            };
            let key = if attributes.dedup_per_group() {
                format!("{group}\u{0}{id}")
            } else {
                id.clone()
            };
            if let Some(entry) = dedup.get(&key).filter(|e| e.expires > now) {
                return Ok(Prepared::Duplicate(SendResult {
                    message_id: entry.message_id.clone(),
                    md5_of_body: crate::md5_of_body(&request.body),
                    md5_of_message_attributes: crate::md5_of_attributes(&request.attributes),
                    sequence_number: entry.sequence_number.clone(),
                }));
            }
            dedup_id = Some(id);
            dedup_key = Some(key);
        } else if let Some(id) = &request.dedup_id {
            return Err(QueueError::invalid_value(
                "MessageDeduplicationId",
                id,
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if fifo {
            // Strictly increasing per queue because the sequence is global and monotonic.
            sequence_number = Some(format!(
                "{:020}",
                18_000_000_000_000_000_000u128 + u128::from(seq)
            ));
        }
        let delay = request
            .delay_seconds
            .unwrap_or_else(|| attributes.delay_seconds());
        let payload = MessagePayload {
            id: uuid::Uuid::new_v4().to_string(),
            body: request.body,
            attributes: request.attributes,
            sent_ms: now,
            sender_id: request.sender_id,
            group_id: request.group_id,
            dedup_id,
            sequence_number,
            trace_header: request.trace_header,
            dlq_source_arn: None,
        };
        let message = Message::new(seq, payload, 0, None, now + u64::from(delay) * 1000, None);
        if let Some(key) = &dedup_key {
            dedup.insert(
                key.clone(),
                DedupEntry {
                    expires: now + DEDUP_WINDOW_MS,
                    message_id: message.payload.id.clone(),
                    sequence_number: message.payload.sequence_number.clone(),
                },
            );
        }
        Ok(Prepared::New { message, dedup_key })
    }

    /// ReceiveMessage: waits up to the wait time for at least one message, without polling.
    pub async fn receive(
        &self,
        name: &str,
        request: &ReceiveRequest,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let queue = self.queue(name)?;
        let attributes = lock(&queue).record.attributes.clone();
        let wait = request
            .wait
            .unwrap_or_else(|| Duration::from_secs(attributes.receive_wait_seconds().into()));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = queue.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a send between the look and the wait is not missed.
            notified.as_mut().enable();
            let (messages, next_timer) = self.receive_now(&queue, request)?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            let mut until = deadline;
            if let Some(at) = next_timer {
                until = until.min(now + Duration::from_millis(at.saturating_sub(now_ms()) + 1));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// One receive pass; also returns when the next delayed or in-flight message is due.
    fn receive_now(
        &self,
        queue: &Queue,
        request: &ReceiveRequest,
    ) -> Result<(Vec<ReceivedMessage>, Option<u64>), QueueError> {
        let now = now_ms();
        let mut state = lock(queue);
        if state.deleted {
            return Err(QueueError::QueueDoesNotExist);
        }
        let attributes = &state.record.attributes;
        let visibility = request
            .visibility_timeout
            .unwrap_or_else(|| attributes.visibility_timeout());
        let dead_letter = attributes
            .redrive_policy()
            .and_then(|p| Some((self.dead_letter_queue(&p)?, p)));
        let mut pass = state.receive(
            &queue.name,
            now,
            request.max_messages.max(1),
            u64::from(visibility) * 1000,
            dead_letter.as_ref().map(|(_, p)| p),
        );
        let mut moved = Vec::new();
        if let Some((target, _)) = &dead_letter {
            for mut payload in pass.to_dead_letter.drain(..) {
                payload.dlq_source_arn = Some(self.queue_arn(&queue.name));
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                pass.ops.push(Op::Insert {
                    seq,
                    queue: target.name.clone(),
                    payload: serde_json::to_string(&payload)?,
                    visible_at: now,
                });
                moved.push(Message::new(seq, payload, 0, None, now, None));
            }
        }
        // Queued under the lock: the disk sees changes in the order memory did. The source's
        // delete and the dead-letter insert share one job, hence one transaction.
        self.writer.queue(pass.ops);
        let next_timer = state.next_timer();
        drop(state);
        if let Some((target, _)) = dead_letter
            && !moved.is_empty()
        {
            let mut target_state = lock(&target);
            for message in moved {
                target_state.insert(message, now);
            }
            drop(target_state);
            target.notify.notify_waiters();
        }
        Ok((pass.delivered, next_timer))
    }

    fn dead_letter_queue(&self, policy: &RedrivePolicy) -> Option<Arc<Queue>> {
        let name = self.name_from_arn(&policy.dead_letter_target_arn).ok()?;
        self.queue(&name).ok()
    }

    /// DeleteMessage. A stale handle (the message was received again since) deletes nothing and
    /// is not an error, as on SQS.
    pub async fn delete_message(&self, name: &str, handle: &str) -> Result<(), QueueError> {
        let queue = self.queue(name)?;
        let (seq, token) = receipt::decode(name, handle)?;
        let committed = {
            let mut state = lock(&queue);
            if state.by_receipt(seq, &token).is_none() {
                return Ok(());
            }
            state.remove(seq);
            self.writer.submit(vec![Op::Delete { seq }])
        };
        // A FIFO group may be unlocked now.
        queue.notify.notify_waiters();
        committed.wait().await
    }

    /// ChangeMessageVisibility of a message in flight, counted from now.
    pub fn change_visibility(
        &self,
        name: &str,
        handle: &str,
        visibility_timeout: u32,
    ) -> Result<(), QueueError> {
        if visibility_timeout > 43_200 {
            return Err(QueueError::invalid_value(
                "VisibilityTimeout",
                visibility_timeout,
                "Must be between 0 and 43200, if provided.",
            ));
        }
        let queue = self.queue(name)?;
        let (seq, token) = receipt::decode(name, handle)?;
        let mut state = lock(&queue);
        if state.by_receipt(seq, &token).is_none() {
            return Err(QueueError::invalid_value(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            ));
        }
        let op = state
            .set_visibility(seq, now_ms(), u64::from(visibility_timeout) * 1000)
            .ok_or_else(|| {
                QueueError::MessageNotInflight(
                    "Message does not exist or is not available for visibility timeout change."
                        .into(),
                )
            })?;
        self.writer.queue(vec![op]);
        drop(state);
        if visibility_timeout == 0 {
            queue.notify.notify_waiters();
        }
        Ok(())
    }

    pub async fn purge(&self, name: &str) -> Result<(), QueueError> {
        let queue = self.queue(name)?;
        let committed = {
            let mut state = lock(&queue);
            if state
                .last_purge
                .is_some_and(|at| at.elapsed() < PURGE_INTERVAL)
            {
                return Err(QueueError::PurgeQueueInProgress(format!(
                    "Only one PurgeQueue operation on {name} is allowed every 60 seconds."
                )));
            }
            state.last_purge = Some(Instant::now());
            state.clear();
            self.writer.submit(vec![Op::Purge {
                queue: name.to_owned(),
            }])
        };
        committed.wait().await
    }

    pub fn depth(&self, name: &str) -> Result<QueueDepth, QueueError> {
        let queue = self.queue(name)?;
        let mut state = lock(&queue);
        state.advance(now_ms());
        let (visible, in_flight, delayed) = state.counts();
        Ok(QueueDepth {
            visible,
            in_flight,
            delayed,
        })
    }
}

enum Prepared {
    New {
        message: Message,
        dedup_key: Option<String>,
    },
    Duplicate(SendResult),
}

fn result_of(message: &Message) -> SendResult {
    SendResult {
        message_id: message.payload.id.clone(),
        md5_of_body: message.md5_body.clone(),
        md5_of_message_attributes: message.md5_attributes.clone(),
        sequence_number: message.payload.sequence_number.clone(),
    }
}

/// Queue names: 1–80 alphanumerics, hyphens and underscores; FIFO names end in `.fifo`.
pub fn validate_queue_name(name: &str, fifo: bool) -> Result<(), QueueError> {
    let base = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    let ok = base.is_some_and(|b| {
        !b.is_empty()
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    }) && name.len() <= 80;
    if ok {
        return Ok(());
    }
    Err(QueueError::InvalidParameterValue(if fifo {
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or \
         underscores, must end with .fifo suffix and be 1 to 80 in length."
            .into()
    } else {
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            .into()
    }))
}

/// MessageGroupId and MessageDeduplicationId: 1–128 printable ASCII characters.
fn validate_fifo_id(parameter: &str, value: &str) -> Result<(), QueueError> {
    if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(QueueError::invalid_value(
            parameter,
            value,
            &format!(
                "{parameter} can only include alphanumeric and punctuation characters. 1 to 128 \
                 in length."
            ),
        ));
    }
    Ok(())
}

fn validate_tags(name: &str, count: usize) -> Result<(), QueueError> {
    if count > MAX_TAGS {
        return Err(QueueError::InvalidParameterValue(format!(
            "Too many tags added for queue {name}."
        )));
    }
    Ok(())
}
