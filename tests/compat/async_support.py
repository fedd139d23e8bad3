"""Helpers for the asynchronous invocation tests (test_async*.py): a server whose retry schedule
runs a hundred times faster, a Python function with one handler per behaviour, queues to observe
destination records and dead letters, and waits with deadlines."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from lambent_util import ACCOUNT, REGION, Server, create_function, lambda_client, make_zip, unique
from sqs_support import receive_all, sqs_client

# --async-time-scale: Lambda's 1 and 2 minute retries take 0.6 s and 1.2 s, a 60 s maximum age 0.6 s.
SCALE = 0.01

ASYNC_FN = """
import json

def echo(event, context):
    return {"event": event, "request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "function_version": context.function_version}

def fail(event, context):
    raise Exception("intentional failure")

def maybe(event, context):
    if isinstance(event, dict) and event.get("raise_error"):
        raise Exception("intentional failure")
    return {"ok": event}
"""

ISO_MS_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


@pytest.fixture(scope="module")
def async_server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-async-"))
    srv = Server.start(tmp / "data", args=["--async-time-scale", str(SCALE)])
    try:
        yield srv
    finally:
        running = srv.running()
        if running:
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)
    assert running, f"lambent died during the module; log:\n{srv.log()[-4000:]}"


@pytest.fixture(scope="module")
def alam(async_server):
    return lambda_client(async_server.endpoint)


@pytest.fixture(scope="module")
def asqs(async_server):
    return sqs_client(async_server.endpoint)


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def make_function(lam, handler: str, **overrides) -> str:
    name = unique("async")
    create_function(lam, name, make_zip({"app.py": ASYNC_FN}), Handler=f"app.{handler}", Timeout=10, **overrides)
    return name


def make_queue(sqs) -> tuple[str, str]:
    """A new queue: (url, arn)."""
    url = sqs.create_queue(QueueName=unique("async-q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def invoke_event(lam, name: str, payload, **kw) -> str:
    """InvocationType Event; checks Lambda's 202 and returns the request id."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    out = lam.invoke(FunctionName=name, InvocationType="Event", Payload=body, **kw)
    assert out["StatusCode"] == 202, out
    assert out["Payload"].read() == b""
    request_id = out["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    assert request_id, out["ResponseMetadata"]
    return request_id


def records(sqs, url: str, expected: int, deadline_s: float = 30.0, **kw) -> list[dict]:
    """The first `expected` messages of a queue (bodies parsed as JSON), waiting up to the deadline."""
    messages = receive_all(sqs, url, expected, deadline_s=deadline_s, **kw)
    assert len(messages) >= expected, f"want {expected} messages, got {len(messages)}: {messages}"
    for m in messages:
        m["Record"] = json.loads(m["Body"])
    return messages
