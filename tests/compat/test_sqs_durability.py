"""Crash safety of the queue service: every message whose SendMessage (or SendMessageBatch) was
acknowledged survives a SIGKILL of the server at a random moment, including while sends are in
flight, and is delivered after restart (at least once)."""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config
import boto3

from lambent_util import DUMMY_KEY, DUMMY_SECRET, REGION, Server
from sqs_support import receive_all, sqs_client

CYCLES = 4
SENDERS = 6


def fragile_client(endpoint):
    """No retries and short timeouts: a request cut by the kill just fails (is not acknowledged)."""
    session = boto3.session.Session(aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET,
                                    region_name=REGION)
    return session.client("sqs", endpoint_url=endpoint, config=Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10))


@pytest.fixture
def data_dir():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-sqs-crash-"))
    yield tmp / "data"
    shutil.rmtree(tmp, ignore_errors=True)


def send_until_killed(endpoint, url, stop: threading.Event, acked: list, lock: threading.Lock, tag: str):
    client = fragile_client(endpoint)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if n % 3 == 0:
                bodies = [f"{tag}-{n}-{i}" for i in range(5)]
                resp = client.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
                ok = [bodies[int(e["Id"])] for e in resp.get("Successful", [])]
            else:
                body = f"{tag}-{n}"
                client.send_message(QueueUrl=url, MessageBody=body)
                ok = [body]
        except Exception:
            return  # the server is gone: whatever was not answered was not acknowledged
        with lock:
            acked.extend(ok)


def test_acknowledged_messages_survive_sigkill(data_dir):
    rng = random.Random(7)
    server = Server.start(data_dir)
    url = sqs_client(server.endpoint).create_queue(QueueName="crash-q")["QueueUrl"]
    total_acked = 0
    try:
        for cycle in range(CYCLES):
            acked: list = []
            lock = threading.Lock()
            stop = threading.Event()
            threads = [threading.Thread(target=send_until_killed,
                                        args=(server.endpoint, url, stop, acked, lock, f"c{cycle}s{i}"))
                       for i in range(SENDERS)]
            for t in threads:
                t.start()
            # Kill once sends are flowing, at a random moment.
            deadline = time.monotonic() + 20
            while len(acked) < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            server.kill()
            stop.set()
            for t in threads:
                t.join(15)
            assert acked, "no send was acknowledged before the kill"
            with lock:
                expected = set(acked)
            server = Server.start(data_dir)
            sqs = sqs_client(server.endpoint)
            received = receive_all(sqs, url, len(expected), deadline_s=60)
            bodies = {m["Body"] for m in received}
            missing = expected - bodies
            assert not missing, f"cycle {cycle}: {len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
            # Drain whatever was sent but not acknowledged, so the next cycle starts empty.
            while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                receive_all(sqs, url, 10_000, deadline_s=2)
            total_acked += len(expected)
    finally:
        if server.running():
            server.stop_and_check()
    assert total_acked >= CYCLES * 50


def test_received_but_undeleted_messages_come_back_after_a_crash(data_dir):
    server = Server.start(data_dir)
    sqs = sqs_client(server.endpoint)
    url = sqs.create_queue(QueueName="inflight-q", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    for i in range(20):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    taken = []
    while len(taken) < 10:
        taken += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10 - len(taken)).get("Messages", [])
    for m in taken[:5]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    server.kill()
    server = Server.start(data_dir)
    try:
        sqs = sqs_client(server.endpoint)
        got = receive_all(sqs, url, 15, deadline_s=30)
        deleted = {m["Body"] for m in taken[:5]}
        assert {m["Body"] for m in got} == {f"m{i}" for i in range(20)} - deleted
    finally:
        server.stop_and_check()
