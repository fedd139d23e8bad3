//! The durable-write floors of S6, served by the floor server (`floor.rs`) so that their HTTP
//! cost is the same minimal hyper path as every other floor and cancels out of the ratio.
//!
//! Both store what Lambent's event journal stores (one row per accepted event, same columns,
//! same SQLite settings: WAL, `synchronous=FULL`) in the benchmark's scratch directory, which is
//! on the same file system as the Lambent server's data directory:
//!
//! - `POST /enqueue/fsync`: one INSERT committed on its own (one fsync) per request, one request
//!   at a time (a mutex): what a durable write costs on this disk, with no batching at all.
//! - `POST /enqueue/group`: the same INSERT handed to one writer thread that drains every insert
//!   waiting for it into one transaction (group commit), exactly the algorithm of
//!   `lambent-async-invoke`'s journal (at most 1,024 per transaction), answered after the commit.
//!
//! Both answer 202 with an `x-amzn-RequestId`, as Lambent's asynchronous Invoke does.
//! `POST /__durable` with a directory path as its body opens (or reopens) the two databases.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, params};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Inserts sharing one transaction at most (the journal's bound).
const MAX_BATCH: usize = 1024;
/// Inserts waiting for the writer at most (the journal's queue depth).
const QUEUE_DEPTH: usize = 8192;

#[derive(Debug, Error)]
pub enum DurableError {
    #[error("durable floor: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("durable floor: not opened (POST /__durable first)")]
    NotOpen,
    #[error("durable floor: the group-commit writer has stopped")]
    Stopped,
    #[error("durable floor: cannot start the writer: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("durable floor: commit failed: {0}")]
    Commit(String),
    #[error("durable floor: blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// One accepted event, as the journal stores it.
struct Row {
    request_id: String,
    payload: Bytes,
    enqueued_ms: i64,
}

impl Row {
    fn new(payload: Bytes) -> Row {
        Row {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload,
            enqueued_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

type Job = (Row, oneshot::Sender<Result<String, DurableError>>);

struct Open {
    /// The fsync floor's connection; the mutex makes its writes strictly one at a time.
    fsync: Arc<Mutex<Connection>>,
    /// Inserts for the group-commit writer thread.
    group: mpsc::Sender<Job>,
}

/// The two floors; empty until `/__durable` names a directory.
#[derive(Default)]
pub struct Durable {
    open: Mutex<Option<Arc<Open>>>,
}

fn connect(path: &Path) -> Result<Connection, DurableError> {
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
    Ok(conn)
}

const INSERT: &str = "INSERT INTO events
    (request_id, function, qualifier, version, payload, enqueued_ms, progress)
    VALUES (?1, 'bench-s6', NULL, '$LATEST', ?2, ?3, '{}')";

fn insert(conn: &Connection, row: &Row) -> Result<(), DurableError> {
    conn.prepare_cached(INSERT)?.execute(params![
        row.request_id,
        row.payload.as_ref(),
        row.enqueued_ms
    ])?;
    Ok(())
}

impl Durable {
    /// Opens `dir/floor-fsync.sqlite3` and `dir/floor-group.sqlite3` (replacing databases opened
    /// before; the previous writer thread ends once its queue is dropped).
    pub fn open(&self, dir: &Path) -> Result<(), DurableError> {
        let fsync = connect(&dir.join("floor-fsync.sqlite3"))?;
        let group = connect(&dir.join("floor-group.sqlite3"))?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("floor-group-commit".into())
            .spawn(move || group_writer(group, rx))?;
        let open = Open {
            fsync: Arc::new(Mutex::new(fsync)),
            group: tx,
        };
        if let Ok(mut slot) = self.open.lock() {
            *slot = Some(Arc::new(open));
        }
        Ok(())
    }

    fn current(&self) -> Result<Arc<Open>, DurableError> {
        self.open
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .ok_or(DurableError::NotOpen)
    }

    /// One insert, committed alone, after every earlier one (returns the request id).
    pub async fn enqueue_fsync(&self, payload: Bytes) -> Result<String, DurableError> {
        let open = self.current()?;
        tokio::task::spawn_blocking(move || {
            let row = Row::new(payload);
            // A poisoned lock only means an earlier request panicked; the connection is fine.
            let conn = open.fsync.lock().unwrap_or_else(|p| p.into_inner());
            insert(&conn, &row)?;
            Ok(row.request_id)
        })
        .await?
    }

    /// One insert through the group-commit writer (returns the request id after the commit).
    pub async fn enqueue_group(&self, payload: Bytes) -> Result<String, DurableError> {
        let open = self.current()?;
        let (tx, rx) = oneshot::channel();
        open.group
            .send((Row::new(payload), tx))
            .await
            .map_err(|_| DurableError::Stopped)?;
        rx.await.map_err(|_| DurableError::Stopped)?
    }
}

/// The journal's writer loop: take every waiting insert (up to [`MAX_BATCH`]), one transaction,
/// one commit, then answer each.
fn group_writer(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = (|| -> Result<(), DurableError> {
            let tx = conn.transaction()?;
            for (row, _) in &batch {
                insert(&tx, row)?;
            }
            tx.commit()?;
            Ok(())
        })();
        match committed {
            Ok(()) => {
                for (row, reply) in batch {
                    let _ = reply.send(Ok(row.request_id));
                }
            }
            Err(e) => {
                let text = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(DurableError::Commit(text.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_floors_store_every_acknowledged_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let durable = Durable::default();
        assert!(matches!(
            durable.enqueue_group(Bytes::from_static(b"x")).await,
            Err(DurableError::NotOpen)
        ));
        durable.open(dir.path()).expect("open");
        let durable = Arc::new(durable);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..50 {
            let d = Arc::clone(&durable);
            tasks.spawn(async move {
                let body = Bytes::from(format!("{i}"));
                d.enqueue_fsync(body.clone()).await.expect("fsync floor");
                d.enqueue_group(body).await.expect("group floor");
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
        for file in ["floor-fsync.sqlite3", "floor-group.sqlite3"] {
            let conn = Connection::open(dir.path().join(file)).expect("reopen");
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .expect("count");
            assert_eq!(n, 50, "{file}");
        }
    }
}
