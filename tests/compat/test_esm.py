"""SQS event source mappings with the real boto3 `lambda` and `sqs` clients: the mapping API
(202s, states, validation, listing), delivery with Lambda's SQS event shape, deletion only after
success, ReportBatchItemFailures, function errors, disabling, and resumption after a restart.

The server runs with `--isolation none` so the function can write each event it receives to a
host directory the test reads: that is how the test sees exactly what the function got."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from lambent_util import ACCOUNT, REGION, UUID_RE, Server, create_function, expect_error, lambda_client, make_zip, unique
from sqs_support import queue_count, sqs_client, wait_for

HANDLER = """
import json, os
def handler(event, context):
    with open(os.path.join(os.environ["OUT"], context.aws_request_id + ".json"), "w") as f:
        json.dump(event, f)
    bodies = [r["body"] for r in event["Records"]]
    if "raise" in bodies:
        raise Exception("boom")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                  if r["body"].startswith("fail")]}
"""


@pytest.fixture(scope="module")
def env():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-esm-"))
    out = tmp / "events"
    out.mkdir()
    out.chmod(0o777)
    srv = Server.start(tmp / "data", args=["--isolation", "none"])
    try:
        yield srv, out, tmp
    finally:
        if srv.running():
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def lam(env):
    return lambda_client(env[0].endpoint)


@pytest.fixture(scope="module")
def sqs(env):
    return sqs_client(env[0].endpoint)


@pytest.fixture(scope="module")
def fn(env, lam):
    name = unique("esmfn")
    create_function(lam, name, make_zip({"app.py": HANDLER}), Environment={"Variables": {"OUT": str(env[1])}},
                    Timeout=10)
    return name


def events(out: Path) -> list[dict]:
    found = []
    for p in out.glob("*.json"):
        try:
            found.append(json.loads(p.read_text()))
        except ValueError:
            pass  # being written
    return found


def records_for(out: Path, queue_arn: str) -> list[dict]:
    return [r for e in events(out) for r in e["Records"] if r["eventSourceARN"] == queue_arn]


def make_queue(sqs, prefix="esmq", **attributes):
    url = sqs.create_queue(QueueName=unique(prefix), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wait_state(lam, uuid, state):
    return wait_for(lambda: (m := lam.get_event_source_mapping(UUID=uuid))["State"] == state and m,
                    deadline_s=10, what=f"mapping {uuid} {state}")


def test_mapping_crud_and_states(lam, sqs, fn):
    url, arn = make_queue(sqs)
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    uuid = created["UUID"]
    assert UUID_RE.match(uuid)
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10
    assert created["MaximumBatchingWindowInSeconds"] == 0
    assert created["EventSourceArn"] == arn
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}"
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["FunctionResponseTypes"] == []
    assert created["EventSourceMappingArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"
    assert created["LastModified"].year >= 2024
    got = wait_state(lam, uuid, "Enabled")
    assert got["UUID"] == uuid

    listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    assert uuid in [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]]

    expect_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn, status=409,
                 code="ResourceConflictException", contains=[uuid])

    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=50, MaximumBatchingWindowInSeconds=1,
                                              FunctionResponseTypes=["ReportBatchItemFailures"],
                                              ScalingConfig={"MaximumConcurrency": 3}, Enabled=False)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Disabling"
    assert updated["BatchSize"] == 50
    assert updated["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert updated["ScalingConfig"] == {"MaximumConcurrency": 3}
    wait_state(lam, uuid, "Disabled")

    deleted = lam.delete_event_source_mapping(UUID=uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"
    expect_error(lam.get_event_source_mapping, UUID=uuid, status=404, code="ResourceNotFoundException",
                 message="The resource you requested does not exist.")
    expect_error(lam.delete_event_source_mapping, UUID=uuid, status=404, code="ResourceNotFoundException")


def test_mapping_validation(lam, sqs, fn):
    url, arn = make_queue(sqs)
    expect_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn, BatchSize=11,
                 status=400, code="InvalidParameterValueException",
                 message="Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    expect_error(lam.create_event_source_mapping, EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('none')}",
                 FunctionName=fn, status=400, code="InvalidParameterValueException",
                 contains=["AWS.SimpleQueueService.NonExistentQueue"])
    expect_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=unique("nofn"),
                 status=404, code="ResourceNotFoundException")
    expect_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn,
                 ScalingConfig={"MaximumConcurrency": 1001}, status=400, code="InvalidParameterValueException")
    fifo_url = sqs.create_queue(QueueName=unique("esmf") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo_arn = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    expect_error(lam.create_event_source_mapping, EventSourceArn=fifo_arn, FunctionName=fn, BatchSize=20,
                 MaximumBatchingWindowInSeconds=1, status=400, code="InvalidParameterValueException")
    expect_error(lam.get_event_source_mapping, UUID="00000000-0000-0000-0000-000000000000", status=404,
                 code="ResourceNotFoundException")


def test_delivery_with_lambdas_event_shape(env, lam, sqs, fn):
    srv, out, _ = env
    url, arn = make_queue(sqs)
    attrs = {"color": {"DataType": "String", "StringValue": "blue"},
             "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello esm", MessageAttributes=attrs)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=5)["UUID"]
    try:
        for i in range(4):
            sqs.send_message(QueueUrl=url, MessageBody=f"more {i}")
        recs = wait_for(lambda: len(records_for(out, arn)) >= 5 and records_for(out, arn), what="5 records")
        first = next(r for r in recs if r["messageId"] == sent["MessageId"])
        assert set(first) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                              "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"}
        assert first["body"] == "hello esm"
        assert first["md5OfBody"] == hashlib.md5(b"hello esm").hexdigest()
        assert first["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
        assert first["eventSource"] == "aws:sqs"
        assert first["eventSourceARN"] == arn
        assert first["awsRegion"] == REGION
        a = first["attributes"]
        assert set(a) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
        assert a["ApproximateReceiveCount"] == "1"
        assert first["messageAttributes"] == {
            "color": {"stringValue": "blue", "binaryValue": None, "stringListValues": [], "binaryListValues": [],
                      "dataType": "String"},
            "raw": {"stringValue": None, "binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [],
                    "dataType": "Binary"},
        }
        # Batches never exceed BatchSize; everything is deleted after success.
        assert all(len(e["Records"]) <= 5 for e in events(out))
        wait_for(lambda: queue_count(sqs, url) == 0
                 and queue_count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0,
                 what="queue drained")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_partial_batch_failure_returns_only_failed_items(env, lam, sqs, fn):
    srv, out, _ = env
    dlq_url, dlq_arn = make_queue(sqs, "esmdlq")
    # The visibility timeout must outlast the invocation (a cold start included), or the
    # successful messages would be redelivered before their deletion, as on AWS.
    url, arn = make_queue(sqs, VisibilityTimeout="4",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "ok-a"}, {"Id": "b", "MessageBody": "fail-b"}, {"Id": "c", "MessageBody": "ok-c"}])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                           FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    try:
        dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages"),
                        deadline_s=30, what="the failed message in the dead-letter queue")
        assert [m["Body"] for m in dead] == ["fail-b"]
        bodies = [r["body"] for r in records_for(out, arn)]
        assert bodies.count("ok-a") == 1 and bodies.count("ok-c") == 1
        assert bodies.count("fail-b") == 2
        assert queue_count(sqs, url) == 0
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_function_error_retries_the_whole_batch(env, lam, sqs, fn):
    srv, out, _ = env
    dlq_url, dlq_arn = make_queue(sqs, "esmdlq")
    url, arn = make_queue(sqs, VisibilityTimeout="4",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "raise"},
                                                  {"Id": "b", "MessageBody": "innocent"}])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn)["UUID"]
    try:
        got = []
        def both_dead():
            got.extend(sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []))
            return len(got) >= 2
        wait_for(both_dead, deadline_s=30, what="both messages of the failed batch in the DLQ")
        assert sorted(m["Body"] for m in got) == ["innocent", "raise"]
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_disabled_mapping_does_not_consume_and_resumes_after_restart(env, lam, sqs, fn):
    srv, out, tmp = env
    url, arn = make_queue(sqs)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, Enabled=False)["UUID"]
    wait_state(lam, uuid, "Disabled")
    sqs.send_message(QueueUrl=url, MessageBody="held")
    # A disabled mapping leaves the message visible; a receive would hide it, so count instead.
    assert queue_count(sqs, url) == 1
    srv.stop_and_check()
    srv2 = Server.start(tmp / "data", args=["--isolation", "none"])
    try:
        lam2 = lambda_client(srv2.endpoint)
        sqs2 = sqs_client(srv2.endpoint)
        assert lam2.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
        assert queue_count(sqs2, url) == 1
        lam2.update_event_source_mapping(UUID=uuid, Enabled=True)
        wait_state(lam2, uuid, "Enabled")
        wait_for(lambda: any(r["body"] == "held" for r in records_for(out, arn)), what="held message delivered")
        wait_for(lambda: queue_count(sqs2, url) == 0
                 and queue_count(sqs2, url, "ApproximateNumberOfMessagesNotVisible") == 0, what="drained")
        lam2.delete_event_source_mapping(UUID=uuid)
    finally:
        srv2.stop_and_check()
