//! The Lambda REST calls the benchmark makes, over the raw client (no SigV4: loopback servers
//! without credentials accept unsigned requests).

use base64::Engine;
use serde_json::{Value, json};

use crate::Result;
use crate::functions::Rt;
use crate::http::{Conn, Response};

pub const INVOKE_HEADERS: &[(&str, &str)] = &[("content-type", "application/json")];

pub fn invoke_path(name: &str) -> String {
    format!("/2015-03-31/functions/{name}/invocations")
}

/// The CreateFunction request body (built ahead of time so that S7 does not time base64).
pub fn create_body(name: &str, rt: Rt, zip: &[u8], memory_mb: u32) -> Vec<u8> {
    json!({
        "FunctionName": name,
        "Runtime": rt.id(),
        "Role": "arn:aws:iam::000000000000:role/lambent-bench",
        "Handler": rt.handler(),
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
        "MemorySize": memory_mb,
        "Timeout": 60,
    })
    .to_string()
    .into_bytes()
}

pub async fn create_with_body(conn: &mut Conn, body: &[u8]) -> Result<Response> {
    let r = conn
        .request("POST", "/2015-03-31/functions", INVOKE_HEADERS, body)
        .await?;
    if r.status != 201 {
        return Err(format!("CreateFunction: {} {}", r.status, r.text()).into());
    }
    Ok(r)
}

pub async fn create(conn: &mut Conn, name: &str, rt: Rt, zip: &[u8], memory_mb: u32) -> Result<()> {
    // A leftover from an interrupted run would make CreateFunction fail.
    let _ = delete(conn, name).await;
    create_with_body(conn, &create_body(name, rt, zip, memory_mb)).await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, name: &str) -> Result<()> {
    let r = conn
        .request("DELETE", &format!("/2015-03-31/functions/{name}"), &[], b"")
        .await?;
    if !r.ok() {
        return Err(format!("DeleteFunction: {} {}", r.status, r.text()).into());
    }
    Ok(())
}

/// UpdateFunctionConfiguration with environment variables: a new configuration, so the next
/// invoke needs a new environment.
pub async fn set_env(conn: &mut Conn, name: &str, key: &str, value: &str) -> Result<()> {
    let body = json!({ "Environment": { "Variables": { key: value } } }).to_string();
    let r = conn
        .request(
            "PUT",
            &format!("/2015-03-31/functions/{name}/configuration"),
            INVOKE_HEADERS,
            body.as_bytes(),
        )
        .await?;
    if !r.ok() {
        return Err(format!("UpdateFunctionConfiguration: {} {}", r.status, r.text()).into());
    }
    Ok(())
}

/// How many runtimes of `runtime` the server keeps pre-started right now (`/_lambent/scaling`).
pub async fn prestarted(conn: &mut Conn, runtime: &str) -> Result<u64> {
    let r = conn.request("GET", "/_lambent/scaling", &[], b"").await?;
    if !r.ok() {
        return Err(format!("GET /_lambent/scaling: {} {}", r.status, r.text()).into());
    }
    let view: serde_json::Value = serde_json::from_slice(&r.body)?;
    Ok(view["PrestartedRuntimes"][runtime].as_u64().unwrap_or(0))
}

/// PutFunctionConcurrency; `Err` carries the server's answer when it is not supported.
pub async fn put_concurrency(conn: &mut Conn, name: &str, n: u32) -> Result<()> {
    let body = json!({ "ReservedConcurrentExecutions": n }).to_string();
    let r = conn
        .request(
            "PUT",
            &format!("/2017-10-31/functions/{name}/concurrency"),
            INVOKE_HEADERS,
            body.as_bytes(),
        )
        .await?;
    if !r.ok() {
        let message = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("Message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| r.text());
        return Err(format!("PutFunctionConcurrency answered {}: {message}", r.status).into());
    }
    Ok(())
}

/// Synchronous invoke; with `tail`, the response carries the log tail (X-Amz-Log-Result).
pub async fn invoke(conn: &mut Conn, name: &str, payload: &[u8], tail: bool) -> Result<Response> {
    let headers: &[(&str, &str)] = if tail {
        &[
            ("content-type", "application/json"),
            ("x-amz-log-type", "Tail"),
        ]
    } else {
        INVOKE_HEADERS
    };
    Ok(conn
        .request("POST", &invoke_path(name), headers, payload)
        .await?)
}

/// The decoded log tail of an invoke response.
pub fn log_tail(r: &Response) -> String {
    r.header("x-amz-log-result")
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A field of the REPORT line in milliseconds ("Duration", "Init Duration", ...).
pub fn report_field(tail: &str, field: &str) -> Option<f64> {
    let line = tail.lines().find(|l| l.starts_with("REPORT "))?;
    line.split('\t').map(str::trim).find_map(|part| {
        let rest = part
            .strip_prefix("REPORT ")
            .unwrap_or(part)
            .strip_prefix(field)?
            .strip_prefix(':')?;
        rest.trim().trim_end_matches("ms").trim().parse().ok()
    })
}

/// Headers of an asynchronous Invoke (`InvocationType: Event`, answered 202).
pub const EVENT_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("x-amz-invocation-type", "Event"),
];

/// Headers of the SQS JSON protocol's SendMessage (`POST /`).
pub const SEND_MESSAGE_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/x-amz-json-1.0"),
    ("x-amz-target", "AmazonSQS.SendMessage"),
];

