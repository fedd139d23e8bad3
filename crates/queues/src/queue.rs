//! One queue's in-memory state: which messages are ready, delayed or in flight, FIFO group locks
//! and deduplication. Everything here is mirrored to storage by the caller through the returned
//! [`Op`]s; this module decides, it does not persist.

use crate::attributes::RedrivePolicy;
use crate::message::{md5_of_attributes, md5_of_body};
use crate::receipt;
use crate::storage::{MessagePayload, Op, QueueRecord};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// How long a deduplication id suppresses duplicates.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ready,
    /// Not yet visible because of DelaySeconds.
    Delayed,
    InFlight,
}

#[derive(Debug)]
pub struct Message {
    pub seq: u64,
    pub payload: Arc<MessagePayload>,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub receive_count: u32,
    pub first_receive: Option<u64>,
    pub visible_at: u64,
    pub receipt: Option<[u8; 16]>,
    pub phase: Phase,
}

impl Message {
    pub fn new(
        seq: u64,
        payload: MessagePayload,
        receive_count: u32,
        first_receive: Option<u64>,
        visible_at: u64,
        receipt: Option<[u8; 16]>,
    ) -> Self {
        Message {
            seq,
            md5_body: md5_of_body(&payload.body),
            md5_attributes: md5_of_attributes(&payload.attributes),
            payload: Arc::new(payload),
            receive_count,
            first_receive,
            visible_at,
            receipt,
            phase: Phase::Ready,
        }
    }
}

/// A deduplication entry: a later send with the same id answers with the first message's id.
#[derive(Debug, Clone)]
pub struct DedupEntry {
    pub expires: u64,
    pub message_id: String,
    pub sequence_number: Option<String>,
}

/// A message handed to a consumer, with every system attribute (callers filter).
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    pub md5_of_message_attributes: Option<String>,
    pub message_attributes: crate::MessageAttributes,
    /// `SenderId`, `SentTimestamp`, `ApproximateReceiveCount`, ... as SQS names them.
    pub attributes: BTreeMap<String, String>,
}

pub struct Queue {
    pub name: String,
    pub state: Mutex<QueueState>,
    /// Woken whenever a message may have become receivable (send, visibility reset, purge, delete).
    pub notify: Notify,
}

pub struct QueueState {
    pub record: QueueRecord,
    pub messages: HashMap<u64, Message>,
    pub ready: BTreeSet<u64>,
    /// (visible_at, seq) of delayed and in-flight messages; stale entries are skipped on pop.
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    inflight: usize,
    /// FIFO: groups with a message in flight, and how many.
    locked_groups: HashMap<String, usize>,
    pub dedup: HashMap<String, DedupEntry>,
    pub last_purge: Option<Instant>,
    pub deleted: bool,
}

/// What one receive pass decided.
#[derive(Default)]
pub struct ReceivePass {
    pub delivered: Vec<ReceivedMessage>,
    pub ops: Vec<Op>,
    /// Messages that exceeded maxReceiveCount, already removed here, for the dead-letter queue.
    pub to_dead_letter: Vec<MessagePayload>,
}

impl Queue {
    pub fn new(name: String, record: QueueRecord) -> Self {
        Queue {
            name,
            state: Mutex::new(QueueState {
                record,
                messages: HashMap::new(),
                ready: BTreeSet::new(),
                timers: BinaryHeap::new(),
                inflight: 0,
                locked_groups: HashMap::new(),
                dedup: HashMap::new(),
                last_purge: None,
                deleted: false,
            }),
            notify: Notify::new(),
        }
    }
}

impl QueueState {
    /// Adds a message in the phase its `visible_at` and receipt imply (used at send and load).
    pub fn insert(&mut self, mut message: Message, now: u64) {
        if message.visible_at > now {
            message.phase = if message.receipt.is_some() {
                Phase::InFlight
            } else {
                Phase::Delayed
            };
            self.timers.push(Reverse((message.visible_at, message.seq)));
            if message.phase == Phase::InFlight {
                self.lock(&message.payload.group_id);
            }
        } else {
            message.phase = Phase::Ready;
            self.ready.insert(message.seq);
        }
        self.messages.insert(message.seq, message);
    }

    fn lock(&mut self, group: &Option<String>) {
        self.inflight += 1;
        if let Some(group) = group {
            *self.locked_groups.entry(group.clone()).or_default() += 1;
        }
    }

    fn unlock(&mut self, group: &Option<String>) {
        self.inflight = self.inflight.saturating_sub(1);
        if let Some(group) = group
            && let Some(count) = self.locked_groups.get_mut(group)
        {
            *count -= 1;
            if *count == 0 {
                self.locked_groups.remove(group);
            }
        }
    }

    /// Moves delayed and in-flight messages whose time has come to ready.
    pub fn advance(&mut self, now: u64) {
        while let Some(Reverse((at, seq))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(message) = self.messages.get_mut(&seq) else {
                continue;
            };
            if message.visible_at != at || message.phase == Phase::Ready {
                continue;
            }
            let was_inflight = message.phase == Phase::InFlight;
            message.phase = Phase::Ready;
            let group = message.payload.group_id.clone();
            self.ready.insert(seq);
            if was_inflight {
                self.unlock(&group);
            }
        }
    }

