//! Which front door a `Host` names. Function URLs are
//! `<url-id>.lambda-url.<region>.localhost[:port]` (the AWS form with `on.aws` replaced by
//! `localhost`, which resolves to loopback on most systems); the route table answers on
//! `<anything>.execute-api.<region>.localhost` and `execute-api.localhost`.

/// The URL id in a function URL host name, if it is one (any region: the id alone is looked up).
pub fn url_id(host: &str) -> Option<&str> {
    let host = strip_port(host);
    let (id, rest) = host.split_once('.')?;
    let rest = rest.strip_prefix("lambda-url.")?;
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (valid_id && !rest.is_empty()).then_some(id)
}

/// Whether the host names the route table.
pub fn is_routes_host(host: &str) -> bool {
    let host = strip_port(host).to_ascii_lowercase();
    host == "execute-api.localhost" || host.contains(".execute-api.")
}

/// The host name of a function URL, as CreateFunctionUrlConfig reports it.
pub fn url_host(url_id: &str, region: &str) -> String {
    format!("{url_id}.lambda-url.{region}.localhost")
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_url_hosts() {
        let id = "abcdefghij0123456789abcdefghij01";
        assert_eq!(
            url_id(&format!("{id}.lambda-url.us-east-1.localhost:9000")),
            Some(id)
        );
        assert_eq!(url_id(&url_host(id, "eu-west-1")), Some(id));
        assert_eq!(url_id("127.0.0.1:9000"), None);
        assert_eq!(url_id("ABC.lambda-url.us-east-1.localhost"), None);
        assert_eq!(url_id("lambda-url.us-east-1.localhost"), None);
        assert!(is_routes_host("execute-api.localhost:9000"));
        assert!(is_routes_host("api1.execute-api.us-east-1.localhost"));
        assert!(!is_routes_host("localhost:9000"));
    }
}
