//! Durable state of Lambent behind storage traits.
//!
//! The rest of the system sees only the traits in this crate ([`FunctionStore`]) and the plain
//! records they move ([`FunctionRecord`]); no SQL leaves this crate. The embedded implementation is
//! SQLite ([`SqliteStore`]); a PostgreSQL implementation for clusters implements the same traits.
//!
//! Invariant: every trait method is one atomic transaction. A process killed at any point leaves
//! either the state before the call or the state after it, never a mix.

mod error;
mod records;
mod sqlite;

pub use error::StoreError;
pub use records::{
    FunctionConfig, FunctionRecord, LoggingSettings, PolicyStatementRecord, StateInfo,
};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use std::collections::HashSet;

/// Functions, their `$LATEST` configuration, tags and resource policy.
#[async_trait]
pub trait FunctionStore: Send + Sync + 'static {
    /// Inserts a new function; [`StoreError::AlreadyExists`] if the name is taken.
    async fn insert_function(&self, record: &FunctionRecord) -> Result<(), StoreError>;

    async fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError>;

    /// Functions ordered by name, starting strictly after `after`, at most `limit` of them.
    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError>;

    /// Replaces a function only if its stored revision is still `expected_revision`
    /// (compare-and-swap): of two concurrent updates made from the same revision, exactly one wins
    /// and the other gets [`StoreError::RevisionMismatch`].
    async fn replace_function(
        &self,
        record: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError>;

    /// Deletes a function and returns what was deleted, or `None` if it did not exist.
    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError>;

    /// Hex SHA-256 digests of every code package some function still references.
    async fn referenced_code(&self) -> Result<HashSet<String>, StoreError>;

    /// Number of functions and the sum of their zipped code sizes (account usage).
    async fn usage(&self) -> Result<(u64, u64), StoreError>;
}
