//! Durable state in `queues.sqlite3` (WAL, `synchronous=FULL`), written by one writer thread.
//!
//! Why one writer: SQLite serialises writers anyway, and a single thread that drains everything
//! queued while the previous commit was syncing turns N concurrent sends into one transaction and
//! one fsync (group commit). Callers that must not acknowledge before the data is on disk
//! (SendMessage, CreateQueue, ...) wait for their job's commit; state changes whose loss only
//! causes a redelivery (receives, visibility changes) are queued without waiting, in order.

use crate::QueueError;
use crate::attributes::QueueAttributes;
use crate::message::MessageAttributes;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Jobs drained into one transaction at most (bounds the latency of the first one).
const MAX_JOBS_PER_COMMIT: usize = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name   TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY NOT NULL,
    queue         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive INTEGER,
    visible_at    INTEGER NOT NULL,
    receipt       BLOB
) STRICT;
CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue);
CREATE TABLE IF NOT EXISTS dedup (
    queue           TEXT NOT NULL,
    key             TEXT NOT NULL,
    expires         INTEGER NOT NULL,
    message_id      TEXT NOT NULL,
    sequence_number TEXT,
    PRIMARY KEY (queue, key)
) STRICT;
";

/// What is stored of a queue besides its messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueRecord {
    pub attributes: QueueAttributes,
    pub tags: BTreeMap<String, String>,
    /// Epoch seconds.
    pub created: u64,
    pub modified: u64,
}

/// The immutable part of a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagePayload {
    pub id: String,
    pub body: String,
    #[serde(default)]
    pub attributes: MessageAttributes,
    pub sent_ms: u64,
    pub sender_id: String,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub dedup_id: Option<String>,
    #[serde(default)]
    pub sequence_number: Option<String>,
    #[serde(default)]
    pub trace_header: Option<String>,
    #[serde(default)]
    pub dlq_source_arn: Option<String>,
}

/// One change to durable state.
#[derive(Debug)]
pub enum Op {
    PutQueue {
        name: String,
        record: String,
    },
    DeleteQueue {
        name: String,
    },
    Insert {
        seq: u64,
        queue: String,
        payload: String,
        visible_at: u64,
    },
    Receive {
        seq: u64,
        receive_count: u32,
        first_receive: u64,
        visible_at: u64,
        receipt: [u8; 16],
    },
    Visibility {
        seq: u64,
        visible_at: u64,
    },
    Delete {
        seq: u64,
    },
    Purge {
        queue: String,
    },
    Dedup {
        queue: String,
        key: String,
        expires: u64,
        message_id: String,
        sequence_number: Option<String>,
    },
}

struct Job {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<Result<(), QueueError>>>,
}

/// A stored message with its delivery state.
pub struct StoredMessage {
    pub seq: u64,
    pub queue: String,
    pub payload: MessagePayload,
    pub receive_count: u32,
    pub first_receive: Option<u64>,
    pub visible_at: u64,
    pub receipt: Option<[u8; 16]>,
}

pub struct StoredDedup {
    pub queue: String,
    pub key: String,
    pub expires: u64,
    pub message_id: String,
    pub sequence_number: Option<String>,
}

/// Everything on disk, read once at start.
pub struct Loaded {
    pub queues: Vec<(String, QueueRecord)>,
    pub messages: Vec<StoredMessage>,
    pub dedup: Vec<StoredDedup>,
}

/// The handle to the writer thread. Dropping every handle ends the thread after it committed
/// what was queued.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Queues `ops` as one unit; the returned [`Committed`] resolves once they are on disk.
    /// Submitting is synchronous so callers can do it while holding a queue's lock, which keeps
    /// the order on disk the order of the changes in memory.
    pub fn submit(&self, ops: Vec<Op>) -> Committed {
        let (done, wait) = oneshot::channel();
        let sent = self.tx.send(Job {
            ops,
            done: Some(done),
        });
        Committed(sent.ok().map(|()| wait))
    }

    /// Queues `ops` without waiting; they commit in order with everything else.
    pub fn queue(&self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        if self.tx.send(Job { ops, done: None }).is_err() {
            tracing::error!("the queue writer stopped; a delivery state change is lost");
        }
    }
}

/// A submitted job; [`Committed::wait`] returns when its transaction committed (or failed).
pub struct Committed(Option<oneshot::Receiver<Result<(), QueueError>>>);

impl Committed {
    pub async fn wait(self) -> Result<(), QueueError> {
        let stopped = || QueueError::Internal("the queue writer stopped".into());
        self.0.ok_or_else(stopped)?.await.map_err(|_| stopped())?
    }
}

