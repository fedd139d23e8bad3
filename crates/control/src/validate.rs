//! Lambda's rules for function configuration. Each check returns the error Lambda returns, so a
//! bad request is refused before anything is written.

use crate::ControlError;
use crate::input::{ConfigInput, LoggingInput};
use lambent_store::{FunctionConfig, LayerRef, LoggingSettings};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";
const ENV_KEY_PATTERN: &str = r"[a-zA-Z]([a-zA-Z0-9_])+";
/// Lambda's limit on the environment, measured over its JSON serialisation.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

static ROLE: LazyLock<Regex> = LazyLock::new(|| anchored(ROLE_PATTERN));
static ENV_KEY: LazyLock<Regex> = LazyLock::new(|| anchored(ENV_KEY_PATTERN));

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("static validation pattern")
}

/// Variables Lambda sets itself and refuses to let a function override.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The runtime identifiers Lambda lists in its error message; Lambent accepts the Python, Node
/// and `provided` ones (see `lambent_runtimes`).
pub(crate) const LAMBDA_RUNTIME_ENUM: &str = "[nodejs20.x, python3.14, provided.al2023, python3.12, \
     python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, \
     ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, \
     dotnet6, nodejs18.x, provided.al2, java8.al2]";

pub fn role(role: &str) -> Result<(), ControlError> {
    if ROLE.is_match(role) {
        Ok(())
    } else {
        Err(ControlError::constraint(
            role,
            "role",
            &format!("Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
        ))
    }
}

pub fn runtime(runtime: &str) -> Result<(), ControlError> {
    if lambent_runtimes::parse(runtime).is_some() {
        return Ok(());
    }
    Err(ControlError::InvalidParameterValue(format!(
        "Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum \
         value set: {LAMBDA_RUNTIME_ENUM} or be a valid ARN"
    )))
}

pub fn handler(handler: &str) -> Result<(), ControlError> {
    if handler.chars().count() > 128 {
        return Err(ControlError::constraint(
            handler,
            "handler",
            "Member must have length less than or equal to 128",
        ));
    }
    if handler.is_empty() || handler.chars().any(char::is_whitespace) {
        return Err(ControlError::constraint(
            handler,
            "handler",
            r"Member must satisfy regular expression pattern: [^\s]+",
        ));
    }
    Ok(())
}

fn integer_in(value: i64, member: &str, min: i64, max: i64) -> Result<u32, ControlError> {
    if value < min {
        return Err(ControlError::constraint(
            &value.to_string(),
            member,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(ControlError::constraint(
            &value.to_string(),
            member,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    u32::try_from(value).map_err(|_| ControlError::Internal("integer out of range".into()))
}

pub fn timeout(seconds: i64) -> Result<u32, ControlError> {
    integer_in(seconds, "timeout", 1, 900)
}

pub fn memory_size(mb: i64) -> Result<u32, ControlError> {
    integer_in(mb, "memorySize", 128, 10240)
}

pub fn ephemeral_storage(mb: i64) -> Result<u32, ControlError> {
    integer_in(mb, "ephemeralStorage.size", 512, 10240)
}

pub fn description(text: &str) -> Result<(), ControlError> {
    if text.chars().count() > 256 {
        return Err(ControlError::constraint(
            text,
            "description",
            "Member must have length less than or equal to 256",
        ));
    }
    Ok(())
}

/// Checks the variables as sent and returns them as stored.
pub fn environment(
    sent: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ControlError> {
    let mut vars = BTreeMap::new();
    for (key, value) in sent {
        let value = value.as_str().ok_or_else(|| {
            ControlError::InvalidParameterValue(format!(
                "The value of environment variable {key} must be a string."
            ))
        })?;
        vars.insert(key.clone(), value.to_owned());
    }
    let reserved: Vec<&str> = sent
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(ControlError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment \
             variables you have provided contains reserved keys that are currently not supported \
             for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    if let Some(bad) = sent.keys().find(|k| !ENV_KEY.is_match(k)) {
        return Err(ControlError::constraint(
            bad,
            "environment.variables",
            &format!(
                "Map keys must satisfy constraint: [Member must satisfy regular expression \
                 pattern: {ENV_KEY_PATTERN}]"
            ),
        ));
    }
    let measured = serde_json::to_string(sent)
        .map_err(|e| ControlError::Internal(format!("serialising environment: {e}")))?;
    if measured.len() > MAX_ENVIRONMENT_BYTES {
        return Err(ControlError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment \
             variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(vars)
}

pub fn architectures(list: &[String]) -> Result<Vec<String>, ControlError> {
    let joined = format!("[{}]", list.join(", "));
    if list.len() != 1 {
        return Err(ControlError::constraint(
            &joined,
            "architectures",
            "Member must have length less than or equal to 1",
        ));
    }
    match list[0].as_str() {
        "x86_64" | "arm64" => Ok(list.to_vec()),
        _ => Err(ControlError::constraint(
            &joined,
            "architectures",
            "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], \
             Member must not be null]",
        )),
    }
}

fn one_of(value: &str, member: &str, allowed: &[&str]) -> Result<(), ControlError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ControlError::constraint(
            value,
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ))
    }
}

fn logging(
    current: &LoggingSettings,
    input: &LoggingInput,
) -> Result<LoggingSettings, ControlError> {
    let mut next = current.clone();
    if let Some(format) = &input.log_format {
        one_of(format, "loggingConfig.logFormat", &["JSON", "Text"])?;
        next.log_format = format.clone();
    }
    if let Some(level) = &input.application_log_level {
        one_of(
            level,
            "loggingConfig.applicationLogLevel",
            &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
        )?;
        next.application_log_level = Some(level.clone());
    }
    if let Some(level) = &input.system_log_level {
        one_of(
            level,
            "loggingConfig.systemLogLevel",
            &["DEBUG", "INFO", "WARN"],
        )?;
        next.system_log_level = Some(level.clone());
    }
    if let Some(group) = &input.log_group {
        if group.is_empty() || group.len() > 512 {
            return Err(ControlError::constraint(
                group,
                "loggingConfig.logGroup",
                "Member must have length between 1 and 512",
            ));
        }
        next.log_group = group.clone();
    }
    if next.log_format == "JSON" {
        // Lambda fills in INFO for levels not given once the format is JSON.
        next.application_log_level
            .get_or_insert_with(|| "INFO".into());
        next.system_log_level.get_or_insert_with(|| "INFO".into());
    } else if input.application_log_level.is_some() || input.system_log_level.is_some() {
        return Err(ControlError::InvalidParameterValue(
            "Advanced logging controls (ApplicationLogLevel and SystemLogLevel) are only \
             available when LogFormat is set to JSON."
                .into(),
        ));
    } else {
        // Back to Text: the levels no longer apply.
        next.application_log_level = None;
        next.system_log_level = None;
    }
    Ok(next)
}

/// The configuration a new function starts from: Lambda's defaults.
pub fn defaults(name: &str) -> FunctionConfig {
    FunctionConfig {
        runtime: String::new(),
        handler: String::new(),
        role: String::new(),
        description: String::new(),
        timeout_seconds: 3,
        memory_mb: 128,
        ephemeral_storage_mb: 512,
        environment: BTreeMap::new(),
        environment_set: false,
        architectures: vec!["x86_64".into()],
        package_type: "Zip".into(),
        tracing_mode: "PassThrough".into(),
        logging: LoggingSettings {
            log_format: "Text".into(),
            application_log_level: None,
            system_log_level: None,
            log_group: format!("/aws/lambda/{name}"),
        },
        layers: Vec::new(),
        dead_letter_target_arn: None,
        kms_key_arn: None,
    }
}

/// Applies the members present in `input` to `current`, checking each one. `Layers` arrive
/// already resolved (that needs the store).
pub fn apply(
    current: &FunctionConfig,
    input: &ConfigInput,
    resolved_layers: Option<Vec<LayerRef>>,
) -> Result<FunctionConfig, ControlError> {
    let mut next = current.clone();
    if let Some(r) = &input.role {
        role(r)?;
        next.role = r.clone();
    }
    if let Some(r) = &input.runtime {
        runtime(r)?;
        next.runtime = r.clone();
    }
    if let Some(h) = &input.handler {
        handler(h)?;
        next.handler = h.clone();
    }
    if let Some(d) = &input.description {
        description(d)?;
        next.description = d.clone();
    }
    if let Some(t) = input.timeout {
        next.timeout_seconds = timeout(t)?;
    }
    if let Some(m) = input.memory_size {
        next.memory_mb = memory_size(m)?;
    }
    if let Some(env) = &input.environment {
        next.environment = environment(&env.variables.clone().unwrap_or_default())?;
        next.environment_set = true;
    }
    if let Some(storage) = &input.ephemeral_storage {
        let size = storage.size.ok_or_else(|| {
            ControlError::InvalidParameterValue("EphemeralStorage requires Size".into())
        })?;
        next.ephemeral_storage_mb = ephemeral_storage(size)?;
    }
    if let Some(tracing) = &input.tracing_config
        && let Some(mode) = &tracing.mode
    {
        one_of(mode, "tracingConfig.mode", &["Active", "PassThrough"])?;
        next.tracing_mode = mode.clone();
    }
    if let Some(l) = &input.logging_config {
        next.logging = logging(&next.logging, l)?;
    }
    if let Some(layers) = resolved_layers {
        next.layers = layers;
    }
    if let Some(dlq) = &input.dead_letter_config {
        next.dead_letter_target_arn = dlq.target_arn.clone().filter(|a| !a.is_empty());
    }
    if let Some(key) = &input.kms_key_arn {
        next.kms_key_arn = Some(key.clone()).filter(|k| !k.is_empty());
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_rules() {
        let map = |v: serde_json::Value| v.as_object().cloned().expect("object");
        assert!(environment(&map(serde_json::json!({"GOOD_KEY": "v"}))).is_ok());
        let err = environment(&map(
            serde_json::json!({"GOOD_KEY": "v", "AWS_REGION": "x"}),
        ))
        .expect_err("reserved");
        assert!(err.to_string().contains("AWS_REGION"));
        let big = map(serde_json::json!({"SMALL_VAR": "ok", "LARGE_VAR": "x".repeat(4096)}));
        let err = environment(&big).expect_err("too big");
        assert!(
            err.to_string()
                .contains(r#"String measured: {"SMALL_VAR":"ok","LARGE_VAR":"xxx"#),
            "keys keep request order: {err}"
        );
        assert!(matches!(
            environment(&map(serde_json::json!({"1BAD": "v"}))),
            Err(ControlError::Validation(_))
        ));
    }

    #[test]
    fn ranges() {
        assert!(timeout(0).is_err());
        assert!(timeout(901).is_err());
        assert_eq!(timeout(900).expect("max"), 900);
        assert!(memory_size(127).is_err());
        assert!(memory_size(10241).is_err());
        assert!(ephemeral_storage(511).is_err());
    }

    #[test]
    fn role_and_handler() {
        assert!(role("arn:aws:iam::123456789012:role/lambda-role").is_ok());
        assert!(role("r1").is_err());
        assert!(handler("app.handler").is_ok());
        assert!(handler("has space").is_err());
        assert!(handler("").is_err());
    }

    #[test]
    fn log_levels_follow_the_format() {
        let current = defaults("f");
        let input = LoggingInput {
            application_log_level: Some("DEBUG".into()),
            ..Default::default()
        };
        assert!(logging(&current.logging, &input).is_err());
        let json = logging(
            &current.logging,
            &LoggingInput {
                log_format: Some("JSON".into()),
                ..Default::default()
            },
        )
        .expect("json");
        assert_eq!(json.application_log_level.as_deref(), Some("INFO"));
        assert_eq!(json.system_log_level.as_deref(), Some("INFO"));
        let text = logging(
            &json,
            &LoggingInput {
                log_format: Some("Text".into()),
                ..Default::default()
            },
        )
        .expect("back to text");
        assert_eq!(text.application_log_level, None);
    }
}
