//! Log events in SQLite, bounded in total size: the oldest events go first when the bound is hit.

use crate::{LogBatch, LogEvent};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogStoreError {
    #[error("log database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("log store lock poisoned")]
    Poisoned,
}

/// An event as stored, with CloudWatch's extra fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Stable, unique, increasing id (CloudWatch's `eventId`).
    pub event_id: i64,
    pub group: String,
    pub stream: String,
    pub timestamp_ms: i64,
    pub ingestion_time_ms: i64,
    pub message: String,
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    max_bytes: u64,
}

struct Inner {
    conn: Connection,
    /// Bytes of message text stored, kept in step with the table so that bounding the store
    /// does not rescan it on every write.
    stored_bytes: i64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    log_group       TEXT NOT NULL,
    log_stream      TEXT NOT NULL,
    timestamp_ms    INTEGER NOT NULL,
    ingestion_ms    INTEGER NOT NULL,
    message         TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events (log_group, log_stream, timestamp_ms);
CREATE INDEX IF NOT EXISTS log_events_group_time ON log_events (log_group, timestamp_ms);
";

impl LogStore {
    /// Opens the store; at most `max_bytes` of messages are kept.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, LogStoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        let stored_bytes = conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events",
            [],
            |row| row.get(0),
        )?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner { conn, stored_bytes })),
            max_bytes,
        })
    }

    /// Writes batches in one transaction, then trims the oldest events beyond the size bound.
    pub fn write(&self, batches: &[LogBatch]) -> Result<(), LogStoreError> {
        let mut guard = self.inner.lock().map_err(|_| LogStoreError::Poisoned)?;
        let inner = &mut *guard;
        let now = now_ms();
        let mut total = inner.stored_bytes;
        let tx = inner.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO log_events (log_group, log_stream, timestamp_ms, ingestion_ms, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for batch in batches {
                for LogEvent {
                    timestamp_ms,
                    message,
                } in &batch.events
                {
                    insert.execute(params![
                        batch.group,
                        batch.stream,
                        timestamp_ms,
                        now,
                        message
                    ])?;
                    total += message.len() as i64;
                }
            }
        }
        if total > self.max_bytes as i64 {
            // Trim to 90% of the bound so that trimming (and the recount) is rare.
            let excess = total - (self.max_bytes as i64 / 10 * 9);
            tx.execute(
                "DELETE FROM log_events WHERE id <= (
                     SELECT id FROM (
                         SELECT id, SUM(LENGTH(CAST(message AS BLOB))) OVER (ORDER BY id) AS running
                         FROM log_events
                     ) WHERE running >= ?1 ORDER BY id LIMIT 1
                 )",
                params![excess],
            )?;
            total = tx.query_row(
                "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events",
                [],
                |row| row.get(0),
            )?;
        }
        tx.commit()?;
        inner.stored_bytes = total;
        Ok(())
    }

    /// Events of a group (optionally one stream) in time order, from `start_ms` inclusive.
    pub fn events(
        &self,
        group: &str,
        stream: Option<&str>,
        start_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, LogStoreError> {
        let guard = self.inner.lock().map_err(|_| LogStoreError::Poisoned)?;
        let mut stmt = guard.conn.prepare_cached(
            "SELECT id, log_group, log_stream, timestamp_ms, ingestion_ms, message FROM log_events
             WHERE log_group = ?1 AND (?2 IS NULL OR log_stream = ?2) AND timestamp_ms >= ?3
             ORDER BY timestamp_ms, id LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                group,
                stream,
                start_ms,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| {
                Ok(StoredEvent {
                    event_id: row.get(0)?,
                    group: row.get(1)?,
                    stream: row.get(2)?,
                    timestamp_ms: row.get(3)?,
                    ingestion_time_ms: row.get(4)?,
                    message: row.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(stream: &str, messages: &[&str]) -> LogBatch {
        LogBatch {
            group: "/aws/lambda/f".into(),
            stream: stream.into(),
            events: messages
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    timestamp_ms: 1000 + i as i64,
                    message: (*m).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn stores_and_reads_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::open(&dir.path().join("logs.db"), 1 << 20).expect("open");
        store
            .write(&[batch("s1", &["a\n", "b\n"]), batch("s2", &["c\n"])])
            .expect("write");
        let all = store.events("/aws/lambda/f", None, 0, 100).expect("read");
        assert_eq!(all.len(), 3);
        let s1 = store
            .events("/aws/lambda/f", Some("s1"), 0, 100)
            .expect("read");
        assert_eq!(
            s1.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["a\n", "b\n"]
        );
        assert!(s1[0].event_id < s1[1].event_id);
    }

    #[test]
    fn size_bound_drops_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::open(&dir.path().join("logs.db"), 100).expect("open");
        for i in 0..10 {
            let line = format!("{i:0>39}\n");
            store.write(&[batch("s", &[&line])]).expect("write");
        }
        let kept = store.events("/aws/lambda/f", None, 0, 100).expect("read");
        let total: usize = kept.iter().map(|e| e.message.len()).sum();
        assert!(total <= 100, "kept {total} bytes");
        assert!(
            kept.last()
                .expect("newest kept")
                .message
                .starts_with("000000000000000000000000000000000000009")
        );
    }

    #[tokio::test]
    async fn writer_task_flushes_everything_queued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::open(&dir.path().join("logs.db"), 1 << 20).expect("open");
        let (sink, handle) = crate::spawn_writer(store.clone());
        for i in 0..50 {
            sink.append(batch("s", &[&format!("line {i}\n")])).await;
        }
        drop(sink);
        handle.await.expect("writer");
        assert_eq!(
            store
                .events("/aws/lambda/f", None, 0, 1000)
                .expect("read")
                .len(),
            50
        );
    }
}