/// Opens the database, reads its content and starts the writer thread.
pub fn open(path: &Path) -> Result<(Writer, Loaded), QueueError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    let loaded = load(&conn)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("queue-writer".into())
        .spawn(move || run_writer(conn, rx))
        .map_err(|e| QueueError::Internal(format!("starting the queue writer: {e}")))?;
    Ok((Writer { tx }, loaded))
}

fn load(conn: &Connection) -> Result<Loaded, QueueError> {
    let mut queues = Vec::new();
    let mut stmt = conn.prepare("SELECT name, record FROM queues")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, record) = row?;
        queues.push((name, serde_json::from_str(&record)?));
    }
    let mut messages = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, queue, payload, receive_count, first_receive, visible_at, receipt
         FROM messages ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<Vec<u8>>>(6)?,
        ))
    })?;
    for row in rows {
        let (seq, queue, payload, count, first, visible_at, receipt) = row?;
        messages.push(StoredMessage {
            seq: seq as u64,
            queue,
            payload: serde_json::from_str(&payload)?,
            receive_count: count as u32,
            first_receive: first.map(|f| f as u64),
            visible_at: visible_at as u64,
            receipt: receipt.and_then(|r| r.try_into().ok()),
        });
    }
    let mut dedup = Vec::new();
    let mut stmt =
        conn.prepare("SELECT queue, key, expires, message_id, sequence_number FROM dedup")?;
    let rows = stmt.query_map([], |r| {
        Ok(StoredDedup {
            queue: r.get(0)?,
            key: r.get(1)?,
            expires: r.get::<_, i64>(2)? as u64,
            message_id: r.get(3)?,
            sequence_number: r.get(4)?,
        })
    })?;
    for row in rows {
        dedup.push(row?);
    }
    Ok(Loaded {
        queues,
        messages,
        dedup,
    })
}

fn run_writer(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut commits: u64 = 0;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        commits += 1;
        let result = write(&mut conn, &jobs, commits.is_multiple_of(1024));
        if let Err(e) = &result {
            tracing::error!(error = %e, "queue storage commit failed");
        }
        for job in jobs {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

fn write(conn: &mut Connection, jobs: &[Job], expire_dedup: bool) -> Result<(), QueueError> {
    let tx = conn.transaction()?;
    for op in jobs.iter().flat_map(|j| &j.ops) {
        apply(&tx, op)?;
    }
    if expire_dedup {
        tx.execute(
            "DELETE FROM dedup WHERE expires < ?1",
            params![crate::now_ms() as i64],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn apply(tx: &rusqlite::Transaction<'_>, op: &Op) -> Result<(), QueueError> {
    match op {
        Op::PutQueue { name, record } => {
            tx.prepare_cached(
                "INSERT INTO queues (name, record) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET record = excluded.record",
            )?
            .execute(params![name, record])?;
        }
        Op::DeleteQueue { name } => {
            tx.execute("DELETE FROM queues WHERE name = ?1", params![name])?;
            tx.execute("DELETE FROM messages WHERE queue = ?1", params![name])?;
            tx.execute("DELETE FROM dedup WHERE queue = ?1", params![name])?;
        }
        Op::Insert {
            seq,
            queue,
            payload,
            visible_at,
        } => {
            tx.prepare_cached(
                "INSERT INTO messages (seq, queue, payload, visible_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![*seq as i64, queue, payload, *visible_at as i64])?;
        }
        Op::Receive {
            seq,
            receive_count,
            first_receive,
            visible_at,
            receipt,
        } => {
            tx.prepare_cached(
                "UPDATE messages SET receive_count = ?2, first_receive = ?3, visible_at = ?4,
                 receipt = ?5 WHERE seq = ?1",
            )?
            .execute(params![
                *seq as i64,
                *receive_count as i64,
                *first_receive as i64,
                *visible_at as i64,
                &receipt[..]
            ])?;
        }
        Op::Visibility { seq, visible_at } => {
            tx.prepare_cached("UPDATE messages SET visible_at = ?2 WHERE seq = ?1")?
                .execute(params![*seq as i64, *visible_at as i64])?;
        }
        Op::Delete { seq } => {
            tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                .execute(params![*seq as i64])?;
        }
        Op::Purge { queue } => {
            tx.execute("DELETE FROM messages WHERE queue = ?1", params![queue])?;
        }
        Op::Dedup {
            queue,
            key,
            expires,
            message_id,
            sequence_number,
        } => {
            tx.prepare_cached(
                "INSERT INTO dedup (queue, key, expires, message_id, sequence_number)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(queue, key) DO UPDATE SET expires = excluded.expires,
                 message_id = excluded.message_id, sequence_number = excluded.sequence_number",
            )?
            .execute(params![
                queue,
                key,
                *expires as i64,
                message_id,
                sequence_number
            ])?;
        }
    }
    Ok(())
}
