use crate::streaming::{self, StreamingResult};
use crate::{InitOutcome, Invocation, InvocationResult, MAX_RESPONSE_BYTES};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime";

/// The header a runtime sets on `/response` to stream its answer; `streaming` is the only mode.
const RESPONSE_MODE_HEADER: &str = "Lambda-Runtime-Function-Response-Mode";

/// The invoker's handle on one environment's Runtime API.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    events: mpsc::Sender<Invocation>,
    init: watch::Receiver<Option<InitOutcome>>,
    /// Where a pre-started runtime's environment comes from (see [`RuntimeApi::specialize`]).
    environment: Mutex<Option<oneshot::Sender<Bytes>>>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// The runtime's `/next` calls take events from here, one at a time.
    events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    /// The invocation handed out and not yet answered, with where its result goes.
    current: Mutex<Option<Outstanding>>,
    init: watch::Sender<Option<InitOutcome>>,
    /// Answers the one `GET .../lambent/environment` of a pre-started runtime.
    environment: tokio::sync::Mutex<Option<oneshot::Receiver<Bytes>>>,
}

struct Outstanding {
    request_id: String,
    result: ResultSender,
}

/// Where an invocation's result goes: the invoker either waits for a whole result, or wants a
/// streamed response forwarded as it arrives.
enum ResultSender {
    Buffered(oneshot::Sender<InvocationResult>),
    Streaming(oneshot::Sender<StreamingResult>),
}

impl ResultSender {
    fn send(self, result: InvocationResult) {
        let _ = match self {
            Self::Buffered(tx) => tx.send(result).map_err(drop),
            Self::Streaming(tx) => tx.send(StreamingResult::Buffered(result)).map_err(drop),
        };
    }
}

/// Serves the Runtime API on `listener` until the returned handle is dropped.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<RuntimeApi> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (events_tx, events_rx) = mpsc::channel(1);
    let (init_tx, init_rx) = watch::channel(None);
    let (environment_tx, environment_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        events: tokio::sync::Mutex::new(events_rx),
        current: Mutex::new(None),
        init: init_tx,
        environment: tokio::sync::Mutex::new(Some(environment_rx)),
    });
    let accept_shared = Arc::clone(&shared);
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = Arc::clone(&accept_shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&shared), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(RuntimeApi {
        shared,
        events: events_tx,
        init: init_rx,
        environment: Mutex::new(Some(environment_tx)),
        server,
    })
}

impl RuntimeApi {
    /// Waits until the runtime finishes Init: its first `/next` or an `init/error`.
    pub async fn init_outcome(&mut self) -> InitOutcome {
        loop {
            if let Some(outcome) = self.init.borrow_and_update().clone() {
                return outcome;
            }
            if self.init.changed().await.is_err() {
                return InitOutcome::Failed {
                    body: Bytes::new(),
                    error_type: None,
                };
            }
        }
    }

    /// Hands a pre-started runtime the environment variables of the function it now serves,
    /// answering its `GET /2018-06-01/runtime/lambent/environment` (Lambent's own addition to
    /// the Runtime API, used only by its bootstraps). Only the first call has an effect.
    pub fn specialize(&self, environment: &[(String, String)]) {
        let body: serde_json::Map<String, serde_json::Value> = environment
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let sender = self.environment.lock().ok().and_then(|mut s| s.take());
        if let Some(sender) = sender {
            let _ = sender.send(Bytes::from(serde_json::Value::Object(body).to_string()));
        }
    }

    /// Hands an invocation to the runtime and returns where its result will arrive. The result
    /// channel closes without a value if the environment goes away first.
    pub async fn dispatch(&self, invocation: Invocation) -> oneshot::Receiver<InvocationResult> {
        let (tx, rx) = oneshot::channel();
        self.hand_out(invocation, ResultSender::Buffered(tx)).await;
        rx
    }

    /// Like [`RuntimeApi::dispatch`], for a caller that takes the response as a stream: a
    /// runtime that answers in streaming mode is forwarded chunk by chunk
    /// ([`StreamingResult::Stream`]); any other answer arrives whole
    /// ([`StreamingResult::Buffered`]). Either way the runtime is never kept waiting on the
    /// caller beyond a few chunks of back-pressure.
    pub async fn dispatch_streaming(
        &self,
        invocation: Invocation,
    ) -> oneshot::Receiver<StreamingResult> {
        let (tx, rx) = oneshot::channel();
        self.hand_out(invocation, ResultSender::Streaming(tx)).await;
        rx
    }

