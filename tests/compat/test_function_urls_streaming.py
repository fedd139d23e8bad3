"""`InvokeMode: RESPONSE_STREAM` function URLs, created with boto3 and read over a raw socket so
that the chunked framing and each chunk's arrival time are visible: the first chunk arrives
while the function still runs, the head written by `awslambda.HttpResponseStream.from` (status,
headers, cookies) is applied, a stream without a prelude is a 200 with the stream's content
type, a handler that does not stream has its result sent as it is (as AWS does: LocalStack's
AWS-validated `test_lambda_url_echo_invoke[RESPONSE_STREAM]`), a failure before the response
began is Lambda's 502 and a failure mid-stream cuts the response off (no final chunk)."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

from http_front_support import public_url
from invoke_support import deploy, zip_files
from lambent_util import unique

STREAMING_JS = r"""
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  const q = event.queryStringParameters || {};
  if (q.plain) {
    stream.setContentType('text/plain; charset=utf-8');
  } else {
    stream = awslambda.HttpResponseStream.from(stream, {
      statusCode: 201,
      headers: { 'x-a': 'b', 'content-type': 'text/event-stream' },
      cookies: ['a=1', 'b=2; Path=/'],
    });
  }
  stream.write('first;');
  if (q.fail) throw new Error('broke after the first chunk');
  if (q.delay) await pause(Number(q.delay));
  stream.write('second');
  stream.end();
});
"""

BUFFERED_PY = """
def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("fail"):
        raise ValueError("no response")
    return {"statusCode": 201, "headers": {"x-b": "c"}, "body": "whole"}
"""


@dataclass
class Streamed:
    status: int
    headers: list
    # (seconds since the request was sent, chunk) in arrival order
    chunks: list = field(default_factory=list)
    # True when the terminating zero-length chunk arrived
    complete: bool = False

    def header(self, name: str):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def body(self) -> bytes:
        return b"".join(c for _, c in self.chunks)


def stream_get(server, url: str, timeout: float = 60.0) -> Streamed:
    """GETs `url` with HTTP/1.1 on the server's socket and decodes the chunked body by hand,
    recording when each chunk's data was complete."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        f = sock.makefile("rb")
        started = time.monotonic()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        status_line = f.readline().decode()
        status = int(status_line.split()[1])
        headers = []
        while (line := f.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers.append((name.strip(), value.strip()))
        out = Streamed(status, headers)
        if "chunked" not in ",".join(out.header("transfer-encoding")).lower():
            length = int((out.header("content-length") or ["0"])[0])
            out.chunks.append((time.monotonic() - started, f.read(length)))
            out.complete = True
            return out
        while True:
            size_line = f.readline()
            if not size_line:
                return out  # connection closed without the final chunk
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                f.readline()
                out.complete = True
                return out
            data = f.read(size)
            f.read(2)
            out.chunks.append((time.monotonic() - started, data))
            if len(data) < size:
                return out


@pytest.fixture(scope="module")
def streaming_fn(lam):
    name = unique("url-stream")
    deploy(lam, name, zip_files({"index.js": STREAMING_JS}), "nodejs20.x", "index.handler", Timeout=30)
    return name


@pytest.fixture(scope="module")
def streaming_url(lam, streaming_fn):
    return public_url(lam, streaming_fn, InvokeMode="RESPONSE_STREAM")


@pytest.fixture(scope="module")
def buffered_streaming_url(lam):
    name = unique("url-buffered")
    deploy(lam, name, zip_files({"app.py": BUFFERED_PY}), "python3.12", "app.handler")
    return public_url(lam, name, InvokeMode="RESPONSE_STREAM")


def test_url_config_reports_response_stream(lam, streaming_fn, streaming_url):
    config = lam.get_function_url_config(FunctionName=streaming_fn)
    assert config["InvokeMode"] == "RESPONSE_STREAM"
    assert config["FunctionUrl"] == streaming_url


def test_first_chunk_arrives_before_the_function_ends(server, streaming_url):
    stream_get(server, streaming_url)  # cold start out of the way
    r = stream_get(server, streaming_url + "?delay=1500")
    assert r.status == 201, r
    assert r.complete, r
    assert r.body == b"first;second", r
    assert len(r.chunks) >= 2, r.chunks
    first_at = r.chunks[0][0]
    last_at = r.chunks[-1][0]
    # The function waits 1.5 s between its writes: a first chunk held back until the function
    # returned would arrive together with the last.
    assert last_at - first_at >= 1.2, f"first chunk at {first_at:.3f}s, last at {last_at:.3f}s"
    assert r.chunks[0][1] == b"first;", r.chunks


def test_head_from_http_response_stream_from(server, streaming_url):
    r = stream_get(server, streaming_url)
    assert r.status == 201
    assert r.header("x-a") == ["b"]
    assert r.header("content-type") == ["text/event-stream"]
    assert sorted(r.header("set-cookie")) == ["a=1", "b=2; Path=/"]
    assert r.header("transfer-encoding") == ["chunked"]
    assert r.header("content-length") == []
    assert len(r.header("x-amzn-RequestId")) == 1
    assert r.body == b"first;second"
    # The prelude and its delimiter never reach the client.
    assert b"\0" not in r.body and b"statusCode" not in r.body


def test_stream_without_prelude_is_200_with_its_content_type(server, streaming_url):
    r = stream_get(server, streaming_url + "?plain=1")
    assert r.status == 200
    assert r.header("content-type") == ["text/plain; charset=utf-8"]
    assert r.complete and r.body == b"first;second"


def test_mid_stream_error_cuts_the_response_off(server, streaming_url):
    r = stream_get(server, streaming_url + "?fail=1")
    assert r.status == 201
    assert r.body == b"first;"
    assert not r.complete, "a failed stream must not end like a complete one"
    # The environment carries on.
    r = stream_get(server, streaming_url)
    assert r.status == 201 and r.complete and r.body == b"first;second"


def test_buffered_handler_result_is_sent_as_it_is(server, buffered_streaming_url):
    r = stream_get(server, buffered_streaming_url)
    assert r.status == 200, r
    assert r.complete
    assert json.loads(r.body) == {"statusCode": 201, "headers": {"x-b": "c"}, "body": "whole"}
    assert r.header("x-b") == []
    r = stream_get(server, buffered_streaming_url + "?fail=1")
    assert r.status == 502, r
    assert json.loads(r.body) == {"Message": "Internal Server Error"}


def test_streams_do_not_wait_for_each_other(server, streaming_url):
    """A slow stream holds nothing another request needs: a second request (which may need a
    second environment) completes while the first is still between its writes."""
    import threading

    slow: list = []

    def slow_request():
        slow.append(stream_get(server, streaming_url + "?delay=5000"))
        slow.append(time.monotonic())

    t = threading.Thread(target=slow_request)
    t.start()
    try:
        quick = stream_get(server, streaming_url)
        quick_done = time.monotonic()
    finally:
        t.join(60)
    assert quick.complete and quick.body == b"first;second"
    assert len(slow) == 2 and slow[0].complete and slow[0].body == b"first;second"
    assert quick_done < slow[1], "the quick stream waited for the slow one"
