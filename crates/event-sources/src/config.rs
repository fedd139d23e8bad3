//! What a mapping is: the stored record, the request members that create and update it with
//! Lambda's rules, and its rendering as `EventSourceMappingConfiguration`.

use crate::EsmError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const DEFAULT_BATCH_SIZE: u32 = 10;
/// Without `ScalingConfig`, at most this many batches of one mapping run at once: Lambda's
/// ceiling for SQS mappings (the function's reserved concurrency or the account's pool usually
/// stops the pollers first; see `poller.rs`).
pub const DEFAULT_MAX_CONCURRENCY: u32 = 1250;
/// Tags a mapping may carry, as for functions.
const MAX_TAGS: usize = 50;
const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappingRecord {
    pub uuid: String,
    pub event_source_arn: String,
    /// Function ARN, qualified when the mapping names a version or alias.
    pub function_arn: String,
    pub enabled: bool,
    pub batch_size: u32,
    pub maximum_batching_window: u32,
    pub report_batch_item_failures: bool,
    pub maximum_concurrency: Option<u32>,
    #[serde(default)]
    pub filter_criteria: Option<Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Epoch seconds (with fraction), as Lambda renders LastModified.
    pub last_modified: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    pub maximum_concurrency: Option<i64>,
}

/// CreateEventSourceMapping's members (those an SQS mapping uses; the rest are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateInput {
    pub function_name: Option<String>,
    pub event_source_arn: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub function_response_types: Option<Vec<String>>,
    pub scaling_config: Option<ScalingConfig>,
    pub filter_criteria: Option<Value>,
    pub starting_position: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// UpdateEventSourceMapping's members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInput {
    pub function_name: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub function_response_types: Option<Vec<String>>,
    pub scaling_config: Option<ScalingConfig>,
    pub filter_criteria: Option<Value>,
}

fn invalid(message: impl Into<String>) -> EsmError {
    EsmError::InvalidParameterValue(message.into())
}

/// Applies the settings common to create and update, then checks them together.
pub fn apply_settings(
    record: &mut MappingRecord,
    batch_size: Option<i64>,
    window: Option<i64>,
    response_types: Option<&[String]>,
    scaling: Option<&ScalingConfig>,
    fifo: bool,
) -> Result<(), EsmError> {
    if let Some(size) = batch_size {
        if !(1..=10_000).contains(&size) {
            return Err(invalid(format!(
                "1 validation error detected: Value {size} at 'batchSize' failed to satisfy \
                 constraint: Member must have value less than or equal to 10000"
            )));
        }
        record.batch_size = size as u32;
    }
    if let Some(window) = window {
        if !(0..=300).contains(&window) {
            return Err(invalid(format!(
                "1 validation error detected: Value {window} at 'maximumBatchingWindowInSeconds' \
                 failed to satisfy constraint: Member must have value less than or equal to 300"
            )));
        }
        record.maximum_batching_window = window as u32;
    }
    if let Some(types) = response_types {
        if let Some(bad) = types.iter().find(|t| *t != REPORT_BATCH_ITEM_FAILURES) {
            return Err(invalid(format!(
                "1 validation error detected: Value '[{bad}]' at 'functionResponseTypes' failed \
                 to satisfy constraint: Member must satisfy enum value set: \
                 [ReportBatchItemFailures]"
            )));
        }
        record.report_batch_item_failures = !types.is_empty();
    }
    if let Some(scaling) = scaling {
        match scaling.maximum_concurrency {
            Some(n) if !(2..=1000).contains(&n) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value {n} at \
                     'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member \
                     must have value greater than or equal to 2"
                )));
            }
            other => record.maximum_concurrency = other.map(|n| n as u32),
        }
    }
    if fifo && record.batch_size > 10 {
        return Err(invalid(
            "Batch size for SQS FIFO queues must be less than or equal to 10.",
        ));
    }
    if record.batch_size > 10 && record.maximum_batching_window == 0 {
        return Err(invalid(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is \
             greater than 10",
        ));
    }
    Ok(())
}

/// Lambda's tag rules (the same as for functions; `lambent-control` keeps its own copy for
/// functions, which this crate cannot reach).
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), EsmError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid("Number of tags exceeds resource tag limit."));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid(format!(
                "Tag key '{key}' must be between 1 and 128 characters long."
            )));
        }
        if key.starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key '{key}' uses the reserved prefix 'aws:'."
            )));
        }
        if value.chars().count() > 256 {
            return Err(invalid(format!(
                "The value of tag '{key}' must be at most 256 characters long."
            )));
        }
    }
    Ok(())
}

pub fn now_seconds() -> f64 {
    let now = chrono::Utc::now();
    now.timestamp() as f64 + f64::from(now.timestamp_subsec_millis()) / 1000.0
}

/// `EventSourceMappingConfiguration` for an SQS mapping, in `state`.
pub fn render(record: &MappingRecord, state: &str, mapping_arn: &str) -> Value {
    let mut out = Map::new();
    out.insert("UUID".into(), json!(record.uuid));
    out.insert("BatchSize".into(), json!(record.batch_size));
    out.insert(
        "MaximumBatchingWindowInSeconds".into(),
        json!(record.maximum_batching_window),
    );
    out.insert("EventSourceArn".into(), json!(record.event_source_arn));
    if let Some(filter) = &record.filter_criteria {
        out.insert("FilterCriteria".into(), filter.clone());
    }
    out.insert("FunctionArn".into(), json!(record.function_arn));
    out.insert("LastModified".into(), json!(record.last_modified));
    out.insert("State".into(), json!(state));
    out.insert("StateTransitionReason".into(), json!("USER_INITIATED"));
    let types: Vec<&str> = if record.report_batch_item_failures {
        vec![REPORT_BATCH_ITEM_FAILURES]
    } else {
        Vec::new()
    };
    out.insert("FunctionResponseTypes".into(), json!(types));
    if let Some(n) = record.maximum_concurrency {
        out.insert("ScalingConfig".into(), json!({ "MaximumConcurrency": n }));
    }
    out.insert("EventSourceMappingArn".into(), json!(mapping_arn));
    Value::Object(out)
}