    async fn hand_out(&self, invocation: Invocation, result: ResultSender) {
        if let Ok(mut current) = self.shared.current.lock() {
            *current = Some(Outstanding {
                request_id: invocation.request_id.clone(),
                result,
            });
        }
        // Capacity 1 and one invocation at a time: this never waits for long.
        let _ = self.events.send(invocation).await;
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Reply = Response<Full<Bytes>>;

fn json_reply(status: StatusCode, body: serde_json::Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_reply(status: StatusCode, error_type: &str, message: &str) -> Reply {
    json_reply(
        status,
        serde_json::json!({ "errorMessage": message, "errorType": error_type }),
    )
}

fn accepted() -> Reply {
    json_reply(StatusCode::ACCEPTED, serde_json::json!({ "status": "OK" }))
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Reply, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(error_reply(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            "Not found",
        ));
    };
    let reply = match (req.method().clone(), rest) {
        (Method::GET, "/invocation/next") => next(&shared).await,
        (Method::GET, "/lambent/environment") => environment(&shared).await,
        (Method::POST, "/init/error") => {
            let error_type = header(&req, "Lambda-Runtime-Function-Error-Type");
            let body = read_body(req).await.unwrap_or_default();
            let _ = shared
                .init
                .send(Some(InitOutcome::Failed { body, error_type }));
            accepted()
        }
        (Method::POST, rest) => match rest
            .strip_prefix("/invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, "response")) => {
                let id = id.to_owned();
                response(&shared, &id, req).await
            }
            Some((id, "error")) => {
                let id = id.to_owned();
                let error_type = header(&req, "Lambda-Runtime-Function-Error-Type");
                let body = read_body(req).await.unwrap_or_default();
                complete(&shared, &id, InvocationResult::Error { body, error_type })
            }
            _ => error_reply(StatusCode::NOT_FOUND, "InvalidRequest", "Not found"),
        },
        _ => error_reply(StatusCode::NOT_FOUND, "InvalidRequest", "Not found"),
    };
    Ok(reply)
}

/// A pre-started runtime's wait for its function: answered once, when the invoker specialises
/// the environment; refused afterwards, so function code learns nothing from it.
async fn environment(shared: &Shared) -> Reply {
    let Some(receiver) = shared.environment.lock().await.take() else {
        return error_reply(
            StatusCode::FORBIDDEN,
            "InvalidRequest",
            "The environment was already handed out.",
        );
    };
    match receiver.await {
        Ok(body) => {
            let mut response = Response::new(Full::new(body));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(_) => error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "shutting down",
        ),
    }
}

/// The long poll: marks Init done on first call, then blocks until the invoker sends an event.
async fn next(shared: &Shared) -> Reply {
    shared.init.send_if_modified(|state| {
        if state.is_none() {
            *state = Some(InitOutcome::Ready);
            true
        } else {
            false
        }
    });
    let mut events = shared.events.lock().await;
    let Some(invocation) = events.recv().await else {
        return error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "shutting down",
        );
    };
    drop(events);
    let mut response = Response::new(Full::new(invocation.payload));
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put("Lambda-Runtime-Aws-Request-Id", &invocation.request_id);
    put(
        "Lambda-Runtime-Deadline-Ms",
        &invocation.deadline_ms.to_string(),
    );
    put(
        "Lambda-Runtime-Invoked-Function-Arn",
        &invocation.invoked_function_arn,
    );
    if let Some(trace) = &invocation.trace_id {
        put("Lambda-Runtime-Trace-Id", trace);
    }
    if let Some(context) = &invocation.client_context {
        put("Lambda-Runtime-Client-Context", context);
    }
    put("Content-Type", "application/json");
    response
}

