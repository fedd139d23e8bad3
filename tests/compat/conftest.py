"""Fixtures for the Lambent compatibility suite.

`server`: a fresh `lambent serve` per test module, on a free loopback port (--listen 127.0.0.1:0,
address read from its log line) with its own temporary data directory; stopped with SIGTERM at
the end of the module, which must make it exit 0 within 10 s.
`fresh_server`: the same, per test, for tests that need an empty store.
`lam`: a boto3 Lambda client for `server` (dummy credentials, us-east-1, no retries).
`lam_novalidate`: the same without botocore's client-side parameter validation, to send values
that botocore itself would refuse (Timeout 0, MemorySize 127, ...).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Nothing from the host's AWS configuration may leak into the clients.
for _k in list(os.environ):
    if _k.startswith("AWS_"):
        del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from lambent_util import Server, lambda_client, lambent_bin  # noqa: E402


def pytest_configure(config):
    # Fail early, once, with a clear message when the binary is missing.
    lambent_bin()


def _start(tmp_root: Path) -> Server:
    data = tmp_root / "data"
    return Server.start(data)


@pytest.fixture(scope="module")
def server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-compat-"))
    srv = _start(tmp)
    try:
        yield srv
    finally:
        running = srv.running()
        if running:
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)
    assert running, f"lambent died during the module (exit {srv.proc.returncode}); log:\n{srv.log()[-4000:]}"


@pytest.fixture
def fresh_server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-compat-"))
    srv = _start(tmp)
    try:
        yield srv
    finally:
        running = srv.running()
        if running:
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)
    assert running, f"lambent died during the test (exit {srv.proc.returncode}); log:\n{srv.log()[-4000:]}"


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server.endpoint)


@pytest.fixture(scope="module")
def lam_novalidate(server):
    return lambda_client(server.endpoint, validate=False)
