//! `Invoker::invoke_stream` end to end without a sandbox (`Isolation::None`): chunks reach the
//! caller while the function runs, buffered handlers arrive whole, errors and timeouts end the
//! stream with a completion error, and an environment whose caller left still goes back to the
//! pool.

mod common;

use bytes::Bytes;
use common::{Fixture, fixture};
use lambent_control::FunctionRef;
use lambent_invoker::{Completion, InvokeRequest, StreamEvent, StreamingInvocation};
use std::time::{Duration, Instant};

/// Writes `first`, waits until the test's marker file exists (so the test decides when the
/// function goes on: no race on timing), then writes `second`.
const STREAMING: &str = r#"
const fs = require('node:fs');
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType('text/plain');
  stream.write('first');
  if (event.fail) throw new Error('broke mid-stream');
  if (event.hang) await new Promise(() => setTimeout(() => {}, 600000));
  while (event.marker && !fs.existsSync(event.marker)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  stream.write('second');
  stream.end();
});
exports.buffered = async (event) => ({ whole: true });
"#;

async fn create(f: &Fixture, name: &str, handler: &str, timeout: i64) {
    common::create(
        f,
        name,
        "nodejs20.x",
        handler,
        &[("index.js", STREAMING)],
        timeout,
    )
    .await;
}

async fn start(f: &Fixture, name: &str, payload: serde_json::Value) -> StreamingInvocation {
    f.invoker
        .invoke_stream(InvokeRequest {
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
        .expect("invoke_stream")
}

async fn next(invocation: &mut StreamingInvocation) -> StreamEvent {
    tokio::time::timeout(Duration::from_secs(20), invocation.body.next())
        .await
        .expect("an event in time")
        .expect("an event")
}

/// Reads the rest of the stream: the bytes and the completion.
async fn rest(invocation: &mut StreamingInvocation) -> (Vec<u8>, Completion) {
    let mut bytes = Vec::new();
    loop {
        match next(invocation).await {
            StreamEvent::Chunk(chunk) => bytes.extend_from_slice(&chunk),
            StreamEvent::Complete(done) => return (bytes, done),
        }
    }
}

#[tokio::test]
async fn chunks_arrive_while_the_function_runs() {
    let f = fixture().await;
    create(&f, "s", "index.handler", 10).await;
    let marker = f.dir.path().join("go-on");
    let mut invocation = start(&f, "s", serde_json::json!({ "marker": marker })).await;
    assert_eq!(invocation.content_type, "text/plain");
    assert_eq!(invocation.executed_version, "$LATEST");
    // The function is blocked until the marker exists, so this chunk was forwarded mid-run.
    assert_eq!(
        next(&mut invocation).await,
        StreamEvent::Chunk(Bytes::from_static(b"first"))
    );
    std::fs::write(&marker, b"").expect("marker");
    let (bytes, done) = rest(&mut invocation).await;
    assert_eq!(bytes, b"second");
    assert_eq!(done.error, None);
    let tail = done.log_tail.expect("log tail");
    assert!(
        tail.contains(&format!("END RequestId: {}", invocation.request_id)),
        "{tail}"
    );
    assert!(tail.contains("REPORT RequestId:"), "{tail}");
    // The environment served its invocation and is warm again.
    assert_eq!(f.invoker.idle_count("s"), 1);
}

#[tokio::test]
async fn mid_stream_errors_and_timeouts_end_with_an_error() {
    let f = fixture().await;
    create(&f, "e", "index.handler", 1).await;
    let mut failing = start(&f, "e", serde_json::json!({ "fail": true })).await;
    let (bytes, done) = rest(&mut failing).await;
    assert_eq!(bytes, b"first");
    let error = done.error.expect("an error");
    assert_eq!(error.error_code, "Error");
    assert_eq!(error.error_details, "broke mid-stream");

    let mut hanging = start(&f, "e", serde_json::json!({ "hang": true })).await;
    let (bytes, done) = rest(&mut hanging).await;
    assert_eq!(bytes, b"first");
    let error = done.error.expect("an error");
    assert_eq!(error.error_code, "Sandbox.Timedout");
    assert!(
        error
            .error_details
            .contains("Task timed out after 1.00 seconds"),
        "{error:?}"
    );
    assert!(
        done.log_tail
            .unwrap_or_default()
            .contains("Status: timeout")
    );
}

#[tokio::test]
async fn a_buffered_handler_arrives_as_one_chunk() {
    let f = fixture().await;
    create(&f, "b", "index.buffered", 10).await;
    let mut invocation = start(&f, "b", serde_json::json!({})).await;
    assert_eq!(invocation.content_type, "application/json");
    let (bytes, done) = rest(&mut invocation).await;
    assert_eq!(bytes, br#"{"whole":true}"#);
    assert_eq!(done.error, None);
}

#[tokio::test]
async fn a_caller_that_leaves_does_not_keep_the_environment() {
    let f = fixture().await;
    create(&f, "l", "index.handler", 10).await;
    let marker = f.dir.path().join("go-on");
    let mut invocation = start(&f, "l", serde_json::json!({ "marker": marker })).await;
    assert!(matches!(next(&mut invocation).await, StreamEvent::Chunk(_)));
    drop(invocation);
    std::fs::write(&marker, b"").expect("marker");
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.invoker.idle_count("l") == 0 {
        assert!(Instant::now() < deadline, "the environment never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // And it serves the next call.
    let mut again = start(&f, "l", serde_json::json!({})).await;
    let (bytes, done) = rest(&mut again).await;
    assert_eq!(bytes, b"firstsecond");
    assert_eq!(done.error, None);
}
