//! The crate's error type.
//!
//! Errors carry the step that failed and the underlying OS error, because "permission denied"
//! alone is useless when debugging a sandbox that touches cgroups, namespaces and mounts.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while building, running or tearing down a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The [`crate::SandboxSpec`] is malformed (bad id, relative `argv[0]`, NUL bytes, ...).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),

    /// The host cannot build sandboxes (not root, no cgroup controller, ...).
    #[error("host not supported: {0}")]
    Unsupported(String),

    /// A cgroup file or directory operation failed.
    #[error("cgroup {op} {path}: {source}")]
    Cgroup {
        /// What was being done ("mkdir", "write memory.max", ...).
        op: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A host-side system call failed (clone3, pipe, setns, ...).
    #[error("{step}: {source}")]
    Os {
        /// The operation that failed.
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The sandbox init reported that a setup step failed (mount, pivot_root, exec, ...).
    #[error("sandbox init failed: {0}")]
    Init(String),

    /// The sandbox init exited without reporting success or failure.
    #[error("sandbox init exited unexpectedly: {0}")]
    InitDied(String),

    /// An operation did not complete in time (init start-up, freezing).
    #[error("timed out: {0}")]
    Timeout(String),
}

impl SandboxError {
    pub(crate) fn os(step: &'static str, source: io::Error) -> Self {
        SandboxError::Os { step, source }
    }

    pub(crate) fn cgroup(
        op: impl Into<String>,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        SandboxError::Cgroup {
            op: op.into(),
            path: path.into(),
            source,
        }
    }
}
