"""Helpers shared by the Lambent compatibility tests: running the server, AWS clients, raw
requests, zip packages and checks against the recorded AWS responses.

Everything here talks to the server only through its public HTTP interface, like a real client.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
DUMMY_KEY = "AKIDDUMMYDUMMYDUMMY1"
DUMMY_SECRET = "dummy-secret-dummy-secret"

START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0

LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
LISTENING_RE = re.compile(r"lambent listening on http://(\S+) with data in")

HANDLER_SRC = "def handler(event, context):\n    return {'ok': True, 'event': event}\n"


# ---------------------------------------------------------------------------------------------
# The binary and the server process
# ---------------------------------------------------------------------------------------------


def lambent_bin() -> str:
    path = os.environ.get("LAMBENT_BIN")
    if not path:
        path = str(REPO_ROOT / "target" / "debug" / "lambent")
    path = os.path.abspath(path)  # servers run in their own working directory
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"lambent binary not found at {path}: build it (cargo build -p lambent) or set LAMBENT_BIN"
        )
    return path


def server_env(extra: dict | None = None) -> dict:
    """The environment for a server: ours without any LAMBENT_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBENT_")}
    env["NO_COLOR"] = "1"
    env.setdefault("RUST_BACKTRACE", "1")
    env.setdefault("LAMBENT_LOG", "info")
    if extra:
        env.update(extra)
    return env


# Per-server scratch directories (log, working directory, default data directory), removed at
# exit unless LAMBENT_COMPAT_KEEP is set. Failing assertions quote the log.
_WORK_DIRS: list = []
# Every server started by this test process, so helpers can ask them about environments.
STARTED_SERVERS: list = []


