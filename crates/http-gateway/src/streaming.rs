//! Streamed function URL responses (`InvokeMode: RESPONSE_STREAM`).
//!
//! A function that calls `awslambda.HttpResponseStream.from(stream, metadata)` declares the
//! content type `application/vnd.awslambda.http-integration-response` and writes a prelude
//! before its body: the metadata as JSON (`statusCode`, `headers`, `cookies`), then 8 NUL bytes,
//! then the body. [`Prelude`] collects the stream's first bytes until that delimiter and turns
//! the metadata into the response head; everything after the delimiter is body.
//!
//! Any other content type is body from the first byte, answered 200 with that content type. This
//! includes handlers that do not stream at all: through a streaming URL Lambda sends their result
//! as it is (a returned `{"statusCode": 201, "body": "x"}` arrives as that JSON text with status
//! 200, not as a 201), which is what AWS does (LocalStack's AWS-validated
//! `test_lambda_url_echo_invoke[RESPONSE_STREAM]` reads the `body` member out of the response).

use crate::response::HttpResponse;
use bytes::{Bytes, BytesMut};
use serde_json::Value;
use thiserror::Error;

/// The content type of a stream that begins with an HTTP integration prelude.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// The bytes between the prelude and the body.
pub const DELIMITER: [u8; 8] = [0; 8];

/// How much of a stream may be spent on the prelude. API Gateway documents that the metadata
/// must appear within the first 16 KB of a stream; a function that never writes the delimiter
/// must not make the front door buffer its whole (up to 20 MB) stream.
pub const MAX_PRELUDE: usize = 16 * 1024;

/// A prelude the front door cannot use (the client gets Lambda's 502).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PreludeError {
    #[error("the response prelude is longer than {MAX_PRELUDE} bytes")]
    TooLarge,
    #[error("the response prelude is not a JSON object")]
    NotJson,
    #[error("the response prelude has no valid statusCode")]
    BadStatus,
}

/// Whether a stream of `content_type` starts with a prelude (parameters such as `; charset` are
/// ignored, and so is case).
pub fn has_prelude(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(HTTP_INTEGRATION_CONTENT_TYPE))
}

/// The head of a streamed response without a prelude: 200 with the stream's content type.
pub fn plain_head(content_type: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), content_type.to_owned())],
        body: Bytes::new(),
    }
}

/// Collects a stream's first chunks until the prelude is complete.
#[derive(Debug, Default)]
pub struct Prelude {
    seen: BytesMut,
}

impl Prelude {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk. Returns the head (its `body` empty) and the body bytes that followed the
    /// delimiter in what was seen so far, once the delimiter has arrived; `Ok(None)` while more
    /// is needed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<(HttpResponse, Bytes)>, PreludeError> {
        // Look for the delimiter only where it can newly appear: it may straddle chunks.
        let from = self.seen.len().saturating_sub(DELIMITER.len() - 1);
        self.seen.extend_from_slice(chunk);
        let found = self.seen[from..]
            .windows(DELIMITER.len())
            .position(|w| w == DELIMITER)
            .map(|at| from + at);
        let Some(at) = found else {
            return if self.seen.len() > MAX_PRELUDE {
                Err(PreludeError::TooLarge)
            } else {
                Ok(None)
            };
        };
        if at > MAX_PRELUDE {
            return Err(PreludeError::TooLarge);
        }
        let mut seen = std::mem::take(&mut self.seen);
        let rest = seen.split_off(at + DELIMITER.len()).freeze();
        let head = head_from_metadata(&seen[..at])?;
        Ok(Some((head, rest)))
    }

    /// The stream ended before the delimiter: what was written is taken as the whole prelude
    /// (a function that set status and headers and wrote no body), or, when nothing was
    /// written, a plain 200.
    pub fn finish(self) -> Result<HttpResponse, PreludeError> {
        if self.seen.iter().all(u8::is_ascii_whitespace) {
            return Ok(plain_head("application/octet-stream"));
        }
        head_from_metadata(&self.seen)
    }
}

