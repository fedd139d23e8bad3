//! The engine: accepts events into the journal, schedules them per function, runs them with a
//! bounded number of workers per function, applies the retry schedule and dispatches outcomes.
//!
//! The journal is the truth; the scheduler's state in memory is rebuilt from it at start-up.
//! Every transition is journaled before it takes effect in memory, and an event leaves the
//! journal only once its final outcome has reached its destinations, so a crash at any point
//! leads to a retry (at least once), never to a lost event.

use crate::event::{Condition, EventRow, Outcome, Progress, Response, Target};
use crate::journal::{CommitStats, Journal, JournalError, StatsHandle};
use crate::policy::{Next, Schedule};
use crate::ports::{
    AsyncSettings, Attempted, Delivery, Functions, MessageAttribute, QueueSender, Runner,
};
use crate::record::{dead_letter_message, destination_record};
use bytes::Bytes;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// An outcome that cannot reach its destinations after this many tries is dropped (logged).
const MAX_DISPATCH_TRIES: u32 = 8;

/// Tunables of the engine.
#[derive(Clone)]
pub struct EngineSettings {
    /// Multiplies every delay and the maximum event age (1.0 = Lambda's schedule).
    pub time_scale: f64,
    /// Events of one function run at most this many at once (and never more than its reserved
    /// concurrency): asynchronous traffic must not take every environment from synchronous calls.
    pub workers_per_function: usize,
    /// Where queue destinations and dead letters go; given at start so that events recovered
    /// from the journal can be dispatched at once.
    pub queues: Option<Arc<dyn QueueSender>>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            workers_per_function: 16,
            queues: None,
        }
    }
}

/// An event accepted by Invoke with `InvocationType: Event`.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub function: String,
    /// As invoked (`None` when unqualified).
    pub qualifier: Option<String>,
    /// The version the qualifier resolved to when the event was accepted.
    pub version: String,
    pub payload: Bytes,
}

/// Handle to the running engine.
#[derive(Clone)]
pub struct AsyncInvoke {
    inner: Arc<Inner>,
}

struct Inner {
    journal: Journal,
    stats: StatsHandle,
    /// Taken away at shutdown, so that the invoker (and the log sinks it holds) can be dropped.
    runner: RwLock<Option<Arc<dyn Runner>>>,
    functions: Arc<dyn Functions>,
    queues: RwLock<Option<Arc<dyn QueueSender>>>,
    schedule: Schedule,
    workers_per_function: usize,
    state: Mutex<State>,
    timer: Notify,
    /// Signalled whenever a worker finishes (shutdown waits for the last one).
    worker_done: Notify,
    stopped: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Every event in the journal that this process knows of.
    events: HashMap<u64, EventRow>,
    /// Events waiting for a retry: (due epoch ms, id).
    timers: BTreeSet<(u64, u64)>,
    /// Events ready to run, per function, oldest first.
    ready: HashMap<String, VecDeque<u64>>,
    /// Workers running per function.
    running: HashMap<String, usize>,
    /// Worker limit per function, learned from its reserved concurrency.
    limits: HashMap<String, usize>,
}

