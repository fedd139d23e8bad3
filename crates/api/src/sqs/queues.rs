//! Queue operations: create, look up, list, delete, attributes, purge, tags.

use super::{Context, SqsError};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// ListQueues and ListDeadLetterSourceQueues return at most this many URLs per page.
const MAX_RESULTS: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    queue_name: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags")]
    tags: BTreeMap<String, String>,
}

pub async fn create(context: &Context<'_>, input: CreateQueueInput) -> Result<Value, SqsError> {
    let name = input
        .queue_name
        .ok_or_else(|| SqsError::missing("QueueName"))?;
    context
        .queues
        .create_queue(&name, &input.attributes, &input.tags)
        .await?;
    Ok(json!({ "QueueUrl": context.queue_url(&name) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

pub fn get_url(context: &Context<'_>, input: GetQueueUrlInput) -> Result<Value, SqsError> {
    let name = input
        .queue_name
        .ok_or_else(|| SqsError::missing("QueueName"))?;
    if input
        .owner
        .is_some_and(|owner| owner != context.queues.account_id())
        || !context.queues.exists(&name)
    {
        return Err(lambent_queues::QueueError::QueueDoesNotExist.into());
    }
    Ok(json!({ "QueueUrl": context.queue_url(&name) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list(context: &Context<'_>, input: ListQueuesInput) -> Result<Value, SqsError> {
    let names = context
        .queues
        .list_queues(input.queue_name_prefix.as_deref().unwrap_or(""));
    page(
        context,
        names,
        input.next_token,
        input.max_results,
        "QueueUrls",
    )
}

/// One page of queue URLs. The token is the last name of the previous page, so a page stays
/// correct when queues are created or deleted between calls.
fn page(
    context: &Context<'_>,
    names: Vec<String>,
    token: Option<String>,
    max_results: Option<i64>,
    key: &str,
) -> Result<Value, SqsError> {
    if let Some(max) = max_results
        && !(1..=MAX_RESULTS as i64).contains(&max)
    {
        return Err(SqsError::invalid(format!(
            "Value {max} for parameter MaxResults is invalid. Reason: MaxResults must be an \
             integer between 1 and 1000."
        )));
    }
    let after = match token {
        Some(token) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(&token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SqsError::invalid("Invalid NextToken value."))?,
        ),
        None => None,
    };
    let remaining: Vec<String> = names
        .into_iter()
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .collect();
    let limit = max_results.map_or(MAX_RESULTS, |m| m as usize);
    let mut output = serde_json::Map::new();
    let shown = &remaining[..remaining.len().min(limit)];
    if !shown.is_empty() {
        let urls: Vec<String> = shown.iter().map(|n| context.queue_url(n)).collect();
        output.insert(key.to_owned(), json!(urls));
    }
    // SQS pages only when the caller asked for pages (MaxResults).
    if max_results.is_some()
        && remaining.len() > shown.len()
        && let Some(last) = shown.last()
    {
        let token = base64::engine::general_purpose::STANDARD.encode(last.as_bytes());
        output.insert("NextToken".into(), json!(token));
    }
    Ok(Value::Object(output))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    queue_url: Option<String>,
}

pub async fn delete(context: &Context<'_>, input: QueueUrlInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    context.queues.delete_queue(&name).await?;
    Ok(json!({}))
}

pub async fn purge(context: &Context<'_>, input: QueueUrlInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    context.queues.purge(&name).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetAttributesInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
}

pub fn get_attributes(context: &Context<'_>, input: GetAttributesInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let attributes = context
        .queues
        .get_attributes(&name, &input.attribute_names)?;
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attributes }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetAttributesInput {
    queue_url: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

pub async fn set_attributes(
    context: &Context<'_>,
    input: SetAttributesInput,
) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let attributes = input
        .attributes
        .ok_or_else(|| SqsError::missing("Attributes"))?;
    context.queues.set_attributes(&name, &attributes).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    queue_url: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag(context: &Context<'_>, input: TagInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let tags = input.tags.ok_or_else(|| SqsError::missing("Tags"))?;
    context.queues.tag_queue(&name, &tags).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagInput {
    queue_url: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn untag(context: &Context<'_>, input: UntagInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let keys = input.tag_keys.ok_or_else(|| SqsError::missing("TagKeys"))?;
    context.queues.untag_queue(&name, &keys).await?;
    Ok(json!({}))
}

pub fn list_tags(context: &Context<'_>, input: QueueUrlInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let tags = context.queues.list_tags(&name)?;
    if tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Tags": tags }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterSourcesInput {
    queue_url: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn dead_letter_sources(
    context: &Context<'_>,
    input: DeadLetterSourcesInput,
) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    if !context.queues.exists(&name) {
        return Err(lambent_queues::QueueError::QueueDoesNotExist.into());
    }
    let arn = context.queues.queue_arn(&name);
    let sources = context
        .queues
        .list_queues("")
        .into_iter()
        .filter(|source| {
            context
                .queues
                .attributes(source)
                .ok()
                .and_then(|a| a.redrive_policy())
                .is_some_and(|p| p.dead_letter_target_arn == arn)
        })
        .collect();
    let mut output = page(
        context,
        sources,
        input.next_token,
        input.max_results,
        "queueUrls",
    )?;
    if let Value::Object(map) = &mut output {
        // The model requires the member even when empty.
        map.entry("queueUrls").or_insert_with(|| json!([]));
    }
    Ok(output)
}
