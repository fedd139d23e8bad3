//! Environment pools: warm environments per function version, reused one invocation at a time,
//! retired when the function changes and reaped when idle too long.

use crate::admission::{Admission, ThrottleReason, Ticket};
use crate::environment::{Call, Environment, Host, Outcome, ReportFigures, StartError};
use crate::keepalive::KeepAlive;
use crate::live::LiveEnvironments;
use crate::prestart::PrestartPool;
use crate::provisioned::{Allocations, ProvisionedKey};
use crate::scaling::{FunctionScaling, ScalingCounters};
use crate::settings::InvokerSettings;
use crate::streaming::{Completion, StreamError, StreamSink, StreamingInvocation};
use crate::{InvokeError, InvokeRequest, InvokeResponse, MAX_SYNC_PAYLOAD};
use lambent_control::{FunctionRef, FunctionService, ProvisionedTarget, ResolvedFunction};
use lambent_metering::{InFlight, InvocationRecord, Observer, Outcome as Metered};
use lambent_telemetry::LogSink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often provisioned-concurrency configurations are brought to their requested size.
const PROVISIONING_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// How long shutdown waits for environments to be torn down.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs invocations; cheap to share (`Arc`).
pub struct Invoker {
    service: Arc<FunctionService>,
    settings: InvokerSettings,
    sink: LogSink,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    /// One permit per MB of MemorySize of every live environment, busy or idle.
    memory: Arc<Semaphore>,
    /// Environment starts running at once. A start is mostly CPU (sandbox, interpreter, the
    /// function's init code): a hundred at once on two cores all finish late, some after Init's
    /// 10 s limit; a few at a time finish in turn, and none times out for waiting on the others.
    starts: Semaphore,
    admission: Admission,
    live: LiveEnvironments,
    prestarts: Arc<PrestartPool>,
    /// Set when running invocations must stop (server shutdown after its grace period).
    stop: tokio::sync::watch::Sender<bool>,
    allocations: Allocations,
    scaling: Arc<ScalingCounters>,
    keep_alive: KeepAlive,
    /// Where every invocation's figures go (metrics, metering); set once at start-up. Sending
    /// never waits, so the invoke path is not slowed by it.
    observer: std::sync::OnceLock<Observer>,
}

struct Idle {
    environment: Environment,
    permit: OwnedSemaphorePermit,
    since: Instant,
}

/// An invocation that passed admission and holds an initialised environment.
struct Admitted {
    function: ResolvedFunction,
    request_id: String,
    invoked_arn: String,
    environment: Environment,
    permit: OwnedSemaphorePermit,
    /// Holds the invocation's concurrency slot until it is dropped.
    _ticket: Ticket,
    /// Counts the invocation as running for metrics until it is dropped.
    _in_flight: Option<InFlight>,
}

/// Where [`Invoker::prepare`] leaves an invocation.
enum Prepared {
    Ready(Box<Admitted>),
    /// The cold start's Init failed: this is the invocation's answer.
    InitFailed(InvokeResponse),
}

impl Invoker {
    pub fn new(
        service: Arc<FunctionService>,
        settings: InvokerSettings,
        sink: LogSink,
    ) -> Arc<Self> {
        let memory = Arc::new(Semaphore::new(settings.memory_budget_mb as usize));
        let starts = Semaphore::new(settings.concurrent_starts.max(1));
        let live = LiveEnvironments::default();
        let prestarts = PrestartPool::new(settings.clone(), live.clone());
        let invoker = Arc::new(Self {
            service,
            settings,
            sink,
            idle: Mutex::new(HashMap::new()),
            memory,
            starts,
            admission: Admission::default(),
            live,
            prestarts,
            stop: tokio::sync::watch::channel(false).0,
            allocations: Allocations::default(),
            scaling: Arc::default(),
            keep_alive: KeepAlive::default(),
            observer: std::sync::OnceLock::new(),
        });
        invoker.spawn_maintenance();
        invoker
    }

