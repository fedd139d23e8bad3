//! Reading a function's result as an HTTP response, by Lambda's rules.
//!
//! Payload 2.0 (function URLs, HTTP API): an object with `statusCode` is a response
//! (`headers`, `multiValueHeaders`, `cookies` → one `Set-Cookie` each, `body`, `isBase64Encoded`);
//! any other JSON value is a 200 `application/json` response whose body is the value's JSON text,
//! except that a JSON string is sent as its contents (AWS answers `"hello"` with `hello`).
//! Payload 1.0 (REST style) requires the object form.

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value};
use thiserror::Error;

/// A function result the front door cannot read as a response (Lambda answers 502).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("the function's result is not JSON")]
    NotJson,
    #[error("the function's result has no valid statusCode")]
    BadStatus,
    #[error("the function's body is not valid base64")]
    BadBase64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// In order; names as the function spelled them. `Set-Cookie` may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpResponse {
    /// A JSON error body the front doors send themselves (`{"Message": ...}` on URLs,
    /// `{"message": ...}` on routes).
    pub fn json_message(status: u16, key: &str, message: &str) -> Self {
        let body = serde_json::json!({ key: message }).to_string();
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body),
        }
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Payload format 2.0.
pub fn from_v2(payload: &[u8]) -> Result<HttpResponse, ResponseError> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| ResponseError::NotJson)?;
    match value {
        Value::Object(object) if object.contains_key("statusCode") => structured(&object, true),
        Value::String(text) => Ok(json_body(Bytes::from(text))),
        other => Ok(json_body(Bytes::from(other.to_string()))),
    }
}

/// Payload format 1.0.
pub fn from_v1(payload: &[u8]) -> Result<HttpResponse, ResponseError> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| ResponseError::NotJson)?;
    match value {
        Value::Object(object) => structured(&object, false),
        _ => Err(ResponseError::BadStatus),
    }
}

fn json_body(body: Bytes) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    }
}

fn structured(object: &Map<String, Value>, cookies: bool) -> Result<HttpResponse, ResponseError> {
    let status = match object.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .ok_or(ResponseError::BadStatus)?;
    let mut response = HttpResponse {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
    };
    if let Some(Value::Object(headers)) = object.get("headers") {
        for (name, value) in headers {
            if let Some(value) = scalar(value) {
                response.headers.push((name.clone(), value));
            }
        }
    }
    if let Some(Value::Object(headers)) = object.get("multiValueHeaders") {
        for (name, values) in headers {
            let Value::Array(values) = values else {
                continue;
            };
            // A name in both maps takes the multi-value list (API Gateway merges them so).
            response
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            for value in values.iter().filter_map(scalar) {
                response.headers.push((name.clone(), value));
            }
        }
    }
    if cookies && let Some(Value::Array(list)) = object.get("cookies") {
        for cookie in list.iter().filter_map(scalar) {
            response.headers.push(("set-cookie".into(), cookie));
        }
    }
    let base64 = matches!(object.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = match object.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    response.body = if base64 {
        Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .map_err(|_| ResponseError::BadBase64)?,
        )
    } else {
        Bytes::from(body)
    };
    if !response.has_header("content-type") {
        response
            .headers
            .push(("content-type".into(), "application/json".into()));
    }
    Ok(response)
}

/// Header values may be given as strings, numbers or booleans.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HttpResponse) -> &[u8] {
        &r.body
    }

    #[test]
    fn plain_values_become_json_bodies_as_aws_sends_them() {
        // function_url_invoke.json: test_lambda_url_invocation[...]
        let cases: [(&str, &str); 6] = [
            (r#"{"hello": "world"}"#, r#"{"hello":"world"}"#),
            (r#""hello""#, "hello"),
            (r#"["hello", 3, true]"#, r#"["hello",3,true]"#),
            ("3", "3"),
            ("3.1", "3.1"),
            ("true", "true"),
        ];
        for (payload, expected) in cases {
            let r = from_v2(payload.as_bytes()).expect(payload);
            assert_eq!(r.status, 200);
            assert_eq!(body(&r), expected.as_bytes(), "{payload}");
            assert!(r.has_header("content-type"));
        }
    }

    #[test]
    fn structured_responses() {
        let r = from_v2(br#"{"statusCode": 200, "body": "body123"}"#).expect("ok");
        assert_eq!(body(&r), b"body123");
        assert!(
            r.headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        let r = from_v2(
            br#"{"statusCode": 302, "headers": {"Location": "/x", "X-N": 3},
                "cookies": ["a=1", "b=2; Path=/"], "body": "AAE=", "isBase64Encoded": true}"#,
        )
        .expect("ok");
        assert_eq!(r.status, 302);
        assert_eq!(body(&r), &[0, 1]);
        assert!(r.headers.contains(&("X-N".into(), "3".into())));
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, vec!["a=1", "b=2; Path=/"]);
        assert_eq!(
            from_v2(br#"{"statusCode": "abc"}"#),
            Err(ResponseError::BadStatus)
        );
        assert_eq!(
            from_v2(br#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#),
            Err(ResponseError::BadBase64)
        );
        assert_eq!(from_v2(b"not json"), Err(ResponseError::NotJson));
    }

    #[test]
    fn v1_requires_a_status_code_and_merges_multi_value_headers() {
        assert_eq!(from_v1(b"\"hello\""), Err(ResponseError::BadStatus));
        let r = from_v1(
            br#"{"statusCode": 201, "headers": {"A": "1", "B": "x"},
                "multiValueHeaders": {"A": ["2", "3"]}, "body": "ok"}"#,
        )
        .expect("ok");
        assert_eq!(r.status, 201);
        let a: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "A")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(a, vec!["2", "3"]);
    }
}
