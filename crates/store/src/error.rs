use thiserror::Error;

/// Failures of a storage operation. Domain rules (validation, permissions) are not checked here.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("a record with this key already exists")]
    AlreadyExists,
    #[error("record not found")]
    NotFound,
    #[error("the record changed since it was read (revision mismatch)")]
    RevisionMismatch,
    #[error("database error: {0}")]
    Database(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("schema migration failed: {0}")]
    Migration(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