    /// Sends every invocation's figures (REPORT data, throttles, failed Inits) to `observer`.
    /// Only the first call has an effect.
    pub fn set_observer(&self, observer: Observer) {
        let _ = self.observer.set(observer);
    }

    /// Hands one invocation's figures to the observer, if any, without waiting.
    fn observe(
        &self,
        function: &ResolvedFunction,
        invoked: &FunctionRef,
        request_id: &str,
        outcome: Metered,
        report: Option<&ReportFigures>,
    ) {
        let Some(observer) = self.observer.get() else {
            return;
        };
        observer.record(InvocationRecord {
            function: function.name.clone(),
            version: function.version.clone(),
            qualifier: invoked.qualifier.clone(),
            request_id: request_id.to_owned(),
            ended_at_ms: chrono::Utc::now().timestamp_millis(),
            outcome,
            duration: report.map_or_else(Default::default, |r| r.duration),
            billed_ms: report.map_or(0, |r| r.billed_ms),
            memory_mb: report.map_or(function.config.memory_mb, |r| r.memory_mb),
            ephemeral_storage_mb: function.config.ephemeral_storage_mb,
            init_duration: report.and_then(|r| r.init_duration),
        });
    }

    /// Observes a finished invocation from its outcome.
    fn observe_outcome(
        &self,
        function: &ResolvedFunction,
        invoked: &FunctionRef,
        request_id: &str,
        outcome: &Outcome,
    ) {
        let metered = match (outcome.function_error, outcome.report.timed_out) {
            (false, _) => Metered::Success,
            (true, true) => Metered::Error("Sandbox.Timedout".into()),
            (true, false) => Metered::Error("Unhandled".into()),
        };
        self.observe(
            function,
            invoked,
            request_id,
            metered,
            Some(&outcome.report),
        );
    }

    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse, InvokeError> {
        let admitted = match self.prepare(&request).await? {
            Prepared::Ready(admitted) => *admitted,
            Prepared::InitFailed(response) => return Ok(response),
        };
        let Admitted {
            function,
            request_id,
            invoked_arn,
            mut environment,
            permit,
            _ticket,
            _in_flight,
        } = admitted;
        let outcome = environment
            .invoke(
                Call {
                    request_id: &request_id,
                    invoked_arn,
                    payload: request.payload,
                    client_context: request.client_context,
                    trace_id: Some(request.trace_id.unwrap_or_else(new_trace_id)),
                },
                self.stop.subscribe(),
            )
            .await;
        self.release(&function.name, environment, permit, outcome.reusable);
        self.observe_outcome(&function, &request.function, &request_id, &outcome);
        Ok(InvokeResponse {
            request_id,
            executed_version: function.version,
            payload: outcome.payload,
            content_type: outcome.content_type,
            function_error: outcome.function_error.then_some("Unhandled"),
            log_tail: request.tail_logs.then_some(outcome.tail),
        })
    }

    /// Runs an invocation whose response is read while the function writes it (Lambda's
    /// response streaming: InvokeWithResponseStream, `RESPONSE_STREAM` function URLs).
    ///
    /// Admission, warm environments, timeouts, logs and REPORT are those of [`Invoker::invoke`].
    /// Returns once the response begins: when the runtime starts its stream, or when the
    /// invocation ended without one (a handler that does not stream, a failed Init, a timeout
    /// before the first byte): then the whole response is a single chunk, or the completion
    /// carries the error. `Err` is what [`Invoker::invoke`] would refuse (missing function,
    /// throttle, oversized request), before anything ran.
    ///
    /// Read the body with [`crate::ResponseBody::next`] until [`crate::StreamEvent::Complete`];
    /// see [`crate::StreamingInvocation`]. The invocation runs on its own task: a caller that
    /// drops the body (its client went away) does not stop the function, whose environment
    /// finishes the invocation and returns to the pool.
    pub async fn invoke_stream(
        self: &Arc<Self>,
        request: InvokeRequest,
    ) -> Result<StreamingInvocation, InvokeError> {
        let (start_tx, start_rx) = tokio::sync::oneshot::channel();
        let invoker = Arc::clone(self);
        tokio::spawn(async move {
            invoker
                .run_streaming(request, StreamSink::new(start_tx))
                .await;
        });
        start_rx.await.map_err(|_| {
            InvokeError::Service("the invocation ended before its response began".into())
        })?
    }

