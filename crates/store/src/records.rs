//! Plain records as stored. They carry no behaviour; validation lives in `lambent-control`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One function: its `$LATEST` configuration and code, its published versions, aliases, tags
/// and resource policies. Stored as one row so that every change to a function is one atomic
/// compare-and-swap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub config: FunctionConfig,
    /// Hex SHA-256 of the zip as uploaded; the key of the package in the code store.
    pub code_sha256_hex: String,
    pub code_size: u64,
    /// Size of the package once unpacked (with its layers it must stay under Lambda's limit).
    #[serde(default)]
    pub code_unzipped_size: u64,
    /// A UUID that changes with every change to `$LATEST` (Lambda's RevisionId).
    pub revision_id: String,
    pub last_modified: DateTime<Utc>,
    pub state: StateInfo,
    pub tags: BTreeMap<String, String>,
    /// Resource policy of the unqualified function (and `$LATEST`).
    pub policy: Vec<PolicyStatementRecord>,
    /// Published versions by number; a version never changes once published.
    #[serde(default)]
    pub versions: BTreeMap<u32, VersionRecord>,
    /// The highest version number ever published: numbers are never reused.
    #[serde(default)]
    pub last_version: u32,
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasRecord>,
    /// Provisioned concurrency requested per qualifier (a version or an alias).
    #[serde(default)]
    pub provisioned: BTreeMap<String, ProvisionedRecord>,
    /// Reserved concurrency (`PutFunctionConcurrency`); 0 disables the function.
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// Resource policies of versions and aliases, by qualifier.
    #[serde(default)]
    pub qualified_policies: BTreeMap<String, Vec<PolicyStatementRecord>>,
    /// Asynchronous invocation settings (`PutFunctionEventInvokeConfig`) by qualifier: `$LATEST`,
    /// a version number or an alias name. Kept in the function's row so that deleting the
    /// function deletes them in the same transaction.
    #[serde(default)]
    pub event_invoke_configs: BTreeMap<String, EventInvokeConfigRecord>,
    /// Function URLs (`CreateFunctionUrlConfig`) by qualifier: `$LATEST` for the unqualified
    /// function, or an alias name. In the function's row so that deleting the function deletes
    /// its URLs in the same transaction.
    #[serde(default)]
    pub function_urls: BTreeMap<String, FunctionUrlRecord>,
    /// Write counter for compare-and-swap; maintained by the store, not part of the body.
    #[serde(skip)]
    pub generation: u64,
}

impl FunctionRecord {
    /// Every code package this function references: `$LATEST`'s and its versions'.
    pub fn code_digests(&self) -> std::collections::BTreeSet<String> {
        std::iter::once(self.code_sha256_hex.clone())
            .chain(self.versions.values().map(|v| v.code_sha256_hex.clone()))
            .collect()
    }
}

/// An immutable published version: the configuration and code `$LATEST` had when published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub config: FunctionConfig,
    /// `$LATEST`'s RevisionId right after this version was published: while it is unchanged,
    /// publishing again returns this version instead of creating an identical one.
    #[serde(default)]
    pub published_at_revision: Option<String>,
    pub code_sha256_hex: String,
    pub code_size: u64,
    #[serde(default)]
    pub code_unzipped_size: u64,
    pub revision_id: String,
    pub last_modified: DateTime<Utc>,
}

/// How asynchronous invocations of one qualifier are retried and where their results go. A
/// member left unset takes Lambda's default when events are processed (and is omitted from the
/// API's answers, as Lambda omits it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventInvokeConfigRecord {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_seconds: Option<u32>,
    /// Destination ARN for successful events (a function or a queue).
    pub on_success: Option<String>,
    /// Destination ARN for events that failed every attempt or grew too old.
    pub on_failure: Option<String>,
    pub last_modified: DateTime<Utc>,
}

/// A function URL: an HTTPS endpoint of Lambda's, here an HTTP host name on Lambent's port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionUrlRecord {
    /// 32 lowercase letters and digits, the first label of the URL's host name.
    pub url_id: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    pub cors: Option<CorsRecord>,
    /// `BUFFERED` or `RESPONSE_STREAM`; `None` when never set (Lambda then omits it from the
    /// answers of Create and Update, and Get shows `BUFFERED`).
    pub invoke_mode: Option<String>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// A function URL's CORS settings, each member as given (unset members are omitted in answers).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CorsRecord {
    pub allow_credentials: Option<bool>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<u32>,
}

/// A provisioned-concurrency configuration: environments kept initialised ahead of calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedRecord {
    pub requested: u32,
    pub last_modified: DateTime<Utc>,
}

/// A named pointer to a version, optionally splitting traffic with a second version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub function_version: String,
    pub description: String,
    /// Additional version → weight (0.0–1.0); the primary gets the rest.
    pub additional_version_weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// One published layer version. Deleted versions keep their content for the functions that
/// already use them, as in Lambda.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerVersionRecord {
    pub name: String,
    pub version: u32,
    pub description: String,
    pub created: DateTime<Utc>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub code_sha256_hex: String,
    pub code_size: u64,
    pub code_unzipped_size: u64,
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
    /// Whether the function has an `Environment` at all (Lambda omits the member otherwise).
    #[serde(default)]
    pub environment_set: bool,
    pub architectures: Vec<String>,
    pub package_type: String,
    pub tracing_mode: String,
    pub logging: LoggingSettings,
    /// Layers in order; later layers override earlier ones at `/opt`.
    pub layers: Vec<LayerRef>,
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

/// A layer version a function uses, with what the function needs of it without a lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    pub arn: String,
    pub code_sha256_hex: String,
    pub code_size: u64,
    pub code_unzipped_size: u64,
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
