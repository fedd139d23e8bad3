"""The built-in SQS-compatible queue service, driven by the real boto3 `sqs` client (JSON
protocol): every operation, SQS's error codes and messages, long polling, visibility timeouts,
redrive to a dead-letter queue, FIFO ordering and deduplication, tags, and SigV4 for service
`sqs`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from lambent_util import ACCOUNT, REGION, Server, aws_cli, expect_error, unique
from sqs_support import queue_count, receive_all, sqs_client, wait_for

NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"


@pytest.fixture(scope="module")
def sqs(server):
    return sqs_client(server.endpoint)


@pytest.fixture(scope="module")
def sqs_novalidate(server):
    return sqs_client(server.endpoint, validate=False)


def new_queue(sqs, prefix="q", **attributes) -> str:
    name = unique(prefix)
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def md5_of_attributes(attributes: dict) -> str:
    """SQS's digest of message attributes, computed independently of the server."""
    h = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name.encode(), value["DataType"].encode()):
            h.update(struct.pack(">I", len(part)) + part)
        if "BinaryValue" in value:
            data = value["BinaryValue"]
            h.update(b"\x02" + struct.pack(">I", len(data)) + data)
        else:
            data = value["StringValue"].encode()
            h.update(b"\x01" + struct.pack(">I", len(data)) + data)
    return h.hexdigest()


# --- queues ------------------------------------------------------------------------------------


def test_create_get_list_delete_queue(server, sqs):
    name = unique("lifecycle")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MaximumMessageSize"] == "1048576"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "0"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert int(attrs["CreatedTimestamp"]) > 1_600_000_000
    assert "FifoQueue" not in attrs
    # Idempotent with the same attributes, refused with different ones.
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    expect_error(sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "5"},
                 status=400, code="QueueAlreadyExists",
                 message=f"A queue already exists with the same name and a different value for attribute VisibilityTimeout")
    sqs.delete_queue(QueueUrl=url)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=name)
    expect_error(sqs.get_queue_url, QueueName=name, status=400, code=NON_EXISTENT,
                 message="The specified queue does not exist.")
    expect_error(sqs.create_queue, QueueName=name, status=400,
                 code="AWS.SimpleQueueService.QueueDeletedRecently")


def test_missing_queue_is_the_modeled_exception(sqs):
    url = f"http://localhost/{ACCOUNT}/{unique('none')}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    for call, kw in [
        (sqs.receive_message, {}),
        (sqs.delete_queue, {}),
        (sqs.purge_queue, {}),
        (sqs.get_queue_attributes, {"AttributeNames": ["All"]}),
        (sqs.list_queue_tags, {}),
    ]:
        expect_error(call, QueueUrl=url, **kw, status=400, code=NON_EXISTENT)


def test_queue_urls_follow_the_host_the_client_used(server):
    port = server.port
    other = sqs_client(f"http://localhost:{port}")
    name = unique("host")
    url = other.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"http://localhost:{port}/{ACCOUNT}/{name}"
    # Either URL names the same queue.
    sqs_client(server.endpoint).send_message(QueueUrl=url, MessageBody="via another host")
    assert queue_count(other, url) == 1


@pytest.mark.parametrize("name", ["", "a" * 81, "bad name", "bad.fifo", "x/y"])
def test_invalid_queue_names(sqs_novalidate, name):
    expect_error(sqs_novalidate.create_queue, QueueName=name, status=400, code="InvalidParameterValue",
                 message="Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")


def test_fifo_name_rules(sqs):
    expect_error(sqs.create_queue, QueueName=unique("nofifo"), Attributes={"FifoQueue": "true"},
                 status=400, code="InvalidParameterValue", contains=["must end with .fifo suffix"])


def test_list_queues_pages_with_max_results(sqs):
    prefix = unique("page")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2] and "NextToken" in first
    second = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    third = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
    assert second["QueueUrls"] == urls[2:4]
    assert third["QueueUrls"] == urls[4:] and "NextToken" not in third
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls


def test_set_and_get_attributes(sqs, sqs_novalidate):
    url = new_queue(sqs)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45", "DelaySeconds": "2",
                                                       "MaximumMessageSize": "2048"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "DelaySeconds"])
    assert got["Attributes"] == {"VisibilityTimeout": "45", "DelaySeconds": "2"}
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
    expect_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "43201"},
                 status=400, code="InvalidAttributeValue",
                 message="Invalid value for the parameter VisibilityTimeout.")
    expect_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"Nope": "1"},
                 status=400, code="InvalidAttributeName", message="Unknown Attribute Nope.")
    expect_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"},
                 status=400, code="InvalidAttributeName")
    expect_error(sqs_novalidate.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"],
                 status=400, code="InvalidAttributeName", message="Unknown Attribute Bogus.")
    # MaximumMessageSize applies to sends.
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x" * 3000, status=400,
                 code="InvalidParameterValue", contains=["Message must be shorter than 2048 bytes"])


def test_tags(sqs):
    name = unique("tags")
    url = sqs.create_queue(QueueName=name, tags={"team": "a"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "b"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


# --- messages ----------------------------------------------------------------------------------


def test_send_receive_with_attributes_and_digests(sqs):
    url = new_queue(sqs)
    attributes = {
        "s": {"DataType": "String", "StringValue": "héllo"},
        "n": {"DataType": "Number", "StringValue": "42.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "c": {"DataType": "String.custom", "StringValue": "x"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="body ✓", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("body ✓".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    before = int(time.time() * 1000)
    got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"],
                              WaitTimeSeconds=1)["Messages"]
    assert len(got) == 1
    m = got[0]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == "body ✓"
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    a = m["Attributes"]
    assert a["ApproximateReceiveCount"] == "1"
    assert a["SenderId"]
    assert abs(int(a["SentTimestamp"]) - before) < 60_000
    assert int(a["ApproximateFirstReceiveTimestamp"]) >= int(a["SentTimestamp"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert queue_count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0


def test_attribute_selection(sqs):
    url = new_queue(sqs)
    attributes = {"a.one": {"DataType": "String", "StringValue": "1"},
                  "a.two": {"DataType": "String", "StringValue": "2"},
                  "b": {"DataType": "String", "StringValue": "3"}}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attributes)
    m = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["a.*"],
                            MessageSystemAttributeNames=["SentTimestamp"], VisibilityTimeout=0)["Messages"][0]
    assert set(m["MessageAttributes"]) == {"a.one", "a.two"}
    assert set(m["Attributes"]) == {"SentTimestamp"}
    m = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "MessageAttributes" not in m and "Attributes" not in m


def test_message_validation(sqs, sqs_novalidate):
    url = new_queue(sqs)
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="bad \x01", status=400,
                 code="InvalidMessageContents", contains=["Invalid characters found"])
    expect_error(sqs_novalidate.send_message, QueueUrl=url, MessageBody="", status=400,
                 code="MissingParameter")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x",
                 MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
                 status=400, code="InvalidParameterValue", contains=["to a number"])
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x",
                 MessageAttributes={"s": {"DataType": "String", "StringValue": ""}},
                 status=400, code="InvalidParameterValue", contains=["must contain non-empty"])
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x",
                 MessageAttributes={f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
                 status=400, code="InvalidParameterValue")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901, status=400,
                 code="InvalidParameterValue")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d", status=400,
                 code="InvalidParameterValue")
    expect_error(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11, status=400,
                 code="InvalidParameterValue",
                 message="Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
    expect_error(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21, status=400,
                 code="InvalidParameterValue")
    expect_error(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle", status=400,
                 code="ReceiptHandleIsInvalid",
                 message='The input receipt handle "not-a-handle" is not a valid receipt handle.')


def test_send_batch_and_delete_batch(sqs):
    url = new_queue(sqs)
    resp = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok1", "MessageBody": "one"},
        {"Id": "bad", "MessageBody": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "z"}}},
        {"Id": "ok2", "MessageBody": "two", "DelaySeconds": 0},
    ])
    assert sorted(e["Id"] for e in resp["Successful"]) == ["ok1", "ok2"]
    for e in resp["Successful"]:
        assert e["MD5OfMessageBody"] == hashlib.md5({"ok1": b"one", "ok2": b"two"}[e["Id"]]).hexdigest()
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]] == [("bad", "InvalidParameterValue", True)]
    got = wait_for(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"),
                   what="batch messages")
    while len(got) < 2:
        got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
    ] + [{"Id": "junk", "ReceiptHandle": "junk"}])
    assert sorted(e["Id"] for e in deleted["Successful"]) == ["d0", "d1"]
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("junk", "ReceiptHandleIsInvalid")]
    assert queue_count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0


