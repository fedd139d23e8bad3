//! Engine tests with a fake runner, fake functions and a fake queue: retry counts and timing,
//! throttling until the maximum age, destinations, dead-letter queues and recovery from the
//! journal. Every wait polls with a deadline.

use crate::ports::{
    AsyncSettings, Attempted, Delivery, Functions, MessageAttribute, QueueSender, ResolvedTarget,
    Runner,
};
use crate::{AsyncInvoke, EngineSettings, NewEvent};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake function does with each event.
#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    Fail,
    Throttle,
}

struct FakeRunner {
    behaviour: Mutex<HashMap<String, Behaviour>>,
    calls: Mutex<Vec<(String, String, Instant)>>,
}

impl FakeRunner {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            behaviour: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, function: &str, behaviour: Behaviour) {
        self.behaviour
            .lock()
            .expect("lock")
            .insert(function.into(), behaviour);
    }

    fn calls_of(&self, function: &str) -> Vec<(String, Instant)> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(f, _, _)| f == function)
            .map(|(_, payload, at)| (payload.clone(), *at))
            .collect()
    }
}

#[async_trait]
impl Runner for FakeRunner {
    async fn run(&self, delivery: &Delivery) -> Attempted {
        let payload = String::from_utf8_lossy(&delivery.payload).into_owned();
        self.calls.lock().expect("lock").push((
            delivery.function.clone(),
            payload.clone(),
            Instant::now(),
        ));
        let behaviour = self
            .behaviour
            .lock()
            .expect("lock")
            .get(&delivery.function)
            .copied()
            .unwrap_or(Behaviour::Succeed);
        match behaviour {
            Behaviour::Succeed => Attempted::Ran {
                executed_version: delivery.version.clone(),
                payload: Bytes::from(format!("{{\"echo\":{payload}}}")),
                function_error: None,
            },
            Behaviour::Fail => Attempted::Ran {
                executed_version: delivery.version.clone(),
                payload: Bytes::from_static(br#"{"errorMessage":"boom","errorType":"Exception"}"#),
                function_error: Some("Unhandled".into()),
            },
            Behaviour::Throttle => {
                Attempted::Throttled("ReservedFunctionConcurrentInvocationLimitExceeded".into())
            }
        }
    }
}

struct FakeFunctions {
    settings: Mutex<HashMap<String, AsyncSettings>>,
}

fn settings(retries: u32, age: u32) -> AsyncSettings {
    AsyncSettings {
        maximum_retry_attempts: retries,
        maximum_event_age_seconds: age,
        on_success: None,
        on_failure: None,
        dead_letter_target_arn: None,
        reserved_concurrency: None,
    }
}

impl FakeFunctions {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            settings: Mutex::new(HashMap::new()),
        })
    }

    fn set(&self, function: &str, s: AsyncSettings) {
        self.settings
            .lock()
            .expect("lock")
            .insert(function.into(), s);
    }
}

#[async_trait]
impl Functions for FakeFunctions {
    async fn settings(
        &self,
        function: &str,
        _qualifier: &str,
        _version: &str,
    ) -> Result<Option<AsyncSettings>, String> {
        Ok(Some(
            self.settings
                .lock()
                .expect("lock")
                .get(function)
                .cloned()
                .unwrap_or_else(|| settings(2, 21_600)),
        ))
    }

    async fn resolve(&self, function_arn: &str) -> Result<ResolvedTarget, String> {
        let name = function_arn.rsplit(':').next().unwrap_or_default();
        Ok(ResolvedTarget {
            function: name.into(),
            qualifier: None,
            version: "$LATEST".into(),
        })
    }

    fn qualified_arn(&self, function: &str, qualifier: &str) -> String {
        format!("arn:aws:lambda:us-east-1:000000000000:function:{function}:{qualifier}")
    }
}

#[derive(Default)]
struct FakeQueue {
    sent: Mutex<Vec<(String, String, Vec<MessageAttribute>)>>,
}

#[async_trait]
impl QueueSender for FakeQueue {
    async fn send_message(
        &self,
        queue_arn: &str,
        body: String,
        attributes: Vec<MessageAttribute>,
    ) -> Result<(), String> {
        self.sent
            .lock()
            .expect("lock")
            .push((queue_arn.into(), body, attributes));
        Ok(())
    }
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:q";
const DLQ: &str = "arn:aws:sqs:us-east-1:000000000000:dlq";

struct Harness {
    _dir: tempfile::TempDir,
    engine: AsyncInvoke,
    runner: Arc<FakeRunner>,
    functions: Arc<FakeFunctions>,
    queue: Arc<FakeQueue>,
}

fn start(time_scale: f64) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = FakeRunner::new();
    let functions = FakeFunctions::new();
    let queue = Arc::new(FakeQueue::default());
    let engine = AsyncInvoke::start(
        &dir.path().join("async.sqlite3"),
        runner.clone(),
        functions.clone(),
        EngineSettings {
            time_scale,
            workers_per_function: 4,
            queues: Some(queue.clone()),
        },
    )
    .expect("start");
    Harness {
        _dir: dir,
        engine,
        runner,
        functions,
        queue,
    }
}

fn event(function: &str, payload: &str) -> NewEvent {
    NewEvent {
        function: function.into(),
        qualifier: None,
        version: "$LATEST".into(),
        payload: Bytes::from(payload.to_owned()),
    }
}

