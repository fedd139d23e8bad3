//! Engine tests: delivery, visibility, long polling, redrive, FIFO, durability.

use crate::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn open(dir: &tempfile::TempDir) -> QueueService {
    QueueService::open(
        &dir.path().join("queues.sqlite3"),
        "us-east-1",
        "000000000000",
    )
    .unwrap()
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn msg(body: &str) -> SendRequest {
    SendRequest {
        body: body.into(),
        sender_id: "tester".into(),
        ..SendRequest::default()
    }
}

fn fifo_msg(body: &str, group: &str) -> SendRequest {
    SendRequest {
        group_id: Some(group.into()),
        ..msg(body)
    }
}

fn now_receive(max: usize) -> ReceiveRequest {
    ReceiveRequest {
        max_messages: max,
        wait: Some(Duration::ZERO),
        visibility_timeout: None,
    }
}

#[tokio::test]
async fn send_receive_delete_and_visibility() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir);
    q.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
        .await
        .unwrap();
    let sent = q.send("q", msg("hello")).await.unwrap();
    assert_eq!(sent.md5_of_body, md5_of_body("hello"));
    let got = q.receive("q", &now_receive(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, sent.message_id);
    assert_eq!(got[0].attributes["ApproximateReceiveCount"], "1");
    // In flight: invisible to a second receive.
    assert!(q.receive("q", &now_receive(10)).await.unwrap().is_empty());
    let depth = q.depth("q").unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 1));
    // Made visible again: redelivered with a new handle; the old one no longer deletes.
    q.change_visibility("q", &got[0].receipt_handle, 0).unwrap();
    let again = q.receive("q", &now_receive(10)).await.unwrap();
    assert_eq!(again[0].attributes["ApproximateReceiveCount"], "2");
    assert_ne!(again[0].receipt_handle, got[0].receipt_handle);
    q.delete_message("q", &got[0].receipt_handle).await.unwrap();
    assert_eq!(q.depth("q").unwrap().in_flight, 1);
    q.delete_message("q", &again[0].receipt_handle)
        .await
        .unwrap();
    assert_eq!(q.depth("q").unwrap(), QueueDepth::default());
    assert!(matches!(
        q.delete_message("q", "garbage").await,
        Err(QueueError::ReceiptHandleIsInvalid(_))
    ));
}

#[tokio::test]
async fn long_poll_wakes_on_send_without_waiting_out_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let q = std::sync::Arc::new(open(&dir));
    q.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
        .await
        .unwrap();
    let started = Instant::now();
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.receive(
                "q",
                &ReceiveRequest {
                    max_messages: 1,
                    wait: Some(Duration::from_secs(10)),
                    visibility_timeout: None,
                },
            )
            .await
        })
    };
    tokio::task::yield_now().await;
    q.send("q", msg("wake")).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn visibility_expiry_wakes_a_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir);
    q.create_queue("q", &attrs(&[("VisibilityTimeout", "1")]), &BTreeMap::new())
        .await
        .unwrap();
    q.send("q", msg("x")).await.unwrap();
    assert_eq!(q.receive("q", &now_receive(1)).await.unwrap().len(), 1);
    let started = Instant::now();
    let got = q
        .receive(
            "q",
            &ReceiveRequest {
                max_messages: 1,
                wait: Some(Duration::from_secs(10)),
                visibility_timeout: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(5));
}

#[tokio::test]
async fn redrive_moves_to_the_dead_letter_queue_after_max_receives() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir);
    q.create_queue("dlq", &BTreeMap::new(), &BTreeMap::new())
        .await
        .unwrap();
    let policy = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#,
        q.queue_arn("dlq")
    );
    q.create_queue(
        "src",
        &attrs(&[("RedrivePolicy", &policy)]),
        &BTreeMap::new(),
    )
    .await
    .unwrap();
    let sent = q.send("src", msg("poison")).await.unwrap();
    let hide_none = ReceiveRequest {
        visibility_timeout: Some(0),
        ..now_receive(1)
    };
    for _ in 0..2 {
        assert_eq!(q.receive("src", &hide_none).await.unwrap().len(), 1);
    }
    assert!(q.receive("src", &hide_none).await.unwrap().is_empty());
    let dead = q.receive("dlq", &now_receive(10)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, sent.message_id);
    assert_eq!(
        dead[0].attributes["DeadLetterQueueSourceArn"],
        q.queue_arn("src")
    );
    // A dead-letter target must exist.
    let missing =
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":2}"#;
    assert!(matches!(
        q.set_attributes("src", &attrs(&[("RedrivePolicy", missing)]))
            .await,
        Err(QueueError::InvalidParameterValue(_))
    ));
}

#[tokio::test]
async fn fifo_orders_within_a_group_locks_it_and_deduplicates() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir);
    let fifo = attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]);
    assert!(q.create_queue("f", &fifo, &BTreeMap::new()).await.is_err());
    q.create_queue("f.fifo", &fifo, &BTreeMap::new())
        .await
        .unwrap();
    let a1 = q.send("f.fifo", fifo_msg("a1", "a")).await.unwrap();
    let dup = q.send("f.fifo", fifo_msg("a1", "a")).await.unwrap();
    assert_eq!(a1.message_id, dup.message_id);
    q.send("f.fifo", fifo_msg("a2", "a")).await.unwrap();
    q.send("f.fifo", fifo_msg("b1", "b")).await.unwrap();
    assert!(matches!(
        q.send("f.fifo", msg("no group")).await,
        Err(QueueError::MissingParameter(_))
    ));
    let first = q.receive("f.fifo", &now_receive(1)).await.unwrap();
    assert_eq!(first[0].body, "a1");
    assert!(first[0].attributes.contains_key("SequenceNumber"));
    // Group a is locked while a1 is in flight: b1 comes next, then nothing.
    let next = q.receive("f.fifo", &now_receive(10)).await.unwrap();
    assert_eq!(
        next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["b1"]
    );
    q.delete_message("f.fifo", &first[0].receipt_handle)
        .await
        .unwrap();
    let last = q.receive("f.fifo", &now_receive(10)).await.unwrap();
    assert_eq!(
        last.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["a2"]
    );
}

#[tokio::test]
async fn messages_and_delivery_state_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = {
        let q = open(&dir);
        q.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(q.send("q", msg(&format!("m{i}"))).await.unwrap().message_id);
        }
        let got = q.receive("q", &now_receive(1)).await.unwrap();
        q.delete_message("q", &got[0].receipt_handle).await.unwrap();
        ids.retain(|id| *id != got[0].message_id);
        ids
    };
    // The writer thread of the first instance drains before its connection closes; the new
    // instance reads committed state only.
    let q = open(&dir);
    let mut seen = Vec::new();
    loop {
        let got = q.receive("q", &now_receive(10)).await.unwrap();
        if got.is_empty() {
            break;
        }
        seen.extend(got.into_iter().map(|m| m.message_id));
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn concurrent_sends_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let q = std::sync::Arc::new(open(&dir));
    q.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            q.send("q", msg(&format!("m{i}"))).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(q.depth("q").unwrap().visible, 64);
}
