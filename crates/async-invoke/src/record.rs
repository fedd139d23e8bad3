//! The documents a finished event produces: Lambda's destination record (for OnSuccess and
//! OnFailure destinations) and the dead-letter message (the original event plus attributes).

use crate::event::{EventRow, Outcome};
use crate::ports::MessageAttribute;
use chrono::{TimeZone, Utc};
use serde_json::{Map, Value, json};

/// Lambda's invocation record, member for member:
/// `{version, timestamp, requestContext{requestId, functionArn, condition, approximateInvokeCount},
/// requestPayload, responseContext{statusCode, executedVersion, functionError?},
/// responsePayload}`.
pub fn destination_record(event: &EventRow, outcome: &Outcome) -> Value {
    let progress = &event.progress;
    let mut response_context = Map::new();
    let mut record = Map::new();
    record.insert("version".into(), json!("1.0"));
    record.insert("timestamp".into(), json!(timestamp(outcome.decided_ms)));
    record.insert(
        "requestContext".into(),
        json!({
            "requestId": event.request_id,
            "functionArn": outcome.function_arn,
            "condition": outcome.condition.as_str(),
            "approximateInvokeCount": progress.attempts(),
        }),
    );
    record.insert("requestPayload".into(), as_json(&event.payload));
    match &progress.last {
        Some(last) => {
            response_context.insert("statusCode".into(), json!(last.status_code));
            response_context.insert("executedVersion".into(), json!(last.executed_version));
            if let Some(error) = &last.function_error {
                response_context.insert("functionError".into(), json!(error));
            }
            record.insert("responseContext".into(), Value::Object(response_context));
            if last.status_code == 200 {
                record.insert("responsePayload".into(), as_json(last.payload.as_bytes()));
            }
        }
        None => {
            response_context.insert("statusCode".into(), json!(429));
            response_context.insert("executedVersion".into(), json!(event.version));
            record.insert("responseContext".into(), Value::Object(response_context));
        }
    }
    Value::Object(record)
}

/// What the dead-letter queue receives: the original event as the body, with `RequestID`,
/// `ErrorCode` (the status code, a Number as Lambda sends it) and `ErrorMessage`.
pub fn dead_letter_message(event: &EventRow) -> (String, Vec<MessageAttribute>) {
    let body = String::from_utf8_lossy(&event.payload).into_owned();
    let (code, message) = match &event.progress.last {
        Some(last) => (last.status_code, error_message(&last.payload)),
        None => (429, "Rate Exceeded.".to_owned()),
    };
    let attributes = vec![
        MessageAttribute::string("RequestID", &event.request_id),
        MessageAttribute::number("ErrorCode", &code.to_string()),
        MessageAttribute::string("ErrorMessage", &message),
    ];
    (body, attributes)
}

/// The `errorMessage` of an error document, or the document itself when it has none.
fn error_message(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| payload.to_owned())
}

/// A payload as JSON when it is JSON (it nearly always is), else as a string.
fn as_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// ISO 8601 in UTC with milliseconds and `Z`, as Lambda writes the record's timestamp.
fn timestamp(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Condition, Progress, Response};
    use bytes::Bytes;

    fn failed_event() -> EventRow {
        EventRow {
            id: 1,
            request_id: "r-1".into(),
            function: "f".into(),
            qualifier: None,
            version: "$LATEST".into(),
            payload: Bytes::from_static(br#"{"raise_error": 1}"#),
            enqueued_ms: 0,
            progress: Progress {
                invocations: 3,
                function_errors: 3,
                last: Some(Response {
                    status_code: 200,
                    executed_version: "$LATEST".into(),
                    function_error: Some("Unhandled".into()),
                    payload: r#"{"errorMessage":"boom","errorType":"Exception"}"#.into(),
                }),
                ..Progress::default()
            },
        }
    }

    #[test]
    fn failure_record_has_every_member_lambda_sends() {
        let event = failed_event();
        let outcome = Outcome {
            condition: Condition::RetriesExhausted,
            decided_ms: 1_714_558_272_345,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
            targets: vec![],
        };
        let record = destination_record(&event, &outcome);
        assert_eq!(
            record,
            json!({
                "version": "1.0",
                "timestamp": "2024-05-01T10:11:12.345Z",
                "requestContext": {
                    "requestId": "r-1",
                    "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3
                },
                "requestPayload": {"raise_error": 1},
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "responsePayload": {"errorMessage": "boom", "errorType": "Exception"}
            })
        );
        let keys: Vec<&String> = record
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            vec![
                "version",
                "timestamp",
                "requestContext",
                "requestPayload",
                "responseContext",
                "responsePayload"
            ]
        );
    }

    #[test]
    fn dead_letter_message_carries_the_original_event_and_lambdas_attributes() {
        let (body, attributes) = dead_letter_message(&failed_event());
        assert_eq!(body, r#"{"raise_error": 1}"#);
        assert_eq!(
            attributes,
            vec![
                MessageAttribute::string("RequestID", "r-1"),
                MessageAttribute::number("ErrorCode", "200"),
                MessageAttribute::string("ErrorMessage", "boom"),
            ]
        );
    }
}
