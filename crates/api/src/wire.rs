//! The JSON shapes Lambda returns, built from stored records.

use lambent_control::{Account, AliasView, LayerVersionView, VersionView};
use serde_json::{Map, Value, json};

/// Lambda's `LastModified` format: milliseconds and a `+0000` offset.
pub fn lambda_timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// FunctionConfiguration, field for field as Lambda returns it.
pub fn function_configuration(record: &VersionView, account: &Account) -> Value {
    let c = &record.config;
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("FunctionName", json!(record.name));
    put(
        "FunctionArn",
        json!(account.qualified_arn(&record.name, record.arn_qualifier.as_deref())),
    );
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
    put("Version", json!(record.version));
    if c.environment_set {
        put("Environment", json!({ "Variables": c.environment }));
    }
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
        let layers: Vec<Value> = c
            .layers
            .iter()
            .map(|layer| json!({ "Arn": layer.arn, "CodeSize": layer.code_size }))
            .collect();
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

/// AliasConfiguration.
pub fn alias_configuration(alias: &AliasView, account: &Account) -> Value {
    let mut out = json!({
        "AliasArn": account.qualified_arn(&alias.function_name, Some(&alias.name)),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    });
    if !alias.additional_version_weights.is_empty() {
        out["RoutingConfig"] =
            json!({ "AdditionalVersionWeights": alias.additional_version_weights });
    }
    out
}

/// A layer version as GetLayerVersion and PublishLayerVersion return it; `content` is the
/// `Content` member (with a download URL) or `None` in list items.
pub fn layer_version(layer: &LayerVersionView, content: Option<Value>) -> Value {
    let r = &layer.record;
    let mut out = json!({
        "LayerVersionArn": layer.layer_version_arn,
        "Version": r.version,
        "Description": r.description,
        "CreatedDate": lambda_timestamp(&r.created),
        "CompatibleRuntimes": r.compatible_runtimes,
        "CompatibleArchitectures": r.compatible_architectures,
    });
    if let Some(license) = &r.license_info {
        out["LicenseInfo"] = json!(license);
    }
    if let Some(content) = content {
        out["Content"] = content;
        out["LayerArn"] = json!(layer.layer_arn);
    }
    out
}

/// A page of a List operation: `{KEY: items, "NextMarker": marker}`, the marker only when more
/// items follow (Lambda omits it on the last page).
pub fn page(key: &str, items: Vec<Value>, next_marker: Option<String>) -> Value {
    let mut out = Map::new();
    out.insert(key.to_owned(), Value::Array(items));
    if let Some(marker) = next_marker {
        out.insert("NextMarker".into(), Value::String(marker));
    }
    Value::Object(out)
}
