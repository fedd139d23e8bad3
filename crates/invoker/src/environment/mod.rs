//! One execution environment: a runtime process tree, its Runtime API, its log capture. It runs
//! Init once and then invocations one at a time, with Lambda's timeout, crash and out-of-memory
//! semantics.

mod plain;
mod process;
mod sandboxed;

use crate::live::LiveGuard;
use crate::logs::{LogCapture, now_ms};
use crate::provisioned::{PinnedSlot, ProvisionedKey};
use crate::report::{self, Report};
use crate::settings::InvokerSettings;
use crate::streaming::StreamSink;
use bytes::Bytes;
use lambent_control::ResolvedFunction;
use lambent_runtime_api::{
    InitOutcome, Invocation, InvocationResult, MAX_RESPONSE_BYTES, MAX_STREAMED_RESPONSE_BYTES,
    RuntimeApi, StreamEnd, StreamFrame, StreamingResult,
};
use lambent_telemetry::LogSink;
use process::{ExitInfo, Process, wait_exit};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether environments are sandboxed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Namespaces, cgroups, privilege drop and seccomp (`lambent-sandbox`).
    Sandbox,
    /// A plain child process: no isolation at all. Development only.
    None,
}

/// Where the Runtime API listens inside a sandbox, as on Lambda.
pub const SANDBOX_RUNTIME_API: &str = "127.0.0.1:9001";

/// How much of the log `X-Amz-Log-Type: Tail` returns.
const TAIL_BYTES: usize = 4096;

/// What starting an environment uses from the invoker.
pub struct Host<'a> {
    pub settings: &'a InvokerSettings,
    pub sink: LogSink,
    /// Counts the environment as live until its sandbox is torn down.
    pub live: LiveGuard,
    /// Runtimes started ahead of demand, to take one from when the function allows it.
    pub prestarts: Option<&'a std::sync::Arc<crate::prestart::PrestartPool>>,
}

pub struct Environment {
    pub fingerprint: String,
    id: String,
    /// Lists this environment in the scaling view while it lives.
    ticket: Option<crate::scaling::EnvironmentTicket>,
    version: String,
    memory_mb: u32,
    timeout: Duration,
    process: Process,
    api: RuntimeApi,
    logs: LogCapture,
    /// Lines logged during Init; they open the first invocation's log tail.
    init_lines: Vec<String>,
    /// Set until the first invocation reports it (cold start).
    init_duration: Option<Duration>,
    /// Present when this is one of a provisioned-concurrency configuration's environments.
    pinned: Option<PinnedSlot>,
    /// Set until the first invocation is over when the start was eligible for a pre-started
    /// runtime: the pool's replacement starts then.
    refill: Option<Refill>,
}

/// A pre-started runtime pool to top up for a runtime.
struct Refill {
    pool: std::sync::Arc<crate::prestart::PrestartPool>,
    runtime: String,
}

impl Refill {
    fn start(self) {
        self.pool.refill(&self.runtime);
    }
}

/// What an invocation produced.
pub struct Outcome {
    /// The whole response or the error body; empty after a stream that completed.
    pub payload: Bytes,
    pub content_type: Option<String>,
    pub function_error: bool,
    pub tail: String,
    /// False when the environment must not be reused (timeout, crash, out of memory).
    pub reusable: bool,
    /// The response went to the caller as a stream (only [`Environment::invoke_streaming`]).
    pub streamed: bool,
    /// The figures of the REPORT line, for metering (`lambent-metering`): the same values, so
    /// usage reconciles exactly with the logs.
    pub report: ReportFigures,
}

/// What the REPORT line of an invocation said.
#[derive(Clone, Copy, Debug)]
pub struct ReportFigures {
    pub duration: Duration,
    pub billed_ms: u64,
    pub memory_mb: u32,
    /// Set for the first invocation of an on-demand environment (a cold start).
    pub init_duration: Option<Duration>,
    pub timed_out: bool,
}

