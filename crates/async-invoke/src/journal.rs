//! The durable event queue: one SQLite file (WAL, `synchronous=FULL`) written by one thread that
//! commits every write waiting for it in one transaction (group commit).
//!
//! Why group commit: an acknowledged event must be on disk, and an fsync costs about the same
//! for one row as for a hundred. A writer that drains its queue into each transaction makes
//! concurrent enqueues share fsyncs, so throughput grows with concurrency instead of being capped
//! at one fsync per request.

use crate::event::{EventRow, Progress};
use bytes::Bytes;
use rusqlite::{Connection, params};
use std::path::Path;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// At most this many writes share one transaction (bounds the latency of the first of them).
const MAX_BATCH: usize = 1024;
/// Writes waiting for the writer; senders wait beyond this (backpressure, never unbounded memory).
const QUEUE_DEPTH: usize = 8192;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("async event journal: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("async event journal: bad progress record: {0}")]
    Progress(#[from] serde_json::Error),
    #[error("async event journal: the writer has stopped")]
    Stopped,
    #[error("async event journal: commit failed: {0}")]
    Commit(String),
    #[error("async event journal: cannot start the writer: {0}")]
    Spawn(#[from] std::io::Error),
}

/// One write and where its result goes.
enum Op {
    Insert(Box<EventRow>, oneshot::Sender<Result<u64, JournalError>>),
    Progress(u64, Progress, oneshot::Sender<Result<(), JournalError>>),
    Remove(u64, oneshot::Sender<Result<(), JournalError>>),
}

/// Handle to the writer thread. Cloning shares the writer.
#[derive(Clone)]
pub struct Journal {
    ops: mpsc::Sender<Op>,
}

/// Counters of the writer, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub transactions: u64,
    pub writes: u64,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, returns every event still in it and
    /// starts the writer thread.
    pub fn open(path: &Path) -> Result<(Journal, Vec<EventRow>, StatsHandle), JournalError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY,
                 request_id TEXT NOT NULL,
                 function TEXT NOT NULL,
                 qualifier TEXT,
                 version TEXT NOT NULL,
                 payload BLOB NOT NULL,
                 enqueued_ms INTEGER NOT NULL,
                 progress TEXT NOT NULL
             );",
        )?;
        let rows = load(&conn)?;
        let (ops, receiver) = mpsc::channel(QUEUE_DEPTH);
        let stats = StatsHandle::default();
        let writer_stats = stats.clone();
        std::thread::Builder::new()
            .name("async-journal".into())
            .spawn(move || write_loop(conn, receiver, writer_stats))?;
        Ok((Journal { ops }, rows, stats))
    }

    /// Stores a new event; returns its id once the transaction holding it is durable.
    pub async fn insert(&self, row: EventRow) -> Result<u64, JournalError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Insert(Box::new(row), tx)).await?;
        rx.await.map_err(|_| JournalError::Stopped)?
    }

    /// Records how far an event got (attempts, next try, final outcome).
    pub async fn progress(&self, id: u64, progress: Progress) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Progress(id, progress, tx)).await?;
        rx.await.map_err(|_| JournalError::Stopped)?
    }

    /// Removes an event whose final outcome has been dispatched.
    pub async fn remove(&self, id: u64) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Remove(id, tx)).await?;
        rx.await.map_err(|_| JournalError::Stopped)?
    }

    async fn send(&self, op: Op) -> Result<(), JournalError> {
        self.ops.send(op).await.map_err(|_| JournalError::Stopped)
    }
}

/// Shared view of the writer's counters.
#[derive(Clone, Default)]
pub struct StatsHandle(std::sync::Arc<std::sync::Mutex<CommitStats>>);

impl StatsHandle {
    pub fn get(&self) -> CommitStats {
        self.0.lock().map(|s| *s).unwrap_or_default()
    }
}

fn load(conn: &Connection) -> Result<Vec<EventRow>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT id, request_id, function, qualifier, version, payload, enqueued_ms, progress
         FROM events ORDER BY id",
    )?;
    let raw = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Vec<u8>>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    raw.into_iter()
        .map(
            |(id, request_id, function, qualifier, version, payload, enqueued_ms, progress)| {
                Ok(EventRow {
                    id: u64::try_from(id).unwrap_or(0),
                    request_id,
                    function,
                    qualifier,
                    version,
                    payload: Bytes::from(payload),
                    enqueued_ms: u64::try_from(enqueued_ms).unwrap_or(0),
                    progress: serde_json::from_str(&progress)?,
                })
            },
        )
        .collect()
}