    async fn run_streaming(&self, request: InvokeRequest, mut sink: StreamSink) {
        let admitted = match self.prepare(&request).await {
            Ok(Prepared::Ready(admitted)) => *admitted,
            Ok(Prepared::InitFailed(response)) => {
                sink.identify(&response.request_id, &response.executed_version);
                let completion = Completion {
                    error: Some(StreamError::from_error_body(&response.payload)),
                    log_tail: response.log_tail,
                };
                sink.complete("application/json", completion).await;
                return;
            }
            Err(error) => {
                sink.refuse(error);
                return;
            }
        };
        let Admitted {
            function,
            request_id,
            invoked_arn,
            mut environment,
            permit,
            _ticket,
            _in_flight,
        } = admitted;
        sink.identify(&request_id, &function.version);
        let outcome = environment
            .invoke_streaming(
                Call {
                    request_id: &request_id,
                    invoked_arn,
                    payload: request.payload,
                    client_context: request.client_context,
                    trace_id: Some(request.trace_id.unwrap_or_else(new_trace_id)),
                },
                self.stop.subscribe(),
                &mut sink,
            )
            .await;
        self.release(&function.name, environment, permit, outcome.reusable);
        self.observe_outcome(&function, &request.function, &request_id, &outcome);
        finish_stream(sink, outcome, request.tail_logs).await;
    }

    /// After an invocation: back to the pool if it may serve again (otherwise it is dropped,
    /// which tears it down).
    fn release(
        &self,
        function: &str,
        environment: Environment,
        permit: OwnedSemaphorePermit,
        reusable: bool,
    ) {
        self.keep_alive.finished(function, Instant::now());
        if reusable {
            self.put_idle(function, environment, permit);
        }
    }

    /// Everything before the invocation proper, shared by the buffered and streaming paths:
    /// limits, resolution, admission, and a warm or newly started environment.
    async fn prepare(&self, request: &InvokeRequest) -> Result<Prepared, InvokeError> {
        if request.payload.len() > MAX_SYNC_PAYLOAD {
            return Err(InvokeError::RequestTooLarge);
        }
        let function = self.service.resolve(&request.function.or_latest()).await?;
        if function.state.state != "Active" {
            return Err(InvokeError::ResourceNotReady(format!(
                "The operation cannot be performed at this time. The function is currently in the \
                 following state: {}",
                function.state.state
            )));
        }
        let _ticket = self
            .admission
            .admit(
                &function.name,
                function.reserved_concurrency,
                self.service.unreserved_concurrency(),
            )
            .map_err(|reason| {
                self.scaling.throttled(&function.name);
                self.observe(&function, &request.function, "", Metered::Throttled, None);
                InvokeError::Throttled(reason)
            })?;
        let _in_flight = self.observer.get().map(|o| o.begin(&function.name));
        self.keep_alive.arrived(&function.name, Instant::now());
        let request_id = request
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let invoked_arn = self
            .service
            .account()
            .qualified_arn(&function.name, request.function.qualifier.as_deref());
        let fingerprint = fingerprint(&function);
        let (environment, permit) = match self.take_idle(&function.name, &fingerprint) {
            Some(warm) => warm,
            None => {
                // Waiting for a turn counts in the caller's latency, not in Init's time limit. A
                // call that waits still gets an environment of its own, as on Lambda: scale-out
                // follows the calls in flight, not how fast earlier ones happen to finish.
                let start_turn = self.starts.acquire().await;
                let permit = self
                    .reserve_memory(function.config.memory_mb)
                    .inspect_err(|_| {
                        self.scaling.throttled(&function.name);
                        self.observe(
                            &function,
                            &request.function,
                            &request_id,
                            Metered::Throttled,
                            None,
                        );
                    })?;
                let _initializing = self.scaling.initializing(&function.name, true);
                let started =
                    Environment::start(&function, fingerprint, self.host(), None, &request_id)
                        .await
                        .map_err(|e| match e {
                            StartError::UnsupportedRuntime(_) => {
                                InvokeError::ResourceNotReady(e.to_string())
                            }
                            StartError::Spawn(_) => InvokeError::Service(e.to_string()),
                        })?;
                drop(start_turn);
                match started {
                    Ok(mut environment) => {
                        environment.track(self.scaling.register(&function.name, environment.id()));
                        (environment, permit)
                    }
                    Err(failure) => {
                        self.observe(
                            &function,
                            &request.function,
                            &request_id,
                            Metered::InitError,
                            None,
                        );
                        return Ok(Prepared::InitFailed(InvokeResponse {
                            request_id,
                            executed_version: function.version.clone(),
                            payload: failure.payload,
                            content_type: Some("application/json".into()),
                            function_error: Some("Unhandled"),
                            log_tail: request.tail_logs.then(|| failure.tail_lines.concat()),
                        }));
                    }
                }
            }
        };
        Ok(Prepared::Ready(Box::new(Admitted {
            function,
            request_id,
            invoked_arn,
            environment,
            permit,
            _ticket,
            _in_flight,
        })))
    }