/// `POST /invocation/{id}/response`: a whole response, or (with the response-mode header) a
/// streamed one.
async fn response(shared: &Shared, id: &str, req: Request<Incoming>) -> Reply {
    let content_type = header(&req, "content-type");
    let streaming = match header(&req, RESPONSE_MODE_HEADER) {
        None => false,
        Some(mode) if mode.eq_ignore_ascii_case("streaming") => true,
        Some(mode) => {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "InvalidFunctionResponseMode",
                &format!("Invalid response mode: {mode}"),
            );
        }
    };
    if !streaming {
        let result = read_buffered(req, content_type).await;
        let too_large = result == InvocationResult::ResponseTooLarge;
        let reply = complete(shared, id, result);
        return if too_large && reply.status() == StatusCode::ACCEPTED {
            too_large_reply(MAX_RESPONSE_BYTES)
        } else {
            reply
        };
    }
    // The invocation is claimed before the body is read: its first chunk must reach the invoker
    // as soon as it arrives, and a wrong request id is refused before the runtime streams.
    let outstanding = match claim(shared, id) {
        Ok(outstanding) => outstanding,
        Err(reply) => return *reply,
    };
    match outstanding.result {
        ResultSender::Streaming(result) => {
            let (frames_tx, frames) = streaming::channel();
            let _ = result.send(StreamingResult::Stream {
                content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
                frames,
            });
            if streaming::forward(req.into_body(), frames_tx).await {
                too_large_reply(crate::MAX_STREAMED_RESPONSE_BYTES)
            } else {
                accepted()
            }
        }
        // The caller wants the whole response (an ordinary Invoke of a streaming function).
        buffered @ ResultSender::Buffered(_) => {
            let result = read_buffered(req, content_type).await;
            let too_large = result == InvocationResult::ResponseTooLarge;
            buffered.send(result);
            if too_large {
                too_large_reply(MAX_RESPONSE_BYTES)
            } else {
                accepted()
            }
        }
    }
}

fn too_large_reply(limit: usize) -> Reply {
    error_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("Exceeded maximum allowed payload size ({limit} bytes)."),
    )
}

fn complete(shared: &Shared, request_id: &str, result: InvocationResult) -> Reply {
    match claim(shared, request_id) {
        Ok(outstanding) => {
            outstanding.result.send(result);
            accepted()
        }
        Err(reply) => *reply,
    }
}