def test_batch_errors(sqs, sqs_novalidate):
    url = new_queue(sqs)
    expect_error(sqs_novalidate.send_message_batch, QueueUrl=url, Entries=[], status=400,
                 code="AWS.SimpleQueueService.EmptyBatchRequest")
    expect_error(sqs.send_message_batch, QueueUrl=url,
                 Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)], status=400,
                 code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                 message="Maximum number of entries per request are 10. You have sent 11.")
    expect_error(sqs.send_message_batch, QueueUrl=url,
                 Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}], status=400,
                 code="AWS.SimpleQueueService.BatchEntryIdsNotDistinct", message="Id a repeated.")
    expect_error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "no spaces", "MessageBody": "x"}],
                 status=400, code="AWS.SimpleQueueService.InvalidBatchEntryId")
    expect_error(sqs.send_message_batch, QueueUrl=url,
                 Entries=[{"Id": f"e{i}", "MessageBody": "x" * 300_000} for i in range(4)], status=400,
                 code="AWS.SimpleQueueService.BatchRequestTooLong")


def test_long_poll_returns_when_a_message_arrives(sqs, server):
    url = new_queue(sqs)
    result = {}

    def poll():
        started = time.monotonic()
        result["resp"] = sqs_client(server.endpoint).receive_message(QueueUrl=url, WaitTimeSeconds=10)
        result["elapsed"] = time.monotonic() - started

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)  # let the poll start waiting; a late start only makes the assertion weaker
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    t.join(15)
    assert result["resp"]["Messages"][0]["Body"] == "wake up"
    assert result["elapsed"] < 5, result["elapsed"]


def test_long_poll_waits_then_returns_empty(sqs):
    url = new_queue(sqs)
    started = time.monotonic()
    resp = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    elapsed = time.monotonic() - started
    assert "Messages" not in resp
    assert 1.8 <= elapsed < 5, elapsed
    # The queue's ReceiveMessageWaitTimeSeconds is the default wait.
    url = new_queue(sqs, ReceiveMessageWaitTimeSeconds="1")
    started = time.monotonic()
    sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - started >= 0.9


def test_visibility_timeout_and_redelivery(sqs):
    url = new_queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert queue_count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 1
    second = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5,
                                 AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    # The first handle is stale: deleting with it leaves the message.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    expect_error(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                 VisibilityTimeout=10, status=400, code="InvalidParameterValue")
    resp = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "stale", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 0},
    ])
    assert [e["Id"] for e in resp["Successful"]] == ["ok"]
    assert [f["Id"] for f in resp["Failed"]] == ["stale"]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]["MessageId"] == first["MessageId"]


def test_delay_seconds(sqs):
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert queue_count(sqs, url, "ApproximateNumberOfMessagesDelayed") == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "later"


def test_purge(sqs):
    url = new_queue(sqs)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    assert queue_count(sqs, url) == 0
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    expect_error(sqs.purge_queue, QueueUrl=url, status=400,
                 code="AWS.SimpleQueueService.PurgeQueueInProgress", contains=["every 60 seconds"])


def test_redrive_to_dead_letter_queue(sqs):
    dlq = new_queue(sqs, "dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    src = new_queue(sqs, "src", RedrivePolicy=policy)
    got = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(got["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison")
    for count in (1, 2):
        m = sqs.receive_message(QueueUrl=src, VisibilityTimeout=0, AttributeNames=["All"],
                                WaitTimeSeconds=1)["Messages"][0]
        assert m["Attributes"]["ApproximateReceiveCount"] == str(count)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"], WaitTimeSeconds=2)["Messages"]
    assert [m["MessageId"] for m in dead] == [sent["MessageId"]]
    assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"].endswith(src.rsplit("/", 1)[1])
    bad = json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:missing", "maxReceiveCount": 1})
    expect_error(sqs.set_queue_attributes, QueueUrl=src, Attributes={"RedrivePolicy": bad}, status=400,
                 code="InvalidParameterValue", contains=["Dead letter target does not exist"])
    bad = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})
    expect_error(sqs.set_queue_attributes, QueueUrl=src, Attributes={"RedrivePolicy": bad}, status=400,
                 code="InvalidParameterValue", contains=["maxReceiveCount"])


# --- FIFO --------------------------------------------------------------------------------------


