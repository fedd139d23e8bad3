"""Scale-out (issue 6): concurrent calls get an environment each, as on Lambda, and every
environment started for them answers (environment starts are queued a few at a time, so none of
them runs out of Init's 10 s while waiting for the CPU)."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from invoke_support import OwnServer, deploy, invoke, zip_files
from lambent_util import lambda_client, unique

CALLS = 100

# Holds each call until a moment the test chooses, so that all calls overlap and none can reuse
# another's environment; returns which environment served it.
HOLD = zip_files({
    "app.py": (
        "import os, time\n"
        "def handler(event, context):\n"
        "    time.sleep(max(0.0, event['until'] - time.time()))\n"
        "    return {'environment': context.log_stream_name}\n"
    ),
})


@pytest.fixture(scope="module")
def own():
    server = OwnServer()
    yield server
    server.cleanup()


def test_one_hundred_concurrent_calls_get_one_hundred_environments(own):
    name = unique("scale")
    deploy(own.lam, name, HOLD, "python3.12", "app.handler", MemorySize=128, Timeout=60)
    # One client per thread: botocore clients are thread-safe, but one connection pool of 10
    # would serialise the calls.
    clients = [lambda_client(own.server.endpoint) for _ in range(CALLS)]
    # Every call is held until all of them have surely started (100 cold starts on a busy
    # 2-core machine take a few seconds); the generous margin only makes the test slower.
    until = time.time() + 25

    def call(i: int):
        return invoke(clients[i], name, {"until": until}, tail=False)

    with concurrent.futures.ThreadPoolExecutor(CALLS) as pool:
        results = list(pool.map(call, range(CALLS)))
    failures = [r.describe() for r in results if r.status != 200 or r.function_error]
    assert not failures, failures[:3]
    environments = {r.json()["environment"] for r in results}
    assert len(environments) == CALLS, f"{len(environments)} environments served {CALLS} overlapping calls"
    scaling = own.server.raw("GET", "/_lambent/scaling").json()
    [entry] = [f for f in scaling["Functions"] if f["FunctionName"] == name]
    assert entry["ColdStarts"] == CALLS and entry["Throttles"] == 0, entry
    assert len(entry["EnvironmentIds"]) == CALLS, entry
    # A hundred environments are torn down cleanly on SIGTERM.
    assert own.stop() == 0, own.server.log()[-2000:]
    assert own.leftovers() == []
