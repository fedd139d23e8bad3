"""Crash safety of asynchronous invocation: while several clients send Event invocations, the
server is killed with SIGKILL at a random moment, restarted on the same data directory, and so on
for a number of cycles. At the end every event whose 202 was received must have been processed at
least once. Processing is observed durably: the function's OnSuccess destination is a Lambent queue,
and each record names the request id the 202 carried.

LAMBENT_ASYNC_CRASH_CYCLES sets the number of cycles (a handful by default, >= 50 for a full run)."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from async_support import ASYNC_FN, SCALE
from lambent_util import DUMMY_KEY, DUMMY_SECRET, REGION, Server, create_function, lambda_client, make_zip
from sqs_support import receive_all, sqs_client

CYCLES = int(os.environ.get("LAMBENT_ASYNC_CRASH_CYCLES", "4"))
SENDERS = 4
FUNCTION = "async-crash"


def fragile_client(endpoint):
    """No retries and short timeouts: a request cut by the kill fails and counts as not acknowledged."""
    session = boto3.session.Session(aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET,
                                    region_name=REGION)
    return session.client("lambda", endpoint_url=endpoint, config=Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10))


def send_until_stopped(endpoint: str, stop: threading.Event, acked: set, lock: threading.Lock, tag: str):
    client = fragile_client(endpoint)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            out = client.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=f'{{"tag":"{tag}-{n}"}}')
        except Exception:  # the server died under the request: not acknowledged
            continue
        if out["StatusCode"] == 202:
            with lock:
                acked.add(out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])


def processed_ids(sqs, url: str, wanted: set, deadline_s: float) -> set:
    """Request ids named by the destination records, until every wanted one was seen or the
    deadline passed (records may repeat: delivery is at least once)."""
    seen: set = set()
    end = time.monotonic() + deadline_s
    while not wanted <= seen and time.monotonic() < end:
        for m in receive_all(sqs, url, 100, deadline_s=2):
            seen.add(json.loads(m["Body"])["requestContext"]["requestId"])
    return seen


@pytest.fixture
def data_dir():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-async-crash-"))
    yield tmp / "data"
    shutil.rmtree(tmp, ignore_errors=True)


def start(data_dir: Path) -> Server:
    return Server.start(data_dir, args=["--async-time-scale", str(SCALE)])


def test_acknowledged_events_survive_sigkill(data_dir):
    rng = random.Random(int(os.environ.get("LAMBENT_CRASH_SEED", time.time())))
    server = start(data_dir)
    lam = lambda_client(server.endpoint)
    sqs = sqs_client(server.endpoint)
    create_function(lam, FUNCTION, make_zip({"app.py": ASYNC_FN}), Handler="app.echo", Timeout=10)
    url = sqs.create_queue(QueueName="async-crash-results")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.put_function_event_invoke_config(FunctionName=FUNCTION,
                                         DestinationConfig={"OnSuccess": {"Destination": queue_arn}})
    acked: set = set()
    lock = threading.Lock()
    try:
        for cycle in range(CYCLES):
            if cycle > 0:
                server = start(data_dir)
            stop = threading.Event()
            threads = [threading.Thread(target=send_until_stopped,
                                        args=(server.endpoint, stop, acked, lock, f"c{cycle}s{i}"))
                       for i in range(SENDERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.5))  # the random moment of the crash, not a wait for a result
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert acked, "no Event invocation was acknowledged at all"
        print(f"{len(acked)} events acknowledged over {CYCLES} cycles")
        server = start(data_dir)
        sqs = sqs_client(server.endpoint)
        processed = processed_ids(sqs, url, acked, deadline_s=180)
        missing = acked - processed
        assert not missing, (f"{len(missing)} of {len(acked)} acknowledged events were never processed, "
                             f"e.g. {sorted(missing)[:5]}; log:\n{server.log()[-3000:]}")
        server.stop_and_check()
    finally:
        if server.running():
            server.kill()
