"""InvokeWithResponseStream through boto3's own event-stream decoder (PayloadChunk ... then
InvokeComplete): chunks arrive while the function runs, mid-stream errors, timeouts, oversized
streams, buffered handlers and log tails.

Streaming functions use Lambent's Node bootstrap (`awslambda.streamifyResponse`), which posts
to the Runtime API in its streaming mode; buffered handlers answer the ordinary way and arrive
whole. What Lambda puts in ErrorCode/ErrorDetails is not recorded in the AWS snapshots; Lambent
sends the error type and message (documented in crates/invoker/src/streaming.rs)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from invoke_support import deploy, zip_files
from lambent_util import unique

STREAMING_JS = r"""
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, stream, context) => {
  stream.setContentType('text/plain');
  if (event.http) {
    stream = awslambda.HttpResponseStream.from(stream, { statusCode: 201, headers: { 'x-a': 'b' } });
  }
  if (event.log) console.log('streaming for', context.awsRequestId);
  stream.write('first;');
  if (event.fail) throw new Error('broke after the first chunk');
  if (event.hang) await pause(600000);
  if (event.megabytes) {
    const mib = Buffer.alloc(1024 * 1024, 97);
    for (let i = 0; i < event.megabytes; i++) {
      if (!stream.write(mib)) await new Promise((r) => stream.once('drain', r));
    }
  }
  if (event.delay) await pause(event.delay);
  stream.write('second');
  stream.end();
});
"""

BUFFERED_PY = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no streaming here")
    return {"whole": True, "n": event.get("n")}
"""


@pytest.fixture(scope="module")
def streaming_fn(lam):
    name = unique("stream")
    deploy(lam, name, zip_files({"index.js": STREAMING_JS}), "nodejs20.x", "index.handler", Timeout=30)
    return name


@pytest.fixture(scope="module")
def buffered_fn(lam):
    name = unique("buffered")
    deploy(lam, name, zip_files({"app.py": BUFFERED_PY}), "python3.12", "app.handler")
    return name


def stream_invoke(lam, name, payload, **kw):
    """Invokes and reads the whole event stream; returns (response, [(seconds, event)]) with each
    event's arrival time since the call started."""
    started = time.monotonic()
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    events = [(time.monotonic() - started, event) for event in resp["EventStream"]]
    return resp, events


def body_and_completion(events):
    chunks = [e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e]
    completes = [e["InvokeComplete"] for _, e in events if "InvokeComplete" in e]
    assert len(completes) == 1, f"want exactly one InvokeComplete: {events}"
    assert "InvokeComplete" in events[-1][1], "InvokeComplete must come last"
    return b"".join(chunks), completes[0]


def test_first_chunk_arrives_before_the_function_ends(lam, streaming_fn):
    stream_invoke(lam, streaming_fn, {})  # cold start out of the way
    resp, events = stream_invoke(lam, streaming_fn, {"delay": 1500})
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    body, complete = body_and_completion(events)
    assert body == b"first;second"
    assert "ErrorCode" not in complete and "ErrorDetails" not in complete, complete
    first_at = next(t for t, e in events if "PayloadChunk" in e)
    done_at = events[-1][0]
    # The function waits 1.5 s between its two writes: a first chunk that was held back until
    # the end would arrive with the completion.
    assert done_at - first_at >= 1.2, f"first chunk at {first_at:.3f}s, completion at {done_at:.3f}s"


def test_mid_stream_error_ends_with_error_code_and_details(lam, streaming_fn):
    _, events = stream_invoke(lam, streaming_fn, {"fail": True})
    body, complete = body_and_completion(events)
    assert body == b"first;"
    assert complete["ErrorCode"] == "Error", complete
    assert complete["ErrorDetails"] == "broke after the first chunk", complete
    # The environment carries on.
    _, events = stream_invoke(lam, streaming_fn, {})
    assert body_and_completion(events) == (b"first;second", {})


def test_http_integration_prelude_passes_through(lam, streaming_fn):
    resp, events = stream_invoke(lam, streaming_fn, {"http": True})
    body, complete = body_and_completion(events)
    prelude, _, rest = body.partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"x-a": "b"}}
    assert rest == b"first;second"
    assert resp["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"


def test_buffered_handler_arrives_whole(lam, buffered_fn):
    _, events = stream_invoke(lam, buffered_fn, {"n": 7})
    body, complete = body_and_completion(events)
    assert json.loads(body) == {"whole": True, "n": 7}
    assert complete == {}, complete
    _, events = stream_invoke(lam, buffered_fn, {"fail": True})
    body, complete = body_and_completion(events)
    assert body == b""
    assert complete["ErrorCode"] == "ValueError", complete
    assert complete["ErrorDetails"] == "no streaming here", complete


def test_tail_logs_in_invoke_complete(lam, streaming_fn):
    resp, events = stream_invoke(lam, streaming_fn, {"log": True}, LogType="Tail")
    _, complete = body_and_completion(events)
    log = base64.b64decode(complete["LogResult"]).decode()
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id}" in log, log
    assert f"streaming for {request_id}" in log, log
    assert f"END RequestId: {request_id}" in log, log
    assert f"REPORT RequestId: {request_id}" in log, log
    assert len(log.encode()) <= 4096


def test_timeout_mid_stream(lam):
    name = unique("stream-timeout")
    deploy(lam, name, zip_files({"index.js": STREAMING_JS}), "nodejs20.x", "index.handler", Timeout=2)
    _, events = stream_invoke(lam, name, {"hang": True}, LogType="Tail")
    body, complete = body_and_completion(events)
    assert body == b"first;"
    assert complete["ErrorCode"] == "Sandbox.Timedout", complete
    assert "Task timed out after 2.00 seconds" in complete["ErrorDetails"], complete
    assert "Status: timeout" in base64.b64decode(complete["LogResult"]).decode()


def test_oversized_stream_is_cut_at_20_mib(lam, streaming_fn):
    started = time.monotonic()
    _, events = stream_invoke(lam, streaming_fn, {"megabytes": 22})
    seconds = time.monotonic() - started
    body, complete = body_and_completion(events)
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge", complete
    assert len(body) <= 20 * 1024 * 1024, len(body)
    assert len(body) >= 19 * 1024 * 1024, len(body)
    # Beyond the first 6 MiB Lambda streams at 2 MiB/s: 14 MiB take about 7 s.
    assert seconds >= 6.0, f"20 MiB streamed in {seconds:.2f}s: bandwidth not limited"


def test_errors_before_the_stream_are_ordinary_api_errors(lam):
    with pytest.raises(ClientError) as ei:
        lam.invoke_with_response_stream(FunctionName=unique("missing"), Payload=b"{}")
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_dry_run(lam, buffered_fn):
    resp = lam.invoke_with_response_stream(FunctionName=buffered_fn, InvocationType="DryRun", Payload=b"{}")
    assert resp["StatusCode"] == 204
