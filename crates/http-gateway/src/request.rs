//! An HTTP request as the front doors see it: the wire path and query (never re-encoded, because
//! functions and signature checks need them exactly as sent), headers in arrival order, the body.

use bytes::Bytes;
use http::HeaderMap;
use thiserror::Error;

/// Largest total size of request header names and values, as API Gateway's 10 KB limit on the
/// request line and headers; larger requests are answered 431 before anything runs.
pub const MAX_HEADER_BYTES: usize = 10 * 1024;

/// Why a request is refused before it reaches a function.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("Request must be smaller than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request headers are larger than {MAX_HEADER_BYTES} bytes")]
    HeadersTooLarge,
    #[error("header {0} is not valid UTF-8")]
    BadHeader(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The path as sent (percent-encoded), e.g. `/my/path`.
    pub raw_path: String,
    /// The query string as sent, without `?` (empty when there is none).
    pub raw_query: String,
    /// Header names lower-cased, in arrival order, repeated names kept.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub source_ip: String,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub protocol: String,
}

impl HttpRequest {
    /// Checks the header limits and copies the headers; `raw_path` is the path the function
    /// should see (the path form of URLs strips its prefix first).
    pub fn new(
        method: &str,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
        source_ip: String,
        protocol: &str,
    ) -> Result<Self, RequestError> {
        let mut total = 0usize;
        let mut copied = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            total += name.as_str().len() + value.len();
            if total > MAX_HEADER_BYTES {
                return Err(RequestError::HeadersTooLarge);
            }
            let value = value
                .to_str()
                .map_err(|_| RequestError::BadHeader(name.as_str().to_owned()))?;
            copied.push((name.as_str().to_owned(), value.to_owned()));
        }
        Ok(Self {
            method: method.to_owned(),
            raw_path: if raw_path.is_empty() { "/" } else { raw_path }.to_owned(),
            raw_query: raw_query.unwrap_or("").to_owned(),
            headers: copied,
            body,
            source_ip,
            protocol: protocol.to_owned(),
        })
    }

    /// The first value of a header (`name` lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Cookies from every `Cookie` header, split on `;`.
    pub fn cookies(&self) -> Vec<String> {
        self.header_values("cookie")
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Query parameters decoded (`+` is a space), in order, repeated names kept.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// Whether a body of this content type is passed to functions as text (else base64), as
/// Lambda's front doors decide.
pub fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_are_limited_and_cookies_split() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", HeaderValue::from_static("a=1; b=2"));
        headers.append("cookie", HeaderValue::from_static("c=3"));
        let r = HttpRequest::new(
            "GET",
            "",
            Some("x=1+2&x=%2F"),
            &headers,
            Bytes::new(),
            "127.0.0.1".into(),
            "HTTP/1.1",
        )
        .expect("request");
        assert_eq!(r.raw_path, "/");
        assert_eq!(r.cookies(), vec!["a=1", "b=2", "c=3"]);
        assert_eq!(
            r.query_pairs(),
            vec![("x".into(), "1 2".into()), ("x".into(), "/".into())]
        );
        let mut big = HeaderMap::new();
        big.insert(
            "x-big",
            HeaderValue::from_str(&"a".repeat(MAX_HEADER_BYTES)).expect("value"),
        );
        assert_eq!(
            HttpRequest::new(
                "GET",
                "/",
                None,
                &big,
                Bytes::new(),
                String::new(),
                "HTTP/1.1"
            ),
            Err(RequestError::HeadersTooLarge)
        );
    }

    #[test]
    fn text_content_types() {
        assert!(is_text_content_type(Some(
            "application/json; charset=utf-8"
        )));
        assert!(is_text_content_type(Some("text/html")));
        assert!(is_text_content_type(Some("application/vnd.api+json")));
        assert!(!is_text_content_type(Some("application/octet-stream")));
        assert!(!is_text_content_type(Some(
            "multipart/form-data; boundary=x"
        )));
        assert!(!is_text_content_type(None));
    }
}
