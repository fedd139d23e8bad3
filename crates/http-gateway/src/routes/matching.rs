//! Choosing the route for a request as API Gateway's HTTP APIs do: the most specific path wins
//! (literal segments over parameters over a greedy parameter), a route for the method over `ANY`,
//! and `$default` only when nothing else matches.

use super::{Route, RouteKey, Segment};
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;

/// The chosen route with the path parameters it captured (values percent-decoded).
#[derive(Clone, Debug, PartialEq)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
    /// The path template for payload 1.0's `resource` (`/items/{id}`, `/{proxy+}`, `/`).
    pub resource: String,
}

/// How specific a match is; larger is better.
type Rank = (bool, usize, usize, bool);

pub fn match_route<'a>(
    routes: &'a [Route],
    method: &str,
    raw_path: &str,
) -> Option<RouteMatch<'a>> {
    let request: Vec<&str> = match raw_path.strip_prefix('/') {
        Some("") | None => Vec::new(),
        Some(rest) => rest.split('/').collect(),
    };
    let mut best: Option<(Rank, RouteMatch<'a>)> = None;
    let mut default = None;
    for route in routes {
        let Ok(key) = RouteKey::parse(&route.route_key) else {
            continue;
        };
        let (route_method, segments) = match key {
            RouteKey::Default => {
                default = Some(route);
                continue;
            }
            RouteKey::Path { method, segments } => (method, segments),
        };
        let method_exact = route_method.eq_ignore_ascii_case(method);
        if !method_exact && route_method != "ANY" {
            continue;
        }
        let Some(parameters) = capture(&segments, &request) else {
            continue;
        };
        let greedy = matches!(segments.last(), Some(Segment::Greedy(_)));
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let rank = (!greedy, literals, segments.len(), method_exact);
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((
                rank,
                RouteMatch {
                    route,
                    path_parameters: parameters,
                    resource: resource_of(&route.route_key),
                },
            ));
        }
    }
    best.map(|(_, m)| m).or_else(|| {
        default.map(|route| RouteMatch {
            route,
            path_parameters: BTreeMap::new(),
            resource: "$default".into(),
        })
    })
}

fn capture(segments: &[Segment], request: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = request.get(i..).filter(|r| !r.is_empty())?;
                parameters.insert(name.clone(), decode(&rest.join("/")));
                return Some(parameters);
            }
            Segment::Literal(literal) => {
                if request.get(i).is_none_or(|part| decode(part) != *literal) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = request.get(i).filter(|p| !p.is_empty())?;
                parameters.insert(name.clone(), decode(part));
            }
        }
    }
    (segments.len() == request.len()).then_some(parameters)
}

fn decode(part: &str) -> String {
    percent_decode_str(part).decode_utf8_lossy().into_owned()
}

fn resource_of(route_key: &str) -> String {
    route_key
        .split_once(' ')
        .map_or_else(|| route_key.to_owned(), |(_, path)| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(key: &str) -> Route {
        Route {
            route_id: key.into(),
            route_key: key.into(),
            function: "f".into(),
            qualifier: None,
            payload_format_version: "2.0".into(),
            timeout_ms: 30_000,
            created: chrono::Utc::now(),
        }
    }

    fn chosen(routes: &[Route], method: &str, path: &str) -> Option<String> {
        match_route(routes, method, path).map(|m| m.route.route_key.clone())
    }

    #[test]
    fn most_specific_route_wins() {
        let routes = vec![
            route("ANY /{proxy+}"),
            route("GET /items/{id}"),
            route("GET /items/special"),
            route("ANY /items/{id}"),
            route("GET /"),
            route("$default"),
        ];
        assert_eq!(
            chosen(&routes, "GET", "/items/special").as_deref(),
            Some("GET /items/special")
        );
        assert_eq!(
            chosen(&routes, "GET", "/items/7").as_deref(),
            Some("GET /items/{id}")
        );
        assert_eq!(
            chosen(&routes, "POST", "/items/7").as_deref(),
            Some("ANY /items/{id}")
        );
        assert_eq!(
            chosen(&routes, "POST", "/a/b/c").as_deref(),
            Some("ANY /{proxy+}")
        );
        assert_eq!(chosen(&routes, "GET", "/").as_deref(), Some("GET /"));
        assert_eq!(chosen(&routes, "POST", "/").as_deref(), Some("$default"));
        let m = match_route(&routes, "GET", "/items/a%20b").expect("match");
        assert_eq!(m.path_parameters.get("id").map(String::as_str), Some("a b"));
        assert_eq!(m.resource, "/items/{id}");
        let m = match_route(&routes, "DELETE", "/x/y").expect("match");
        assert_eq!(
            m.path_parameters.get("proxy").map(String::as_str),
            Some("x/y")
        );
        assert_eq!(chosen(&routes[1..2], "GET", "/items"), None);
        assert_eq!(chosen(&routes[1..2], "GET", "/items/1/2"), None);
    }
}