@atexit.register
def _remove_work_dirs():
    if not os.environ.get("LAMBENT_COMPAT_KEEP"):
        for d in _WORK_DIRS:
            shutil.rmtree(d, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@dataclass
class Server:
    """One `lambent serve` process. Start with `Server.start(...)`."""

    proc: subprocess.Popen
    data_dir: Path
    log_path: Path
    endpoint: str = ""
    address: str = ""
    args: list = field(default_factory=list)

    @classmethod
    def start(
        cls,
        data_dir: Path | str | None = None,
        *,
        listen: str = "127.0.0.1:0",
        args: list | tuple = (),
        env: dict | None = None,
        use_data_dir_flag: bool = True,
        cwd: Path | str | None = None,
        wait: bool = True,
    ) -> "Server":
        work = Path(tempfile.mkdtemp(prefix="lambent-run-"))
        _WORK_DIRS.append(work)
        if data_dir is None:
            data_dir = work / "data"
        data_dir = Path(data_dir)
        log_name = str(work / "server.log")
        log_fd = os.open(log_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        cmd = [lambent_bin(), "serve"]
        if listen is not None:
            cmd += ["--listen", listen]
        if use_data_dir_flag:
            cmd += ["--data-dir", str(data_dir)]
        cmd += list(args)
        # A fresh empty working directory, so no stray ./lambent.toml is picked up.
        if cwd is None:
            cwd = work / "cwd"
            cwd.mkdir()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            env=server_env(env),
            cwd=str(cwd),
        )
        os.close(log_fd)
        server = cls(proc=proc, data_dir=data_dir, log_path=Path(log_name), args=cmd)
        STARTED_SERVERS.append(server)
        if wait:
            server.wait_ready()
        return server

    def log(self) -> str:
        try:
            return ANSI_RE.sub("", self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def wait_ready(self, deadline_s: float = START_DEADLINE_S) -> None:
        """Wait for the 'listening' line, then for GET /healthz to answer 200."""
        deadline = time.monotonic() + deadline_s
        while not self.address:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"lambent exited with {self.proc.returncode} before listening; "
                    f"command {self.args}; log:\n{self.log()}"
                )
            m = LISTENING_RE.search(self.log())
            if m:
                self.address = m.group(1)
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"lambent did not log its address in {deadline_s}s; log:\n{self.log()}")
            time.sleep(0.01)
        self.endpoint = f"http://{self.address}"
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"lambent exited with {self.proc.returncode} while starting; log:\n{self.log()}"
                )
            try:
                status, _, _ = http_get(self.endpoint + "/healthz", timeout=1.0)
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as e:  # connection refused / reset while starting
                last = repr(e)
            if time.monotonic() > deadline:
                raise AssertionError(f"GET /healthz never answered 200 ({last}); log:\n{self.log()}")
            time.sleep(0.01)

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """SIGTERM, wait; returns the exit code (None if still running after the deadline: then killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def stop_and_check(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        rc = self.stop(deadline_s)
        assert rc is not None, f"lambent did not exit within {deadline_s}s of SIGTERM; log:\n{self.log()[-4000:]}"
        assert rc == 0, f"lambent exited with {rc} after SIGTERM (want 0); log:\n{self.log()[-4000:]}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    # clients bound to this server
    def client(self, **kw):
        return lambda_client(self.endpoint, **kw)

    def raw(self, method, path, body=b"", headers=None, **kw):
        return raw_request(self.endpoint, method, path, body=body, headers=headers, **kw)


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


def client_config(validate: bool = True, unsigned: bool = False, read_timeout: int = 120) -> Config:
    kw = dict(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
        parameter_validation=validate,
    )
    if unsigned:
        kw["signature_version"] = botocore.UNSIGNED
    return Config(**kw)


def lambda_client(
    endpoint: str,
    *,
    region: str = REGION,
    key: str = DUMMY_KEY,
    secret: str = DUMMY_SECRET,
    validate: bool = True,
    unsigned: bool = False,
    read_timeout: int = 120,
):
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name=region
    )
    return session.client(
        "lambda",
        endpoint_url=endpoint,
        config=client_config(validate=validate, unsigned=unsigned, read_timeout=read_timeout),
    )


def cli_env(key: str = DUMMY_KEY, secret: str = DUMMY_SECRET, region: str = REGION) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION=region,
        AWS_PAGER="",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def aws_cli(endpoint: str, *args: str, timeout: float = 120, **env_kw) -> subprocess.CompletedProcess:
    """Runs `python -m awscli ARGS --endpoint-url ENDPOINT --output json`."""
    cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", endpoint, "--output", "json"]
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env(**env_kw),
        timeout=timeout,
    )


@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def raw_request(
    endpoint: str,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict | None = None,
    sign: bool = True,
    key: str = DUMMY_KEY,
    secret: str = DUMMY_SECRET,
    region: str = REGION,
    timeout: float = 60.0,
) -> RawResponse:
    """A hand-made request (path used verbatim), SigV4-signed like botocore does unless sign=False."""
    url = endpoint + path
    hdrs = dict(headers or {})
    if sign:
        req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
        SigV4Auth(Credentials(key, secret), "lambda", region).add_auth(req)
        hdrs = dict(req.headers.items())
    r = urllib.request.Request(url, data=body if body else None, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return RawResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as e:
        return RawResponse(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@dataclass
class Err:
    status: int
    code: str
    message: str
    response: dict

    def __str__(self):
        return f"HTTP {self.status} {self.code}: {self.message!r}"


def call_error(fn, *args, **kwargs) -> Err:
    """Calls a boto3 operation that must fail; returns what the server answered."""
    try:
        result = fn(*args, **kwargs)
    except ClientError as e:
        r = e.response
        return Err(
            status=r.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            code=r.get("Error", {}).get("Code", ""),
            message=r.get("Error", {}).get("Message", ""),
            response=r,
        )
    result = dict(result or {})
    result.pop("ResponseMetadata", None)
    raise AssertionError(f"expected an error, but the call succeeded: {json.dumps(result, default=str)[:2000]}")


def expect_error(fn, *args, status: int, code, message=None, contains=(), **kwargs) -> Err:
    """Calls fn, which must fail with `status` and `code` (a string or a set of acceptable codes);
    `message` (exact) and `contains` (substrings) check the message."""
    err = call_error(fn, *args, **kwargs)
    codes = {code} if isinstance(code, str) else set(code)
    assert err.status == status and err.code in codes, f"want HTTP {status} {sorted(codes)}, got {err}"
    if message is not None:
        assert err.message == message, f"message: want {message!r}, got {err.message!r}"
    for part in contains:
        assert part.lower() in err.message.lower(), f"message should mention {part!r}: {err}"
    return err


def not_found_message(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"Function not found: arn:aws:lambda:{region}:{account}:function:{name}"


# ---------------------------------------------------------------------------------------------
# Code packages
# ---------------------------------------------------------------------------------------------


def make_zip(files: dict | None = None, *, marker: str | None = None, compress=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `files` (name -> str|bytes); by default one python handler `app.handler`.
    `marker` is written into app.py so that each call can give distinct bytes."""
    if files is None:
        src = HANDLER_SRC + (f"# {marker}\n" if marker else "")
        files = {"app.py": src}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        for name, data in files.items():
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = (0o100644 << 16)
            zi.create_system = 3
            zi.compress_type = compress
            zf.writestr(zi, data)
    return buf.getvalue()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def b64_to_hex(digest_b64: str) -> str:
    return base64.b64decode(digest_b64).hex()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_function(client, name: str, zip_bytes: bytes | None = None, **overrides) -> dict:
    params = dict(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes if zip_bytes is not None else make_zip(marker=name)},
    )
    params.update(overrides)
    return client.create_function(**params)


