//! The HTTP front doors on the Lambda port: function URLs (by host name
//! `<url-id>.lambda-url.<region>.localhost`, or the path form `/_lambent/url/<url-id>/...`) and
//! the route table (host `execute-api.localhost` or `*.execute-api.*`, or the path form
//! `/_lambent/http/...`).
//!
//! [`dispatch`] runs before routing and before the Lambda API's signature check: a URL's own
//! `AuthType` decides whether a signature is needed, and a public URL must work without one. The
//! wire formats live in `lambent-http-gateway`; this module reads requests, authenticates, runs
//! the function through the invoker and writes the response.

mod invoke;
mod route;
mod stream;
mod url;

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::Response;
use lambent_http_gateway::host;
use lambent_http_gateway::routes::RouteStore;
use std::net::SocketAddr;
use std::sync::Arc;

/// Path prefix of the URL path form: `/_lambent/url/<url-id>/<path the function sees>`.
pub const URL_PATH_PREFIX: &str = "/_lambent/url/";
/// Path prefix under which the route table is served: `/_lambent/http/items/1` is `/items/1`.
pub const ROUTES_PATH_PREFIX: &str = "/_lambent/http";

/// What the front doors need besides the Lambda API's state.
#[derive(Clone, Default)]
pub struct FrontDoors {
    /// The port this server listens on, for the `FunctionUrl`s it reports.
    pub port: u16,
    /// The route table; `None`: routes are not served and their API is refused.
    pub routes: Option<Arc<RouteStore>>,
}

impl FrontDoors {
    /// Opens the route table at `routes_db` for a server listening on `port`.
    pub fn open(
        routes_db: &std::path::Path,
        port: u16,
    ) -> Result<Self, lambent_http_gateway::routes::StoreError> {
        Ok(Self {
            port,
            routes: Some(Arc::new(RouteStore::open(routes_db)?)),
        })
    }
}

/// Sends URL and route requests to their front door, everything else on to the Lambda API.
pub async fn dispatch(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host_header = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned();
    let path = request.uri().path().to_owned();
    if let Some(id) = host::url_id(&host_header) {
        return url::serve(&state, id.to_owned(), host_header.clone(), path, request).await;
    }
    if let Some(rest) = path.strip_prefix(URL_PATH_PREFIX) {
        let (id, inner) = rest.split_once('/').unwrap_or((rest, ""));
        let inner = format!("/{inner}");
        return url::serve(&state, id.to_owned(), host_header, inner, request).await;
    }
    if host::is_routes_host(&host_header) {
        return route::serve(&state, host_header, path, request).await;
    }
    if let Some(rest) = path.strip_prefix(ROUTES_PATH_PREFIX)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let inner = if rest.is_empty() { "/" } else { rest }.to_owned();
        return route::serve(&state, host_header, inner, request).await;
    }
    next.run(request).await
}

/// The client's address, when the server was started with connection info.
fn source_ip(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

fn protocol(request: &Request) -> &'static str {
    match request.version() {
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}
