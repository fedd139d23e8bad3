//! The floor: a minimal Lambda Runtime API server with no platform behind it.
//!
//! `POST /invoke` queues the request body as an event and hands it to the next runtime waiting
//! in `GET /2018-06-01/runtime/invocation/next` (a long poll); the runtime's
//! `POST .../invocation/ID/response` answers the waiting `/invoke`. That is the whole synchronous
//! invoke path, without routing, pools, sandboxes, logs or accounting. `GET /hello` is the bare
//! HTTP round trip floor. It runs as its own process (`lambent-bench __floor-server`), on a tokio
//! multi-thread runtime with the default number of workers, as the `lambent` server does, so its
//! CPU time can be read from `/proc/<pid>/stat` exactly like the server's.
//!
//! Control endpoints for the harness: `GET /__nexts` returns the CLOCK_MONOTONIC times (ns) of
//! every `/next` received since the last `POST /__reset`; `POST /__sink` reads and discards a
//! body (the upload part of the deploy floor).
//!
//! S6's durable-write floors (`POST /enqueue/fsync`, `POST /enqueue/group`, opened by
//! `POST /__durable`) are in `durable.rs`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

use crate::durable::Durable;
use crate::machine::mono_ns;

struct Event {
    id: u64,
    body: Bytes,
}

struct Outcome {
    body: Bytes,
    error: bool,
}

struct State {
    events_tx: mpsc::Sender<Event>,
    events_rx: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next_id: AtomicU64,
    nexts: Mutex<Vec<u64>>,
    arrived: tokio::sync::Notify,
    durable: Durable,
}

const PREFIX: &str = "/2018-06-01/runtime";
const MAX_NEXTS: usize = 100_000;

/// Entry point of `lambent-bench __floor-server`: serves until killed or until stdin closes.
pub fn serve_main() -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening {addr}");
            let _ = out.flush();
        }
        let (events_tx, events_rx) = mpsc::channel(1024);
        let state = Arc::new(State {
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            nexts: Mutex::new(Vec::new()),
            arrived: tokio::sync::Notify::new(),
            durable: Durable::default(),
        });
        // Lifeline: the harness holds our stdin; when it goes away, so do we.
        tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            while let Ok(n) = std::io::Read::read(&mut lock, &mut sink) {
                if n == 0 {
                    break;
                }
            }
            std::process::exit(0);
        });
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&state), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn body_of(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let r = match (method, path.as_str()) {
        (Method::GET, "/hello") => reply(StatusCode::OK, "hello"),
        (Method::POST, "/invoke") => invoke(&state, body_of(req).await).await,
        (Method::POST, "/__sink") => {
            let n = body_of(req).await.len();
            reply(StatusCode::OK, format!("{n}"))
        }
        (Method::POST, "/enqueue/fsync") => {
            let body = body_of(req).await;
            accepted(state.durable.enqueue_fsync(body).await)
        }
        (Method::POST, "/enqueue/group") => {
            let body = body_of(req).await;
            accepted(state.durable.enqueue_group(body).await)
        }
        (Method::POST, "/__durable") => {
            let dir = String::from_utf8_lossy(&body_of(req).await).into_owned();
            match state.durable.open(std::path::Path::new(dir.trim())) {
                Ok(()) => reply(StatusCode::OK, "{}"),
                Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (Method::POST, "/__reset") => {
            state.nexts.lock().expect("lock").clear();
            reply(StatusCode::OK, "{}")
        }
        (Method::GET, "/__nexts") => {
            let want: usize = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("n="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let nexts = wait_for_nexts(&state, want).await;
            reply(
                StatusCode::OK,
                serde_json::to_vec(&nexts).unwrap_or_default(),
            )
        }
        (Method::GET, p) if p == format!("{PREFIX}/invocation/next") => next(&state).await,
        (Method::POST, p) if p == format!("{PREFIX}/init/error") => {
            let _ = body_of(req).await;
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        (Method::POST, p) => {
            let rest = p
                .strip_prefix(PREFIX)
                .and_then(|r| r.strip_prefix("/invocation/"))
                .and_then(|r| r.rsplit_once('/'));
            match rest {
                Some((id, kind @ ("response" | "error"))) => {
                    let error = kind == "error";
                    let id: u64 = id.parse().unwrap_or(0);
                    let body = body_of(req).await;
                    let waiter = state.pending.lock().expect("lock").remove(&id);
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(Outcome { body, error });
                            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
                        }
                        None => reply(StatusCode::BAD_REQUEST, r#"{"errorType":"InvalidId"}"#),
                    }
                }
                _ => reply(StatusCode::NOT_FOUND, "{}"),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "{}"),
    };
    Ok(r)
}

/// 202 with the request id once the write is durable, as Lambent's asynchronous Invoke answers.
fn accepted(stored: Result<String, crate::durable::DurableError>) -> Reply {
    match stored {
        Ok(request_id) => {
            let mut r = reply(StatusCode::ACCEPTED, Bytes::new());
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                r.headers_mut().insert("x-amzn-requestid", v);
            }
            r
        }
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn invoke(state: &State, body: Bytes) -> Reply {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    state.pending.lock().expect("lock").insert(id, tx);
    if state.events_tx.send(Event { id, body }).await.is_err() {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    }
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(outcome)) => {
            let mut r = reply(StatusCode::OK, outcome.body);
            if outcome.error {
                r.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            r
        }
        _ => {
            state.pending.lock().expect("lock").remove(&id);
            reply(StatusCode::GATEWAY_TIMEOUT, r#"{"errorType":"Timeout"}"#)
        }
    }
}

/// The recorded `/next` times once there are at least `want` of them (at most 120 s).
async fn wait_for_nexts(state: &State, want: usize) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let notified = state.arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let nexts = state.nexts.lock().expect("lock");
            if nexts.len() >= want {
                return nexts.clone();
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return state.nexts.lock().expect("lock").clone();
        }
    }
}

async fn next(state: &State) -> Reply {
    {
        let now = mono_ns();
        let mut nexts = state.nexts.lock().expect("lock");
        if nexts.len() < MAX_NEXTS {
            nexts.push(now);
        }
    }
    state.arrived.notify_waiters();
    let event = {
        let mut rx = state.events_rx.lock().await;
        rx.recv().await
    };
    let Some(event) = event else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    };
    let deadline_ms = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut r = reply(StatusCode::OK, event.body);
    let h = r.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", event.id.to_string());
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:floor".to_string(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
    );
    r
}
