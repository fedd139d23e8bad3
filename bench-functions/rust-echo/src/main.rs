//! Benchmark function: echoes its event; with `{"sleep_ms": N}` it sleeps N ms and returns its
//! environment id (the log stream name, unique per execution environment).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        let env = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default();
        return Ok(json!({ "env": env, "request_id": context.request_id }));
    }
    Ok(payload)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