/// Takes every write waiting (up to [`MAX_BATCH`]), applies them in one transaction, commits
/// (one fsync), then answers each. Ends when every [`Journal`] handle is gone.
fn write_loop(mut conn: Connection, mut ops: mpsc::Receiver<Op>, stats: StatsHandle) {
    while let Some(first) = ops.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        match apply(&mut conn, batch) {
            Ok(replies) => {
                for reply in replies {
                    reply.send();
                }
            }
            Err((error, replies)) => {
                tracing::error!(%error, "async event journal: commit failed");
                for reply in replies {
                    reply.fail(&error);
                }
            }
        }
        if let Ok(mut s) = stats.0.lock() {
            s.transactions += 1;
            s.writes += count;
        }
    }
}

/// The answer owed to one write, sent only after the commit.
enum Reply {
    Inserted(
        Result<u64, JournalError>,
        oneshot::Sender<Result<u64, JournalError>>,
    ),
    Done(
        Result<(), JournalError>,
        oneshot::Sender<Result<(), JournalError>>,
    ),
}

impl Reply {
    fn send(self) {
        match self {
            Reply::Inserted(result, tx) => {
                let _ = tx.send(result);
            }
            Reply::Done(result, tx) => {
                let _ = tx.send(result);
            }
        }
    }

    fn fail(self, error: &rusqlite::Error) {
        let stopped = || JournalError::Commit(error.to_string());
        match self {
            Reply::Inserted(_, tx) => {
                let _ = tx.send(Err(stopped()));
            }
            Reply::Done(_, tx) => {
                let _ = tx.send(Err(stopped()));
            }
        }
    }
}

type Failed = (rusqlite::Error, Vec<Reply>);

fn apply(conn: &mut Connection, batch: Vec<Op>) -> Result<Vec<Reply>, Failed> {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return Err((e, batch.into_iter().map(unanswered).collect())),
    };
    let mut replies = Vec::with_capacity(batch.len());
    for op in batch {
        replies.push(match op {
            Op::Insert(row, reply) => Reply::Inserted(insert(&tx, &row), reply),
            Op::Progress(id, progress, reply) => Reply::Done(update(&tx, id, &progress), reply),
            Op::Remove(id, reply) => Reply::Done(
                tx.execute("DELETE FROM events WHERE id = ?1", params![id as i64])
                    .map(|_| ())
                    .map_err(JournalError::from),
                reply,
            ),
        });
    }
    match tx.commit() {
        Ok(()) => Ok(replies),
        Err(e) => Err((e, replies)),
    }
}

/// A write that never reached the database (the transaction could not begin).
fn unanswered(op: Op) -> Reply {
    match op {
        Op::Insert(_, reply) => Reply::Inserted(Err(JournalError::Stopped), reply),
        Op::Progress(_, _, reply) | Op::Remove(_, reply) => {
            Reply::Done(Err(JournalError::Stopped), reply)
        }
    }
}

fn insert(tx: &rusqlite::Transaction<'_>, row: &EventRow) -> Result<u64, JournalError> {
    let progress = serde_json::to_string(&row.progress)?;
    tx.execute(
        "INSERT INTO events (request_id, function, qualifier, version, payload, enqueued_ms, progress)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.request_id,
            row.function,
            row.qualifier,
            row.version,
            row.payload.as_ref(),
            row.enqueued_ms as i64,
            progress
        ],
    )?;
    Ok(u64::try_from(tx.last_insert_rowid()).unwrap_or(0))
}

fn update(
    tx: &rusqlite::Transaction<'_>,
    id: u64,
    progress: &Progress,
) -> Result<(), JournalError> {
    let progress = serde_json::to_string(progress)?;
    tx.execute(
        "UPDATE events SET progress = ?2 WHERE id = ?1",
        params![id as i64, progress],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize) -> EventRow {
        EventRow {
            id: 0,
            request_id: format!("req-{n}"),
            function: "f".into(),
            qualifier: None,
            version: "$LATEST".into(),
            payload: Bytes::from(format!("{{\"n\":{n}}}")),
            enqueued_ms: 1,
            progress: Progress::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_share_transactions_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("async.sqlite3");
        let (journal, existing, stats) = Journal::open(&path).expect("open");
        assert!(existing.is_empty());
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let journal = journal.clone();
                tokio::spawn(async move { journal.insert(row(n)).await })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("join").expect("insert"));
        }
        let committed = stats.get();
        assert_eq!(committed.writes, 200);
        assert!(
            committed.transactions < 200,
            "200 concurrent inserts should share transactions, got {committed:?}"
        );
        journal
            .progress(
                ids[0],
                Progress {
                    invocations: 1,
                    ..Progress::default()
                },
            )
            .await
            .expect("progress");
        journal.remove(ids[1]).await.expect("remove");
        drop(journal);
        let (_journal, rows, _) = Journal::open(&path).expect("reopen");
        assert_eq!(rows.len(), 199);
        let first = rows.iter().find(|r| r.id == ids[0]).expect("first row");
        assert_eq!(first.progress.invocations, 1);
        assert!(rows.iter().all(|r| r.id != ids[1]));
    }
}
