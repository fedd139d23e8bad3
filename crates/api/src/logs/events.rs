//! Streams and events: DescribeLogStreams, GetLogEvents, FilterLogEvents, and CreateLogStream /
//! PutLogEvents for clients that write their own logs.
//!
//! Positions in the store are `(timestamp, eventId)`; every token is one such position, so a
//! token stays valid while events are added and `eventId` is stable across calls (what
//! `aws logs tail --follow` relies on).

use super::{Context, LogsError, check_limit, group_name};
use lambent_telemetry::{EventQuery, FilterPattern, LogBatch, LogEvent, StoredEvent};
use serde::Deserialize;
use serde_json::{Value, json};

/// GetLogEvents returns at most 1 MB, counting 26 bytes of overhead per event as AWS does.
const MAX_RESPONSE_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
/// FilterLogEvents reads this many events per store query ...
const FILTER_CHUNK: usize = 1_000;
/// ... and stops after this many, returning a `nextToken` to go on (as AWS does for long scans).
const FILTER_SCAN_LIMIT: usize = 100_000;

fn encode(prefix: &str, (ts, id): (i64, i64)) -> String {
    format!("{prefix}{ts}:{id}")
}

fn decode(token: &str) -> Option<(i64, i64)> {
    let (ts, id) = token.split_once(':')?;
    Some((ts.parse().ok()?, id.parse().ok()?))
}

