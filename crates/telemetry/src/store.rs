//! Log events in SQLite, bounded in total size: the oldest events go first when the bound is hit.

use crate::{LogBatch, LogEvent};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogStoreError {
    #[error("log database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("log store lock poisoned")]
    Poisoned,
    #[error("the specified log group does not exist")]
    GroupNotFound,
    #[error("the specified log stream does not exist")]
    StreamNotFound,
    #[error("the specified log group already exists")]
    GroupExists,
    #[error("the specified log stream already exists")]
    StreamExists,
    #[error("stored log group tags are corrupt: {0}")]
    CorruptTags(#[from] serde_json::Error),
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

/// A clock in milliseconds since the epoch; replaceable so retention can be tested without
/// waiting days.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    max_bytes: u64,
    clock: Clock,
}

struct Inner {
    conn: Connection,
    /// Bytes of message text stored, kept in step with the table so that bounding the store
    /// does not rescan it on every write.
    stored_bytes: i64,
    /// When retention was last enforced by a write (ms); enforcement runs at most once a minute.
    retention_checked_ms: i64,
}

/// How often writes enforce retention, in ms.
const RETENTION_INTERVAL_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

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
CREATE TABLE IF NOT EXISTS log_groups (
    name            TEXT PRIMARY KEY,
    creation_ms     INTEGER NOT NULL,
    retention_days  INTEGER,
    tags            TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE TABLE IF NOT EXISTS log_streams (
    log_group         TEXT NOT NULL,
    name              TEXT NOT NULL,
    creation_ms       INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    PRIMARY KEY (log_group, name)
) STRICT;
";

/// Version 1 added group and stream records; stores written before that get them rebuilt from
/// their events once.
const BACKFILL_V1: &str = "
INSERT OR IGNORE INTO log_groups (name, creation_ms)
    SELECT log_group, MIN(ingestion_ms) FROM log_events GROUP BY log_group;
INSERT OR IGNORE INTO log_streams
    SELECT log_group, log_stream, MIN(ingestion_ms), MIN(timestamp_ms), MAX(timestamp_ms),
           MAX(ingestion_ms)
    FROM log_events GROUP BY log_group, log_stream;
PRAGMA user_version = 1;
";

/// A log group as DescribeLogGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub creation_ms: i64,
    pub retention_days: Option<i64>,
    pub stored_bytes: i64,
}

/// A log stream as DescribeLogStreams shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub creation_ms: i64,
    /// `None` until the stream has an event (CloudWatch leaves these out then).
    pub first_event_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub last_ingestion_ms: Option<i64>,
}

/// Which events a page query reads; positions are `(timestamp_ms, event_id)`, the store's order.
#[derive(Clone, Debug, Default)]
pub struct EventQuery<'a> {
    pub group: &'a str,
    /// Only these streams (empty: all).
    pub streams: &'a [String],
    pub stream_prefix: Option<&'a str>,
    /// Inclusive lower bound on timestamps.
    pub start_ms: Option<i64>,
    /// Exclusive upper bound on timestamps.
    pub end_ms: Option<i64>,
    /// Only events strictly after this position.
    pub after: Option<(i64, i64)>,
    /// Only events at or before this position.
    pub up_to: Option<(i64, i64)>,
    /// Newest first instead of oldest first.
    pub descending: bool,
    pub limit: usize,
}

