//! Deployment packages (`Code.ZipFile`): inspection of uploaded zips and the content-addressed
//! store of accepted packages.
//!
//! The flow for CreateFunction / UpdateFunctionCode is:
//!
//! 1. [`inspect_zip`] checks the uploaded bytes against [`CodeLimits`] and the safety rules
//!    (no absolute or `..` paths, no symbolic links, no duplicates, size caps counted while really
//!    decompressing every entry). It writes nothing. Its [`ZipRejection`] messages are meant to be
//!    shown to API users inside `InvalidParameterValueException`.
//! 2. [`CodeStore::put`] stores the zip once per [`CodeDigest`] and unpacks it once into a
//!    read-only tree that the sandbox bind-mounts at `/var/task`.
//! 3. [`CodeStore::sweep`] removes packages that no function references any more.
//!
//! All functions here do blocking file-system work and CPU-heavy decompression; call them from
//! `tokio::task::spawn_blocking` in async code.

mod digest;
mod inspect;
mod store;

#[cfg(test)]
pub(crate) mod testzip;

pub use digest::CodeDigest;
pub use inspect::{InspectedZip, ZipRejection, inspect_zip};
pub use store::{CodeStore, CodeStoreError};

/// Size and count limits for a deployment package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLimits {
    /// Largest accepted zip, in bytes (Lambda: 50 MiB for a direct upload).
    pub max_zipped_bytes: u64,
    /// Largest accepted total of uncompressed bytes of all entries (Lambda: 250 MiB).
    pub max_unzipped_bytes: u64,
    /// Largest accepted number of entries (files and directories) in the zip.
    pub max_entries: usize,
}

impl CodeLimits {
    /// Lambda's limit for a zip uploaded directly in the request: 50 MiB.
    pub const LAMBDA_MAX_ZIPPED_BYTES: u64 = 52_428_800;
    /// Lambda's limit for the unzipped package: 250 MiB.
    pub const LAMBDA_MAX_UNZIPPED_BYTES: u64 = 262_144_000;
    /// Default cap on the number of entries.
    pub const DEFAULT_MAX_ENTRIES: usize = 20_000;
}

impl Default for CodeLimits {
    fn default() -> Self {
        CodeLimits {
            max_zipped_bytes: Self::LAMBDA_MAX_ZIPPED_BYTES,
            max_unzipped_bytes: Self::LAMBDA_MAX_UNZIPPED_BYTES,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
        }
    }
}
