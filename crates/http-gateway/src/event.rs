//! The events functions receive: payload format 2.0 (function URLs and HTTP API routes) and 1.0
//! (API Gateway REST/proxy style, which SAM `Api` events and older adapters expect). Field names,
//! nesting and the rules for joining repeated values follow Lambda's documented formats; typed
//! handler libraries fail on a missing field, so none is left out.

use crate::request::{HttpRequest, is_text_content_type};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where a request arrived and how it was matched: the parts of `requestContext` that do not come
/// from the request itself.
#[derive(Clone, Debug)]
pub struct EventContext {
    pub account_id: String,
    /// The URL id (function URLs) or the API id (routes).
    pub api_id: String,
    pub domain_name: String,
    pub domain_prefix: String,
    /// `$default` for URLs, `GET /items/{id}` for routes.
    pub route_key: String,
    pub stage: String,
    pub request_id: String,
    /// The route's path template (`/items/{id}`), for payload 1.0's `resource`.
    pub resource: String,
    pub path_parameters: BTreeMap<String, String>,
    /// The signer of an `AWS_IAM` request, for `requestContext.authorizer.iam`.
    pub iam: Option<IamCaller>,
    pub time: DateTime<Utc>,
}

/// Who signed an `AWS_IAM` request.
#[derive(Clone, Debug)]
pub struct IamCaller {
    pub access_key: String,
    pub account_id: String,
}

impl IamCaller {
    fn user_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account_id)
    }
}

/// The request body as events carry it: text as is, anything else base64.
fn body_of(request: &HttpRequest) -> (Option<String>, bool) {
    if request.body.is_empty() {
        return (None, false);
    }
    if is_text_content_type(request.header("content-type"))
        && let Ok(text) = std::str::from_utf8(&request.body)
    {
        return (Some(text.to_owned()), false);
    }
    (
        Some(base64::engine::general_purpose::STANDARD.encode(&request.body)),
        true,
    )
}

/// `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`.
fn clf_time(time: &DateTime<Utc>) -> String {
    time.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// Payload format 2.0: headers lower-cased and comma-joined, cookies taken out of the headers,
/// query values comma-joined, empty collections left out.
pub fn v2(request: &HttpRequest, ctx: &EventContext) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in &request.headers {
        if name == "cookie" {
            continue;
        }
        match headers.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), json!(value));
            }
        }
    }
    let mut query: Map<String, Value> = Map::new();
    for (name, value) in request.query_pairs() {
        match query.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query.insert(name, json!(value));
            }
        }
    }
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(ctx.route_key));
    event.insert("rawPath".into(), json!(request.raw_path));
    event.insert("rawQueryString".into(), json!(request.raw_query));
    let cookies = request.cookies();
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), Value::Object(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !ctx.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(ctx.path_parameters));
    }
    let mut rc = Map::new();
    rc.insert("accountId".into(), json!(ctx.account_id));
    rc.insert("apiId".into(), json!(ctx.api_id));
    if let Some(iam) = &ctx.iam {
        rc.insert(
            "authorizer".into(),
            json!({ "iam": {
                "accessKey": iam.access_key,
                "accountId": iam.account_id,
                "callerId": iam.access_key,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": iam.user_arn(),
                "userId": iam.access_key,
            }}),
        );
    }
    rc.insert("domainName".into(), json!(ctx.domain_name));
    rc.insert("domainPrefix".into(), json!(ctx.domain_prefix));
    rc.insert(
        "http".into(),
        json!({
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent").unwrap_or(""),
        }),
    );
    rc.insert("requestId".into(), json!(ctx.request_id));
    rc.insert("routeKey".into(), json!(ctx.route_key));
    rc.insert("stage".into(), json!(ctx.stage));
    rc.insert("time".into(), json!(clf_time(&ctx.time)));
    rc.insert("timeEpoch".into(), json!(ctx.time.timestamp_millis()));
    event.insert("requestContext".into(), Value::Object(rc));
    let (body, base64) = body_of(request);
    if let Some(body) = body {
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(base64));
    Value::Object(event)
}

