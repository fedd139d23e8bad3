//! Log groups: DescribeLogGroups, CreateLogGroup, DeleteLogGroup, retention and tags.

use super::{Context, LogsError, check_limit};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The retention periods CloudWatch accepts, in days.
const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeInput {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub async fn describe(context: &Context, input: DescribeInput) -> Result<Value, LogsError> {
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(LogsError::invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = check_limit(input.limit, 50)?;
    let prefix = input.log_group_name_prefix;
    let after = input.next_token;
    // The pattern is a case-insensitive substring; filter after reading, so read everything
    // past the token when one is given.
    let pattern = input.log_group_name_pattern.map(|p| p.to_lowercase());
    let read = if pattern.is_some() {
        usize::MAX
    } else {
        limit + 1
    };
    let mut groups = context
        .run(move |store| store.groups(prefix.as_deref(), after.as_deref(), read))
        .await?;
    if let Some(pattern) = pattern {
        groups.retain(|g| g.name.to_lowercase().contains(&pattern));
    }
    let more = groups.len() > limit;
    groups.truncate(limit);
    let rendered: Vec<Value> = groups
        .iter()
        .map(|g| {
            let arn = context.group_arn(&g.name);
            let mut v = json!({
                "logGroupName": g.name,
                "creationTime": g.creation_ms,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            });
            if let Some(days) = g.retention_days {
                v["retentionInDays"] = json!(days);
            }
            v
        })
        .collect();
    let mut out = json!({ "logGroups": rendered });
    if more && let Some(last) = groups.last() {
        out["nextToken"] = json!(last.name);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInput {
    log_group_name: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// CloudWatch's rule for group names.
fn check_group_name(name: &str) -> Result<(), LogsError> {
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c));
    if valid {
        Ok(())
    } else {
        Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )))
    }
}

fn required(name: Option<String>) -> Result<String, LogsError> {
    name.ok_or_else(|| {
        LogsError::invalid(
            "1 validation error detected: Value null at 'logGroupName' failed to satisfy \
             constraint: Member must not be null",
        )
    })
}

pub async fn create(context: &Context, input: CreateInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    check_group_name(&name)?;
    let tags = input.tags;
    context
        .run(move |store| store.create_group(&name, &tags))
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameInput {
    log_group_name: Option<String>,
}

pub async fn delete(context: &Context, input: NameInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    context.run(move |store| store.delete_group(&name)).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionInput {
    log_group_name: Option<String>,
    retention_in_days: Option<i64>,
}

pub async fn put_retention(context: &Context, input: RetentionInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    let days = input.retention_in_days.unwrap_or(0);
    if !RETENTION_DAYS.contains(&days) {
        let allowed: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy \
             constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )));
    }
    context
        .run(move |store| store.set_retention(&name, Some(days)))
        .await?;
    Ok(json!({}))
}

pub async fn delete_retention(context: &Context, input: NameInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    context
        .run(move |store| store.set_retention(&name, None))
        .await?;
    Ok(json!({}))
}

/// The group an ARN names (`...:log-group:NAME`, with or without `:*`).
fn group_from_arn(context: &Context, arn: Option<String>) -> Result<String, LogsError> {
    let arn = arn.ok_or_else(|| {
        LogsError::invalid(
            "1 validation error detected: Value null at 'resourceArn' failed to satisfy \
             constraint: Member must not be null",
        )
    })?;
    let prefix = format!(
        "arn:aws:logs:{}:{}:log-group:",
        context.region, context.account_id
    );
    match arn.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() => Ok(rest.strip_suffix(":*").unwrap_or(rest).to_owned()),
        _ => Err(LogsError::invalid(format!("Invalid resource arn: {arn}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceInput {
    resource_arn: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

pub async fn tag_resource(context: &Context, input: TagResourceInput) -> Result<Value, LogsError> {
    let name = group_from_arn(context, input.resource_arn)?;
    let tags = input.tags;
    context
        .run(move |store| store.update_tags(&name, &tags, &[]))
        .await?;
    Ok(json!({}))
}

pub async fn untag_resource(
    context: &Context,
    input: TagResourceInput,
) -> Result<Value, LogsError> {
    let name = group_from_arn(context, input.resource_arn)?;
    let keys = input.tag_keys;
    context
        .run(move |store| store.update_tags(&name, &BTreeMap::new(), &keys))
        .await?;
    Ok(json!({}))
}

pub async fn list_tags_for_resource(
    context: &Context,
    input: TagResourceInput,
) -> Result<Value, LogsError> {
    let name = group_from_arn(context, input.resource_arn)?;
    let tags = context.run(move |store| store.tags(&name)).await?;
    Ok(json!({ "tags": tags }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagLogGroupInput {
    log_group_name: Option<String>,
    #[serde(default)]
    tags: Value,
}

/// The older TagLogGroup (`tags` is a map).
pub async fn tag_log_group(context: &Context, input: TagLogGroupInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    let tags: BTreeMap<String, String> = serde_json::from_value(input.tags)
        .map_err(|e| LogsError::invalid(format!("Invalid tags: {e}")))?;
    context
        .run(move |store| store.update_tags(&name, &tags, &[]))
        .await?;
    Ok(json!({}))
}

/// The older UntagLogGroup (`tags` is a list of keys).
pub async fn untag_log_group(
    context: &Context,
    input: TagLogGroupInput,
) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    let keys: Vec<String> = serde_json::from_value(input.tags)
        .map_err(|e| LogsError::invalid(format!("Invalid tag keys: {e}")))?;
    context
        .run(move |store| store.update_tags(&name, &BTreeMap::new(), &keys))
        .await?;
    Ok(json!({}))
}

pub async fn list_tags_log_group(context: &Context, input: NameInput) -> Result<Value, LogsError> {
    let name = required(input.log_group_name)?;
    let tags = context.run(move |store| store.tags(&name)).await?;
    Ok(json!({ "tags": tags }))
}