fn invalid_token() -> LogsError {
    LogsError::invalid("The specified nextToken is invalid.")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeStreamsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub async fn describe_streams(
    context: &Context,
    input: DescribeStreamsInput,
) -> Result<Value, LogsError> {
    let group = group_name(context, input.log_group_name, input.log_group_identifier)?;
    let limit = check_limit(input.limit, 50)?;
    let by_time = match input.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy \
                 constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if by_time && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let offset: usize = match &input.next_token {
        Some(token) => token.parse().map_err(|_| invalid_token())?,
        None => 0,
    };
    let lookup = group.clone();
    let mut streams = context.run(move |store| store.streams(&lookup)).await?;
    if let Some(prefix) = &input.log_stream_name_prefix {
        streams.retain(|s| s.name.starts_with(prefix.as_str()));
    }
    if by_time {
        streams.sort_by(|a, b| (a.last_event_ms, &a.name).cmp(&(b.last_event_ms, &b.name)));
    }
    if input.descending {
        streams.reverse();
    }
    let page: Vec<Value> = streams
        .iter()
        .skip(offset)
        .take(limit)
        .map(|s| {
            let mut v = json!({
                "logStreamName": s.name,
                "creationTime": s.creation_ms,
                "uploadSequenceToken": "1",
                "arn": format!("{}:log-stream:{}", context.group_arn(&group), s.name),
                "storedBytes": 0,
            });
            if let (Some(first), Some(last), Some(ingested)) =
                (s.first_event_ms, s.last_event_ms, s.last_ingestion_ms)
            {
                v["firstEventTimestamp"] = json!(first);
                v["lastEventTimestamp"] = json!(last);
                v["lastIngestionTime"] = json!(ingested);
            }
            v
        })
        .collect();
    let mut out = json!({ "logStreams": page });
    if offset + limit < streams.len() {
        out["nextToken"] = json!((offset + limit).to_string());
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

/// Which way a GetLogEvents call reads.
enum Direction {
    /// Events after a position, oldest first.
    Forward((i64, i64)),
    /// Events up to a position, the newest `limit` of them.
    Backward((i64, i64)),
    /// No token: from the start of the range or its end (`startFromHead`).
    Start { from_head: bool },
}

pub async fn get(context: &Context, input: GetInput) -> Result<Value, LogsError> {
    let group = group_name(context, input.log_group_name, input.log_group_identifier)?;
    let stream = input.log_stream_name.ok_or_else(|| {
        LogsError::invalid(
            "1 validation error detected: Value null at 'logStreamName' failed to satisfy \
             constraint: Member must not be null",
        )
    })?;
    let limit = check_limit(input.limit, 10_000)?;
    let direction = match input.next_token.as_deref() {
        Some(token) => {
            if let Some(rest) = token.strip_prefix("f/") {
                Direction::Forward(decode(rest).ok_or_else(invalid_token)?)
            } else if let Some(rest) = token.strip_prefix("b/") {
                Direction::Backward(decode(rest).ok_or_else(invalid_token)?)
            } else {
                return Err(invalid_token());
            }
        }
        None => Direction::Start {
            from_head: input.start_from_head.unwrap_or(false),
        },
    };
    let (start, end) = (input.start_time, input.end_time);
    let (after, up_to, descending) = match direction {
        Direction::Forward(p) => (Some(p), None, false),
        Direction::Backward(p) => (None, Some(p), true),
        Direction::Start { from_head } => (None, None, !from_head),
    };
    let (g, s) = (group.clone(), stream.clone());
    let mut events = context
        .run(move |store| {
            if !store.stream_exists(&g, &s)? {
                return Err(lambent_telemetry::LogStoreError::StreamNotFound);
            }
            let one = [s];
            store.query(&EventQuery {
                group: &g,
                streams: &one,
                start_ms: start,
                end_ms: end,
                after,
                up_to,
                descending,
                limit,
                ..Default::default()
            })
        })
        .await?;
    // Keep within 1 MB, dropping from the far end of the read.
    let mut bytes = 0;
    let keep = events
        .iter()
        .take_while(|e| {
            bytes += e.message.len() + EVENT_OVERHEAD;
            bytes <= MAX_RESPONSE_BYTES
        })
        .count()
        .max(1.min(events.len()));
    events.truncate(keep);
    if descending {
        events.reverse();
    }
    // Tokens: forward = after the newest returned; backward = before the oldest returned. With
    // nothing returned both stay where the request was, so paginators see the same token and
    // stop.
    let here = after.or(up_to).unwrap_or((i64::MIN, i64::MIN));
    let (forward, backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (
            (last.timestamp_ms, last.event_id),
            (first.timestamp_ms, first.event_id - 1),
        ),
        _ => (here, here),
    };
    let rendered: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "timestamp": e.timestamp_ms,
                "message": e.message,
                "ingestionTime": e.ingestion_time_ms,
            })
        })
        .collect();
    Ok(json!({
        "events": rendered,
        "nextForwardToken": encode("f/", forward),
        "nextBackwardToken": encode("b/", backward),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    #[serde(default)]
    log_stream_names: Vec<String>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn render_filtered(e: &StoredEvent) -> Value {
    json!({
        "logStreamName": e.stream,
        "timestamp": e.timestamp_ms,
        "message": e.message,
        "ingestionTime": e.ingestion_time_ms,
        "eventId": e.event_id.to_string(),
    })
}

pub async fn filter(context: &Context, input: FilterInput) -> Result<Value, LogsError> {
    let group = group_name(context, input.log_group_name, input.log_group_identifier)?;
    if !input.log_stream_names.is_empty() && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "You cannot specify both LogStreamNames and LogStreamNamePrefix",
        ));
    }
    let limit = check_limit(input.limit, 10_000)?;
    let pattern = FilterPattern::parse(input.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| LogsError::invalid(e.to_string()))?;
    let mut position = match input.next_token.as_deref() {
        Some(token) => Some(decode(token).ok_or_else(invalid_token)?),
        None => None,
    };
    let names = input.log_stream_names;
    let prefix = input.log_stream_name_prefix;
    let (start, end) = (input.start_time, input.end_time);
    let (matched, position, exhausted) = context
        .run(move |store| {
            if !names.is_empty() {
                for name in &names {
                    if !store.stream_exists(&group, name)? {
                        return Err(lambent_telemetry::LogStoreError::StreamNotFound);
                    }
                }
            }
            let mut matched = Vec::new();
            let mut scanned = 0;
            loop {
                let chunk = store.query(&EventQuery {
                    group: &group,
                    streams: &names,
                    stream_prefix: prefix.as_deref(),
                    start_ms: start,
                    end_ms: end,
                    after: position,
                    limit: FILTER_CHUNK,
                    ..Default::default()
                })?;
                let read_all = chunk.len() < FILTER_CHUNK;
                for event in chunk {
                    scanned += 1;
                    position = Some((event.timestamp_ms, event.event_id));
                    if pattern.matches(&event.message) {
                        matched.push(event);
                        if matched.len() == limit {
                            return Ok((matched, position, false));
                        }
                    }
                }
                if read_all {
                    return Ok((matched, position, true));
                }
                if scanned >= FILTER_SCAN_LIMIT {
                    return Ok((matched, position, false));
                }
            }
        })
        .await?;
    let rendered: Vec<Value> = matched.iter().map(render_filtered).collect();
    let mut out = json!({ "events": rendered, "searchedLogStreams": [] });
    if !exhausted && let Some(p) = position {
        out["nextToken"] = json!(encode("", p));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStreamInput {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

pub async fn create_stream(
    context: &Context,
    input: CreateStreamInput,
) -> Result<Value, LogsError> {
    let (Some(group), Some(stream)) = (input.log_group_name, input.log_stream_name) else {
        return Err(LogsError::invalid(
            "logGroupName and logStreamName are required.",
        ));
    };
    if stream.is_empty() || stream.contains([':', '*']) || stream.len() > 512 {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{stream}' at 'logStreamName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    context
        .run(move |store| store.create_stream(&group, &stream))
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutEvent {
    timestamp: i64,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutInput {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
    #[serde(default)]
    log_events: Vec<PutEvent>,
}

/// PutLogEvents with AWS's acceptance window: events more than 14 days old (or older than the
/// group's retention) or more than 2 hours ahead are rejected and reported by index.
pub async fn put(context: &Context, input: PutInput) -> Result<Value, LogsError> {
    let (Some(group), Some(stream)) = (input.log_group_name, input.log_stream_name) else {
        return Err(LogsError::invalid(
            "logGroupName and logStreamName are required.",
        ));
    };
    if input.log_events.is_empty() || input.log_events.len() > 10_000 {
        return Err(LogsError::invalid(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: \
             Member must have length between 1 and 10000",
        ));
    }
    if input
        .log_events
        .windows(2)
        .any(|w| w[1].timestamp < w[0].timestamp)
    {
        return Err(LogsError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let events = input.log_events;
    let info = context
        .run(move |store| {
            if !store.stream_exists(&group, &stream)? {
                return Err(lambent_telemetry::LogStoreError::StreamNotFound);
            }
            let now = store.now_ms();
            let retention = store
                .groups(Some(&group), None, usize::MAX)?
                .into_iter()
                .find(|g| g.name == group)
                .and_then(|g| g.retention_days);
            let mut oldest = now - 14 * 86_400_000;
            if let Some(days) = retention {
                oldest = oldest.max(now - days * 86_400_000);
            }
            let newest = now + 2 * 3_600_000;
            let too_old = events.iter().take_while(|e| e.timestamp < oldest).count();
            let too_new_from = events
                .iter()
                .position(|e| e.timestamp > newest)
                .unwrap_or(events.len());
            let accepted: Vec<LogEvent> = events[too_old..too_new_from.max(too_old)]
                .iter()
                .map(|e| LogEvent {
                    timestamp_ms: e.timestamp,
                    message: e.message.clone(),
                })
                .collect();
            if !accepted.is_empty() {
                store.write(&[LogBatch {
                    group,
                    stream,
                    events: accepted,
                }])?;
            }
            let mut info = serde_json::Map::new();
            if too_old > 0 {
                info.insert("tooOldLogEventEndIndex".into(), json!(too_old));
            }
            if too_new_from < events.len() {
                info.insert("tooNewLogEventStartIndex".into(), json!(too_new_from));
            }
            Ok(info)
        })
        .await?;
    let mut out = json!({ "nextSequenceToken": "1" });
    if !info.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(info);
    }
    Ok(out)
}
