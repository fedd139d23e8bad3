//! The embedded store: one SQLite file in WAL mode with synchronous commits.
//!
//! Each operation runs on a blocking thread, as one transaction, behind a single connection:
//! SQLite serialises writers anyway, and one connection keeps the compare-and-swap updates trivially
//! linearisable.

mod migrations;

use crate::{FunctionRecord, FunctionStore, StoreError};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::apply(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `op` with the connection on a blocking thread.
    async fn with_conn<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
            op(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }
}

fn decode(body: String) -> Result<FunctionRecord, StoreError> {
    Ok(serde_json::from_str(&body)?)
}

#[async_trait]
impl FunctionStore for SqliteStore {
    async fn insert_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)?;
        let (name, digest, size, revision) = (
            record.name.clone(),
            record.code_sha256_hex.clone(),
            record.code_size,
            record.revision_id.clone(),
        );
        self.with_conn(move |c| {
            let inserted = c.execute(
                "INSERT INTO functions (name, revision_id, code_sha256, code_size, body)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO NOTHING",
                params![name, revision, digest, size as i64, body],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            Ok(())
        })
        .await
    }

    async fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            c.query_row(
                "SELECT body FROM functions WHERE name = ?1",
                params![name],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .map(decode)
            .transpose()
        })
        .await
    }

    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let after = after.unwrap_or("").to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
            )?;
            let bodies = stmt
                .query_map(params![after, limit], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            bodies.into_iter().map(decode).collect()
        })
        .await
    }

    async fn replace_function(
        &self,
        record: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)?;
        let (name, digest, size, revision, expected) = (
            record.name.clone(),
            record.code_sha256_hex.clone(),
            record.code_size,
            record.revision_id.clone(),
            expected_revision.to_owned(),
        );
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT revision_id FROM functions WHERE name = ?1",
                    params![name],
                    |row| row.get(0),
                )
                .optional()?;
            match current {
                None => return Err(StoreError::NotFound),
                Some(rev) if rev != expected => return Err(StoreError::RevisionMismatch),
                Some(_) => {}
            }
            tx.execute(
                "UPDATE functions SET revision_id = ?2, code_sha256 = ?3, code_size = ?4, body = ?5
                 WHERE name = ?1",
                params![name, revision, digest, size as i64, body],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM functions WHERE name = ?1",
                    params![name],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM functions WHERE name = ?1", params![name])?;
            tx.commit()?;
            body.map(decode).transpose()
        })
        .await
    }

    async fn referenced_code(&self) -> Result<HashSet<String>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached("SELECT DISTINCT code_sha256 FROM functions")?;
            let digests = stmt
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<HashSet<_>, _>>()?;
            Ok(digests)
        })
        .await
    }

    async fn usage(&self) -> Result<(u64, u64), StoreError> {
        self.with_conn(|c| {
            let (count, size): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok((count.max(0) as u64, size.max(0) as u64))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
