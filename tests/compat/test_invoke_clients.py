"""The official runtime interface clients, run by Lambent as provided.al2023 bootstraps:

* awslambdaric (Python), vendored into the zip and started by a `#!/bin/sh` bootstrap with
  `exec /usr/bin/python3 -m awslambdaric app.handler` (PYTHONPATH=/var/task from the function's
  Environment);
* the Rust `lambda_runtime` crate: tests/functions/rust-echo, built by this module (debug
  profile, its own target directory) and zipped as `bootstrap`.

Both must echo the event with the context they were given and report a handled error the way
they do on AWS (runtime-clients.md §3, §5)."""

from __future__ import annotations

import json
import time

import pytest

from invoke_support import (
    UUID_RE,
    awslambdaric_zip,
    check_log_frame,
    deploy,
    function_arn,
    invoke,
    rust_echo_zip,
)
from lambent_util import unique

EVENT = {"msg": "héllo ✓", "n": [1, 2, 3], "nested": {"ok": True}}


@pytest.fixture(scope="module")
def ric_function(lam):
    name = unique("awslambdaric")
    deploy(lam, name, awslambdaric_zip(), "provided.al2023", "app.handler", Timeout=10,
           Environment={"Variables": {"PYTHONPATH": "/var/task"}})
    return name


@pytest.fixture(scope="module")
def rust_function(lam):
    code, seconds = rust_echo_zip()
    print(f"\nrust-echo: cargo build (debug) took {seconds:.1f} s, zip {len(code)} bytes")
    name = unique("rust-echo")
    deploy(lam, name, code, "provided.al2023", "bootstrap", Timeout=10)
    return name


def ok(inv):
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    assert inv.executed_version == "$LATEST" and UUID_RE.match(inv.request_id), inv.describe()
    return inv


def test_awslambdaric_echo_and_context(lam, ric_function):
    name = ric_function
    cold = ok(invoke(lam, function_arn(name, "$LATEST"), EVENT))
    warm = ok(invoke(lam, name, EVENT))
    print(f"\nawslambdaric: cold {cold.seconds * 1000:.0f} ms, warm {warm.seconds * 1000:.0f} ms")
    check_log_frame(cold, 1024, cold=True)
    check_log_frame(warm, 1024, cold=False)
    for inv, arn in ((cold, function_arn(name, "$LATEST")), (warm, function_arn(name))):
        got = inv.json()
        assert got["echo"] == EVENT, got
        assert got["request_id"] == inv.request_id
        assert got["invoked_function_arn"] == arn
        assert got["function_name"] == name and got["memory_limit_in_mb"] == "1024"
        assert 5000 <= got["remaining_ms"] <= 10000, got["remaining_ms"]
        assert got["log_stream_name"] and got["log_stream_name"] == cold.json()["log_stream_name"]


def test_awslambdaric_gets_a_trace_id(lam, ric_function):
    """Lambda sends Lambda-Runtime-Trace-Id on every /next; awslambdaric copies it to
    _X_AMZN_TRACE_ID, which the X-Ray SDK and Powertools' Tracer need (runtime-clients.md §2.2)."""
    got = ok(invoke(lam, ric_function, {})).json()
    assert (got["trace_id"] or "").startswith("Root=1-"), f"_X_AMZN_TRACE_ID is {got['trace_id']!r}"


def test_awslambdaric_handled_error(lam, ric_function):
    inv = invoke(lam, ric_function, {"fail": "ric failure ü"})
    assert inv.status == 200 and inv.function_error == "Unhandled", inv.describe()
    body = inv.json()
    assert body["errorType"] == "EchoFailure" and body["errorMessage"] == "ric failure ü", body
    assert body["requestId"] == inv.request_id
    assert body["stackTrace"] and '/var/task/app.py", line' in body["stackTrace"][-1], body["stackTrace"]
    assert "[ERROR] EchoFailure: ric failure ü" in inv.log, inv.log
    # a handled error leaves the environment warm
    after = ok(invoke(lam, ric_function, {"again": 1}))
    assert after.json()["echo"] == {"again": 1}
    assert not any(line.startswith("INIT_START") for line in after.log_lines()), after.log


def test_rust_lambda_runtime_echo_and_context(lam, rust_function):
    name = rust_function
    before_ms = time.time() * 1000
    cold = ok(invoke(lam, function_arn(name, "$LATEST"), EVENT))
    warm = ok(invoke(lam, name, EVENT))
    print(f"\nrust lambda_runtime: cold {cold.seconds * 1000:.0f} ms, warm {warm.seconds * 1000:.0f} ms")
    check_log_frame(cold, 1024, cold=True)
    check_log_frame(warm, 1024, cold=False)
    for inv, arn in ((cold, function_arn(name, "$LATEST")), (warm, function_arn(name))):
        got = inv.json()
        assert got["echo"] == EVENT, got
        assert got["request_id"] == inv.request_id
        assert got["invoked_function_arn"] == arn
        assert got["function_name"] == name and got["memory"] == 1024 and got["version"] == "$LATEST", got
        assert got["log_group"] == f"/aws/lambda/{name}" and got["log_stream"], got
        assert before_ms + 10000 - 3000 <= got["deadline_ms"] <= time.time() * 1000 + 10000, got["deadline_ms"]


def test_rust_lambda_runtime_handled_error(lam, rust_function):
    inv = invoke(lam, rust_function, {"fail": "rust failure ü"})
    assert inv.status == 200 and inv.function_error == "Unhandled", inv.describe()
    body = inv.json()
    assert body.get("errorMessage") == "rust failure ü", body
    assert isinstance(body.get("errorType"), str) and body["errorType"], body
    after = ok(invoke(lam, rust_function, json.dumps({"again": 2})))
    assert after.json()["echo"] == {"again": 2}