    /// Ends every running invocation with `Sandbox.Failure` and kills its environment: the last
    /// step of a shutdown whose grace period for running invocations has passed.
    pub fn stop_running_invocations(&self) {
        self.stop.send_replace(true);
    }

    /// Stops every idle environment and waits until every environment is torn down. Call it
    /// after the front door stopped taking requests, so that none is busy.
    pub async fn shutdown(&self) {
        self.prestarts.close();
        self.retire_all();
        let remaining = self.live.wait_until_none(SHUTDOWN_LIMIT).await;
        if remaining > 0 {
            tracing::warn!(
                remaining,
                "execution environments still running at shutdown"
            );
        }
    }

    fn retire_all(&self) {
        let drained: Vec<Idle> = match self.idle.lock() {
            Ok(mut idle) => idle.drain().flat_map(|(_, list)| list).collect(),
            Err(_) => Vec::new(),
        };
        drop(drained);
    }

    /// What an environment start needs from the invoker.
    fn host(&self) -> Host<'_> {
        Host {
            settings: &self.settings,
            sink: self.sink.clone(),
            live: self.live.guard(),
            prestarts: Some(&self.prestarts),
        }
    }

    /// Runtimes started ahead of demand and ready to become environments, by runtime identifier.
    pub fn prestarted_runtimes(&self) -> std::collections::BTreeMap<String, usize> {
        self.prestarts.ready_counts()
    }

    /// Number of idle (warm) environments of a function.
    pub fn idle_count(&self, function: &str) -> usize {
        self.idle
            .lock()
            .map(|idle| idle.get(function).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    fn take_idle(
        &self,
        function: &str,
        fingerprint: &str,
    ) -> Option<(Environment, OwnedSemaphorePermit)> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(function)?;
        while let Some(position) = list
            .iter()
            .rposition(|i| i.environment.fingerprint == fingerprint)
        {
            let candidate = list.swap_remove(position);
            if candidate.environment.alive() {
                return Some((candidate.environment, candidate.permit));
            }
        }
        None
    }

    fn put_idle(&self, function: &str, environment: Environment, permit: OwnedSemaphorePermit) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry(function.to_owned()).or_default().push(Idle {
                environment,
                permit,
                since: Instant::now(),
            });
        }
    }

    /// Memory for one more environment; when the budget is used up, the least recently used
    /// idle environments of any function are stopped to make room before anything is throttled.
    fn reserve_memory(&self, memory_mb: u32) -> Result<OwnedSemaphorePermit, InvokeError> {
        loop {
            if let Ok(permit) = Arc::clone(&self.memory).try_acquire_many_owned(memory_mb) {
                return Ok(permit);
            }
            let evicted = {
                let Ok(mut idle) = self.idle.lock() else {
                    return Err(InvokeError::Service("pool lock poisoned".into()));
                };
                let oldest = idle
                    .iter()
                    .flat_map(|(name, list)| {
                        list.iter()
                            .enumerate()
                            .filter(|(_, e)| e.environment.pinned_key().is_none())
                            .map(move |(i, e)| (name.clone(), i, e.since))
                    })
                    .min_by_key(|(_, _, since)| *since);
                oldest.and_then(|(name, index, _)| {
                    idle.get_mut(&name).map(|list| list.swap_remove(index))
                })
            };
            match evicted {
                Some(environment) => drop(environment),
                None => {
                    return Err(InvokeError::Throttled(
                        ThrottleReason::ConcurrentInvocationLimitExceeded,
                    ));
                }
            }
        }
    }

    /// Stops the idle environments for which `retire` says so.
    fn retire_idle_where(&self, retire: impl Fn(&str, &Idle) -> bool) {
        let mut retired = Vec::new();
        if let Ok(mut idle) = self.idle.lock() {
            for (function, list) in idle.iter_mut() {
                let (gone, kept): (Vec<Idle>, Vec<Idle>) =
                    list.drain(..).partition(|i| retire(function, i));
                *list = kept;
                retired.extend(gone);
            }
            idle.retain(|_, list| !list.is_empty());
        }
        drop(retired);
    }

    /// A function changed: its on-demand environments may run stale code or configuration.
    /// Provisioned ones run published versions, which never change; the reconciler retires
    /// them if their configuration goes away.
    fn retire_function(&self, function: &str) {
        self.retire_idle_where(|f, i| f == function && i.environment.pinned_key().is_none());
    }

    /// Stops idle environments kept longer than their function's keep-alive (adaptive, at most
    /// the configured one).
    fn reap_expired(&self) {
        let configured = self.settings.keep_alive;
        self.retire_idle_where(|function, i| {
            i.environment.pinned_key().is_none()
                && i.since.elapsed() >= self.keep_alive.keep_alive(function, configured)
        });
    }

    /// Per-function scaling state: busy, idle and initializing environments, cold starts and
    /// throttles.
    pub fn scaling(&self) -> Vec<FunctionScaling> {
        let idle: HashMap<String, usize> = self
            .idle
            .lock()
            .map(|idle| {
                idle.iter()
                    .map(|(f, list)| (f.clone(), list.len()))
                    .collect()
            })
            .unwrap_or_default();
        self.scaling.snapshot(&self.admission.in_flight(), &idle)
    }

    /// Initialised environments of a provisioned-concurrency configuration.
    pub fn provisioned_allocated(&self, function: &str, qualifier: &str) -> usize {
        self.allocations
            .allocated(&(function.to_owned(), qualifier.to_owned()))
    }

    /// Brings every provisioned-concurrency configuration to its requested number of
    /// environments: starts missing ones (also those that died) and stops surplus ones.
    async fn reconcile_provisioned(&self) {
        let targets = match self.service.provisioned_targets().await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(error = %e, "reading provisioned concurrency failed");
                return;
            }
        };
        let wanted: HashMap<ProvisionedKey, &ProvisionedTarget> = targets
            .iter()
            .map(|t| ((t.function.clone(), t.qualifier.clone()), t))
            .collect();
        // Surplus: configurations removed or lowered. Stop that many idle ones (busy ones are
        // caught on a later pass).
        let excess: std::cell::RefCell<HashMap<ProvisionedKey, usize>> = Default::default();
        self.retire_idle_where(|_, i| {
            let Some(key) = i.environment.pinned_key() else {
                return false;
            };
            let mut excess = excess.borrow_mut();
            let left = excess.entry(key.clone()).or_insert_with(|| {
                let requested = wanted.get(key).map_or(0, |t| t.requested as usize);
                self.allocations.allocated(key).saturating_sub(requested)
            });
            if *left > 0 {
                *left -= 1;
                true
            } else {
                false
            }
        });
        for (key, target) in wanted {
            let missing =
                (target.requested as usize).saturating_sub(self.allocations.allocated(&key));
            for _ in 0..missing {
                if let Err(e) = self.start_provisioned(&key, target).await {
                    tracing::warn!(function = %key.0, qualifier = %key.1, error = %e,
                        "starting a provisioned environment failed");
                    break;
                }
            }
        }
    }

    async fn start_provisioned(
        &self,
        key: &ProvisionedKey,
        target: &ProvisionedTarget,
    ) -> Result<(), InvokeError> {
        let function = self
            .service
            .resolve(&FunctionRef {
                name: target.function.clone(),
                qualifier: Some(target.version.clone()),
            })
            .await?;
        let permit = self.reserve_memory(function.config.memory_mb)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let _initializing = self.scaling.initializing(&function.name, false);
        let _start = self.starts.acquire().await;
        let started = Environment::start(
            &function,
            fingerprint(&function),
            self.host(),
            Some(self.allocations.pin(key)),
            &request_id,
        )
        .await
        .map_err(|e| InvokeError::Service(e.to_string()))?;
        match started {
            Ok(mut environment) => {
                environment.track(self.scaling.register(&function.name, environment.id()));
                self.put_idle(&function.name, environment, permit);
                Ok(())
            }
            Err(failure) => Err(InvokeError::Service(format!(
                "initialisation failed: {}",
                String::from_utf8_lossy(&failure.payload)
            ))),
        }
    }

    /// Retires environments when their function changes, and reaps idle ones.
    fn spawn_maintenance(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut changes = self.service.subscribe();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(change) => match weak.upgrade() {
                        Some(invoker) => invoker.retire_function(&change.name),
                        None => return,
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed changes: retire everything idle; stale versions must not run.
                        if let Some(invoker) = weak.upgrade() {
                            invoker.retire_all();
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROVISIONING_PERIOD);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(invoker) => invoker.reconcile_provisioned().await,
                    None => return,
                }
            }
        });
        let weak = Arc::downgrade(self);
        let period = (self.settings.keep_alive / 4).max(std::time::Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(invoker) => invoker.reap_expired(),
                    None => return,
                }
            }
        });
    }
}