/// Payload format 1.0: single- and multi-value maps for headers and query parameters (the single
/// form keeps the last value), `null` for absent maps and bodies, REST API's `requestContext`.
pub fn v1(request: &HttpRequest, ctx: &EventContext) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &request.headers {
        headers.insert(name.clone(), json!(value));
        push(&mut multi_headers, name, value);
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (name, value) in request.query_pairs() {
        push(&mut multi_query, &name, &value);
        query.insert(name, json!(value));
    }
    let or_null = |map: Map<String, Value>| {
        if map.is_empty() {
            Value::Null
        } else {
            Value::Object(map)
        }
    };
    let (body, base64) = body_of(request);
    let caller = ctx.iam.as_ref();
    json!({
        "version": "1.0",
        "resource": ctx.resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": or_null(headers),
        "multiValueHeaders": or_null(multi_headers),
        "queryStringParameters": or_null(query),
        "multiValueQueryStringParameters": or_null(multi_query),
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain_name,
            "domainPrefix": ctx.domain_prefix,
            "extendedRequestId": ctx.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": caller.map(|c| c.access_key.clone()),
                "accountId": caller.map(|c| c.account_id.clone()),
                "caller": caller.map(|c| c.access_key.clone()),
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": request.source_ip,
                "user": caller.map(|c| c.access_key.clone()),
                "userAgent": request.header("user-agent").unwrap_or(""),
                "userArn": caller.map(IamCaller::user_arn),
            },
            "path": request.raw_path,
            "protocol": request.protocol,
            "requestId": ctx.request_id,
            "requestTime": clf_time(&ctx.time),
            "requestTimeEpoch": ctx.time.timestamp_millis(),
            "resourceId": ctx.route_key,
            "resourcePath": ctx.resource,
            "stage": ctx.stage,
        },
        "pathParameters": if ctx.path_parameters.is_empty() {
            Value::Null
        } else {
            json!(ctx.path_parameters)
        },
        "stageVariables": null,
        "body": body,
        "isBase64Encoded": base64,
    })
}

fn push(map: &mut Map<String, Value>, name: &str, value: &str) {
    match map.get_mut(name) {
        Some(Value::Array(values)) => values.push(json!(value)),
        _ => {
            map.insert(name.to_owned(), json!([value]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    fn request(body: &'static [u8], content_type: Option<&'static str>) -> HttpRequest {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("v1"));
        headers.append("x-multi", HeaderValue::from_static("v2"));
        headers.append("cookie", HeaderValue::from_static("c1=v1; c2=v2"));
        headers.append("user-agent", HeaderValue::from_static("curl/8"));
        if let Some(ct) = content_type {
            headers.append("content-type", HeaderValue::from_static(ct));
        }
        HttpRequest::new(
            "POST",
            "/my/path",
            Some("a=1&a=2&b=x"),
            &headers,
            Bytes::from_static(body),
            "203.0.113.9".into(),
            "HTTP/1.1",
        )
        .expect("request")
    }

    fn context() -> EventContext {
        EventContext {
            account_id: "123456789012".into(),
            api_id: "abc".into(),
            domain_name: "abc.lambda-url.us-east-1.localhost".into(),
            domain_prefix: "abc".into(),
            route_key: "$default".into(),
            stage: "$default".into(),
            request_id: "rid".into(),
            resource: "/{proxy+}".into(),
            path_parameters: BTreeMap::new(),
            iam: None,
            time: DateTime::from_timestamp_millis(1_583_348_638_390).expect("time"),
        }
    }

    #[test]
    fn v2_matches_lambdas_format() {
        let event = v2(&request(b"Hello", Some("text/plain")), &context());
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawQueryString"], "a=1&a=2&b=x");
        assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(event["headers"]["x-multi"], "v1,v2");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(
            event["queryStringParameters"],
            json!({"a": "1,2", "b": "x"})
        );
        assert_eq!(
            event["requestContext"]["time"],
            "04/Mar/2020:19:03:58 +0000"
        );
        assert_eq!(event["requestContext"]["timeEpoch"], 1_583_348_638_390_i64);
        assert_eq!(event["requestContext"]["http"]["userAgent"], "curl/8");
        assert_eq!(event["body"], "Hello");
        assert_eq!(event["isBase64Encoded"], false);
        assert!(event.get("pathParameters").is_none());
        assert!(event["requestContext"].get("authorizer").is_none());
        let binary = v2(
            &request(&[0, 159, 1], Some("application/octet-stream")),
            &context(),
        );
        assert_eq!(binary["body"], "AJ8B");
        assert_eq!(binary["isBase64Encoded"], true);
    }

    #[test]
    fn v1_has_single_and_multi_value_maps() {
        let mut ctx = context();
        ctx.path_parameters.insert("proxy".into(), "my/path".into());
        let event = v1(&request(b"", None), &ctx);
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["resource"], "/{proxy+}");
        assert_eq!(event["headers"]["x-multi"], "v2");
        assert_eq!(event["multiValueHeaders"]["x-multi"], json!(["v1", "v2"]));
        assert_eq!(event["queryStringParameters"]["a"], "2");
        assert_eq!(
            event["multiValueQueryStringParameters"]["a"],
            json!(["1", "2"])
        );
        assert_eq!(event["pathParameters"]["proxy"], "my/path");
        assert_eq!(event["body"], Value::Null);
        assert_eq!(
            event["requestContext"]["identity"]["sourceIp"],
            "203.0.113.9"
        );
    }
}
