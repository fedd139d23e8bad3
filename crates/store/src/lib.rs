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
    AliasRecord, CorsRecord, EventInvokeConfigRecord, FunctionConfig, FunctionRecord,
    FunctionUrlRecord, LayerRef, LayerVersionRecord, LoggingSettings, PolicyStatementRecord,
    ProvisionedRecord, StateInfo, VersionRecord,
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

    /// Replaces a function only if it has not been written since it was read (compare-and-swap
    /// on [`FunctionRecord::generation`]): of two concurrent updates made from the same read,
    /// exactly one wins and the other gets [`StoreError::RevisionMismatch`].
    async fn replace_function(&self, record: &FunctionRecord) -> Result<(), StoreError>;

    /// Deletes a function and returns what was deleted, or `None` if it did not exist.
    async fn delete_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError>;

    /// Hex SHA-256 digests of every code package some function version or layer version still
    /// references.
    async fn referenced_code(&self) -> Result<HashSet<String>, StoreError>;

    /// Number of functions and the sum of their zipped code sizes (account usage).
    async fn usage(&self) -> Result<(u64, u64), StoreError>;

    /// The functions that have at least one provisioned-concurrency configuration.
    async fn functions_with_provisioning(&self) -> Result<Vec<FunctionRecord>, StoreError>;

    /// The sum of reserved concurrency over all functions except `excluding`.
    async fn reserved_concurrency_total(&self, excluding: Option<&str>) -> Result<u64, StoreError>;
}

/// Layer versions. Version numbers start at 1 per layer name and are never reused.
#[async_trait]
pub trait LayerStore: Send + Sync + 'static {
    /// Stores `record` under the next version number of its layer and returns that number.
    async fn publish_layer_version(&self, record: &LayerVersionRecord) -> Result<u32, StoreError>;

    /// A layer version; deleted ones only with `include_deleted` (functions keep using them).
    async fn get_layer_version(
        &self,
        name: &str,
        version: u32,
        include_deleted: bool,
    ) -> Result<Option<LayerVersionRecord>, StoreError>;

    /// The live versions of one layer, newest first.
    async fn list_layer_versions(&self, name: &str) -> Result<Vec<LayerVersionRecord>, StoreError>;

    /// The names of layers with at least one live version, sorted.
    async fn list_layer_names(&self) -> Result<Vec<String>, StoreError>;

    /// Marks a layer version deleted (idempotent).
    async fn delete_layer_version(&self, name: &str, version: u32) -> Result<(), StoreError>;
}

/// Everything the control plane stores.
pub trait Store: FunctionStore + LayerStore {}

impl<T: FunctionStore + LayerStore> Store for T {}
