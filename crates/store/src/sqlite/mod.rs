//! The embedded store: one SQLite file in WAL mode with synchronous commits.
//!
//! Each operation runs on a blocking thread, as one transaction, behind a single connection:
//! SQLite serialises writers anyway, and one connection keeps the compare-and-swap updates trivially
//! linearisable.

mod migrations;

use crate::{FunctionRecord, FunctionStore, LayerStore, LayerVersionRecord, StoreError};
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

fn decode(body: String, generation: i64) -> Result<FunctionRecord, StoreError> {
    let mut record: FunctionRecord = serde_json::from_str(&body)?;
    record.generation = u64::try_from(generation).unwrap_or(0);
    Ok(record)
}

/// Rewrites the list of code packages a function references, inside the caller's transaction.
fn write_code_refs(
    tx: &rusqlite::Transaction<'_>,
    record: &FunctionRecord,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM code_refs WHERE function_name = ?1",
        params![record.name],
    )?;
    for digest in record.code_digests() {
        tx.execute(
            "INSERT INTO code_refs (function_name, code_sha256) VALUES (?1, ?2)",
            params![record.name, digest],
        )?;
    }
    Ok(())
}

const SELECT_FUNCTION: &str = "SELECT body, generation FROM functions";

/// The functions a `WHERE …` clause over the functions table selects, decoded.
fn query_functions(
    c: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<FunctionRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("{SELECT_FUNCTION} {clause}"))?;
    let rows = stmt
        .query_map(params, |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(body, generation)| decode(body, generation))
        .collect()
}

#[async_trait]
impl FunctionStore for SqliteStore {
    async fn insert_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)?;
        let record = record.clone();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO functions (name, revision_id, code_sha256, code_size, body, generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT(name) DO NOTHING",
                params![
                    record.name,
                    record.revision_id,
                    record.code_sha256_hex,
                    record.code_size as i64,
                    body
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            write_code_refs(&tx, &record)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            c.query_row(
                &format!("{SELECT_FUNCTION} WHERE name = ?1"),
                params![name],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()?
            .map(|(body, generation)| decode(body, generation))
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
            query_functions(
                c,
                "WHERE name > ?1 ORDER BY name LIMIT ?2",
                params![after, limit],
            )
        })
        .await
    }

    async fn replace_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)?;
        let record = record.clone();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT generation FROM functions WHERE name = ?1",
                    params![record.name],
                    |row| row.get(0),
                )
                .optional()?;
            match current {
                None => return Err(StoreError::NotFound),
                Some(generation) if generation as u64 != record.generation => {
                    return Err(StoreError::RevisionMismatch);
                }
                Some(_) => {}
            }
            tx.execute(
                "UPDATE functions SET revision_id = ?2, code_sha256 = ?3, code_size = ?4, body = ?5,
                 generation = generation + 1 WHERE name = ?1",
                params![
                    record.name,
                    record.revision_id,
                    record.code_sha256_hex,
                    record.code_size as i64,
                    body
                ],
            )?;
            write_code_refs(&tx, &record)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let row: Option<(String, i64)> = tx
                .query_row(
                    &format!("{SELECT_FUNCTION} WHERE name = ?1"),
                    params![name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            tx.execute("DELETE FROM functions WHERE name = ?1", params![name])?;
            tx.execute(
                "DELETE FROM code_refs WHERE function_name = ?1",
                params![name],
            )?;
            tx.commit()?;
            row.map(|(body, generation)| decode(body, generation))
                .transpose()
        })
        .await
    }

    async fn referenced_code(&self) -> Result<HashSet<String>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT code_sha256 FROM code_refs UNION SELECT code_sha256 FROM layer_versions",
            )?;
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

    async fn functions_with_provisioning(&self) -> Result<Vec<FunctionRecord>, StoreError> {
        self.with_conn(|c| {
            query_functions(
                c,
                "WHERE json_extract(body, '$.provisioned') NOT IN ('{}') ORDER BY name",
                [],
            )
        })
        .await
    }

    async fn reserved_concurrency_total(&self, excluding: Option<&str>) -> Result<u64, StoreError> {
        let excluding = excluding.unwrap_or("").to_owned();
        self.with_conn(move |c| sum_reserved(c, &excluding)).await
    }
}

fn sum_reserved(c: &Connection, excluding: &str) -> Result<u64, StoreError> {
    let total: i64 = c.query_row(
        "SELECT COALESCE(SUM(json_extract(body, '$.reserved_concurrency')), 0) FROM functions
         WHERE name != ?1",
        params![excluding],
        |row| row.get(0),
    )?;
    Ok(total.max(0) as u64)
}

fn decode_layer(body: String) -> Result<LayerVersionRecord, StoreError> {
    Ok(serde_json::from_str(&body)?)
}

#[async_trait]
impl LayerStore for SqliteStore {
    async fn publish_layer_version(&self, record: &LayerVersionRecord) -> Result<u32, StoreError> {
        let mut record = record.clone();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_version FROM layer_names WHERE name = ?1",
                    params![record.name],
                    |row| row.get(0),
                )
                .optional()?;
            let version = last.unwrap_or(0) + 1;
            tx.execute(
                "INSERT INTO layer_names (name, last_version) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
                params![record.name, version],
            )?;
            record.version = u32::try_from(version)
                .map_err(|_| StoreError::Database("layer version overflow".into()))?;
            tx.execute(
                "INSERT INTO layer_versions (name, version, code_sha256, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    record.name,
                    version,
                    record.code_sha256_hex,
                    serde_json::to_string(&record)?
                ],
            )?;
            tx.commit()?;
            Ok(record.version)
        })
        .await
    }

    async fn get_layer_version(
        &self,
        name: &str,
        version: u32,
        include_deleted: bool,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            c.query_row(
                "SELECT body FROM layer_versions
                 WHERE name = ?1 AND version = ?2 AND (?3 OR deleted = 0)",
                params![name, version, include_deleted],
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .map(decode_layer)
            .transpose()
        })
        .await
    }

    async fn list_layer_versions(&self, name: &str) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM layer_versions WHERE name = ?1 AND deleted = 0
                 ORDER BY version DESC",
            )?;
            let bodies = stmt
                .query_map(params![name], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            bodies.into_iter().map(decode_layer).collect()
        })
        .await
    }

    async fn list_layer_names(&self) -> Result<Vec<String>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT name FROM layer_versions WHERE deleted = 0 ORDER BY name",
            )?;
            let names = stmt
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(names)
        })
        .await
    }

    async fn delete_layer_version(&self, name: &str, version: u32) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.with_conn(move |c| {
            c.execute(
                "UPDATE layer_versions SET deleted = 1 WHERE name = ?1 AND version = ?2",
                params![name, version],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
