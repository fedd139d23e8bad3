//! Test harness: a fake Runtime API (std::net, hand-written HTTP/1.1) and a runner that starts
//! a bundled bootstrap on the host against it.
//!
//! Synchronisation is on the HTTP exchanges themselves: a test queues an event, the runtime's
//! `GET /next` takes it, and the test blocks until the runtime's `POST` for that request id has
//! arrived. Every wait has a generous deadline so that a broken runtime fails the test instead
//! of hanging it; nothing sleeps.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambent_runtimes::{RuntimeTable, install};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test-fn";
pub const TRACE_ID: &str =
    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    Response,
    Error,
    InitError,
}

/// One POST the runtime made.
#[derive(Debug, Clone)]
pub struct Post {
    pub kind: PostKind,
    /// `None` for init errors.
    pub request_id: Option<String>,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub trailers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the fake API answered with.
    pub status: u16,
    /// Which TCP connection (0, 1, …) carried it.
    pub connection: usize,
}

impl Post {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "posted body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("posted body is not UTF-8")
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An event to hand out on `/next`.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: bool,
    /// Answer with `Connection: close` and close the connection afterwards.
    pub close: bool,
}

impl Invocation {
    /// The headers Lambda sends: request id, deadline (now + `timeout`), ARN, trace id.
    pub fn new(body: impl Into<Vec<u8>>, timeout: Duration) -> Invocation {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("6f8e1c0a-1d4e-4b1e-9d3c-{:012x}", n);
        let deadline = epoch_ms() + timeout.as_millis() as u64;
        Invocation {
            headers: vec![
                ("Lambda-Runtime-Aws-Request-Id".into(), request_id.clone()),
                ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn".into(),
                    FUNCTION_ARN.into(),
                ),
                ("Lambda-Runtime-Trace-Id".into(), TRACE_ID.into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            request_id,
            body: body.into(),
            chunked: false,
            close: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Invocation {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Default)]
struct State {
    pending: VecDeque<Invocation>,
    handed_out: Vec<String>,
    posts: Vec<Post>,
    next_calls: usize,
    connections: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` returns `Some`, or panics after [`WAIT`].
    fn wait_for<T>(&self, what: &str, mut ready: impl FnMut(&mut State) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut state = self.lock();
        loop {
            if let Some(value) = ready(&mut state) {
                return value;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out waiting for {what}; posts so far: {:#?}",
                    state
                        .posts
                        .iter()
                        .map(|p| (
                            p.kind,
                            p.request_id.clone(),
                            String::from_utf8_lossy(&p.body[..p.body.len().min(500)]).into_owned()
                        ))
                        .collect::<Vec<_>>()
                );
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The fake Runtime API.
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeApi {
    pub fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let accept_shared = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = accept_shared.clone();
                let connection = {
                    let mut state = shared.lock();
                    if state.closed {
                        return;
                    }
                    state.connections += 1;
                    state.connections - 1
                };
                thread::spawn(move || serve_connection(stream, shared, connection));
            }
        });
        FakeApi { addr, shared }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event with Lambda's usual headers and a 60 s deadline; returns its request id.
    pub fn invoke(&self, body: impl Into<Vec<u8>>) -> String {
        self.invoke_with(Invocation::new(body, Duration::from_secs(60)))
    }

    pub fn invoke_with(&self, invocation: Invocation) -> String {
        let id = invocation.request_id.clone();
        self.shared.lock().pending.push_back(invocation);
        self.shared.changed.notify_all();
        id
    }

    /// Waits for the response or error posted for `request_id`.
    pub fn wait_result(&self, request_id: &str) -> Post {
        self.shared
            .wait_for(&format!("the result of {request_id}"), |state| {
                state
                    .posts
                    .iter()
                    .find(|p| p.request_id.as_deref() == Some(request_id))
                    .cloned()
            })
    }

    /// Queues an event and waits for its result.
    pub fn roundtrip(&self, body: impl Into<Vec<u8>>) -> Post {
        let id = self.invoke(body);
        self.wait_result(&id)
    }

    pub fn roundtrip_with(&self, invocation: Invocation) -> Post {
        let id = self.invoke_with(invocation);
        self.wait_result(&id)
    }

    pub fn wait_init_error(&self) -> Post {
        self.shared.wait_for("an init error", |state| {
            state
                .posts
                .iter()
                .find(|p| p.kind == PostKind::InitError)
                .cloned()
        })
    }

    /// Waits until the runtime has made `n` `GET /next` requests in total (that is, is idle and
    /// waiting for work after `n - 1` invocations).
    pub fn wait_next_calls(&self, n: usize) {
        self.shared
            .wait_for(&format!("{n} calls of /next"), |state| {
                (state.next_calls >= n).then_some(())
            })
    }

    pub fn posts(&self) -> Vec<Post> {
        self.shared.lock().posts.clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    trailers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            Some(String::from_utf8(line).expect("non-UTF-8 header line"))
        }
    }
}

fn read_fields(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Some(fields);
        }
        let (name, value) = line.split_once(':').expect("malformed header line");
        fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "request line {request_line:?}"
    );
    let headers = read_fields(reader)?;
    let mut body = Vec::new();
    let mut trailers = Vec::new();
    if find(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                trailers = read_fields(reader)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
            assert_eq!(&crlf, b"\r\n");
        }
    } else if let Some(len) = find(&headers, "content-length") {
        body.resize(len.parse().expect("bad content-length"), 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        trailers,
        body,
    })
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

fn write_chunked(
    stream: &mut TcpStream,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n".to_vec();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    // Uneven chunk sizes, so that chunk boundaries fall inside multi-byte characters.
    for chunk in body.chunks(7777) {
        out.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    stream.write_all(&out)?;
    stream.flush()
}

fn serve_connection(stream: TcpStream, shared: Arc<Shared>, connection: usize) {
    stream.set_nodelay(true).ok();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let json = vec![("Content-Type".to_string(), "application/json".to_string())];
        let result = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                shared.lock().next_calls += 1;
                shared.changed.notify_all();
                let invocation = {
                    let mut state = shared.lock();
                    loop {
                        if state.closed {
                            return;
                        }
                        if let Some(inv) = state.pending.pop_front() {
                            state.handed_out.push(inv.request_id.clone());
                            break inv;
                        }
                        state = shared
                            .changed
                            .wait(state)
                            .unwrap_or_else(|e| e.into_inner());
                    }
                };
                let mut headers = invocation.headers.clone();
                if invocation.close {
                    headers.push(("Connection".into(), "close".into()));
                }
                let written = if invocation.chunked {
                    write_chunked(&mut writer, &headers, &invocation.body)
                } else {
                    write_response(&mut writer, 200, &headers, &invocation.body)
                };
                if invocation.close {
                    return;
                }
                written
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                record(&shared, PostKind::InitError, None, request, 202, connection);
                write_response(&mut writer, 202, &json, br#"{"status":"OK"}"#)
            }
            ("POST", path) if path.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &path["/2018-06-01/runtime/invocation/".len()..];
                let (id, kind) = match rest.rsplit_once('/') {
                    Some((id, "response")) => (id.to_string(), PostKind::Response),
                    Some((id, "error")) => (id.to_string(), PostKind::Error),
                    _ => {
                        write_response(&mut writer, 404, &json, b"{}").ok();
                        continue;
                    }
                };
                let (status, body): (u16, &[u8]) = {
                    let state = shared.lock();
                    if !state.handed_out.contains(&id) {
                        (400, br#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#)
                    } else if state
                        .posts
                        .iter()
                        .any(|p| p.request_id.as_deref() == Some(&id))
                    {
                        (403, br#"{"errorMessage":"Invalid state transition","errorType":"InvalidStateTransition"}"#)
                    } else {
                        (202, br#"{"status":"OK"}"#)
                    }
                };
                record(&shared, kind, Some(id), request, status, connection);
                write_response(&mut writer, status, &json, body)
            }
            _ => write_response(&mut writer, 404, &json, b"{}"),
        };
        if result.is_err() {
            return;
        }
    }
}

fn record(
    shared: &Shared,
    kind: PostKind,
    request_id: Option<String>,
    request: Request,
    status: u16,
    connection: usize,
) {
    shared.lock().posts.push(Post {
        kind,
        request_id,
        headers: request.headers,
        trailers: request.trailers,
        body: request.body,
        status,
        connection,
    });
    shared.changed.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Output capture

#[derive(Default)]
struct Lines {
    /// Everything read so far.
    bytes: Vec<u8>,
    eof: bool,
}

impl Lines {
    /// The output split at newlines; a trailing partial line is included.
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }
}

#[derive(Clone)]
pub struct Output {
    inner: Arc<(Mutex<Lines>, Condvar)>,
}

impl Output {
    fn capture(mut source: impl Read + Send + 'static) -> Output {
        let output = Output {
            inner: Arc::new((Mutex::new(Lines::default()), Condvar::new())),
        };
        let sink = output.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = source.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sink.inner;
                let mut lines = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    lines.eof = true;
                    cv.notify_all();
                    return;
                }
                lines.bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        output
    }

    /// The output so far, split into lines (see [`Lines::lines`]).
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lines()
    }

    /// Waits for a line matching `pred` and returns it.
    pub fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let (lock, cv) = &*self.inner;
        let deadline = Instant::now() + WAIT;
        let mut lines = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(line) = lines.lines().into_iter().find(|l| pred(l)) {
                return line;
            }
            let now = Instant::now();
            assert!(
                !lines.eof && now < deadline,
                "no line with {what}; output: {:#?}",
                lines.lines()
            );
            lines = cv
                .wait_timeout(lines, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until the stream is closed (the process has exited or closed it).
    pub fn wait_eof(&self) {
        let (lock, cv) = &*self.inner;
        let deadline = Instant::now() + WAIT;
        let mut lines = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !lines.eof {
            let now = Instant::now();
            assert!(now < deadline, "output never closed: {:#?}", lines.lines());
            lines = cv
                .wait_timeout(lines, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running a bootstrap

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Node,
}

/// A function's code in a temporary task root plus the installed runtime directory.
pub struct Function {
    pub dir: tempfile::TempDir,
    runtime_dir: tempfile::TempDir,
    lang: Lang,
    runtime_id: String,
    handler: String,
    env: Vec<(String, String)>,
    exec_wrapper: Option<String>,
}

impl Function {
    pub fn new(lang: Lang, runtime_id: &str, handler: &str) -> Function {
        let runtime_dir = tempfile::tempdir().unwrap();
        install(runtime_dir.path()).unwrap();
        Function {
            dir: tempfile::tempdir().unwrap(),
            runtime_dir,
            lang,
            runtime_id: runtime_id.to_string(),
            handler: handler.to_string(),
            env: Vec::new(),
            exec_wrapper: None,
        }
    }

    pub fn python(handler: &str) -> Function {
        Function::new(Lang::Python, "python3.12", handler)
    }

    pub fn node(handler: &str) -> Function {
        Function::new(Lang::Node, "nodejs20.x", handler)
    }

    /// Writes a file of the function's code (creating directories).
    pub fn file(self, name: &str, contents: &str) -> Function {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Function {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Starts the runtime through an `AWS_LAMBDA_EXEC_WRAPPER` script (a path on the host).
    pub fn exec_wrapper(mut self, path: &Path) -> Function {
        self.exec_wrapper = Some(path.to_str().unwrap().to_string());
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The installed bootstrap on the host.
    pub fn bootstrap_path(&self) -> PathBuf {
        match self.lang {
            Lang::Python => self.runtime_dir.path().join("python/bootstrap.py"),
            Lang::Node => self.runtime_dir.path().join("node/bootstrap.mjs"),
        }
    }

    /// Starts the runtime against `api` the way the sandbox would (argv and environment from
    /// [`RuntimeTable::launch`], with the in-sandbox paths mapped to the temporary ones).
    pub fn start(&self, api: &FakeApi) -> Runtime {
        let mut launch = RuntimeTable::default()
            .launch(&self.runtime_id)
            .expect("runtime id");
        if let Some(wrapper) = &self.exec_wrapper {
            launch = launch.with_exec_wrapper(wrapper);
        }
        let bootstrap = self.bootstrap_path();
        let argv: Vec<String> = launch
            .argv
            .iter()
            .map(|a| {
                if a.starts_with("/var/runtime/") {
                    bootstrap.to_string_lossy().into_owned()
                } else {
                    a.clone()
                }
            })
            .collect();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(self.root())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("_HANDLER", &self.handler)
            .env("LAMBDA_TASK_ROOT", self.root())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "test-fn")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test-fn")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef",
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start runtime");
        let stdout = Output::capture(child.stdout.take().unwrap());
        let stderr = Output::capture(child.stderr.take().unwrap());
        Runtime {
            child,
            stdout,
            stderr,
        }
    }
}

/// A running bootstrap; killed when dropped.
pub struct Runtime {
    child: Child,
    pub stdout: Output,
    pub stderr: Output,
}

impl Runtime {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after its stdout closed) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.stdout.wait_eof();
        self.stderr.wait_eof();
        self.child.wait().unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("runtime stdout: {:#?}", self.stdout.lines());
            eprintln!("runtime stderr: {:#?}", self.stderr.lines());
        }
    }
}

/// The JSON of a response post, asserting it is one.
pub fn response_json(post: &Post) -> serde_json::Value {
    assert_eq!(
        post.kind,
        PostKind::Response,
        "expected a response, got {:?}: {}",
        post.kind,
        String::from_utf8_lossy(&post.body)
    );
    assert_eq!(post.status, 202);
    post.json()
}

/// The JSON of an error post, asserting it is one.
pub fn error_json(post: &Post) -> serde_json::Value {
    assert_eq!(
        post.kind,
        PostKind::Error,
        "expected an error, got {:?}: {}",
        post.kind,
        String::from_utf8_lossy(&post.body)
    );
    assert_eq!(post.status, 202);
    post.json()
}

/// Matches `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_iso_millis(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// A JSON string of about `bytes` bytes of mixed non-ASCII text that no JSON encoder escapes,
/// so that its serialisation is canonical for both Python and Node.
pub fn big_unicode_json_string(bytes: usize) -> Vec<u8> {
    let unit = "héllo wörld ✓ 日本語 😀 Ω≈ç√ abc 0123456789 ";
    let mut s = String::with_capacity(bytes + unit.len() + 2);
    s.push('"');
    while s.len() < bytes {
        s.push_str(unit);
    }
    s.push('"');
    s.into_bytes()
}

/// Chunked `/next` bodies and a server that closes the connection: the runtime `f` (an echo
/// handler) must decode the chunks and reconnect.
pub fn check_chunked_and_closed_connections(f: &Function) {
    let api = FakeApi::start();
    let _rt = f.start(&api);
    let body = big_unicode_json_string(100_000);
    let mut inv = Invocation::new(body.clone(), Duration::from_secs(30));
    inv.chunked = true;
    assert_eq!(api.roundtrip_with(inv).body, body);
    assert_eq!(api.connections(), 1);

    let mut inv = Invocation::new(b"\"closing\"".to_vec(), Duration::from_secs(30));
    inv.close = true;
    let post = api.roundtrip_with(inv);
    assert_eq!(post.text(), "\"closing\"");
    assert_eq!(post.connection, 1, "the result went over a new connection");
    assert_eq!(api.roundtrip("\"after\"").text(), "\"after\"");
    assert_eq!(api.connections(), 2);
}
