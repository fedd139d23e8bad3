//! What the control plane returns: one function version as Lambda presents it, an alias, a layer
//! version. The front door renders them field for field.

use chrono::{DateTime, Utc};
use lambent_store::{FunctionConfig, LayerVersionRecord, StateInfo};
use std::collections::BTreeMap;

/// One version of a function (`$LATEST` or published) as FunctionConfiguration shows it.
#[derive(Clone, Debug)]
pub struct VersionView {
    pub name: String,
    /// The qualifier in `FunctionArn`: none for the plain function, `$LATEST` in version lists,
    /// the version number, or the alias it was requested through.
    pub arn_qualifier: Option<String>,
    /// `$LATEST` or the version number.
    pub version: String,
    pub config: FunctionConfig,
    pub code_sha256_hex: String,
    pub code_size: u64,
    pub revision_id: String,
    pub last_modified: DateTime<Utc>,
    pub state: StateInfo,
}

#[derive(Clone, Debug)]
pub struct AliasView {
    pub function_name: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    pub additional_version_weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// A layer version with its ARNs.
#[derive(Clone, Debug)]
pub struct LayerVersionView {
    pub record: LayerVersionRecord,
    pub layer_arn: String,
    pub layer_version_arn: String,
}