/// One invocation's input.
pub struct Call<'a> {
    pub request_id: &'a str,
    pub invoked_arn: String,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
}

/// How long a stream that broke off may wait for the runtime's exit to be seen, so that a crash
/// is reported as the crash it was rather than as a truncated response.
const TRUNCATION_EXIT_GRACE: Duration = Duration::from_millis(200);

/// Init did not complete: the caller answers the invocation with this and discards the environment.
pub struct InitFailure {
    pub payload: Bytes,
    pub tail_lines: Vec<String>,
}

/// Why an environment could not even be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("runtime {0} is not served by this Lambent server")]
    UnsupportedRuntime(String),
    #[error("cannot start the execution environment: {0}")]
    Spawn(String),
}

impl Environment {
    /// Starts an environment for `function` and runs Init. `Ok(Err(..))` is a failed Init that
    /// the invocation reports to its caller as a function error.
    pub async fn start(
        function: &ResolvedFunction,
        fingerprint: String,
        host: Host<'_>,
        pinned: Option<PinnedSlot>,
        request_id: &str,
    ) -> Result<Result<Environment, InitFailure>, StartError> {
        let Host {
            settings,
            sink,
            live,
            prestarts,
        } = host;
        let config = &function.config;
        let started = Instant::now();
        let mut launch = settings
            .runtimes
            .launch(&config.runtime)
            .ok_or_else(|| StartError::UnsupportedRuntime(config.runtime.clone()))?;
        let plain_argv = launch.argv.clone();
        if let Some(wrapper) = config.environment.get("AWS_LAMBDA_EXEC_WRAPPER") {
            launch = launch.with_exec_wrapper(wrapper);
        }
        let argv = launch.resolve(|path| exists_inside(path, function));
        // A pool to take a pre-started runtime from and to refill once this start is done.
        let pool = prestarts.filter(|_| {
            settings.isolation == Isolation::Sandbox
                && argv
                    .as_ref()
                    .is_some_and(|argv| match prestart_kind(launch.family) {
                        PrestartKind::Interpreter => {
                            argv == &plain_argv
                                && matches_prestart(&launch, argv, &config.environment)
                        }
                        // Nothing runs before the attachment names the program.
                        PrestartKind::Sandbox => true,
                    })
        });
        let prestarted = pool.and_then(|pool| pool.take(&config.runtime));
        let id = prestarted.as_ref().map_or_else(
            || uuid::Uuid::new_v4().simple().to_string(),
            |p| p.id.clone(),
        );
        let stream = format!(
            "{}/[{}]{id}",
            chrono::Utc::now().format("%Y/%m/%d"),
            function.version
        );
        // Later entries win: the runtime's defaults, then Lambda's variables, then the function's
        // own (which may override e.g. PYTHONPATH, never a reserved variable: validation refuses those).
        let env_for = |api_address: &str| {
            let mut env: std::collections::BTreeMap<String, String> =
                launch.env.iter().cloned().collect();
            let initialization = if pinned.is_some() {
                "provisioned-concurrency"
            } else {
                "on-demand"
            };
            env.extend(lambda_variables(
                function,
                settings,
                &stream,
                api_address,
                initialization,
            ));
            env.extend(config.environment.clone());
            env.into_iter().collect::<Vec<(String, String)>>()
        };
        let log_group = config.logging.log_group.clone();
        let init_start = format!(
            "INIT_START Runtime Version: {}.lambent\tRuntime Version ARN: {}\n",
            config.runtime,
            lambent_control::runtime_version_arn(&config.runtime, &settings.region)
        );
        let Some(argv) = argv else {
            let message = format!(
                "RequestId: {request_id} Error: Couldn't find valid bootstrap(s): [{}]",
                launch.programs().collect::<Vec<_>>().join(" ")
            );
            return Ok(Err(InitFailure {
                payload: error_body("Runtime.InvalidEntrypoint", &message),
                tail_lines: vec![
                    init_start,
                    format!("{message}\nRuntime.InvalidEntrypoint\n"),
                ],
            }));
        };

        let spawned = match settings.isolation {
            Isolation::Sandbox => {
                let env = env_for(SANDBOX_RUNTIME_API);
                match prestarted {
                    Some(prestarted) => specialise(prestarted, function, argv, env).await?,
                    None => sandboxed::spawn(&id, function, settings, argv, env, live).await?,
                }
            }
            Isolation::None => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")
                    .map_err(|e| StartError::Spawn(e.to_string()))?;
                let address = listener
                    .local_addr()
                    .map_err(|e| StartError::Spawn(e.to_string()))?
                    .to_string();
                let env: Vec<(String, String)> = env_for(&address)
                    .into_iter()
                    .map(|(k, v)| {
                        let v = unsandboxed_path(&v, function, settings);
                        (k, v)
                    })
                    .collect();
                let argv: Vec<String> = argv
                    .iter()
                    .map(|a| unsandboxed_path(a, function, settings))
                    .collect();
                let api = lambent_runtime_api::serve(listener)
                    .map_err(|e| StartError::Spawn(e.to_string()))?;
                let child = plain::spawn(&argv, &env, &function.code_dir)
                    .map_err(|e| StartError::Spawn(format!("{}: {e}", argv[0])))?;
                Spawned {
                    process: Process::Plain(child.process),
                    api,
                    outputs: vec![child.stdout, child.stderr],
                }
            }
        };
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "environment spawned"
        );
        let logs = LogCapture::start(spawned.outputs, sink, log_group, stream)
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        logs.platform(std::slice::from_ref(&init_start)).await;
        let mut environment = Environment {
            fingerprint,
            id: id.clone(),
            ticket: None,
            version: function.version.clone(),
            memory_mb: config.memory_mb,
            timeout: Duration::from_secs(u64::from(config.timeout_seconds)),
            process: spawned.process,
            api: spawned.api,
            logs,
            init_lines: vec![init_start],
            init_duration: None,
            pinned,
            refill: None,
        };
        let init = environment
            .run_init(settings.init_timeout, request_id)
            .await;
        // The pool is refilled once this cold start is over (Init and, when an invocation waits
        // for it, that invocation), so that starting the replacement never slows it down.
        let refill = pool.map(|pool| Refill {
            pool: std::sync::Arc::clone(pool),
            runtime: config.runtime.clone(),
        });
        match init {
            Ok(()) => {
                environment
                    .process
                    .restrict_cpu(environment.memory_mb)
                    .await;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "environment initialised"
                );
                // Provisioned environments are initialised ahead of any call: Lambda reports no
                // Init Duration for the calls they serve.
                if environment.pinned.is_none() {
                    environment.init_duration = Some(started.elapsed());
                    environment.refill = refill;
                } else {
                    environment.init_lines.clear();
                    if let Some(refill) = refill {
                        refill.start();
                    }
                }
                Ok(Ok(environment))
            }
            Err(payload) => {
                if let Some(refill) = refill {
                    refill.start();
                }
                environment.process.kill();
                let mut lines = std::mem::take(&mut environment.init_lines);
                lines.extend(environment.logs.drain().await);
                Ok(Err(InitFailure {
                    payload,
                    tail_lines: lines,
                }))
            }
        }
    }

    /// The environment's id: its sandbox's cgroup name and the end of its log stream names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Keeps `ticket` (the environment's entry in the scaling view) as long as the environment.
    pub fn track(&mut self, ticket: crate::scaling::EnvironmentTicket) {
        self.ticket = Some(ticket);
    }

    /// Waits for the runtime's first `/next` (Init done) or its failure; on failure returns the
    /// error body the caller gets.
    async fn run_init(&mut self, limit: Duration, request_id: &str) -> Result<(), Bytes> {
        let exited = wait_exit(self.process.exited());
        let outcome = tokio::select! {
            biased;
            outcome = self.api.init_outcome() => Some(Ok(outcome)),
            info = exited => Some(Err(info)),
            () = tokio::time::sleep(limit) => None,
        };
        let failure = match outcome {
            Some(Ok(InitOutcome::Ready)) => return Ok(()),
            Some(Ok(InitOutcome::Failed { body, error_type })) => {
                let kind = error_type.unwrap_or_else(|| "Runtime.Unknown".into());
                let report = format!(
                    "INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: {kind}\n"
                );
                self.init_lines.push(report);
                if body.is_empty() {
                    error_body(&kind, "The runtime reported an initialization error.")
                } else {
                    body
                }
            }
            Some(Err(info)) => {
                let (kind, message) = self.exit_error(request_id, info).await;
                self.init_lines.push(format!("{message}\n{kind}\n"));
                error_body(kind, &message)
            }
            None => {
                let message = format!(
                    "RequestId: {request_id} Error: Init phase timed out after {:.2} seconds",
                    limit.as_secs_f64()
                );
                self.init_lines.push(format!(
                    "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout\n",
                    report::millis(limit)
                ));
                error_body("Sandbox.Timedout", &message)
            }
        };
        self.logs.platform(&self.init_lines[1..]).await;
        Err(failure)
    }

    /// Runs one invocation to completion.
    pub async fn invoke(
        &mut self,
        call: Call<'_>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Outcome {
        self.run(call, stop, None).await
    }

    /// Runs one invocation to completion, forwarding a streamed response to `sink` as the
    /// runtime writes it. A whole (non-streamed) response is returned in the outcome, as by
    /// [`Environment::invoke`]. The timeout covers the whole stream, back-pressure included.
    pub async fn invoke_streaming(
        &mut self,
        call: Call<'_>,
        stop: tokio::sync::watch::Receiver<bool>,
        sink: &mut StreamSink,
    ) -> Outcome {
        self.run(call, stop, Some(sink)).await
    }

    async fn run(
        &mut self,
        call: Call<'_>,
        stop: tokio::sync::watch::Receiver<bool>,
        sink: Option<&mut StreamSink>,
    ) -> Outcome {
        let Call {
            request_id,
            invoked_arn,
            payload,
            client_context,
            trace_id,
        } = call;
        self.process.thaw().await;
        let cold = self.init_duration.take();
        let start_line = report::start_line(request_id, &self.version);
        self.logs.platform(std::slice::from_ref(&start_line)).await;
        let mut tail = std::mem::take(&mut self.init_lines);
        tail.push(start_line);

        let started = Instant::now();
        let deadline_ms = u64::try_from(now_ms()).unwrap_or(0)
            + u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let invocation = Invocation {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms,
            invoked_function_arn: invoked_arn,
            trace_id,
            client_context,
        };
        let answer = match sink {
            None => {
                let result = self.api.dispatch(invocation).await;
                Box::pin(async move { result.await.map(Ended::Result) })
                    as std::pin::Pin<
                        Box<
                            dyn Future<
                                    Output = Result<Ended, tokio::sync::oneshot::error::RecvError>,
                                > + Send
                                + '_,
                        >,
                    >
            }
            Some(sink) => {
                let result = self.api.dispatch_streaming(invocation).await;
                Box::pin(pump(result, sink))
            }
        };
        let exited = wait_exit(self.process.exited());
        let ended = tokio::select! {
            // A result that arrived wins over the exit it may have caused (e.g. a runtime that
            // gives up after its oversized response was refused).
            biased;
            result = answer => match result {
                Ok(ended) => ended,
                Err(_) => Ended::Exited(wait_exit(self.process.exited()).await),
            },
            info = exited => Ended::Exited(info),
            () = tokio::time::sleep(self.timeout) => Ended::TimedOut,
            () = until_stopped(stop) => Ended::Stopped,
        };
        // A stream that broke off usually means the runtime died: report that if it did.
        let ended = match ended {
            Ended::Streamed(StreamEnd::Truncated) => {
                match tokio::time::timeout(TRUNCATION_EXIT_GRACE, wait_exit(self.process.exited()))
                    .await
                {
                    Ok(info) => Ended::Exited(info),
                    Err(_) => Ended::Streamed(StreamEnd::Truncated),
                }
            }
            other => other,
        };
        let duration = started.elapsed();
        let streamed = matches!(ended, Ended::Streamed(_));
        if matches!(ended, Ended::TimedOut | Ended::Stopped) {
            self.process.kill();
        }
        tail.extend(self.logs.drain().await);

        let mut platform_lines = Vec::new();
        let (payload, content_type, function_error, reusable, timed_out) = match ended {
            Ended::Result(InvocationResult::Response { body, content_type }) => {
                (body, content_type, false, true, false)
            }
            Ended::Streamed(StreamEnd::Complete) => (Bytes::new(), None, false, true, false),
            Ended::Streamed(StreamEnd::Error { body, error_type }) => {
                let body = if body.is_empty() {
                    error_body(error_type.as_deref().unwrap_or("Function.Unknown"), "")
                } else {
                    body
                };
                (body, Some("application/json".to_owned()), true, true, false)
            }
            // The runtime may still be writing its oversized stream: it is not reused.
            Ended::Streamed(StreamEnd::TooLarge) => (
                error_body(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_STREAMED_RESPONSE_BYTES} bytes)."
                    ),
                ),
                Some("application/json".to_owned()),
                true,
                false,
                false,
            ),
            Ended::Streamed(StreamEnd::Truncated) => {
                let message = format!(
                    "RequestId: {request_id} Error: the runtime's streamed response ended before it was complete"
                );
                platform_lines.push(format!("{message}\n"));
                (
                    error_body("Runtime.TruncatedResponse", &message),
                    Some("application/json".to_owned()),
                    true,
                    false,
                    false,
                )
            }
            Ended::Result(InvocationResult::Error { body, error_type }) => {
                let body = if body.is_empty() {
                    error_body(error_type.as_deref().unwrap_or("Function.Unknown"), "")
                } else {
                    body
                };
                (body, Some("application/json".to_owned()), true, true, false)
            }
            Ended::Result(InvocationResult::ResponseTooLarge) => (
                error_body(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    ),
                ),
                Some("application/json".to_owned()),
                true,
                true,
                false,
            ),
            Ended::Exited(info) => {
                let (kind, message) = self.exit_error(request_id, info).await;
                platform_lines.push(format!("{message}\n"));
                platform_lines.push(format!("{kind}\n"));
                (
                    error_body(kind, &message),
                    Some("application/json".to_owned()),
                    true,
                    false,
                    false,
                )
            }
            Ended::Stopped => {
                let message =
                    format!("RequestId: {request_id} Error: the Lambent server is shutting down");
                platform_lines.push(format!("{message}\n"));
                (
                    error_body("Sandbox.Failure", &message),
                    Some("application/json".to_owned()),
                    true,
                    false,
                    false,
                )
            }
            Ended::TimedOut => {
                platform_lines.push(report::timeout_line(request_id, self.timeout));
                let message = format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    self.timeout.as_secs_f64()
                );
                (
                    error_body("Sandbox.Timedout", &message),
                    Some("application/json".to_owned()),
                    true,
                    false,
                    true,
                )
            }
        };
        let max_memory_mb = self
            .process
            .max_memory_bytes()
            .await
            .map_or(0, |b| b.div_ceil(1024 * 1024));
        platform_lines.push(report::end_line(request_id));
        platform_lines.push(
            Report {
                request_id,
                duration,
                memory_size_mb: self.memory_mb,
                max_memory_used_mb: max_memory_mb,
                init_duration: cold,
                timed_out,
            }
            .line(),
        );
        self.logs.platform(&platform_lines).await;
        tail.extend(platform_lines);
        if reusable {
            self.process.freeze_soon();
        } else {
            self.process.kill();
        }
        if let Some(refill) = self.refill.take() {
            refill.start();
        }
        Outcome {
            payload,
            content_type,
            function_error,
            tail: last_bytes(&tail.concat(), TAIL_BYTES),
            reusable,
            streamed,
            report: ReportFigures {
                duration,
                billed_ms: report::billed_ms(duration),
                memory_mb: self.memory_mb,
                init_duration: cold,
                timed_out,
            },
        }
    }

    /// Lambda's error type and message for a runtime that exited: out of memory (from the
    /// cgroup's OOM counter, not guessed from the signal) or any other exit.
    async fn exit_error(&self, request_id: &str, info: ExitInfo) -> (&'static str, String) {
        let kind = if self.process.oom_killed().await {
            "Runtime.OutOfMemory"
        } else {
            "Runtime.ExitError"
        };
        let message = format!(
            "RequestId: {request_id} Error: Runtime exited with error: {}",
            info.describe()
        );
        (kind, message)
    }

    /// The provisioned-concurrency configuration this environment belongs to, if any.
    pub fn pinned_key(&self) -> Option<&ProvisionedKey> {
        self.pinned.as_ref().map(|slot| &slot.key)
    }

    /// Whether the runtime is still alive (a frozen environment may have been killed meanwhile).
    pub fn alive(&self) -> bool {
        self.process.exited().borrow().is_none()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.process.kill();
    }
}