    /// The earliest moment a delayed or in-flight message becomes visible.
    pub fn next_timer(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    pub fn remove(&mut self, seq: u64) -> Option<Message> {
        let message = self.messages.remove(&seq)?;
        match message.phase {
            Phase::Ready => {
                self.ready.remove(&seq);
            }
            Phase::InFlight => self.unlock(&message.payload.group_id),
            Phase::Delayed => {}
        }
        Some(message)
    }

    /// Removes everything (PurgeQueue, DeleteQueue).
    pub fn clear(&mut self) {
        self.messages.clear();
        self.ready.clear();
        self.timers.clear();
        self.locked_groups.clear();
        self.inflight = 0;
    }

    /// (visible, in flight, delayed) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let ready = self.ready.len();
        let delayed = self.messages.len() - ready - self.inflight;
        (ready, self.inflight, delayed)
    }

    /// Delivers up to `max` ready messages for `visibility_ms`, in order; FIFO queues skip groups
    /// with a message in flight. Expired messages are dropped and messages received
    /// `maxReceiveCount` times already are handed back for the dead-letter queue.
    pub fn receive(
        &mut self,
        queue_name: &str,
        now: u64,
        max: usize,
        visibility_ms: u64,
        redrive: Option<&RedrivePolicy>,
    ) -> ReceivePass {
        self.advance(now);
        let fifo = self.record.attributes.is_fifo();
        let retention_ms = u64::from(self.record.attributes.retention_seconds()) * 1000;
        let mut pass = ReceivePass::default();
        let mut chosen = Vec::new();
        let mut chosen_groups = HashSet::new();
        let mut drop = Vec::new();
        for &seq in &self.ready {
            if chosen.len() >= max {
                break;
            }
            let Some(message) = self.messages.get(&seq) else {
                continue;
            };
            if message.payload.sent_ms + retention_ms <= now {
                drop.push((seq, false));
                continue;
            }
            if fifo && let Some(group) = &message.payload.group_id {
                let locked = self.locked_groups.contains_key(group);
                if locked && !chosen_groups.contains(group) {
                    continue;
                }
            }
            if let Some(policy) = redrive
                && message.receive_count >= policy.max_receive_count
            {
                drop.push((seq, true));
                continue;
            }
            if fifo && let Some(group) = &message.payload.group_id {
                chosen_groups.insert(group.clone());
            }
            chosen.push(seq);
        }
        for (seq, dead) in drop {
            if let Some(message) = self.remove(seq) {
                pass.ops.push(Op::Delete { seq });
                if dead {
                    pass.to_dead_letter.push((*message.payload).clone());
                }
            }
        }
        for seq in chosen {
            self.ready.remove(&seq);
            let Some(message) = self.messages.get_mut(&seq) else {
                continue;
            };
            let token = receipt::new_token();
            message.receive_count += 1;
            let first = *message.first_receive.get_or_insert(now);
            message.visible_at = now + visibility_ms;
            message.receipt = Some(token);
            message.phase = Phase::InFlight;
            self.timers.push(Reverse((message.visible_at, seq)));
            pass.ops.push(Op::Receive {
                seq,
                receive_count: message.receive_count,
                first_receive: first,
                visible_at: message.visible_at,
                receipt: token,
            });
            let delivered = render(queue_name, message, token);
            let group = message.payload.group_id.clone();
            pass.delivered.push(delivered);
            self.lock(&group);
        }
        pass
    }

    /// Looks up an in-flight message by receipt: `Ok(None)` when the handle is stale (the
    /// message was received again since) or the message is gone.
    pub fn by_receipt(&self, seq: u64, token: &[u8; 16]) -> Option<&Message> {
        self.messages
            .get(&seq)
            .filter(|m| m.receipt.as_ref() == Some(token))
    }

    /// Sets a received message's visibility timeout, counted from now.
    pub fn set_visibility(&mut self, seq: u64, now: u64, visibility_ms: u64) -> Option<Op> {
        let message = self.messages.get_mut(&seq)?;
        if message.phase != Phase::InFlight {
            return None;
        }
        message.visible_at = now + visibility_ms;
        let at = message.visible_at;
        self.timers.push(Reverse((at, seq)));
        if visibility_ms == 0 {
            self.advance(now);
        }
        Some(Op::Visibility {
            seq,
            visible_at: at,
        })
    }
}

/// The consumer's view of a message just received with receipt `token`.
fn render(queue_name: &str, message: &Message, token: [u8; 16]) -> ReceivedMessage {
    let payload = &message.payload;
    let mut attributes = BTreeMap::new();
    attributes.insert("SenderId".to_owned(), payload.sender_id.clone());
    attributes.insert("SentTimestamp".to_owned(), payload.sent_ms.to_string());
    attributes.insert(
        "ApproximateReceiveCount".to_owned(),
        message.receive_count.to_string(),
    );
    attributes.insert(
        "ApproximateFirstReceiveTimestamp".to_owned(),
        message.first_receive.unwrap_or(payload.sent_ms).to_string(),
    );
    let optional = [
        ("MessageGroupId", &payload.group_id),
        ("MessageDeduplicationId", &payload.dedup_id),
        ("SequenceNumber", &payload.sequence_number),
        ("AWSTraceHeader", &payload.trace_header),
        ("DeadLetterQueueSourceArn", &payload.dlq_source_arn),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            attributes.insert(name.to_owned(), value.clone());
        }
    }
    ReceivedMessage {
        message_id: payload.id.clone(),
        receipt_handle: receipt::encode(queue_name, message.seq, &token),
        body: payload.body.clone(),
        md5_of_body: message.md5_body.clone(),
        md5_of_message_attributes: message.md5_attributes.clone(),
        message_attributes: payload.attributes.clone(),
        attributes,
    }
}