/// PutFunctionEventInvokeConfig on the unqualified function.
pub async fn put_event_invoke_config(conn: &mut Conn, name: &str, config: &Value) -> Result<()> {
    let r = conn
        .request(
            "PUT",
            &format!("/2019-09-25/functions/{name}/event-invoke-config"),
            INVOKE_HEADERS,
            config.to_string().as_bytes(),
        )
        .await?;
    if !r.ok() {
        return Err(format!("PutFunctionEventInvokeConfig: {} {}", r.status, r.text()).into());
    }
    Ok(())
}

/// One SQS JSON-protocol call (`X-Amz-Target: AmazonSQS.<operation>`); its decoded answer.
pub async fn sqs(conn: &mut Conn, operation: &str, input: &Value) -> Result<Value> {
    let target = format!("AmazonSQS.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target.as_str()),
    ];
    let r = conn
        .request("POST", "/", &headers, input.to_string().as_bytes())
        .await?;
    if !r.ok() {
        return Err(format!("SQS {operation}: {} {}", r.status, r.text()).into());
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&r.body)?)
}

/// A queue of the built-in SQS service.
#[derive(Debug, Clone)]
pub struct Queue {
    pub url: String,
    pub arn: String,
}

impl Queue {
    /// CreateQueue (idempotent for the same attributes) and its ARN.
    pub async fn create(conn: &mut Conn, name: &str) -> Result<Queue> {
        let created = sqs(conn, "CreateQueue", &json!({ "QueueName": name })).await?;
        let url = created["QueueUrl"]
            .as_str()
            .ok_or("CreateQueue: no QueueUrl")?
            .to_owned();
        let attrs = sqs(
            conn,
            "GetQueueAttributes",
            &json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
        )
        .await?;
        let arn = attrs["Attributes"]["QueueArn"]
            .as_str()
            .ok_or("GetQueueAttributes: no QueueArn")?
            .to_owned();
        Ok(Queue { url, arn })
    }

    /// Messages stored: visible + in flight (ApproximateNumberOfMessages[NotVisible]).
    pub async fn stored(&self, conn: &mut Conn) -> Result<u64> {
        let attrs = sqs(
            conn,
            "GetQueueAttributes",
            &json!({
                "QueueUrl": self.url,
                "AttributeNames": ["ApproximateNumberOfMessages",
                                   "ApproximateNumberOfMessagesNotVisible"],
            }),
        )
        .await?;
        let count = |key: &str| -> u64 {
            attrs["Attributes"][key]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(count("ApproximateNumberOfMessages") + count("ApproximateNumberOfMessagesNotVisible"))
    }

    /// Up to 10 visible messages' bodies, hidden for 12 hours (so each is read once).
    pub async fn receive(&self, conn: &mut Conn) -> Result<Vec<String>> {
        let out = sqs(
            conn,
            "ReceiveMessage",
            &json!({
                "QueueUrl": self.url,
                "MaxNumberOfMessages": 10,
                "VisibilityTimeout": 43_200,
                "WaitTimeSeconds": 0,
            }),
        )
        .await?;
        Ok(out["Messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["Body"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// CreateFunctionUrlConfig (`AuthType: NONE`) plus the resource-policy grant a public URL needs
/// (as on Lambda, a NONE URL without it answers 403). Returns the URL id.
pub async fn create_public_url(conn: &mut Conn, name: &str) -> Result<String> {
    let body = json!({ "AuthType": "NONE" }).to_string();
    let r = conn
        .request(
            "POST",
            &format!("/2021-10-31/functions/{name}/url"),
            INVOKE_HEADERS,
            body.as_bytes(),
        )
        .await?;
    if r.status != 201 {
        return Err(format!("CreateFunctionUrlConfig: {} {}", r.status, r.text()).into());
    }
    let url = serde_json::from_slice::<Value>(&r.body)?
        .get("FunctionUrl")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or("CreateFunctionUrlConfig answered no FunctionUrl")?;
    // http://<id>.lambda-url.<region>.localhost:<port>/
    let id = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("unexpected FunctionUrl {url}"))?
        .to_owned();
    let grant = json!({
        "StatementId": "bench-public-url",
        "Action": "lambda:InvokeFunctionUrl",
        "Principal": "*",
        "FunctionUrlAuthType": "NONE",
    })
    .to_string();
    let r = conn
        .request(
            "POST",
            &format!("/2015-03-31/functions/{name}/policy"),
            INVOKE_HEADERS,
            grant.as_bytes(),
        )
        .await?;
    if r.status != 201 {
        return Err(format!("AddPermission: {} {}", r.status, r.text()).into());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_fields() {
        let tail = "START RequestId: x Version: $LATEST\nEND RequestId: x\nREPORT RequestId: x\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 1769 MB\tMax Memory Used: 20 MB\tInit Duration: 35.50 ms\t\n";
        assert_eq!(report_field(tail, "Duration"), Some(1.25));
        assert_eq!(report_field(tail, "Init Duration"), Some(35.5));
        assert_eq!(report_field(tail, "Billed Duration"), Some(2.0));
    }
}
