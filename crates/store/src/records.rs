//! Plain records as stored. They carry no behaviour; validation lives in `lambent-control`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One function: its `$LATEST` configuration and code, its tags and its resource policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub config: FunctionConfig,
    /// Hex SHA-256 of the zip as uploaded; the key of the package in the code store.
    pub code_sha256_hex: String,
    pub code_size: u64,
    /// A UUID that changes with every change to the function (Lambda's RevisionId).
    pub revision_id: String,
    pub last_modified: DateTime<Utc>,
    pub state: StateInfo,
    pub tags: BTreeMap<String, String>,
    pub policy: Vec<PolicyStatementRecord>,
}

/// The user-settable configuration of a function version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub description: String,
    pub timeout_seconds: u32,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    pub environment: BTreeMap<String, String>,
    pub architectures: Vec<String>,
    pub package_type: String,
    pub tracing_mode: String,
    pub logging: LoggingSettings,
    pub layers: Vec<String>,
    pub dead_letter_target_arn: Option<String>,
    pub kms_key_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggingSettings {
    pub log_format: String,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
    pub log_group: String,
}

/// Lambda's State / LastUpdateStatus pair with their reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateInfo {
    pub state: String,
    pub state_reason: Option<String>,
    pub state_reason_code: Option<String>,
    pub last_update_status: String,
    pub last_update_status_reason: Option<String>,
    pub last_update_status_reason_code: Option<String>,
}

/// One statement of a function's resource policy, kept as the IAM JSON Lambda returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyStatementRecord {
    pub sid: String,
    pub statement: serde_json::Value,
}
