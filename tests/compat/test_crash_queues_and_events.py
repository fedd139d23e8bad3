"""Combined crash test (issue 7, crash safety): asynchronous Event invocations and SQS sends at
the same time, the server killed with SIGKILL at a random moment, restarted on the same data
directory, again and again. Afterwards:

- every Event invocation whose 202 was received was processed at least once: the function's
  OnSuccess destination is a Lambent queue, and some record there names the 202's request id;
- every SendMessage / SendMessageBatch entry that was acknowledged can be received.

While the clients send, a consumer receives from the same queue without deleting (visibility
2 s), so receive-side writes are in flight at the kill too; those messages must come back.
Requests cut by the kill fail (no retries) and count as not acknowledged; duplicates are
allowed (delivery is at least once), losses are not.

CI runs a few cycles (LAMBENT_CRASH_CYCLES, default 3, well under a minute). The full run is at
least 50 cycles, e.g. with the release binary:

    cargo build --release -p lambent
    LAMBENT_BIN=target/release/lambent LAMBENT_CRASH_CYCLES=50 \\
        tests/compat/run.sh -k crash_queues_and_events -s

It prints the seed of the kill moments (replay with LAMBENT_CRASH_SEED) and how many events
and messages were acknowledged and lost."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from async_support import ASYNC_FN, SCALE
from lambent_util import Server, create_function, lambda_client, make_zip
from sqs_support import sqs_client
from test_async_crash import fragile_client as fragile_lambda
from test_sqs_durability import fragile_client as fragile_sqs

CYCLES = int(os.environ.get("LAMBENT_CRASH_CYCLES", "3"))
EVENT_SENDERS = 3
MESSAGE_SENDERS = 3
FUNCTION = "crash-combined"
# Long enough that a message read once while checking is not read again.
HIDE_S = 43_200


class Acked:
    """What the server acknowledged, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events: set = set()  # request ids of 202s
        self.messages: set = set()  # bodies of acknowledged sends

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.events), len(self.messages)


def send_events(endpoint: str, stop: threading.Event, acked: Acked, tag: str):
    client = fragile_lambda(endpoint)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            out = client.invoke(FunctionName=FUNCTION, InvocationType="Event",
                                Payload=json.dumps({"tag": f"{tag}-{n}"}))
        except Exception:  # cut by the kill (or refused while it is down): not acknowledged
            continue
        if out["StatusCode"] == 202:
            with acked.lock:
                acked.events.add(out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])


def send_messages(endpoint: str, url: str, stop: threading.Event, acked: Acked, tag: str):
    client = fragile_sqs(endpoint)
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
            continue
        with acked.lock:
            acked.messages.update(ok)


def consume_without_deleting(endpoint: str, url: str, stop: threading.Event):
    client = fragile_sqs(endpoint)
    while not stop.is_set():
        try:
            client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2)
        except Exception:
            continue


def read_until(sqs, url: str, wanted: set, key, deadline_s: float) -> dict:
    """Reads (without deleting, hiding each message for HIDE_S) until every wanted key was seen or
    the deadline passed; returns key -> number of messages carrying it."""
    seen: dict = {}
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not wanted <= seen.keys():
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=HIDE_S)
        for m in resp.get("Messages", []):
            k = key(m["Body"])
            seen[k] = seen.get(k, 0) + 1
    return seen


def wait_until(predicate, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def data_dir():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-crash-combined-"))
    yield tmp / "data"
    shutil.rmtree(tmp, ignore_errors=True)


def start(data_dir: Path) -> Server:
    return Server.start(data_dir, args=["--async-time-scale", str(SCALE)])


def test_acknowledged_events_and_messages_survive_sigkill(data_dir):
    seed = int(os.environ.get("LAMBENT_CRASH_SEED", time.time_ns() % 1_000_000_007))
    rng = random.Random(seed)
    print(f"LAMBENT_CRASH_SEED={seed}, {CYCLES} cycles")
    server = start(data_dir)
    lam = lambda_client(server.endpoint)
    sqs = sqs_client(server.endpoint)
    create_function(lam, FUNCTION, make_zip({"app.py": ASYNC_FN}), Handler="app.echo", Timeout=10)
    results = sqs.create_queue(QueueName="crash-combined-results")["QueueUrl"]
    results_arn = sqs.get_queue_attributes(QueueUrl=results,
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.put_function_event_invoke_config(FunctionName=FUNCTION,
                                         DestinationConfig={"OnSuccess": {"Destination": results_arn}})
    work = sqs.create_queue(QueueName="crash-combined-work")["QueueUrl"]
    acked = Acked()
    started = time.monotonic()
    try:
        for cycle in range(CYCLES):
            if cycle > 0:
                server = start(data_dir)
            before = acked.counts()
            stop = threading.Event()
            threads = [threading.Thread(target=send_events, args=(server.endpoint, stop, acked, f"c{cycle}e{i}"))
                       for i in range(EVENT_SENDERS)]
            threads += [threading.Thread(target=send_messages,
                                         args=(server.endpoint, work, stop, acked, f"c{cycle}m{i}"))
                        for i in range(MESSAGE_SENDERS)]
            threads.append(threading.Thread(target=consume_without_deleting, args=(server.endpoint, work, stop)))
            for t in threads:
                t.start()
            # Kill while both kinds of sends are flowing: once each has been acknowledged in this
            # cycle, at a random moment up to a second later.
            flowing = wait_until(lambda: all(a > b for a, b in zip(acked.counts(), before)), 30)
            time.sleep(rng.uniform(0, 1.0))  # the random moment of the crash, not a wait for a result
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert flowing, f"cycle {cycle}: sends were not acknowledged within 30 s; log:\n{server.log()[-3000:]}"
        events, messages = acked.counts()
        print(f"acknowledged over {CYCLES} cycles ({time.monotonic() - started:.0f} s): "
              f"{events} events, {messages} messages")

        server = start(data_dir)
        sqs = sqs_client(server.endpoint)
        processed = read_until(sqs, results, acked.events,
                               lambda body: json.loads(body)["requestContext"]["requestId"],
                               deadline_s=60 + events / 20)
        received = read_until(sqs, work, acked.messages, lambda body: body,
                              deadline_s=60 + messages / 100)
        lost_events = acked.events - processed.keys()
        lost_messages = acked.messages - received.keys()
        repeated = sum(1 for k in acked.events if processed.get(k, 0) > 1)
        print(f"lost: {len(lost_events)} of {events} events, {len(lost_messages)} of {messages} messages; "
              f"{repeated} events processed more than once")
        assert not lost_events, (f"{len(lost_events)} of {events} acknowledged events were never processed, "
                                 f"e.g. {sorted(lost_events)[:5]} (seed {seed}); log:\n{server.log()[-3000:]}")
        assert not lost_messages, (f"{len(lost_messages)} of {messages} acknowledged messages cannot be received, "
                                   f"e.g. {sorted(lost_messages)[:5]} (seed {seed})")
        server.stop_and_check()
    finally:
        if server.running():
            server.kill()
