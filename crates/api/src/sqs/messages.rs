//! Message operations: send (single and batch), receive, delete, change visibility.

use super::{Context, SqsError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambent_queues::{
    MessageAttributeValue, MessageAttributes, ReceiveRequest, ReceivedMessage, SendRequest,
    md5_of_attributes,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Most entries in one batch request.
const MAX_BATCH: usize = 10;
/// The most bytes all entries of a SendMessageBatch may add up to.
const MAX_BATCH_BYTES: usize = 1_048_576;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireAttribute {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
    #[serde(default)]
    string_list_values: Vec<String>,
    #[serde(default)]
    binary_list_values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendInput {
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: SendEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    id: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, WireAttribute>,
    #[serde(default)]
    message_system_attributes: BTreeMap<String, WireAttribute>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

fn attribute(name: &str, wire: WireAttribute) -> Result<MessageAttributeValue, SqsError> {
    if !wire.string_list_values.is_empty() || !wire.binary_list_values.is_empty() {
        return Err(SqsError::invalid(format!(
            "Message attribute list values in SendMessage operation are not supported. (attribute \
             '{name}')"
        )));
    }
    let binary_value = wire
        .binary_value
        .map(|b| STANDARD.decode(b))
        .transpose()
        .map_err(|_| {
            SqsError::invalid(format!(
                "The message attribute '{name}' is not valid base64."
            ))
        })?;
    Ok(MessageAttributeValue {
        data_type: wire.data_type.unwrap_or_default(),
        string_value: wire.string_value,
        binary_value,
    })
}

/// A request entry as the queue service takes it, plus the system attributes' digest.
fn to_request(
    context: &Context<'_>,
    entry: SendEntry,
) -> Result<(SendRequest, Option<String>), SqsError> {
    let body = entry
        .message_body
        .ok_or_else(|| SqsError::missing("MessageBody"))?;
    let mut attributes = MessageAttributes::new();
    for (name, wire) in entry.message_attributes {
        let value = attribute(&name, wire)?;
        attributes.insert(name, value);
    }
    let mut system = MessageAttributes::new();
    for (name, wire) in entry.message_system_attributes {
        if name != "AWSTraceHeader" {
            return Err(SqsError::invalid(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        let value = attribute(&name, wire)?;
        system.insert(name, value);
    }
    let delay_seconds = match entry.delay_seconds {
        Some(d) if !(0..=900).contains(&d) => {
            return Err(SqsError::invalid(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= \
                 0 and <= 900."
            )));
        }
        other => other.map(|d| d as u32),
    };
    let trace_header = system
        .get("AWSTraceHeader")
        .and_then(|v| v.string_value.clone());
    let system_md5 = md5_of_attributes(&system);
    Ok((
        SendRequest {
            body,
            attributes,
            delay_seconds,
            group_id: entry.message_group_id,
            dedup_id: entry.message_deduplication_id,
            sender_id: context.sender_id.clone(),
            trace_header,
        },
        system_md5,
    ))
}

pub async fn send(context: &Context<'_>, input: SendInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let (request, system_md5) = to_request(context, input.entry)?;
    let sent = context.queues.send(&name, request).await?;
    let mut output = Map::new();
    output.insert("MD5OfMessageBody".into(), json!(sent.md5_of_body));
    if let Some(md5) = sent.md5_of_message_attributes {
        output.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    if let Some(md5) = system_md5 {
        output.insert("MD5OfMessageSystemAttributes".into(), json!(md5));
    }
    output.insert("MessageId".into(), json!(sent.message_id));
    if let Some(sequence) = sent.sequence_number {
        output.insert("SequenceNumber".into(), json!(sequence));
    }
    Ok(Value::Object(output))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchInput<T> {
    queue_url: Option<String>,
    entries: Option<Vec<T>>,
}

/// The checks every batch operation applies to its entry ids.
fn check_batch<'a>(
    operation_entry: &str,
    ids: impl Iterator<Item = Option<&'a String>>,
) -> Result<Vec<String>, SqsError> {
    let ids: Vec<String> = ids
        .map(|id| id.cloned().ok_or_else(|| SqsError::missing("Id")))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(SqsError::batch(
            "EmptyBatchRequest",
            format!("There should be at least one {operation_entry} in the request."),
        ));
    }
    if ids.len() > MAX_BATCH {
        return Err(SqsError::batch(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for id in &ids {
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SqsError::batch(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and \
                 underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(SqsError::batch(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(ids)
}

fn failed(id: &str, error: SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": !error.status.is_server_error(),
        "Code": error.code,
        "Message": error.message,
    })
}

fn batch_output(successful: Vec<Value>, failures: Vec<Value>) -> Value {
    json!({ "Successful": successful, "Failed": failures })
}

pub async fn send_batch(
    context: &Context<'_>,
    input: BatchInput<SendEntry>,
) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let entries = input.entries.unwrap_or_default();
    let ids = check_batch(
        "SendMessageBatchRequestEntry",
        entries.iter().map(|e| e.id.as_ref()),
    )?;
    let total: usize = entries
        .iter()
        .map(|e| {
            e.message_body.as_ref().map_or(0, String::len)
                + e.message_attributes
                    .iter()
                    .map(|(k, v)| {
                        k.len()
                            + v.data_type.as_ref().map_or(0, String::len)
                            + v.string_value.as_ref().map_or(0, String::len)
                            + v.binary_value.as_ref().map_or(0, |b| b.len() * 3 / 4)
                    })
                    .sum::<usize>()
        })
        .sum();
    if total > MAX_BATCH_BYTES {
        return Err(SqsError::batch(
            "BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent \
                 {total} bytes."
            ),
        ));
    }
    let mut failures = Vec::new();
    let mut requests = Vec::new();
    let mut accepted = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        match to_request(context, entry) {
            Ok(request) => {
                accepted.push((id, request.1));
                requests.push(request.0);
            }
            Err(e) => failures.push(failed(&id, e)),
        }
    }
    let results = if requests.is_empty() {
        Vec::new()
    } else {
        context.queues.send_batch(&name, requests).await?
    };
    let mut successful = Vec::new();
    for ((id, system_md5), result) in accepted.into_iter().zip(results) {
        match result {
            Ok(sent) => {
                let mut entry = Map::new();
                entry.insert("Id".into(), json!(id));
                entry.insert("MessageId".into(), json!(sent.message_id));
                entry.insert("MD5OfMessageBody".into(), json!(sent.md5_of_body));
                if let Some(md5) = sent.md5_of_message_attributes {
                    entry.insert("MD5OfMessageAttributes".into(), json!(md5));
                }
                if let Some(md5) = system_md5 {
                    entry.insert("MD5OfMessageSystemAttributes".into(), json!(md5));
                }
                if let Some(sequence) = sent.sequence_number {
                    entry.insert("SequenceNumber".into(), json!(sequence));
                }
                successful.push(Value::Object(entry));
            }
            Err(e) => failures.push(failed(&id, e.into())),
        }
    }
    Ok(batch_output(successful, failures))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
}

fn in_range(
    parameter: &str,
    value: Option<i64>,
    low: i64,
    high: i64,
    reason: &str,
) -> Result<Option<u32>, SqsError> {
    match value {
        Some(v) if !(low..=high).contains(&v) => Err(SqsError::invalid(format!(
            "Value {v} for parameter {parameter} is invalid. Reason: {reason}"
        ))),
        other => Ok(other.map(|v| v as u32)),
    }
}

pub async fn receive(context: &Context<'_>, input: ReceiveInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let max = in_range(
        "MaxNumberOfMessages",
        input.max_number_of_messages,
        1,
        10,
        "Must be between 1 and 10, if provided.",
    )?;
    let wait = in_range(
        "WaitTimeSeconds",
        input.wait_time_seconds,
        0,
        20,
        "Must be >= 0 and <= 20, if provided.",
    )?;
    let visibility = in_range(
        "VisibilityTimeout",
        input.visibility_timeout,
        0,
        43_200,
        "Must be >= 0 and <= 43200, if provided.",
    )?;
    let request = ReceiveRequest {
        max_messages: max.unwrap_or(1) as usize,
        wait: wait.map(|w| Duration::from_secs(w.into())),
        visibility_timeout: visibility,
    };
    let messages = context.queues.receive(&name, &request).await?;
    if messages.is_empty() {
        return Ok(json!({}));
    }
    let system: Vec<&String> = input
        .attribute_names
        .iter()
        .chain(&input.message_system_attribute_names)
        .collect();
    let rendered: Vec<Value> = messages
        .into_iter()
        .map(|m| render(m, &system, &input.message_attribute_names))
        .collect();
    Ok(json!({ "Messages": rendered }))
}

/// A received message with the system and message attributes the caller asked for.
fn render(message: ReceivedMessage, system: &[&String], wanted: &[String]) -> Value {
    let mut output = Map::new();
    output.insert("MessageId".into(), json!(message.message_id));
    output.insert("ReceiptHandle".into(), json!(message.receipt_handle));
    output.insert("MD5OfBody".into(), json!(message.md5_of_body));
    output.insert("Body".into(), json!(message.body));
    let all = system.iter().any(|n| n.as_str() == "All");
    let attributes: BTreeMap<&String, &String> = message
        .attributes
        .iter()
        .filter(|(k, _)| all || system.contains(k))
        .collect();
    if !attributes.is_empty() {
        output.insert("Attributes".into(), json!(attributes));
    }
    let selected: MessageAttributes = message
        .message_attributes
        .into_iter()
        .filter(|(k, _)| {
            wanted.iter().any(|w| {
                w == "All"
                    || w == ".*"
                    || w == k
                    || w.strip_suffix(".*")
                        .is_some_and(|prefix| k.starts_with(prefix))
            })
        })
        .collect();
    if let Some(md5) = md5_of_attributes(&selected) {
        output.insert("MD5OfMessageAttributes".into(), json!(md5));
        let wire: Map<String, Value> = selected
            .into_iter()
            .map(|(k, v)| {
                let mut attribute = Map::new();
                if let Some(text) = v.string_value {
                    attribute.insert("StringValue".into(), json!(text));
                }
                if let Some(bytes) = v.binary_value {
                    attribute.insert("BinaryValue".into(), json!(STANDARD.encode(bytes)));
                }
                attribute.insert("DataType".into(), json!(v.data_type));
                (k, Value::Object(attribute))
            })
            .collect();
        output.insert("MessageAttributes".into(), Value::Object(wire));
    }
    Value::Object(output)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteInput {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
}

pub async fn delete(context: &Context<'_>, input: DeleteInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let handle = input
        .receipt_handle
        .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
    context.queues.delete_message(&name, &handle).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
}

pub async fn delete_batch(
    context: &Context<'_>,
    input: BatchInput<DeleteEntry>,
) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let entries = input.entries.unwrap_or_default();
    let ids = check_batch(
        "DeleteMessageBatchRequestEntry",
        entries.iter().map(|e| e.id.as_ref()),
    )?;
    let mut successful = Vec::new();
    let mut failures = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        let outcome = match entry.receipt_handle {
            None => Err(SqsError::missing("ReceiptHandle")),
            Some(handle) => context
                .queues
                .delete_message(&name, &handle)
                .await
                .map_err(SqsError::from),
        };
        match outcome {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e) if matches!(e.shape, "QueueDoesNotExist") => return Err(e),
            Err(e) => failures.push(failed(&id, e)),
        }
    }
    Ok(batch_output(successful, failures))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VisibilityInput {
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: VisibilityEntry,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VisibilityEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

fn change_one(context: &Context<'_>, name: &str, entry: VisibilityEntry) -> Result<(), SqsError> {
    let handle = entry
        .receipt_handle
        .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
    let timeout = entry
        .visibility_timeout
        .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
    let timeout = in_range(
        "VisibilityTimeout",
        Some(timeout),
        0,
        43_200,
        "Must be between 0 and 43200, if provided.",
    )?
    .unwrap_or_default();
    context.queues.change_visibility(name, &handle, timeout)?;
    Ok(())
}

pub fn change_visibility(context: &Context<'_>, input: VisibilityInput) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    change_one(context, &name, input.entry)?;
    Ok(json!({}))
}

pub fn change_visibility_batch(
    context: &Context<'_>,
    input: BatchInput<VisibilityEntry>,
) -> Result<Value, SqsError> {
    let name = context.queue_name(input.queue_url.as_deref())?;
    let entries = input.entries.unwrap_or_default();
    let ids = check_batch(
        "ChangeMessageVisibilityBatchRequestEntry",
        entries.iter().map(|e| e.id.as_ref()),
    )?;
    let mut successful = Vec::new();
    let mut failures = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        match change_one(context, &name, entry) {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e) if matches!(e.shape, "QueueDoesNotExist") => return Err(e),
            Err(e) => failures.push(failed(&id, e)),
        }
    }
    Ok(batch_output(successful, failures))
}