/// How an invocation ended, before it is turned into an [`Outcome`].
enum Ended {
    Result(InvocationResult),
    /// A streamed response ended (its chunks went to the sink).
    Streamed(StreamEnd),
    Exited(ExitInfo),
    TimedOut,
    /// The server is shutting down and its grace period for running invocations is over.
    Stopped,
}

/// Waits for the runtime's answer to a streaming dispatch and forwards a streamed response to
/// `sink` until it ends. `Err` when the Runtime API went away without an answer.
async fn pump(
    result: tokio::sync::oneshot::Receiver<StreamingResult>,
    sink: &mut StreamSink,
) -> Result<Ended, tokio::sync::oneshot::error::RecvError> {
    match result.await? {
        StreamingResult::Buffered(result) => Ok(Ended::Result(result)),
        StreamingResult::Stream {
            content_type,
            mut frames,
        } => {
            sink.begin(&content_type);
            loop {
                match frames.recv().await {
                    Some(StreamFrame::Data(data)) => sink.chunk(data).await,
                    Some(StreamFrame::End(end)) => return Ok(Ended::Streamed(end)),
                    None => return Ok(Ended::Streamed(StreamEnd::Truncated)),
                }
            }
        }
    }
}

/// Resolves once `stop` turns true; never if its sender is gone.
async fn until_stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let stopped = stop.wait_for(|stopping| *stopping).await.is_ok();
    if !stopped {
        std::future::pending::<()>().await;
    }
}

