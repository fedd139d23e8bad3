//! Mappings on disk: `event-sources.sqlite3`, one row per mapping with its record as JSON.
//! Writes are rare (API calls), so each is its own synchronous transaction.

use crate::EsmError;
use crate::config::MappingRecord;
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct MappingStore {
    conn: Arc<Mutex<Connection>>,
}

impl MappingStore {
    pub fn open(path: &Path) -> Result<Self, EsmError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS mappings (
                uuid   TEXT PRIMARY KEY NOT NULL,
                record TEXT NOT NULL
            ) STRICT;",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, EsmError> + Send + 'static,
    ) -> Result<T, EsmError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            op(&guard)
        })
        .await
        .map_err(|e| EsmError::Internal(format!("mapping store task failed: {e}")))?
    }

    pub async fn put(&self, record: &MappingRecord) -> Result<(), EsmError> {
        let uuid = record.uuid.clone();
        let body = serde_json::to_string(record)?;
        self.run(move |c| {
            c.execute(
                "INSERT INTO mappings (uuid, record) VALUES (?1, ?2)
                 ON CONFLICT(uuid) DO UPDATE SET record = excluded.record",
                params![uuid, body],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn delete(&self, uuid: &str) -> Result<(), EsmError> {
        let uuid = uuid.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM mappings WHERE uuid = ?1", params![uuid])?;
            Ok(())
        })
        .await
    }

    pub fn load(&self) -> Result<Vec<MappingRecord>, EsmError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare("SELECT record FROM mappings")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut records = Vec::new();
        for row in rows {
            records.push(serde_json::from_str(&row?)?);
        }
        Ok(records)
    }
}