/// Takes the outstanding invocation if `request_id` is the one handed out; otherwise the reply
/// that refuses the runtime's post.
fn claim(shared: &Shared, request_id: &str) -> Result<Outstanding, Box<Reply>> {
    let Ok(mut current) = shared.current.lock() else {
        return Err(Box::new(error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "state lock",
        )));
    };
    match current.take() {
        Some(outstanding) if outstanding.request_id == request_id => Ok(outstanding),
        Some(other) => {
            *current = Some(other);
            Err(Box::new(error_reply(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            )))
        }
        None => Err(Box::new(error_reply(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "Transition from Ready to Response or Error is not allowed",
        ))),
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn read_body(req: Request<Incoming>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

/// How much of an oversized response is read and discarded so that the runtime's connection
/// stays usable (a runtime whose post is cut off mid-body fails with a broken pipe). Beyond this
/// the connection is dropped.
const MAX_DISCARDED_BYTES: usize = 64 * 1024 * 1024;

/// Reads a whole response: [`InvocationResult::ResponseTooLarge`] beyond [`MAX_RESPONSE_BYTES`]
/// (the rest is consumed), an error when a streamed body ended with error trailers.
async fn read_buffered(req: Request<Incoming>, content_type: Option<String>) -> InvocationResult {
    let mut body = req.into_body();
    let mut collected = Vec::new();
    let mut seen = 0usize;
    let mut trailer_error = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            seen += data.len();
            if seen <= MAX_RESPONSE_BYTES {
                collected.extend_from_slice(data);
            } else if seen > MAX_DISCARDED_BYTES {
                break;
            }
        } else if let Some(trailers) = frame.trailers_ref() {
            trailer_error = streaming::trailer_error(trailers);
        }
    }
    if seen > MAX_RESPONSE_BYTES {
        return InvocationResult::ResponseTooLarge;
    }
    match trailer_error {
        Some(crate::StreamEnd::Error { error_type, body }) => {
            InvocationResult::Error { body, error_type }
        }
        _ => InvocationResult::Response {
            body: Bytes::from(collected),
            content_type,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    fn invocation(request_id: &str) -> Invocation {
        Invocation {
            request_id: request_id.into(),
            payload: Bytes::from_static(b"{}"),
            deadline_ms: 0,
            invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            trace_id: None,
            client_context: None,
        }
    }

    /// Starts a streamed `/response` for `id` on a new connection and returns it.
    async fn start_stream(address: std::net::SocketAddr, id: &str) -> tokio::net::TcpStream {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let head = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\n\
             Lambda-Runtime-Function-Response-Mode: streaming\r\n\
             Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\
             Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        stream
    }

    async fn chunk(stream: &mut tokio::net::TcpStream, data: &[u8]) {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        stream.write_all(&out).await.expect("write chunk");
    }

    async fn next_frame(frames: &mut mpsc::Receiver<crate::StreamFrame>) -> crate::StreamFrame {
        tokio::time::timeout(std::time::Duration::from_secs(5), frames.recv())
            .await
            .expect("a frame in time")
            .expect("a frame")
    }

    #[tokio::test]
    async fn streamed_chunks_are_forwarded_as_they_arrive_and_trailers_end_them() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let api = serve(listener).expect("serve");
        let result = api.dispatch_streaming(invocation("r1")).await;
        let next = get(address, "/2018-06-01/runtime/invocation/next").await;
        assert!(
            next.contains("Lambda-Runtime-Aws-Request-Id: r1")
                || next.contains("lambda-runtime-aws-request-id: r1"),
            "{next}"
        );

        let mut stream = start_stream(address, "r1").await;
        chunk(&mut stream, b"first").await;
        let StreamingResult::Stream {
            content_type,
            mut frames,
        } = result.await.expect("result")
        else {
            panic!("not streamed");
        };
        assert_eq!(content_type, "text/plain");
        // The first chunk arrives while the runtime has not written the second one yet.
        assert_eq!(
            next_frame(&mut frames).await,
            crate::StreamFrame::Data(Bytes::from_static(b"first"))
        );
        chunk(&mut stream, b"second").await;
        assert_eq!(
            next_frame(&mut frames).await,
            crate::StreamFrame::Data(Bytes::from_static(b"second"))
        );
        stream
            .write_all(
                b"0\r\nLambda-Runtime-Function-Error-Type: Error\r\n\
                  Lambda-Runtime-Function-Error-Body: eyJlcnJvclR5cGUiOiJFcnJvciJ9\r\n\r\n",
            )
            .await
            .expect("trailers");
        assert_eq!(
            next_frame(&mut frames).await,
            crate::StreamFrame::End(crate::StreamEnd::Error {
                error_type: Some("Error".into()),
                body: Bytes::from_static(br#"{"errorType":"Error"}"#),
            })
        );
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("reply");
        assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
    }

    #[tokio::test]
    async fn a_streamed_response_to_a_buffered_invocation_is_collected() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let api = serve(listener).expect("serve");
        let result = api.dispatch(invocation("r2")).await;
        let _ = get(address, "/2018-06-01/runtime/invocation/next").await;
        let mut stream = start_stream(address, "r2").await;
        chunk(&mut stream, b"hello ").await;
        chunk(&mut stream, b"world").await;
        stream.write_all(b"0\r\n\r\n").await.expect("end");
        assert_eq!(
            result.await.expect("result"),
            InvocationResult::Response {
                body: Bytes::from_static(b"hello world"),
                content_type: Some("text/plain".into()),
            }
        );
    }

    #[tokio::test]
    async fn an_unknown_response_mode_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let _api = serve(listener).expect("serve");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream
            .write_all(
                b"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\n\
                  Lambda-Runtime-Function-Response-Mode: buffered-please\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await
            .expect("write");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("reply");
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
        assert!(reply.contains("InvalidFunctionResponseMode"), "{reply}");
    }

    #[tokio::test]
    async fn environment_waits_for_specialize_and_is_handed_out_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let api = serve(listener).expect("serve");
        let path = "/2018-06-01/runtime/lambent/environment";
        let waiting = tokio::spawn(get(address, path));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "answered before specialize");
        api.specialize(&[("_HANDLER".into(), "app.handler".into())]);
        let first = waiting.await.expect("join");
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(first.ends_with(r#"{"_HANDLER":"app.handler"}"#), "{first}");
        let second = get(address, path).await;
        assert!(second.starts_with("HTTP/1.1 403"), "{second}");
    }
}