def list_all_functions(client) -> list[dict]:
    out, marker = [], None
    for _ in range(10_000):
        kw = {"Marker": marker} if marker else {}
        page = client.list_functions(**kw)
        out.extend(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            return out
    raise AssertionError("ListFunctions never stopped paginating")


def store_snapshot(client) -> list[dict]:
    """Every function's configuration, sorted by name: compare before/after a rejected request."""
    return sorted(list_all_functions(client), key=lambda f: f["FunctionName"])


def strip_meta(resp: dict) -> dict:
    resp = dict(resp)
    resp.pop("ResponseMetadata", None)
    return resp


def download(url: str) -> bytes:
    status, _, body = http_get(url, timeout=60)
    assert status == 200, f"GET {url} answered {status}: {body[:300]!r}"
    return body


# ---------------------------------------------------------------------------------------------
# Recorded AWS responses (tests/conformance/aws-snapshots)
# ---------------------------------------------------------------------------------------------


def snapshots_dir() -> Path:
    candidates = []
    if os.environ.get("LAMBENT_AWS_SNAPSHOTS"):
        candidates.append(Path(os.environ["LAMBENT_AWS_SNAPSHOTS"]))
    candidates.append(REPO_ROOT / "tests" / "conformance" / "aws-snapshots")
    for c in candidates:
        if (c / "function_crud.json").is_file():
            return c
    raise RuntimeError(
        "AWS snapshots not found (looked in %s); set LAMBENT_AWS_SNAPSHOTS" % ", ".join(map(str, candidates))
    )


@lru_cache(maxsize=None)
def snapshot(file: str) -> dict:
    with open(snapshots_dir() / file) as f:
        return json.load(f)["tests"]


def recorded(file: str, test: str, key: str):
    return snapshot(file)[test]["recorded-content"][key]


# Snapshot values that LocalStack replaced by placeholders: their real JSON type.
PLACEHOLDER_TYPES = {"CodeSize": int}
# Members that are maps (user-chosen keys), not structures: only their type is compared.
MAP_MEMBERS = {"Variables", "Tags"}


def _type_name(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "dict"
    if v is None:
        return "null"
    return type(v).__name__


def shape_diff(expected: dict, actual: dict, path: str = "", optional=(), ignore=()) -> list[str]:
    """Differences in key names and value types between a recorded AWS object and ours.
    `optional`: keys ours may have or lack; `ignore`: keys of the recording to leave out. Both are
    dotted paths from the top (`Configuration.Environment`, `LoggingConfig.SystemLogLevel`)."""
    problems = []
    optional, ignore = set(optional), set(ignore)
    exp_keys = {k for k in expected if path + k not in ignore and k != "ResponseMetadata"}
    act_keys = {k for k in actual if k != "ResponseMetadata"}
    for k in sorted(exp_keys - act_keys):
        if path + k not in optional:
            problems.append(f"{path}{k}: missing (AWS sends it)")
    for k in sorted(act_keys - exp_keys):
        if path + k not in optional and path + k not in ignore:
            problems.append(f"{path}{k}: extra (AWS does not send it here)")
    for k in sorted(exp_keys & act_keys):
        e, a = expected[k], actual[k]
        want = PLACEHOLDER_TYPES.get(k)
        if want is not None:
            if not isinstance(a, want) or isinstance(a, bool):
                problems.append(f"{path}{k}: type {_type_name(a)}, AWS {want.__name__}")
            continue
        if _type_name(e) != _type_name(a):
            problems.append(f"{path}{k}: type {_type_name(a)}, AWS {_type_name(e)}")
        elif k in MAP_MEMBERS:
            bad = [f"{path}{k}.{mk}" for mk, mv in a.items() if not isinstance(mv, str)]
            problems += [f"{b}: not a string" for b in bad]
        elif isinstance(e, dict):
            problems += shape_diff(e, a, f"{path}{k}.", optional, ignore)
        elif isinstance(e, list) and e and a:
            if isinstance(e[0], dict):
                problems += shape_diff(e[0], a[0], f"{path}{k}[0].", optional, ignore)
            elif _type_name(e[0]) != _type_name(a[0]):
                problems.append(f"{path}{k}[0]: type {_type_name(a[0])}, AWS {_type_name(e[0])}")
    return problems


def without(d: dict, *keys: str) -> dict:
    """A recorded object minus members the recorded request set and ours does not (e.g. Environment)."""
    return {k: v for k, v in d.items() if k not in keys}


def assert_shape(expected: dict, actual: dict, **kw) -> None:
    problems = shape_diff(expected, actual, **kw)
    assert not problems, "shape differs from the AWS recording:\n  " + "\n  ".join(problems) + (
        "\nours: " + json.dumps(strip_meta(actual), default=str)[:3000]
    )


def check_function_configuration(cfg: dict, name: str, region: str = REGION, account: str = ACCOUNT) -> None:
    """Field formats every FunctionConfiguration must have."""
    assert cfg["FunctionName"] == name, cfg
    assert cfg["FunctionArn"] == f"arn:aws:lambda:{region}:{account}:function:{name}", cfg["FunctionArn"]
    assert LAST_MODIFIED_RE.match(cfg["LastModified"]), f"LastModified {cfg['LastModified']!r}"
    assert UUID_RE.match(cfg["RevisionId"]), f"RevisionId {cfg['RevisionId']!r}"
    assert isinstance(cfg["CodeSize"], int) and not isinstance(cfg["CodeSize"], bool)
    assert len(cfg["CodeSha256"]) == 44 and base64.b64decode(cfg["CodeSha256"]), cfg["CodeSha256"]
    assert cfg["State"] == "Active", cfg.get("State")
    assert cfg["Version"] == "$LATEST"
    assert cfg["PackageType"] == "Zip"
