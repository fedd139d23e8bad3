//! A function URL's CORS settings applied as Lambda applies them: a preflight (`OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`) is answered by the front door without invoking
//! the function, and every other response gets the `Access-Control-*` headers for an allowed
//! origin, replacing any the function set itself.

use crate::request::HttpRequest;
use crate::response::HttpResponse;
use bytes::Bytes;
use lambent_store::CorsRecord;

/// Whether the request is a CORS preflight.
pub fn is_preflight(request: &HttpRequest) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && request.header("origin").is_some()
        && request.header("access-control-request-method").is_some()
}

/// The front door's answer to a preflight.
pub fn preflight(cors: &CorsRecord, request: &HttpRequest) -> HttpResponse {
    let mut response = HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: Bytes::new(),
    };
    let Some(origin) = allowed_origin(cors, request) else {
        return response;
    };
    let method_ok = request
        .header("access-control-request-method")
        .is_some_and(|m| listed(cors.allow_methods.as_deref(), m));
    let headers_ok = request
        .header("access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .all(|h| listed(cors.allow_headers.as_deref(), h))
        })
        .unwrap_or(true);
    if !method_ok || !headers_ok {
        return response;
    }
    let out = &mut response.headers;
    out.push(("access-control-allow-origin".into(), origin));
    if let Some(methods) = non_empty(cors.allow_methods.as_deref()) {
        out.push(("access-control-allow-methods".into(), methods.join(",")));
    }
    if let Some(headers) = non_empty(cors.allow_headers.as_deref()) {
        out.push(("access-control-allow-headers".into(), headers.join(",")));
    }
    if let Some(age) = cors.max_age {
        out.push(("access-control-max-age".into(), age.to_string()));
    }
    if cors.allow_credentials == Some(true) {
        out.push(("access-control-allow-credentials".into(), "true".into()));
    }
    out.push(("vary".into(), "Origin".into()));
    response
}

/// Adds the CORS headers to a response for `request` (and drops the function's own).
pub fn decorate(cors: &CorsRecord, request: &HttpRequest, response: &mut HttpResponse) {
    response
        .headers
        .retain(|(name, _)| !name.to_ascii_lowercase().starts_with("access-control-"));
    let Some(origin) = allowed_origin(cors, request) else {
        return;
    };
    let out = &mut response.headers;
    out.push(("access-control-allow-origin".into(), origin));
    if let Some(expose) = non_empty(cors.expose_headers.as_deref()) {
        out.push(("access-control-expose-headers".into(), expose.join(",")));
    }
    if cors.allow_credentials == Some(true) {
        out.push(("access-control-allow-credentials".into(), "true".into()));
    }
    out.push(("vary".into(), "Origin".into()));
}

/// The `Access-Control-Allow-Origin` value for the request's origin, if it is allowed: `*` when
/// any origin is allowed without credentials, else the origin itself.
fn allowed_origin(cors: &CorsRecord, request: &HttpRequest) -> Option<String> {
    let origin = request.header("origin")?;
    let origins = cors.allow_origins.as_deref().unwrap_or(&[]);
    let any = origins.iter().any(|o| o == "*");
    if any && cors.allow_credentials != Some(true) {
        return Some("*".into());
    }
    (any || origins.iter().any(|o| origin_matches(o, origin))).then(|| origin.to_owned())
}

/// An allowed origin may hold one `*` standing for any run of characters
/// (`https://*.example.com`); otherwise it must equal the origin, ignoring case.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    let (pattern, origin) = (pattern.to_ascii_lowercase(), origin.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == origin,
        Some((prefix, suffix)) => {
            origin.len() >= prefix.len() + suffix.len()
                && origin.starts_with(prefix)
                && origin.ends_with(suffix)
        }
    }
}

fn listed(list: Option<&[String]>, value: &str) -> bool {
    list.unwrap_or(&[])
        .iter()
        .any(|item| item == "*" || item.eq_ignore_ascii_case(value))
}

fn non_empty(list: Option<&[String]>) -> Option<&[String]> {
    list.filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn request(method: &str, pairs: &[(&'static str, &'static str)]) -> HttpRequest {
        let mut headers = HeaderMap::new();
        for (n, v) in pairs {
            headers.append(*n, HeaderValue::from_static(v));
        }
        HttpRequest::new(
            method,
            "/",
            None,
            &headers,
            Bytes::new(),
            String::new(),
            "HTTP/1.1",
        )
        .expect("request")
    }

    fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn cors() -> CorsRecord {
        CorsRecord {
            allow_credentials: Some(true),
            allow_headers: Some(vec!["content-type".into(), "x-custom".into()]),
            allow_methods: Some(vec!["GET".into(), "POST".into()]),
            allow_origins: Some(vec!["https://*.example.com".into()]),
            expose_headers: Some(vec!["x-request-id".into()]),
            max_age: Some(300),
        }
    }

    #[test]
    fn preflight_for_allowed_and_refused_origins() {
        let ok = request(
            "OPTIONS",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "X-Custom, Content-Type"),
            ],
        );
        assert!(is_preflight(&ok));
        let r = preflight(&cors(), &ok);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(header(&r, "access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(header(&r, "access-control-max-age"), Some("300"));
        assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
        let evil = request(
            "OPTIONS",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "POST"),
            ],
        );
        assert_eq!(
            header(&preflight(&cors(), &evil), "access-control-allow-origin"),
            None
        );
        let bad_method = request(
            "OPTIONS",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "DELETE"),
            ],
        );
        assert_eq!(
            header(
                &preflight(&cors(), &bad_method),
                "access-control-allow-origin"
            ),
            None
        );
    }

    #[test]
    fn responses_get_cors_headers_replacing_the_functions() {
        let get = request("GET", &[("origin", "https://app.example.com")]);
        let mut r = HttpResponse::json_message(200, "ok", "ok");
        r.headers.push((
            "Access-Control-Allow-Origin".into(),
            "https://evil.test".into(),
        ));
        decorate(&cors(), &get, &mut r);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(header(&r, "Access-Control-Allow-Origin"), None);
        assert_eq!(
            header(&r, "access-control-expose-headers"),
            Some("x-request-id")
        );
        let mut star = cors();
        star.allow_origins = Some(vec!["*".into()]);
        star.allow_credentials = None;
        let mut r = HttpResponse::json_message(200, "ok", "ok");
        decorate(&star, &get, &mut r);
        assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    }
}
