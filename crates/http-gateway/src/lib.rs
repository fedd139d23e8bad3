//! Lambent's HTTP front doors, without the HTTP server: what turns an HTTP request into the event a
//! function receives and the function's answer back into an HTTP response, for function URLs and
//! for the HTTP API route table.
//!
//! Everything here is pure (no I/O except the route table's SQLite file) so that the wire formats
//! can be tested exhaustively; `lambent-api` owns the sockets, authentication and the invoker.
//!
//! - [`request`]: the request as received, with Lambda's limits on size;
//! - [`event`]: payload format 2.0 (function URLs, HTTP API) and 1.0 (REST API style);
//! - [`response`]: Lambda's rules for reading a function's result as an HTTP response;
//! - [`cors`]: a function URL's CORS settings, preflight answers and response headers;
//! - [`host`]: which URL or API a host name names;
//! - [`streaming`]: the HTTP integration prelude of `RESPONSE_STREAM` function URLs;
//! - [`routes`]: the route table (`GET /items/{id}`, `ANY /{proxy+}`, `$default`) and its store.

pub mod cors;
pub mod event;
pub mod host;
pub mod request;
pub mod response;
pub mod routes;
pub mod streaming;

pub use request::{HttpRequest, RequestError};
pub use response::{HttpResponse, ResponseError};

/// Lambda's limit on a synchronous request and response (the event and the function's result).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