/// The metadata object as a response head: `statusCode` (default 200), `headers` (string,
/// number or boolean values), `cookies` (one `Set-Cookie` each). Without a content type the
/// body is `application/octet-stream`, the default of a Node response stream.
fn head_from_metadata(json: &[u8]) -> Result<HttpResponse, PreludeError> {
    let Ok(Value::Object(meta)) = serde_json::from_slice::<Value>(json) else {
        return Err(PreludeError::NotJson);
    };
    let status = match meta.get("statusCode") {
        None | Some(Value::Null) => Some(200),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .ok_or(PreludeError::BadStatus)?;
    let mut head = HttpResponse {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
    };
    if let Some(Value::Object(headers)) = meta.get("headers") {
        for (name, value) in headers {
            if let Some(value) = scalar(value) {
                head.headers.push((name.clone(), value));
            }
        }
    }
    if let Some(Value::Array(cookies)) = meta.get("cookies") {
        for cookie in cookies.iter().filter_map(scalar) {
            head.headers.push(("set-cookie".into(), cookie));
        }
    }
    if !head
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        head.headers
            .push(("content-type".into(), "application/octet-stream".into()));
    }
    Ok(head)
}

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

    fn header<'a>(head: &'a HttpResponse, name: &str) -> Vec<&'a str> {
        head.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn content_type_detection() {
        assert!(has_prelude(HTTP_INTEGRATION_CONTENT_TYPE));
        assert!(has_prelude(
            "Application/VND.awslambda.http-integration-response; charset=utf-8"
        ));
        assert!(!has_prelude("application/json"));
        assert!(!has_prelude(""));
    }

    #[test]
    fn prelude_in_one_chunk_with_body_after_it() {
        let mut p = Prelude::new();
        let mut chunk =
            br#"{"statusCode":201,"headers":{"x-a":"b","X-N":3},"cookies":["a=1","b=2; Path=/"]}"#
                .to_vec();
        chunk.extend_from_slice(&DELIMITER);
        chunk.extend_from_slice(b"first;");
        let (head, rest) = p.push(&chunk).expect("valid").expect("complete");
        assert_eq!(head.status, 201);
        assert_eq!(header(&head, "x-a"), ["b"]);
        assert_eq!(header(&head, "x-n"), ["3"]);
        assert_eq!(header(&head, "set-cookie"), ["a=1", "b=2; Path=/"]);
        assert_eq!(header(&head, "content-type"), ["application/octet-stream"]);
        assert_eq!(&rest[..], b"first;");
    }

    #[test]
    fn delimiter_split_across_chunks() {
        let mut p = Prelude::new();
        assert_eq!(
            p.push(br#"{"statusCode":404,"headers":{"content-type":"text/html"}}"#),
            Ok(None)
        );
        assert_eq!(p.push(&[0, 0, 0]), Ok(None));
        let (head, rest) = p
            .push(&[0, 0, 0, 0, 0, b'x'])
            .expect("valid")
            .expect("complete");
        assert_eq!(head.status, 404);
        assert_eq!(header(&head, "content-type"), ["text/html"]);
        assert_eq!(&rest[..], b"x");
    }

    #[test]
    fn nul_bytes_in_the_body_after_the_delimiter_stay_body() {
        let mut p = Prelude::new();
        let mut chunk = b"{}".to_vec();
        chunk.extend_from_slice(&DELIMITER);
        chunk.extend_from_slice(&[0; 12]);
        let (head, rest) = p.push(&chunk).expect("valid").expect("complete");
        assert_eq!(head.status, 200);
        assert_eq!(&rest[..], &[0; 12]);
    }

    #[test]
    fn bad_preludes() {
        let with_delimiter = |json: &[u8]| {
            let mut v = json.to_vec();
            v.extend_from_slice(&DELIMITER);
            Prelude::new().push(&v)
        };
        assert_eq!(with_delimiter(b"not json"), Err(PreludeError::NotJson));
        assert_eq!(with_delimiter(b"[1]"), Err(PreludeError::NotJson));
        assert_eq!(
            with_delimiter(br#"{"statusCode":"abc"}"#),
            Err(PreludeError::BadStatus)
        );
        assert_eq!(
            with_delimiter(br#"{"statusCode":99}"#),
            Err(PreludeError::BadStatus)
        );
        let mut p = Prelude::new();
        assert_eq!(p.push(&vec![b' '; MAX_PRELUDE]), Ok(None));
        assert_eq!(p.push(b"  "), Err(PreludeError::TooLarge));
    }

    #[test]
    fn a_stream_that_ends_inside_the_prelude() {
        let mut p = Prelude::new();
        assert_eq!(p.push(br#"{"statusCode":204}"#), Ok(None));
        assert_eq!(p.finish().expect("valid").status, 204);
        assert_eq!(Prelude::new().finish().expect("empty").status, 200);
        let mut p = Prelude::new();
        assert_eq!(p.push(b"{"), Ok(None));
        assert_eq!(p.finish(), Err(PreludeError::NotJson));
    }
}
