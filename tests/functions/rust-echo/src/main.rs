//! Echoes the event with what the runtime client learned from the platform; `{"fail": "msg"}`
//! makes the handler return an error (a handled function error).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.to_string().into());
    }
    Ok(json!({
        "echo": payload,
        "request_id": context.request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.env_config.function_name,
        "memory": context.env_config.memory,
        "version": context.env_config.version,
        "log_stream": context.env_config.log_stream,
        "log_group": context.env_config.log_group,
        "deadline_ms": context.deadline,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
