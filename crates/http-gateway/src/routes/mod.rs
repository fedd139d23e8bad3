//! The HTTP API route table: `METHOD /path` keys with `{param}` segments and a final greedy
//! `{name+}`, `ANY` for every method, and `$default` for what nothing else matches; each route
//! sends its requests to a function (or alias) with payload format 1.0 or 2.0.
//!
//! Routes live in their own SQLite file ([`RouteStore`]) and are matched in memory.

mod matching;
mod store;

pub use matching::{RouteMatch, match_route};
pub use store::{RouteStore, StoreError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// API Gateway's range for an integration timeout; requests running longer are answered 504.
pub const MIN_TIMEOUT_MS: u32 = 50;
pub const MAX_TIMEOUT_MS: u32 = 30_000;
const METHODS: &[&str] = &[
    "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
];

/// One route as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub route_id: String,
    /// `GET /items/{id}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    /// A function name or ARN, without qualifier.
    pub function: String,
    /// An alias or version, or `None` for `$LATEST`.
    pub qualifier: Option<String>,
    /// `1.0` or `2.0`.
    pub payload_format_version: String,
    pub timeout_ms: u32,
    pub created: DateTime<Utc>,
}

/// Why a route definition is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("Invalid route key: {0}")]
    InvalidRouteKey(String),
    #[error("PayloadFormatVersion must be 1.0 or 2.0, not {0}")]
    InvalidPayloadFormat(String),
    #[error("TimeoutInMillis must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}")]
    InvalidTimeout,
    #[error("FunctionName is required")]
    MissingFunction,
}

/// A route key split into its method and path segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKey {
    Default,
    Path {
        method: String,
        segments: Vec<Segment>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: one or more segments, only last.
    Greedy(String),
}

impl RouteKey {
    pub fn parse(key: &str) -> Result<RouteKey, RouteError> {
        let invalid = || RouteError::InvalidRouteKey(key.to_owned());
        if key == "$default" {
            return Ok(RouteKey::Default);
        }
        let (method, path) = key.split_once(' ').ok_or_else(invalid)?;
        if !METHODS.contains(&method) || !path.starts_with('/') || path.contains(' ') {
            return Err(invalid());
        }
        let raw: Vec<&str> = path[1..].split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, part) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            let segment =
                if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    match inner.strip_suffix('+') {
                        Some(name) if last && valid_name(name) => Segment::Greedy(name.to_owned()),
                        Some(_) => return Err(invalid()),
                        None if valid_name(inner) => Segment::Param(inner.to_owned()),
                        None => return Err(invalid()),
                    }
                } else if part.contains(['{', '}']) || (part.is_empty() && !(last && i == 0)) {
                    // Only the root path `/` may have an empty segment.
                    return Err(invalid());
                } else {
                    Segment::Literal((*part).to_owned())
                };
            segments.push(segment);
        }
        if segments == [Segment::Literal(String::new())] {
            segments.clear();
        }
        let mut names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::Greedy(n) => Some(n.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        if names.len() != count {
            return Err(invalid());
        }
        Ok(RouteKey::Path {
            method: method.to_owned(),
            segments,
        })
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a route's settings (the key's syntax, the payload format, the timeout).
pub fn validate(route: &Route) -> Result<(), RouteError> {
    RouteKey::parse(&route.route_key)?;
    if !matches!(route.payload_format_version.as_str(), "1.0" | "2.0") {
        return Err(RouteError::InvalidPayloadFormat(
            route.payload_format_version.clone(),
        ));
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&route.timeout_ms) {
        return Err(RouteError::InvalidTimeout);
    }
    if route.function.is_empty() {
        return Err(RouteError::MissingFunction);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_route_keys() {
        assert_eq!(RouteKey::parse("$default"), Ok(RouteKey::Default));
        assert_eq!(
            RouteKey::parse("GET /items/{id}"),
            Ok(RouteKey::Path {
                method: "GET".into(),
                segments: vec![
                    Segment::Literal("items".into()),
                    Segment::Param("id".into())
                ]
            })
        );
        assert_eq!(
            RouteKey::parse("GET /"),
            Ok(RouteKey::Path {
                method: "GET".into(),
                segments: vec![]
            })
        );
        for bad in [
            "get /x",
            "GET x",
            "GET /{proxy+}/x",
            "GET /a//b",
            "GET /{a}/{a}",
            "GET /x{y}",
            "FETCH /x",
            "GET",
        ] {
            assert!(RouteKey::parse(bad).is_err(), "{bad}");
        }
    }
}