/// Ends a streamed invocation: a whole response (a handler that does not stream) becomes the one
/// chunk; a failure becomes the completion's error; the log tail goes with the completion.
async fn finish_stream(mut sink: StreamSink, outcome: Outcome, tail_logs: bool) {
    let content_type = outcome
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".to_owned());
    let error = outcome
        .function_error
        .then(|| StreamError::from_error_body(&outcome.payload));
    if !sink.started() {
        sink.begin(&content_type);
    }
    if error.is_none() && !outcome.streamed && !outcome.payload.is_empty() {
        sink.chunk(outcome.payload).await;
    }
    let completion = Completion {
        error,
        log_tail: tail_logs.then_some(outcome.tail),
    };
    sink.complete(&content_type, completion).await;
}

/// Identifies what an environment runs: the configuration and the code. Environments are reused
/// only for an identical fingerprint.
fn fingerprint(function: &ResolvedFunction) -> String {
    // The configuration includes the layers (with their digests).
    let config = serde_json::to_string(&function.config).unwrap_or_default();
    format!("{}:{}:{config}", function.version, function.code_sha256_hex)
}

/// An X-Ray trace header for invocations that arrive without one: Lambda always hands the runtime
/// a `Lambda-Runtime-Trace-Id` (runtimes copy it to `_X_AMZN_TRACE_ID`).
fn new_trace_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        chrono::Utc::now().timestamp(),
        &random[..24],
        &parent[..16]
    )
}