def test_fifo_ordering_group_lock_and_sequence_numbers(sqs):
    url = new_queue(sqs, "fifo", FifoQueue="true", ContentBasedDeduplication="true")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["DeduplicationScope"] == "queue"
    sequences = []
    for i in range(5):
        for group in ("a", "b"):
            r = sqs.send_message(QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId=group)
            sequences.append(int(r["SequenceNumber"]))
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    bodies = [m["Body"] for m in got]
    # Within a group, strictly in order.
    for group in ("a", "b"):
        mine = [b for b in bodies if b.startswith(group)]
        assert mine == [f"{group}{i}" for i in range(len(mine))]
    assert got[0]["Attributes"]["MessageGroupId"] in ("a", "b")
    assert "SequenceNumber" in got[0]["Attributes"] and "MessageDeduplicationId" in got[0]["Attributes"]
    # Both groups are in flight: nothing more until they are deleted.
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    for m in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = receive_all(sqs, url, 10 - len(got), deadline_s=10)
    assert len(rest) == 10 - len(got)


def test_fifo_group_waits_for_the_message_in_flight(sqs):
    url = new_queue(sqs, "fifolock", FifoQueue="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert first["Body"] == "m0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    # Made visible again, the same message comes first again: the group keeps its order.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert again["Body"] == "m0"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "m1"


def test_fifo_deduplication(sqs):
    url = new_queue(sqs, "dedup", FifoQueue="true")
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="same")
    b = sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="same")
    assert a["MessageId"] == b["MessageId"]
    assert queue_count(sqs, url) == 1
    content = new_queue(sqs, "cbd", FifoQueue="true", ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=content, MessageBody="same body", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=content, MessageBody="same body", MessageGroupId="h")
    c = sqs.send_message(QueueUrl=content, MessageBody="other body", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"] != c["MessageId"]
    # Dedup per message group when asked.
    per_group = new_queue(sqs, "pg", FifoQueue="true", ContentBasedDeduplication="true",
                          DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    a = sqs.send_message(QueueUrl=per_group, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=per_group, MessageBody="same", MessageGroupId="h")
    assert a["MessageId"] != b["MessageId"]


def test_fifo_validation(sqs, sqs_novalidate):
    url = new_queue(sqs, "fv", FifoQueue="true")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d", status=400,
                 code="MissingParameter", message="The request must contain the parameter MessageGroupId.")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g", status=400,
                 code="InvalidParameterValue",
                 message="The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
    expect_error(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g",
                 MessageDeduplicationId="d", DelaySeconds=5, status=400, code="InvalidParameterValue")
    expect_error(sqs.set_queue_attributes, QueueUrl=url, Attributes={"FifoQueue": "false"}, status=400,
                 code="InvalidAttributeValue")


# --- clients and signing ------------------------------------------------------------------------


def test_aws_cli_round_trip(server, sqs):
    name = unique("cli")
    out = aws_cli(server.endpoint, "sqs", "create-queue", "--queue-name", name)
    assert out.returncode == 0, out.stderr
    url = json.loads(out.stdout)["QueueUrl"]
    out = aws_cli(server.endpoint, "sqs", "send-message", "--queue-url", url, "--message-body", "from cli",
                  "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}')
    assert out.returncode == 0, out.stderr
    out = aws_cli(server.endpoint, "sqs", "receive-message", "--queue-url", url,
                  "--message-attribute-names", "All", "--wait-time-seconds", "2")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Messages"][0]["Body"] == "from cli"
    out = aws_cli(server.endpoint, "sqs", "get-queue-url", "--queue-name", unique("absent"))
    assert out.returncode != 0 and "NonExistentQueue" in out.stderr


KEY, SECRET = "AKIDSQSSIGNED0000001", "sqs-signing-secret"


@pytest.fixture(scope="module")
def signed_server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-sqs-signed-"))
    srv = Server.start(tmp / "data", env={"LAMBENT_ACCESS_KEY_ID": KEY, "LAMBENT_SECRET_ACCESS_KEY": SECRET})
    try:
        yield srv
    finally:
        srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)


def test_sigv4_for_service_sqs(signed_server):
    good = sqs_client(signed_server.endpoint, key=KEY, secret=SECRET)
    url = good.create_queue(QueueName=unique("signed"))["QueueUrl"]
    good.send_message(QueueUrl=url, MessageBody="signed")
    m = good.receive_message(QueueUrl=url, AttributeNames=["SenderId"])["Messages"][0]
    assert m["Attributes"]["SenderId"] == KEY
    bad = sqs_client(signed_server.endpoint, key=KEY, secret="wrong")
    err = expect_error(bad.list_queues, status=403, code={"SignatureDoesNotMatch", "InvalidSignatureException"})
    assert err.status == 403