impl LogStore {
    /// Opens the store; at most `max_bytes` of messages are kept.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, LogStoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version < 1 {
            conn.execute_batch(BACKFILL_V1)?;
        }
        let stored_bytes = conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events",
            [],
            |row| row.get(0),
        )?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                conn,
                stored_bytes,
                retention_checked_ms: 0,
            })),
            max_bytes,
            clock: Arc::new(now_ms),
        })
    }

    /// Replaces the clock used for ingestion times and retention (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The store's clock, so callers judge event ages by the same time retention uses.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    /// CreateLogStream: an empty stream in an existing group.
    pub fn create_stream(&self, group: &str, name: &str) -> Result<(), LogStoreError> {
        if !self.group_exists(group)? {
            return Err(LogStoreError::GroupNotFound);
        }
        let now = self.now();
        let guard = self.lock()?;
        let inserted = guard.conn.execute(
            "INSERT OR IGNORE INTO log_streams (log_group, name, creation_ms) VALUES (?1, ?2, ?3)",
            params![group, name, now],
        )?;
        if inserted == 0 {
            return Err(LogStoreError::StreamExists);
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, LogStoreError> {
        self.inner.lock().map_err(|_| LogStoreError::Poisoned)
    }

    /// Writes batches in one transaction, then trims the oldest events beyond the size bound.
    pub fn write(&self, batches: &[LogBatch]) -> Result<(), LogStoreError> {
        let mut guard = self.inner.lock().map_err(|_| LogStoreError::Poisoned)?;
        let inner = &mut *guard;
        let now = self.now();
        let mut total = inner.stored_bytes;
        let tx = inner.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO log_events (log_group, log_stream, timestamp_ms, ingestion_ms, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut group = tx.prepare_cached(
                "INSERT OR IGNORE INTO log_groups (name, creation_ms) VALUES (?1, ?2)",
            )?;
            let mut stream = tx.prepare_cached(
                "INSERT INTO log_streams VALUES (?1, ?2, ?3, ?4, ?5, ?3)
                 ON CONFLICT (log_group, name) DO UPDATE SET
                     first_event_ms = MIN(COALESCE(first_event_ms, excluded.first_event_ms),
                                          excluded.first_event_ms),
                     last_event_ms = MAX(COALESCE(last_event_ms, excluded.last_event_ms),
                                         excluded.last_event_ms),
                     last_ingestion_ms = excluded.last_ingestion_ms",
            )?;
            for batch in batches {
                let (Some(first), Some(last)) = (
                    batch.events.iter().map(|e| e.timestamp_ms).min(),
                    batch.events.iter().map(|e| e.timestamp_ms).max(),
                ) else {
                    continue;
                };
                group.execute(params![batch.group, now])?;
                stream.execute(params![batch.group, batch.stream, now, first, last])?;
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
        if now - inner.retention_checked_ms >= RETENTION_INTERVAL_MS {
            inner.retention_checked_ms = now;
            enforce_retention(inner, now)?;
        }
        Ok(())
    }

    /// Deletes every event older than its group's retention period now; returns how many.
    /// Writes call this at most once a minute, so retention holds while functions log.
    pub fn enforce_retention(&self) -> Result<usize, LogStoreError> {
        let now = self.now();
        let mut guard = self.lock()?;
        enforce_retention(&mut guard, now)
    }

    /// CreateLogGroup: an explicit group with optional tags.
    pub fn create_group(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), LogStoreError> {
        let now = self.now();
        let guard = self.lock()?;
        let inserted = guard.conn.execute(
            "INSERT OR IGNORE INTO log_groups (name, creation_ms, tags) VALUES (?1, ?2, ?3)",
            params![name, now, serde_json::to_string(tags)?],
        )?;
        if inserted == 0 {
            return Err(LogStoreError::GroupExists);
        }
        Ok(())
    }

    /// DeleteLogGroup: the group, its streams and events. New output of a function recreates
    /// it, as Lambda does.
    pub fn delete_group(&self, name: &str) -> Result<(), LogStoreError> {
        let mut guard = self.lock()?;
        let inner = &mut *guard;
        let tx = inner.conn.transaction()?;
        if tx.execute("DELETE FROM log_groups WHERE name = ?1", params![name])? == 0 {
            return Err(LogStoreError::GroupNotFound);
        }
        tx.execute(
            "DELETE FROM log_streams WHERE log_group = ?1",
            params![name],
        )?;
        tx.execute("DELETE FROM log_events WHERE log_group = ?1", params![name])?;
        let total = recount(&tx)?;
        tx.commit()?;
        inner.stored_bytes = total;
        Ok(())
    }

    /// Groups in name order, from just after `after`, at most `limit`.
    pub fn groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogStoreError> {
        let guard = self.lock()?;
        let mut stmt = guard.conn.prepare_cached(
            "SELECT g.name, g.creation_ms, g.retention_days,
                    (SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events
                     WHERE log_group = g.name)
             FROM log_groups g
             WHERE (?1 IS NULL OR substr(g.name, 1, length(?1)) = ?1)
               AND (?2 IS NULL OR g.name > ?2)
             ORDER BY g.name LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![prefix, after, to_i64(limit)], |row| {
            Ok(GroupInfo {
                name: row.get(0)?,
                creation_ms: row.get(1)?,
                retention_days: row.get(2)?,
                stored_bytes: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether a group exists.
    pub fn group_exists(&self, name: &str) -> Result<bool, LogStoreError> {
        let guard = self.lock()?;
        Ok(guard
            .conn
            .query_row(
                "SELECT 1 FROM log_groups WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether a stream exists (`GroupNotFound` when its group does not), without listing the
    /// group's streams.
    pub fn stream_exists(&self, group: &str, name: &str) -> Result<bool, LogStoreError> {
        if !self.group_exists(group)? {
            return Err(LogStoreError::GroupNotFound);
        }
        let guard = self.lock()?;
        Ok(guard
            .conn
            .query_row(
                "SELECT 1 FROM log_streams WHERE log_group = ?1 AND name = ?2",
                params![group, name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every stream of a group (name order); the caller sorts and pages.
    pub fn streams(&self, group: &str) -> Result<Vec<StreamInfo>, LogStoreError> {
        if !self.group_exists(group)? {
            return Err(LogStoreError::GroupNotFound);
        }
        let guard = self.lock()?;
        let mut stmt = guard.conn.prepare_cached(
            "SELECT name, creation_ms, first_event_ms, last_event_ms, last_ingestion_ms
             FROM log_streams WHERE log_group = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![group], |row| {
            Ok(StreamInfo {
                name: row.get(0)?,
                creation_ms: row.get(1)?,
                first_event_ms: row.get(2)?,
                last_event_ms: row.get(3)?,
                last_ingestion_ms: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// PutRetentionPolicy (`Some(days)`) / DeleteRetentionPolicy (`None`). Events already past
    /// the new period are deleted at once.
    pub fn set_retention(&self, group: &str, days: Option<i64>) -> Result<(), LogStoreError> {
        let now = self.now();
        let mut guard = self.lock()?;
        let changed = guard.conn.execute(
            "UPDATE log_groups SET retention_days = ?2 WHERE name = ?1",
            params![group, days],
        )?;
        if changed == 0 {
            return Err(LogStoreError::GroupNotFound);
        }
        enforce_retention(&mut guard, now)?;
        Ok(())
    }

    pub fn tags(&self, group: &str) -> Result<BTreeMap<String, String>, LogStoreError> {
        let guard = self.lock()?;
        let text: String = guard
            .conn
            .query_row(
                "SELECT tags FROM log_groups WHERE name = ?1",
                params![group],
                |row| row.get(0),
            )
            .optional()?
            .ok_or(LogStoreError::GroupNotFound)?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Adds or replaces `add`, then removes `remove`.
    pub fn update_tags(
        &self,
        group: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), LogStoreError> {
        let mut tags = self.tags(group)?;
        tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
        for key in remove {
            tags.remove(key);
        }
        let guard = self.lock()?;
        guard.conn.execute(
            "UPDATE log_groups SET tags = ?2 WHERE name = ?1",
            params![group, serde_json::to_string(&tags)?],
        )?;
        Ok(())
    }

    /// One page of events in store order (or reversed), hiding events past retention even
    /// before enforcement has deleted them.
    pub fn query(&self, q: &EventQuery<'_>) -> Result<Vec<StoredEvent>, LogStoreError> {
        let now = self.now();
        let guard = self.lock()?;
        let retention: Option<Option<i64>> = guard
            .conn
            .query_row(
                "SELECT retention_days FROM log_groups WHERE name = ?1",
                params![q.group],
                |row| row.get(0),
            )
            .optional()?;
        let Some(retention) = retention else {
            return Err(LogStoreError::GroupNotFound);
        };
        let mut start = q.start_ms.unwrap_or(i64::MIN);
        if let Some(days) = retention {
            start = start.max(now - days * DAY_MS);
        }
        let (after_ts, after_id) = q.after.unwrap_or((i64::MIN, i64::MIN));
        let (upto_ts, upto_id) = q.up_to.unwrap_or((i64::MAX, i64::MAX));
        let single = match q.streams {
            [one] => Some(one.as_str()),
            _ => None,
        };
        let order = if q.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT id, log_group, log_stream, timestamp_ms, ingestion_ms, message FROM log_events
             WHERE log_group = ?1 AND (?2 IS NULL OR log_stream = ?2)
               AND (?3 IS NULL OR substr(log_stream, 1, length(?3)) = ?3)
               AND timestamp_ms >= ?4 AND timestamp_ms < ?5
               AND (timestamp_ms, id) > (?6, ?7) AND (timestamp_ms, id) <= (?8, ?9)
             ORDER BY timestamp_ms {order}, id {order}"
        );
        let mut stmt = guard.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![
            q.group,
            single,
            q.stream_prefix,
            start,
            q.end_ms.unwrap_or(i64::MAX),
            after_ts,
            after_id,
            upto_ts,
            upto_id
        ])?;
        let mut out = Vec::new();
        while out.len() < q.limit {
            let Some(row) = rows.next()? else { break };
            let event = StoredEvent {
                event_id: row.get(0)?,
                group: row.get(1)?,
                stream: row.get(2)?,
                timestamp_ms: row.get(3)?,
                ingestion_time_ms: row.get(4)?,
                message: row.get(5)?,
            };
            if q.streams.len() > 1 && !q.streams.contains(&event.stream) {
                continue;
            }
            out.push(event);
        }
        Ok(out)
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

fn enforce_retention(inner: &mut Inner, now: i64) -> Result<usize, LogStoreError> {
    let tx = inner.conn.transaction()?;
    let deleted = tx.execute(
        "DELETE FROM log_events WHERE id IN (
             SELECT e.id FROM log_groups g JOIN log_events e ON e.log_group = g.name
             WHERE g.retention_days IS NOT NULL AND e.timestamp_ms < ?1 - g.retention_days * ?2
         )",
        params![now, DAY_MS],
    )?;
    if deleted > 0 {
        let total = recount(&tx)?;
        tx.commit()?;
        inner.stored_bytes = total;
    }
    Ok(deleted)
}

fn recount(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row(
        "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events",
        [],
        |row| row.get(0),
    )
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

    #[test]
    fn retention_deletes_events_older_than_the_period() {
        use std::sync::atomic::{AtomicI64, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Arc::new(AtomicI64::new(10 * DAY_MS));
        let clock = Arc::clone(&now);
        let store = LogStore::open(&dir.path().join("logs.db"), 1 << 20)
            .expect("open")
            .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
        let at = |ts: i64, m: &str| LogBatch {
            group: "/aws/lambda/f".into(),
            stream: "s".into(),
            events: vec![LogEvent {
                timestamp_ms: ts,
                message: m.into(),
            }],
        };
        store
            .write(&[at(2 * DAY_MS, "old"), at(9 * DAY_MS + 1, "new")])
            .expect("write");
        let q = EventQuery {
            group: "/aws/lambda/f",
            limit: 100,
            ..Default::default()
        };
        assert_eq!(store.query(&q).expect("query").len(), 2);
        store
            .set_retention("/aws/lambda/f", Some(3))
            .expect("retention");
        // 10 days now, 3 days kept: the event at day 2 is gone, the one at day 9 stays.
        let left = store.query(&q).expect("query");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message, "new");
        // Two days later the remaining event is past the period as well.
        now.store(12 * DAY_MS + 2, Ordering::SeqCst);
        assert_eq!(store.enforce_retention().expect("enforce"), 1);
        assert!(store.query(&q).expect("query").is_empty());
        assert_eq!(
            store.groups(None, None, 10).expect("groups")[0].stored_bytes,
            0
        );
        assert!(matches!(
            store.set_retention("/aws/lambda/none", Some(1)),
            Err(LogStoreError::GroupNotFound)
        ));
    }

    #[test]
    fn groups_streams_and_pages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::open(&dir.path().join("logs.db"), 1 << 20).expect("open");
        store
            .write(&[batch("s1", &["a", "b", "c"]), batch("s2", &["d"])])
            .expect("write");
        let streams = store.streams("/aws/lambda/f").expect("streams");
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].first_event_ms, Some(1000));
        assert_eq!(streams[0].last_event_ms, Some(1002));
        let all = store
            .query(&EventQuery {
                group: "/aws/lambda/f",
                limit: 100,
                ..Default::default()
            })
            .expect("all");
        let after = (all[1].timestamp_ms, all[1].event_id);
        let rest = store
            .query(&EventQuery {
                group: "/aws/lambda/f",
                after: Some(after),
                limit: 100,
                ..Default::default()
            })
            .expect("rest");
        assert_eq!(rest.len(), 2);
        store.create_group("/x", &BTreeMap::new()).expect("create");
        assert!(matches!(
            store.create_group("/x", &BTreeMap::new()),
            Err(LogStoreError::GroupExists)
        ));
        store.delete_group("/aws/lambda/f").expect("delete");
        assert_eq!(store.groups(None, None, 10).expect("groups").len(), 1);
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
