//! The bundled language runtimes of Lambent and the table of runtime identifiers.
//!
//! * [`install`] writes the Python and Node bootstraps (Lambent's own, standard-library-only
//!   implementations of what Lambda's managed `python3.x` / `nodejsN.x` runtimes run) into a
//!   directory that the sandbox later mounts read-only at [`RUNTIME_DIR`] (`/var/runtime`).
//! * [`parse`] tells which [`RuntimeFamily`] a `Runtime` identifier such as `python3.12`,
//!   `nodejs20.x` or `provided.al2023` belongs to, and rejects everything else.
//! * [`RuntimeTable`] says which host interpreter serves each family (configurable through
//!   [`RuntimesConfig`]) and produces the [`Launch`] (argv + extra environment) to exec inside
//!   the sandbox for a given identifier.
//!
//! The bootstraps speak the Runtime API (2018-06-01) at `$AWS_LAMBDA_RUNTIME_API`; they read
//! `_HANDLER`, `LAMBDA_TASK_ROOT` and the other variables Lambda defines, which the caller sets
//! in addition to [`Launch::env`].

mod identifiers;
mod install;
mod table;

pub use identifiers::{RuntimeFamily, parse};
pub use install::{
    NODE_BOOTSTRAP, NODE_BOOTSTRAP_PATH, PYTHON_BOOTSTRAP, PYTHON_BOOTSTRAP_PATH, RUNTIME_DIR,
    install,
};
pub use table::{
    ConfigError, DEFAULT_NODE, DEFAULT_PYTHON, Launch, PROVIDED_BOOTSTRAPS, RuntimeTable,
    RuntimesConfig,
};