async fn until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn record_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("record is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_reaches_the_on_success_queue() {
    let h = start(0.001);
    h.functions.set(
        "f",
        AsyncSettings {
            on_success: Some(QUEUE.into()),
            ..settings(2, 21_600)
        },
    );
    let id = h
        .engine
        .enqueue(event("f", r#"{"a":1}"#))
        .await
        .expect("enqueue");
    until("the success record", Duration::from_secs(10), || {
        !h.queue.sent.lock().expect("lock").is_empty()
    })
    .await;
    let sent = h.queue.sent.lock().expect("lock").clone();
    let record = record_of(&sent[0].1);
    assert_eq!(sent[0].0, QUEUE);
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(record["requestPayload"], serde_json::json!({"a": 1}));
    assert_eq!(
        record["responsePayload"],
        serde_json::json!({"echo": {"a": 1}})
    );
    assert!(record["responseContext"].get("functionError").is_none());
    until(
        "the event to leave the journal",
        Duration::from_secs(10),
        || h.engine.pending() == 0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_are_retried_on_the_scaled_schedule_then_go_to_failure_and_dlq() {
    // Scale 0.01: retries 0.6 s and then 1.2 s after the failures.
    let h = start(0.01);
    h.runner.set("f", Behaviour::Fail);
    h.functions.set(
        "f",
        AsyncSettings {
            on_failure: Some(QUEUE.into()),
            dead_letter_target_arn: Some(DLQ.into()),
            ..settings(2, 21_600)
        },
    );
    let id = h
        .engine
        .enqueue(event("f", r#"{"n":1}"#))
        .await
        .expect("enqueue");
    until("two sends", Duration::from_secs(15), || {
        h.queue.sent.lock().expect("lock").len() == 2
    })
    .await;
    let calls = h.runner.calls_of("f");
    assert_eq!(calls.len(), 3, "one try and two retries");
    let first_gap = calls[1].1 - calls[0].1;
    let second_gap = calls[2].1 - calls[1].1;
    assert!(
        (Duration::from_millis(550)..Duration::from_millis(1500)).contains(&first_gap),
        "{first_gap:?}"
    );
    assert!(
        (Duration::from_millis(1150)..Duration::from_millis(2500)).contains(&second_gap),
        "{second_gap:?}"
    );
    let sent = h.queue.sent.lock().expect("lock").clone();
    let record = sent.iter().find(|(q, _, _)| q == QUEUE).expect("record");
    let record = record_of(&record.1);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    let dlq = sent.iter().find(|(q, _, _)| q == DLQ).expect("dlq message");
    assert_eq!(dlq.1, r#"{"n":1}"#);
    assert_eq!(
        dlq.2,
        vec![
            MessageAttribute::string("RequestID", &id),
            MessageAttribute::number("ErrorCode", "200"),
            MessageAttribute::string("ErrorMessage", "boom"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_retry_until_the_maximum_age() {
    // Scale 0.01: a 60 s maximum age is 0.6 s; throttle backoff starts at 10 ms.
    let h = start(0.01);
    h.runner.set("t", Behaviour::Throttle);
    h.functions.set(
        "t",
        AsyncSettings {
            on_failure: Some(QUEUE.into()),
            ..settings(0, 60)
        },
    );
    let began = Instant::now();
    h.engine.enqueue(event("t", "{}")).await.expect("enqueue");
    until("the failure record", Duration::from_secs(10), || {
        !h.queue.sent.lock().expect("lock").is_empty()
    })
    .await;
    let elapsed = began.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let calls = h.runner.calls_of("t").len();
    assert!(
        calls >= 4,
        "throttled events are retried with backoff ({calls} tries)"
    );
    let record = record_of(&h.queue.sent.lock().expect("lock")[0].1);
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["responseContext"]["statusCode"], 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_with_zero_attempts_and_function_destination_gets_the_record() {
    let h = start(0.001);
    h.runner.set("f", Behaviour::Fail);
    h.functions.set(
        "f",
        AsyncSettings {
            on_failure: Some("arn:aws:lambda:us-east-1:000000000000:function:sink".into()),
            ..settings(0, 21_600)
        },
    );
    h.engine
        .enqueue(event("f", r#"{"x":true}"#))
        .await
        .expect("enqueue");
    until("the sink's invocation", Duration::from_secs(10), || {
        !h.runner.calls_of("sink").is_empty()
    })
    .await;
    assert_eq!(h.runner.calls_of("f").len(), 1);
    let record = record_of(&h.runner.calls_of("sink")[0].0);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"], serde_json::json!({"x": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_in_the_journal_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("async.sqlite3");
    // A first engine whose function is throttled for a long time: events stay journaled.
    {
        let runner = FakeRunner::new();
        runner.set("f", Behaviour::Throttle);
        let engine = AsyncInvoke::start(
            &path,
            runner.clone(),
            FakeFunctions::new(),
            EngineSettings::default(),
        )
        .expect("start");
        for n in 0..20 {
            engine
                .enqueue(event("f", &format!("{{\"n\":{n}}}")))
                .await
                .expect("enqueue");
        }
        engine.shutdown();
    }
    let runner = FakeRunner::new();
    let engine = AsyncInvoke::start(
        &path,
        runner.clone(),
        FakeFunctions::new(),
        EngineSettings {
            time_scale: 0.001,
            workers_per_function: 4,
            queues: None,
        },
    )
    .expect("restart");
    until(
        "every event after the restart",
        Duration::from_secs(10),
        || {
            let mut seen: Vec<String> = runner.calls_of("f").into_iter().map(|c| c.0).collect();
            seen.sort();
            seen.dedup();
            seen.len() == 20
        },
    )
    .await;
    until("an empty journal", Duration::from_secs(10), || {
        engine.pending() == 0
    })
    .await;
}
