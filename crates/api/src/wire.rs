//! The JSON shapes Lambda returns, built from stored records.

use lambent_control::Account;
use lambent_store::FunctionRecord;
use serde_json::{Map, Value, json};

/// Lambda's `LastModified` format: milliseconds and a `+0000` offset.
pub fn lambda_timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// FunctionConfiguration, field for field as Lambda returns it for `$LATEST`.
pub fn function_configuration(record: &FunctionRecord, account: &Account) -> Value {
    let c = &record.config;
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("FunctionName", json!(record.name));
    put("FunctionArn", json!(account.function_arn(&record.name)));
    put("Runtime", json!(c.runtime));
    put("Role", json!(c.role));
    put("Handler", json!(c.handler));
    put("CodeSize", json!(record.code_size));
    put("Description", json!(c.description));
    put("Timeout", json!(c.timeout_seconds));
    put("MemorySize", json!(c.memory_mb));
    put(
        "LastModified",
        json!(lambda_timestamp(&record.last_modified)),
    );
    put(
        "CodeSha256",
        json!(code_sha256_base64(&record.code_sha256_hex)),
    );
    put("Version", json!("$LATEST"));
    put("Environment", json!({ "Variables": c.environment }));
    put("TracingConfig", json!({ "Mode": c.tracing_mode }));
    put("RevisionId", json!(record.revision_id));
    put("State", json!(record.state.state));
    if let Some(reason) = &record.state.state_reason {
        put("StateReason", json!(reason));
    }
    if let Some(code) = &record.state.state_reason_code {
        put("StateReasonCode", json!(code));
    }
    put("LastUpdateStatus", json!(record.state.last_update_status));
    if let Some(reason) = &record.state.last_update_status_reason {
        put("LastUpdateStatusReason", json!(reason));
    }
    if let Some(code) = &record.state.last_update_status_reason_code {
        put("LastUpdateStatusReasonCode", json!(code));
    }
    put("PackageType", json!(c.package_type));
    put("Architectures", json!(c.architectures));
    put(
        "EphemeralStorage",
        json!({ "Size": c.ephemeral_storage_mb }),
    );
    put(
        "SnapStart",
        json!({ "ApplyOn": "None", "OptimizationStatus": "Off" }),
    );
    put(
        "RuntimeVersionConfig",
        json!({ "RuntimeVersionArn": lambent_control::runtime_version_arn(&c.runtime, &account.region) }),
    );
    let mut logging = Map::new();
    logging.insert("LogFormat".into(), json!(c.logging.log_format));
    if let Some(level) = &c.logging.application_log_level {
        logging.insert("ApplicationLogLevel".into(), json!(level));
    }
    if let Some(level) = &c.logging.system_log_level {
        logging.insert("SystemLogLevel".into(), json!(level));
    }
    logging.insert("LogGroup".into(), json!(c.logging.log_group));
    put("LoggingConfig", Value::Object(logging));
    if !c.layers.is_empty() {
        let layers: Vec<Value> = c.layers.iter().map(|arn| json!({ "Arn": arn })).collect();
        put("Layers", json!(layers));
    }
    if let Some(target) = &c.dead_letter_target_arn {
        put("DeadLetterConfig", json!({ "TargetArn": target }));
    }
    if let Some(key) = &c.kms_key_arn {
        put("KMSKeyArn", json!(key));
    }
    Value::Object(out)
}

/// Lambda's CodeSha256: base64 of the raw digest.
pub fn code_sha256_base64(hex_digest: &str) -> String {
    use base64::Engine;
    let raw = hex::decode(hex_digest).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(raw)
}
