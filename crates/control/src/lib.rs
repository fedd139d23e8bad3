//! The control plane: functions, their configuration and code, validated as Lambda validates.
//!
//! This crate owns the domain rules and the code store; it speaks no HTTP (that is
//! `lambent-api`) and no SQL (that is `lambent-store`). Invariants at its boundary:
//! - an operation that returns an error has changed nothing;
//! - a function's code package is on disk, complete and unpacked before the function row that
//!   references it commits, and packages are collected only when no function references them.

mod aliases;
pub mod code;
mod concurrency;
mod error;
mod event_invoke;
pub mod function_urls;
pub mod input;
mod layers;
mod names;
mod policy;
mod provisioned;
mod qualifier;
mod service;
mod tags;
pub mod validate;
mod views;

pub use concurrency::MIN_UNRESERVED_CONCURRENCY;
pub use error::ControlError;
pub use event_invoke::{
    AsyncSettings, DestinationConfigInput, DestinationInput, EventInvokeConfigInput,
    EventInvokeConfigView,
};
pub use names::{Account, FunctionRef, NameUse};
pub use provisioned::{ProvisionedTarget, ProvisionedView};
pub use service::{FunctionChanged, FunctionService, MAX_LIST_ITEMS, ResolvedFunction};
pub use views::{AliasView, LayerVersionView, VersionView};

/// The runtime version ARN Lambent reports for a runtime identifier. Lambent has one build of each
/// runtime, so the ARN is a stable function of the identifier.
pub fn runtime_version_arn(runtime: &str, region: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(runtime.as_bytes()));
    format!("arn:aws:lambda:{region}::runtime:{digest}")
}