impl AsyncInvoke {
    /// Opens the journal at `path`, schedules every event found in it and starts the engine.
    /// Must be called inside a Tokio runtime.
    pub fn start(
        path: &Path,
        runner: Arc<dyn Runner>,
        functions: Arc<dyn Functions>,
        settings: EngineSettings,
    ) -> Result<AsyncInvoke, JournalError> {
        let (journal, rows, stats) = Journal::open(path)?;
        let inner = Arc::new(Inner {
            journal,
            stats,
            runner: RwLock::new(Some(runner)),
            functions,
            queues: RwLock::new(settings.queues),
            schedule: Schedule::new(settings.time_scale),
            workers_per_function: settings.workers_per_function.max(1),
            state: Mutex::new(State::default()),
            timer: Notify::new(),
            worker_done: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let recovered = rows.len();
        for row in rows {
            inner.admit(row);
        }
        if recovered > 0 {
            tracing::info!(recovered, "asynchronous events recovered from the journal");
        }
        tokio::spawn(Arc::clone(&inner).timer_loop());
        Ok(AsyncInvoke { inner })
    }

    /// Where queue destinations and dead-letter queues are sent (until set, such sends fail and
    /// are retried).
    pub fn set_queue_sender(&self, sender: Arc<dyn QueueSender>) {
        if let Ok(mut queues) = self.inner.queues.write() {
            *queues = Some(sender);
        }
    }

    /// Stores the event durably and returns its request id; only then may the caller answer 202.
    pub async fn enqueue(&self, event: NewEvent) -> Result<String, JournalError> {
        self.inner.enqueue(event).await
    }

    /// Stops starting new attempts and lets go of the runner (events in flight are retried
    /// after the next start).
    pub fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Ok(mut runner) = self.inner.runner.write() {
            runner.take();
        }
        self.inner.timer.notify_one();
    }

    /// Waits until no attempt is running any more (call after [`Self::shutdown`], before the
    /// invoker shuts down, so that no environment is handed back to a pool being emptied).
    pub async fn drained(&self) {
        loop {
            let notified = self.inner.worker_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let running: usize = self
                .inner
                .state
                .lock()
                .map(|s| s.running.values().sum())
                .unwrap_or(0);
            if running == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Events accepted and not yet finished.
    pub fn pending(&self) -> usize {
        self.inner.state.lock().map(|s| s.events.len()).unwrap_or(0)
    }

    pub fn commit_stats(&self) -> CommitStats {
        self.inner.stats.get()
    }
}

impl Inner {
    async fn enqueue(self: &Arc<Self>, event: NewEvent) -> Result<String, JournalError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut row = EventRow {
            id: 0,
            request_id: request_id.clone(),
            function: event.function,
            qualifier: event.qualifier,
            version: event.version,
            payload: event.payload,
            enqueued_ms: now_ms(),
            progress: Progress::default(),
        };
        row.id = self.journal.insert(row.clone()).await?;
        self.admit(row);
        Ok(request_id)
    }

    /// Takes a journaled event into the scheduler: ready now, or at its retry time.
    fn admit(self: &Arc<Self>, row: EventRow) {
        let function = row.function.clone();
        let due = row.progress.due_ms;
        let id = row.id;
        {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            state.events.insert(id, row);
            if due > now_ms() {
                state.timers.insert((due, id));
            } else {
                state
                    .ready
                    .entry(function.clone())
                    .or_default()
                    .push_back(id);
            }
        }
        if due > now_ms() {
            self.timer.notify_one();
        } else {
            self.pump(&function);
        }
    }

    /// Starts workers for a function's ready events, up to its limit.
    fn pump(self: &Arc<Self>, function: &str) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let mut starting = Vec::new();
        if let Ok(mut state) = self.state.lock() {
            let limit = state
                .limits
                .get(function)
                .copied()
                .unwrap_or(self.workers_per_function);
            let mut running = state.running.get(function).copied().unwrap_or(0);
            while running < limit {
                let Some(id) = state.ready.get_mut(function).and_then(VecDeque::pop_front) else {
                    break;
                };
                running += 1;
                starting.push(id);
            }
            if state.ready.get(function).is_some_and(VecDeque::is_empty) {
                state.ready.remove(function);
            }
            if running > 0 {
                state.running.insert(function.to_owned(), running);
            }
        }
        for id in starting {
            let inner = Arc::clone(self);
            let function = function.to_owned();
            tokio::spawn(async move {
                inner.process(id).await;
                inner.finished(&function);
            });
        }
    }

    fn finished(self: &Arc<Self>, function: &str) {
        if let Ok(mut state) = self.state.lock()
            && let Some(running) = state.running.get_mut(function)
        {
            *running = running.saturating_sub(1);
            if *running == 0 {
                state.running.remove(function);
            }
        }
        self.worker_done.notify_waiters();
        self.pump(function);
    }

    /// Moves events whose retry time has come to their function's ready queue.
    async fn timer_loop(self: Arc<Self>) {
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let now = now_ms();
            let mut due_functions = Vec::new();
            let next = match self.state.lock() {
                Ok(mut state) => {
                    while let Some(&(due, id)) = state.timers.first() {
                        if due > now {
                            break;
                        }
                        state.timers.pop_first();
                        if let Some(function) = state.events.get(&id).map(|e| e.function.clone()) {
                            state
                                .ready
                                .entry(function.clone())
                                .or_default()
                                .push_back(id);
                            due_functions.push(function);
                        }
                    }
                    state.timers.first().map(|&(due, _)| due)
                }
                Err(_) => return,
            };
            due_functions.sort();
            due_functions.dedup();
            for function in &due_functions {
                self.pump(function);
            }
            match next {
                Some(due) => {
                    let wait = Duration::from_millis(due.saturating_sub(now_ms()));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.timer.notified() => {}
                    }
                }
                None => self.timer.notified().await,
            }
        }
    }

    fn event(&self, id: u64) -> Option<EventRow> {
        self.state.lock().ok()?.events.get(&id).cloned()
    }

    /// One attempt of one event, and whatever follows from it.
    async fn process(self: &Arc<Self>, id: u64) {
        let Some(mut event) = self.event(id) else {
            return;
        };
        if let Some(outcome) = event.progress.outcome.clone() {
            self.dispatch(event, outcome).await;
            return;
        }
        let settings = match self
            .functions
            .settings(&event.function, event.config_qualifier(), &event.version)
            .await
        {
            Ok(Some(settings)) => settings,
            Ok(None) => {
                tracing::warn!(
                    function = %event.function,
                    request_id = %event.request_id,
                    "dropping an asynchronous event: its function or qualifier no longer exists"
                );
                self.forget(id).await;
                return;
            }
            Err(reason) => {
                tracing::warn!(%reason, "cannot read asynchronous settings; retrying");
                let settings = AsyncSettings {
                    maximum_retry_attempts: 0,
                    maximum_event_age_seconds: u32::MAX,
                    on_success: None,
                    on_failure: None,
                    dead_letter_target_arn: None,
                    reserved_concurrency: None,
                };
                self.after_refusal(event, &settings, 500, reason).await;
                return;
            }
        };
        self.set_limit(&event.function, settings.reserved_concurrency);
        if self.schedule.expired(
            event.enqueued_ms,
            settings.maximum_event_age_seconds,
            now_ms(),
        ) {
            self.finish(event, &settings, Condition::EventAgeExceeded)
                .await;
            return;
        }
        let delivery = Delivery {
            function: event.function.clone(),
            qualifier: event.qualifier.clone(),
            version: event.version.clone(),
            request_id: event.request_id.clone(),
            payload: event.payload.clone(),
        };
        let Some(runner) = self.runner.read().ok().and_then(|r| r.clone()) else {
            return; // shutting down: the event stays journaled for the next start
        };
        match runner.run(&delivery).await {
            Attempted::Ran {
                executed_version,
                payload,
                function_error,
            } => {
                event.progress.invocations += 1;
                let failed = function_error.is_some();
                event.progress.last = Some(Response {
                    status_code: 200,
                    executed_version,
                    function_error,
                    payload: String::from_utf8_lossy(&payload).into_owned(),
                });
                if !failed {
                    self.finish(event, &settings, Condition::Success).await;
                    return;
                }
                event.progress.function_errors += 1;
                let next = self.schedule.after_function_error(
                    event.progress.function_errors,
                    settings.maximum_retry_attempts,
                    event.enqueued_ms,
                    settings.maximum_event_age_seconds,
                    now_ms(),
                );
                self.follow(event, &settings, next).await;
            }
            Attempted::Throttled(reason) => {
                self.after_refusal(event, &settings, 429, reason).await;
            }
            Attempted::SystemError(reason) => {
                tracing::warn!(
                    function = %event.function,
                    %reason,
                    "asynchronous event could not run; retrying with backoff"
                );
                self.after_refusal(event, &settings, 500, reason).await;
            }
            Attempted::Gone(reason) => {
                tracing::warn!(
                    function = %event.function,
                    request_id = %event.request_id,
                    %reason,
                    "dropping an asynchronous event: its function no longer exists"
                );
                self.forget(id).await;
            }
        }
    }

    /// A throttle or system error: back off, not counted as a retry.
    async fn after_refusal(
        self: &Arc<Self>,
        mut event: EventRow,
        settings: &AsyncSettings,
        status_code: u16,
        reason: String,
    ) {
        event.progress.throttles += 1;
        // A function error seen earlier says more about the event than the refusal does.
        if event
            .progress
            .last
            .as_ref()
            .is_none_or(|l| l.status_code != 200)
        {
            event.progress.last = Some(Response {
                status_code,
                executed_version: event.version.clone(),
                function_error: None,
                payload: reason,
            });
        }
        let next = self.schedule.after_throttle(
            event.progress.throttles,
            event.enqueued_ms,
            settings.maximum_event_age_seconds,
            now_ms(),
        );
        self.follow(event, settings, next).await;
    }

    async fn follow(self: &Arc<Self>, event: EventRow, settings: &AsyncSettings, next: Next) {
        match next {
            Next::RetryAt(due) => self.retry_at(event, due).await,
            Next::Final(condition) => self.finish(event, settings, condition).await,
        }
    }

    /// Journals the progress, then schedules the next attempt.
    async fn retry_at(self: &Arc<Self>, mut event: EventRow, due: u64) {
        event.progress.due_ms = due;
        let id = event.id;
        if let Err(error) = self.journal.progress(id, event.progress.clone()).await {
            // The journal keeps the previous progress: after a restart the attempt is repeated.
            tracing::error!(%error, "cannot journal an asynchronous event's progress");
        }
        if let Ok(mut state) = self.state.lock() {
            state.events.insert(id, event);
            state.timers.insert((due, id));
        }
        self.timer.notify_one();
    }

    /// The event is done: journal the outcome (when it has somewhere to go) and dispatch it.
    async fn finish(self: &Arc<Self>, mut event: EventRow, settings: &AsyncSettings, c: Condition) {
        let mut targets = Vec::new();
        if c == Condition::Success {
            targets.extend(settings.on_success.clone().map(Target::Destination));
        } else {
            targets.extend(settings.on_failure.clone().map(Target::Destination));
            targets.extend(
                settings
                    .dead_letter_target_arn
                    .clone()
                    .map(Target::DeadLetter),
            );
            tracing::info!(
                function = %event.function,
                request_id = %event.request_id,
                condition = c.as_str(),
                attempts = event.progress.attempts(),
                "asynchronous event failed"
            );
        }
        if targets.is_empty() {
            self.forget(event.id).await;
            return;
        }
        let outcome = Outcome {
            condition: c,
            decided_ms: now_ms(),
            function_arn: self
                .functions
                .qualified_arn(&event.function, event.config_qualifier()),
            targets,
        };
        event.progress.outcome = Some(outcome.clone());
        event.progress.due_ms = 0;
        if let Err(error) = self
            .journal
            .progress(event.id, event.progress.clone())
            .await
        {
            tracing::error!(%error, "cannot journal an asynchronous event's outcome");
        }
        if let Ok(mut state) = self.state.lock() {
            state.events.insert(event.id, event.clone());
        }
        self.dispatch(event, outcome).await;
    }

    /// Hands the outcome to each target; what fails is retried later, with backoff.
    async fn dispatch(self: &Arc<Self>, mut event: EventRow, mut outcome: Outcome) {
        let mut remaining = Vec::new();
        for target in &outcome.targets {
            let sent = match target {
                Target::Destination(arn) => {
                    let record = destination_record(&event, &outcome).to_string();
                    self.send_to_destination(arn, record).await
                }
                Target::DeadLetter(arn) => {
                    let (body, attributes) = dead_letter_message(&event);
                    self.send_to_queue(arn, body, attributes).await
                }
            };
            if let Err(reason) = sent {
                tracing::warn!(?target, %reason, "cannot deliver an asynchronous outcome");
                remaining.push(target.clone());
            }
        }
        if remaining.is_empty() {
            self.forget(event.id).await;
            return;
        }
        event.progress.dispatch_failures += 1;
        if event.progress.dispatch_failures >= MAX_DISPATCH_TRIES {
            tracing::error!(
                request_id = %event.request_id,
                targets = ?remaining,
                "giving up delivering an asynchronous outcome"
            );
            self.forget(event.id).await;
            return;
        }
        outcome.targets = remaining;
        event.progress.outcome = Some(outcome);
        let due = now_ms()
            + self
                .schedule
                .throttle_delay(event.progress.dispatch_failures)
                .as_millis() as u64;
        self.retry_at(event, due).await;
    }

    /// A function destination gets the record as a new asynchronous event; a queue as a message.
    async fn send_to_destination(
        self: &Arc<Self>,
        arn: &str,
        record: String,
    ) -> Result<(), String> {
        match arn.split(':').nth(2) {
            Some("lambda") => {
                let target = self.functions.resolve(arn).await?;
                self.enqueue(NewEvent {
                    function: target.function,
                    qualifier: target.qualifier,
                    version: target.version,
                    payload: Bytes::from(record),
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            }
            Some("sqs") => self.send_to_queue(arn, record, Vec::new()).await,
            _ => Err(format!("unsupported destination {arn}")),
        }
    }

    async fn send_to_queue(
        &self,
        arn: &str,
        body: String,
        attributes: Vec<MessageAttribute>,
    ) -> Result<(), String> {
        let sender = self.queues.read().ok().and_then(|q| q.clone());
        match sender {
            Some(sender) => sender.send_message(arn, body, attributes).await,
            None => Err("this server has no queue service".into()),
        }
    }

    /// Removes a finished event from the journal, then from memory.
    async fn forget(&self, id: u64) {
        if let Err(error) = self.journal.remove(id).await {
            tracing::error!(%error, "cannot remove a finished asynchronous event");
        }
        if let Ok(mut state) = self.state.lock() {
            state.events.remove(&id);
        }
    }

    fn set_limit(&self, function: &str, reserved: Option<u32>) {
        let limit = reserved
            .map_or(self.workers_per_function, |r| {
                (r as usize).min(self.workers_per_function)
            })
            .max(1);
        if let Ok(mut state) = self.state.lock() {
            state.limits.insert(function.to_owned(), limit);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