/// What a backend hands back after starting the runtime.
pub(crate) struct Spawned {
    pub process: Process,
    pub api: RuntimeApi,
    pub outputs: Vec<std::os::fd::OwnedFd>,
}

/// The error JSON Lambda returns for platform-detected failures.
fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// The variables Lambda sets in every environment (`lambda-compat.md` §2.2).
fn lambda_variables(
    function: &ResolvedFunction,
    settings: &InvokerSettings,
    stream: &str,
    runtime_api: &str,
    initialization_type: &str,
) -> Vec<(String, String)> {
    let config = &function.config;
    let mut vars: Vec<(String, String)> = [
        ("_HANDLER", config.handler.as_str()),
        ("AWS_REGION", settings.region.as_str()),
        ("AWS_DEFAULT_REGION", settings.region.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.as_str()),
        ("AWS_LAMBDA_FUNCTION_VERSION", function.version.as_str()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", initialization_type),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            config.logging.log_group.as_str(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(process_variables(runtime_api))
    .collect();
    vars.push((
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
        config.memory_mb.to_string(),
    ));
    if config.logging.log_format == "JSON" {
        vars.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        if let Some(level) = &config.logging.application_log_level {
            vars.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.clone()));
        }
    }
    vars
}

/// The variables of every environment that do not depend on the function: a pre-started runtime
/// starts with exactly these, so whatever the process reads from them at start-up (the dynamic
/// linker, the locale) is what an ordinary start would have read.
fn process_variables(runtime_api: &str) -> impl Iterator<Item = (String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
        (
            "LD_LIBRARY_PATH",
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

/// Variables a process reads once, at start-up (dynamic linker, C library, locale, time zone):
/// changing them after a pre-started runtime began would not have the effect an ordinary start
/// gives, so a function that sets them to anything else starts the ordinary way.
fn read_at_startup(name: &str) -> bool {
    ["LD_", "LC_", "MALLOC_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || matches!(
            name,
            "LANG" | "TZ" | "GLIBC_TUNABLES" | "NODE_OPTIONS" | "NODE_PATH" | "NODE_EXTRA_CA_CERTS"
        )
}

/// Turns a pre-started sandbox into `function`'s environment: its code and limits are attached;
/// a waiting interpreter then receives the environment variables and goes on to load the
/// handler, a bare sandbox starts `argv` with them. Init Duration runs from here, as nothing of
/// the function ran before.
async fn specialise(
    prestarted: Prestarted,
    function: &ResolvedFunction,
    argv: Vec<String>,
    env: Vec<(String, String)>,
) -> Result<Spawned, StartError> {
    let config = &function.config;
    let attaching = Instant::now();
    let (exec, env_for_interpreter) = match prestarted.kind {
        PrestartKind::Interpreter => (None, Some(env)),
        PrestartKind::Sandbox => (Some(lambent_sandbox::Command { argv, env }), None),
    };
    prestarted
        .process
        .attach(lambent_sandbox::CodeAttachment {
            code_dir: function.code_dir.clone(),
            opt_dir: function.opt_dir.clone(),
            tmp_mb: u64::from(config.ephemeral_storage_mb),
            memory_mb: u64::from(config.memory_mb),
            exec,
        })
        .await
        .map_err(StartError::Spawn)?;
    tracing::debug!(
        elapsed_us = attaching.elapsed().as_micros() as u64,
        "pre-started runtime attached"
    );
    if let Some(env) = env_for_interpreter {
        prestarted.api.specialize(&env);
    }
    Ok(Spawned {
        process: Process::Sandboxed(prestarted.process),
        api: prestarted.api,
        outputs: prestarted.outputs,
    })
}

/// What is started ahead of demand for a runtime family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrestartKind {
    /// Python, Node: the interpreter runs Lambent's bootstrap, which waits for its function.
    Interpreter,
    /// `provided*`: the function's own `bootstrap` is the runtime, so only the sandbox is built;
    /// the program starts at attach.
    Sandbox,
}

fn prestart_kind(family: lambent_runtimes::RuntimeFamily) -> PrestartKind {
    match family {
        lambent_runtimes::RuntimeFamily::Python | lambent_runtimes::RuntimeFamily::Node => {
            PrestartKind::Interpreter
        }
        lambent_runtimes::RuntimeFamily::Provided => PrestartKind::Sandbox,
    }
}

/// A runtime (or a bare sandbox) started ahead of any function in a deferred sandbox (see
/// [`crate::prestart`]).
pub(crate) struct Prestarted {
    id: String,
    kind: PrestartKind,
    process: sandboxed::SandboxedProcess,
    api: RuntimeApi,
    outputs: Vec<std::os::fd::OwnedFd>,
}

impl Prestarted {
    pub(crate) fn alive(&self) -> bool {
        self.process.alive()
    }
}

/// Whether runtime `runtime_id` can be pre-started under `settings`: every runtime Lambent
/// serves, in sandboxes (a plain process has nothing to build ahead).
pub(crate) fn can_prestart(runtime_id: &str, settings: &InvokerSettings) -> bool {
    settings.isolation == Isolation::Sandbox && settings.runtimes.launch(runtime_id).is_some()
}

/// The environment a pre-started runtime of `launch` begins with.
fn prestart_env(launch: &lambent_runtimes::Launch) -> Vec<(String, String)> {
    let mut env: std::collections::BTreeMap<String, String> = launch.env.iter().cloned().collect();
    env.extend(process_variables(SANDBOX_RUNTIME_API));
    env.insert("LAMBENT_PRESTART".into(), "1".into());
    env.into_iter().collect()
}

/// Starts a runtime of `runtime_id` in a deferred sandbox; it waits for a function.
pub(crate) async fn prestart(
    runtime_id: &str,
    settings: &InvokerSettings,
    live: LiveGuard,
) -> Result<Prestarted, StartError> {
    let launch = settings
        .runtimes
        .launch(runtime_id)
        .ok_or_else(|| StartError::UnsupportedRuntime(runtime_id.to_owned()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let kind = prestart_kind(launch.family);
    let (argv, env) = match kind {
        PrestartKind::Interpreter => (launch.argv.clone(), prestart_env(&launch)),
        PrestartKind::Sandbox => (Vec::new(), Vec::new()),
    };
    let (process, api, outputs) = sandboxed::prestart(&id, settings, argv, env, live).await?;
    Ok(Prestarted {
        id,
        kind,
        process,
        api,
        outputs,
    })
}

/// Whether a pre-started runtime of `launch` can become an environment that runs `argv` with the
/// function's own variables `function_env` on top: the same program, and nothing read at
/// start-up set to another value.
fn matches_prestart(
    launch: &lambent_runtimes::Launch,
    argv: &[String],
    function_env: &std::collections::BTreeMap<String, String>,
) -> bool {
    let base = prestart_env(launch);
    let base_value = |name: &str| base.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    argv == launch.argv.as_slice()
        && function_env
            .iter()
            .filter(|(k, _)| read_at_startup(k))
            .all(|(k, v)| base_value(k) == Some(v))
}

/// Whether `path` (as seen inside the sandbox) exists: `/var/task` is the function's code,
/// `/opt` its merged layers, everything else the host's `/usr`.
fn exists_inside(path: &str, function: &ResolvedFunction) -> bool {
    if let Some(rest) = path.strip_prefix("/var/task/") {
        return function.code_dir.join(rest).is_file();
    }
    if let Some(rest) = path.strip_prefix("/opt/") {
        return function
            .opt_dir
            .as_ref()
            .is_some_and(|opt| opt.join(rest).is_file());
    }
    Path::new(path).exists()
}

/// Without a sandbox, the sandbox paths `/var/task` and `/var/runtime` are host directories.
fn unsandboxed_path(
    value: &str,
    function: &ResolvedFunction,
    settings: &InvokerSettings,
) -> String {
    value
        .replace("/var/task", &function.code_dir.to_string_lossy())
        .replace("/var/runtime", &settings.runtime_dir.to_string_lossy())
}

/// The last `limit` bytes of `text`, cut at a character boundary.
fn last_bytes(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_cut_at_a_character_boundary() {
        let text = format!("{}é{}", "a".repeat(10), "b".repeat(4095));
        let tail = last_bytes(&text, 4096);
        assert!(tail.len() <= 4096);
        assert!(tail.ends_with('b'));
    }
}
