//! The invoker end to end without a sandbox (`Isolation::None`), so these run anywhere: warm
//! reuse, retirement on change, timeouts, crashes, init errors, and the stored log lines.

mod common;

use bytes::Bytes;
use common::{Fixture, fixture};
use lambent_control::FunctionRef;
use lambent_control::input::UpdateConfigurationInput;
use lambent_invoker::InvokeRequest;

const APP: &str = r#"
import os, sys, time
count = 0
def handler(event, context):
    global count
    count += 1
    print("called", count)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    if event.get("fail"):
        raise ValueError("boom")
    return {"count": count, "env": os.environ.get("GREETING"), "event": event}
"#;

async fn create(f: &Fixture, name: &str, handler: &str, files: &[(&str, &str)], timeout: i64) {
    common::create(f, name, "python3.12", handler, files, timeout).await;
}

async fn invoke(
    f: &Fixture,
    name: &str,
    payload: serde_json::Value,
) -> (serde_json::Value, Option<&'static str>, String) {
    let response = f
        .invoker
        .invoke(InvokeRequest {
            function: FunctionRef {
                name: name.into(),
                qualifier: None,
            },
            payload: Bytes::from(payload.to_string()),
            tail_logs: true,
            client_context: None,
            trace_id: None,
            request_id: None,
        })
        .await
        .expect("invoke");
    let body = serde_json::from_slice(&response.payload).expect("json payload");
    (
        body,
        response.function_error,
        response.log_tail.unwrap_or_default(),
    )
}

#[tokio::test]
async fn warm_environments_are_reused_and_retired_on_change() {
    let f = fixture().await;
    create(&f, "f", "app.handler", &[("app.py", APP)], 3).await;
    let (first, error, tail) = invoke(&f, "f", serde_json::json!({"n": 1})).await;
    assert_eq!(error, None);
    assert_eq!(first["count"], 1);
    assert!(
        tail.contains("INIT_START") && tail.contains("Init Duration:"),
        "{tail}"
    );
    let (second, _, tail) = invoke(&f, "f", serde_json::json!({"n": 2})).await;
    assert_eq!(second["count"], 2, "the warm environment is reused");
    assert!(!tail.contains("Init Duration:"), "{tail}");
    assert_eq!(f.invoker.idle_count("f"), 1);

    let update: UpdateConfigurationInput = serde_json::from_value(serde_json::json!({
        "Environment": { "Variables": { "GREETING": "hi" } }
    }))
    .expect("input");
    let reference = FunctionRef {
        name: "f".into(),
        qualifier: None,
    };
    f.service
        .update_configuration(&reference, update)
        .await
        .expect("update");
    let (third, _, _) = invoke(&f, "f", serde_json::json!({})).await;
    assert_eq!(
        third["count"], 1,
        "a new environment runs the new configuration"
    );
    assert_eq!(third["env"], "hi");
}

#[tokio::test]
async fn failures_have_lambdas_errors_and_environments_are_replaced() {
    let f = fixture().await;
    create(&f, "f", "app.handler", &[("app.py", APP)], 1).await;
    let (handled, error, _) = invoke(&f, "f", serde_json::json!({"fail": true})).await;
    assert_eq!(error, Some("Unhandled"));
    assert_eq!(handled["errorType"], "ValueError");
    assert_eq!(handled["errorMessage"], "boom");

    let (timed_out, error, tail) = invoke(&f, "f", serde_json::json!({"sleep": 3})).await;
    assert_eq!(error, Some("Unhandled"));
    assert_eq!(timed_out["errorType"], "Sandbox.Timedout");
    let message = timed_out["errorMessage"].as_str().expect("message");
    assert!(
        message.ends_with("Error: Task timed out after 1.00 seconds"),
        "{message}"
    );
    assert!(tail.contains("Status: timeout"), "{tail}");

    let (after, _, _) = invoke(&f, "f", serde_json::json!({})).await;
    assert_eq!(after["count"], 1, "a timed-out environment is not reused");

    let (crashed, error, tail) = invoke(&f, "f", serde_json::json!({"crash": true})).await;
    assert_eq!(error, Some("Unhandled"));
    assert_eq!(crashed["errorType"], "Runtime.ExitError");
    assert!(
        crashed["errorMessage"]
            .as_str()
            .is_some_and(|m| m.ends_with("Runtime exited with error: exit status 3")),
        "{crashed}"
    );
    assert!(
        tail.contains("called"),
        "output before the crash is in the log: {tail}"
    );
}

#[tokio::test]
async fn init_errors_are_reported_as_lambda_reports_them() {
    let f = fixture().await;
    create(&f, "missing", "nope.handler", &[("app.py", APP)], 3).await;
    let (body, error, _) = invoke(&f, "missing", serde_json::json!({})).await;
    assert_eq!(error, Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.ImportModuleError");
    create(&f, "nohandler", "app.nope", &[("app.py", APP)], 3).await;
    let (body, _, _) = invoke(&f, "nohandler", serde_json::json!({})).await;
    assert_eq!(body["errorType"], "Runtime.HandlerNotFound");
}

#[tokio::test]
async fn platform_lines_and_output_are_stored_in_the_functions_log_group() {
    let f = fixture().await;
    create(&f, "f", "app.handler", &[("app.py", APP)], 3).await;
    invoke(&f, "f", serde_json::json!({})).await;
    // The writer task stores asynchronously; poll with a deadline rather than sleeping blindly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let messages = loop {
        let events = f
            .logs
            .events("/aws/lambda/f", None, 0, 100)
            .expect("events");
        let messages: Vec<String> = events.iter().map(|e| e.message.clone()).collect();
        if messages.iter().any(|m| m.starts_with("REPORT")) || std::time::Instant::now() > deadline
        {
            break (messages, events);
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (messages, events) = messages;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m.split_whitespace().next().unwrap_or(""))
        .collect();
    let position = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or(usize::MAX);
    assert!(position("INIT_START") < position("START"), "{messages:?}");
    assert!(position("START") < position("called"), "{messages:?}");
    assert!(position("called") < position("END"), "{messages:?}");
    assert!(position("END") < position("REPORT"), "{messages:?}");
    let stream = &events[0].stream;
    let pattern = regex_like_stream(stream);
    assert!(pattern, "log stream name {stream}");
}

/// `YYYY/MM/DD/[$LATEST]<32 lowercase hex>`
fn regex_like_stream(stream: &str) -> bool {
    let Some((date, rest)) = stream.split_once("/[$LATEST]") else {
        return false;
    };
    date.len() == 10
        && rest.len() == 32
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
