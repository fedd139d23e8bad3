"""Helpers for the end-to-end Invoke and isolation tests (test_invoke*.py, test_isolation*.py).

Everything goes through the public interfaces a user has: boto3, the AWS CLI, and for the
isolation checks, what root on the host can see (/proc, cgroupfs, mountinfo). Function code lives
in tests/functions/ and is zipped from there unchanged.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from lambent_util import (
    ACCOUNT,
    REGION,
    REPO_ROOT,
    ROLE,
    Server,
    aws_cli,
    lambda_client,
)

FUNCTIONS = REPO_ROOT / "tests" / "functions"

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # 6291456: Lambda's limit on a synchronous request
MAX_RESPONSE = MAX_SYNC_PAYLOAD + 100  # 6291556: the Runtime API's limit on a response
TAIL_LIMIT = 4096

SANDBOX_UID = 993  # sbx_user1051
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LOG_STREAM_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/\[\$LATEST\][0-9a-f]{32}$")
INIT_START_RE = re.compile(
    r"^INIT_START Runtime Version: \S+\tRuntime Version ARN: arn:aws:lambda:" + REGION + r"::runtime:[0-9a-f]{64}$"
)


def report_re(request_id: str, memory_mb: int, cold: bool) -> re.Pattern:
    """Lambda's REPORT line (tab-separated, ending with a tab; Init Duration last, cold only)."""
    init = r"Init Duration: (?P<init>\d+\.\d{2}) ms\t" if cold else ""
    return re.compile(
        rf"^REPORT RequestId: {re.escape(request_id)}\tDuration: (?P<duration>\d+\.\d{{2}}) ms\t"
        rf"Billed Duration: (?P<billed>\d+) ms\tMemory Size: {memory_mb} MB\t"
        rf"Max Memory Used: (?P<maxmem>\d+) MB\t{init}$"
    )


# ---------------------------------------------------------------------------------------------
# Code packages
# ---------------------------------------------------------------------------------------------


def zip_dir(folder: Path | str, extra: dict | None = None, exclude: tuple = ("target", "__pycache__", ".build")) -> bytes:
    """A zip of `folder` (paths relative to it), keeping the executable bit; `extra` adds or
    replaces files (name -> str|bytes, or (data, mode))."""
    folder = Path(folder)
    files: dict[str, tuple[bytes, int]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in exclude for part in rel.parts) or path.is_dir():
            continue
        if rel.name == ".gitignore":
            continue
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        files[rel.as_posix()] = (path.read_bytes(), mode)
    for name, value in (extra or {}).items():
        data, mode = value if isinstance(value, tuple) else (value, 0o644)
        files[name] = (data.encode() if isinstance(data, str) else data, mode)
    return zip_files(files)


def zip_files(files: dict) -> bytes:
    """name -> bytes | str | (data, mode)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in files.items():
            data, mode = value if isinstance(value, tuple) else (value, 0o644)
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = (0o100000 | mode) << 16
            zi.create_system = 3
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def deploy(lam, name: str, code: bytes, runtime: str, handler: str, **overrides) -> dict:
    """CreateFunction with test-friendly defaults (1024 MB: a little over half a vCPU)."""
    params = dict(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": code},
        MemorySize=1024,
        Timeout=15,
    )
    params.update(overrides)
    cfg = lam.create_function(**params)
    if cfg.get("State") != "Active":
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return cfg


def wait_updated(lam, name: str) -> None:
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


# ---------------------------------------------------------------------------------------------
# Invoking
# ---------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    status: int
    headers: dict
    payload: bytes
    function_error: str | None
    executed_version: str | None
    request_id: str
    log: str | None
    seconds: float

    def json(self):
        return json.loads(self.payload)

    def log_lines(self) -> list[str]:
        assert self.log is not None, "no X-Amz-Log-Result"
        return self.log.split("\n")

    def describe(self) -> str:
        return (
            f"HTTP {self.status} FunctionError={self.function_error} version={self.executed_version} "
            f"payload={self.payload[:1500]!r} log={self.log!r}"
        )


def as_bytes(payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload).encode()


def invoke(lam, name: str, payload=b"{}", *, tail: bool = True, qualifier: str | None = None,
           invocation_type: str | None = None, client_context: str | None = None) -> Invocation:
    """Invoke through boto3; function errors come back as data, API errors raise ClientError."""
    kw = dict(FunctionName=name, Payload=as_bytes(payload))
    if tail:
        kw["LogType"] = "Tail"
    if qualifier:
        kw["Qualifier"] = qualifier
    if invocation_type:
        kw["InvocationType"] = invocation_type
    if client_context:
        kw["ClientContext"] = client_context
    started = time.monotonic()
    out = lam.invoke(**kw)
    body = out["Payload"].read()
    seconds = time.monotonic() - started
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    log = base64.b64decode(out["LogResult"]).decode() if "LogResult" in out else None
    return Invocation(
        status=out["StatusCode"],
        headers=headers,
        payload=body,
        function_error=out.get("FunctionError"),
        executed_version=out.get("ExecutedVersion"),
        request_id=headers.get("x-amzn-requestid", ""),
        log=log,
        seconds=seconds,
    )


def api_error(fn, *args, **kwargs) -> tuple[int, str, str, dict]:
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        r = e.response
        return (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Code", ""), r["Error"].get("Message", ""),
                r["ResponseMetadata"].get("HTTPHeaders", {}))
    raise AssertionError("the call succeeded; an error was expected")


def cli_major_version() -> int:
    import awscli

    return int(awscli.__version__.split(".")[0])


@dataclass
class CliInvocation:
    returncode: int
    output: dict | None
    payload: bytes
    log: str | None
    stderr: str


def invoke_cli(server: Server, name: str, payload: bytes | None = None, *, payload_file: Path | None = None,
               tail: bool = True, workdir: Path | None = None, extra: tuple = ()) -> CliInvocation:
    """`aws lambda invoke --cli-binary-format raw-in-base64-out --payload ... out.json`."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="lambent-cli-"))
    out_file = workdir / f"out-{time.monotonic_ns()}.json"
    args = ["lambda", "invoke", "--function-name", name]
    if cli_major_version() >= 2:
        # CLI v2 reads --payload as base64 unless told otherwise; v1 sends it as is and does not
        # know the option.
        args += ["--cli-binary-format", "raw-in-base64-out"]
    if payload_file is not None:
        args += ["--payload", f"fileb://{payload_file}"]
    elif payload is not None:
        args += ["--payload", payload.decode()]
    if tail:
        args += ["--log-type", "Tail"]
    args += list(extra)
    args.append(str(out_file))
    proc = aws_cli(server.endpoint, *args)
    output = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    log = base64.b64decode(output["LogResult"]).decode() if output and "LogResult" in output else None
    data = out_file.read_bytes() if out_file.exists() else b""
    return CliInvocation(proc.returncode, output, data, log, proc.stderr)


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------


def check_log_frame(inv: Invocation, memory_mb: int, *, cold: bool) -> dict:
    """The tail of one invocation: [INIT_START] START ... END REPORT, with Lambda's formats.
    Returns the REPORT fields."""
    log = inv.log
    assert log is not None, "X-Amz-Log-Result missing although LogType=Tail was sent"
    assert len(log.encode()) <= TAIL_LIMIT, f"log tail is {len(log.encode())} bytes, Lambda returns the last 4 KB"
    assert log.endswith("\n"), f"log tail should end with the REPORT line's newline: {log!r}"
    lines = log[:-1].split("\n")
    rid = inv.request_id
    start = f"START RequestId: {rid} Version: $LATEST"
    assert start in lines, f"no {start!r} line in the tail:\n{log}"
    i = lines.index(start)
    if cold:
        assert i >= 1 and INIT_START_RE.match(lines[i - 1]), f"cold start: want INIT_START before START:\n{log}"
    else:
        assert not any(line.startswith("INIT_START") for line in lines), f"warm call logged INIT_START:\n{log}"
    assert lines[-2] == f"END RequestId: {rid}", f"want END then REPORT at the end:\n{log}"
    m = report_re(rid, memory_mb, cold).match(lines[-1])
    assert m, f"REPORT line does not match Lambda's format (cold={cold}):\n{lines[-1]!r}"
    duration = float(m.group("duration"))
    billed = int(m.group("billed"))
    assert billed == max(1, math.ceil(duration)), f"Billed Duration {billed} should be Duration {duration} rounded up"
    assert 1 <= int(m.group("maxmem")) <= memory_mb, f"Max Memory Used {m.group('maxmem')} MB out of range"
    assert duration <= inv.seconds * 1000 + 50, f"Duration {duration} ms exceeds the call's {inv.seconds:.3f} s"
    return m.groupdict() | {"lines": lines, "start_index": i}


# ---------------------------------------------------------------------------------------------
# What root sees on the host: sandbox processes, cgroups, mounts
# ---------------------------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: str, mode: str = "rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def host_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pid_uid(pid: int) -> int | None:
    status = _read(f"/proc/{pid}/status", "r")
    if not status:
        return None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


# Environment ids ever reported for a function name (ids stay listed here after the server
# forgets them, so "every process of the function is gone" can still be checked).
_ENVIRONMENT_IDS: dict = {}


def environment_ids(function_name: str) -> set:
    """Ids of `function_name`'s environments, from the `/_lambent/scaling` view of every server
    this test process started (a pre-started runtime's /proc/PID/environ predates its function,
    so the environment variables alone do not find it)."""
    from lambent_util import STARTED_SERVERS

    ids = _ENVIRONMENT_IDS.setdefault(function_name, set())
    for server in list(STARTED_SERVERS):
        if not server.running() or not server.endpoint:
            continue
        try:
            resp = server.raw("GET", "/_lambent/scaling", timeout=10)
        except OSError:
            continue
        if resp.status != 200:
            continue
        for entry in json.loads(resp.body).get("Functions", []):
            if entry.get("FunctionName") == function_name:
                ids.update(entry.get("EnvironmentIds", []))
    return ids


def environment_cgroups(env_id: str) -> list[Path]:
    """The cgroup directories of environment `env_id` (v1: one per hierarchy; v2: one)."""
    return [p for p in CGROUP_ROOT.glob(f"*/lambent/{env_id}") if p.is_dir()] + \
        [p for p in [CGROUP_ROOT / "lambent" / env_id] if p.is_dir()]


def function_pids(function_name: str) -> list[int]:
    """Host pids of `function_name`'s environments: processes whose environment variables name
    it, processes in the cgroups of the environments the servers report for it, and every process
    sharing a lambent cgroup with one of them (the sandbox init)."""
    needle = f"AWS_LAMBDA_FUNCTION_NAME={function_name}\0".encode()
    found = set()
    for pid in host_pids():
        env = _read(f"/proc/{pid}/environ")
        if env and (env.startswith(needle) or b"\0" + needle in env):
            found.add(pid)
    cgroups = {c for pid in found for c in pid_lambent_cgroups(pid)}
    cgroups |= {c for env_id in environment_ids(function_name) for c in environment_cgroups(env_id)}
    for cg in cgroups:
        for pid in cgroup_procs(cg):
            found.add(pid)
    return sorted(found)


def process_memory_contains(pid: int, needle: bytes, limit: int = 256 << 20) -> bool:
    """Whether `needle` is in the writable private memory of `pid` (heap, anonymous mappings,
    stack), read from the host as root: where a process keeps the environment variables it was
    given after its start."""
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            scanned = 0
            for line in maps:
                fields = line.split()
                if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5].startswith("/")):
                    continue
                start, end = (int(x, 16) for x in fields[0].split("-"))
                if scanned + (end - start) > limit:
                    continue
                try:
                    mem.seek(start)
                    chunk = mem.read(end - start)
                except (OSError, OverflowError, ValueError):
                    continue
                scanned += end - start
                if needle in chunk:
                    return True
    except OSError:
        pass
    return False


def pid_lambent_cgroups(pid: int) -> list[Path]:
    """The cgroup directories (one per v1 hierarchy) below a `lambent` parent holding `pid`."""
    text = _read(f"/proc/{pid}/cgroup", "r") or ""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or "/lambent/" not in parts[2]:
            continue
        controllers = parts[1]
        rel = parts[2].lstrip("/")
        if controllers == "":
            out.append(CGROUP_ROOT / "unified" / rel)
            out.append(CGROUP_ROOT / rel)
        else:
            name = controllers.replace("name=", "")
            for ctrl in [name] + controllers.split(","):
                out.append(CGROUP_ROOT / ctrl / rel)
    return [p for p in dict.fromkeys(out)]


def cgroup_procs(cg: Path) -> list[int]:
    text = _read(str(cg / "cgroup.procs"), "r") or ""
    return [int(x) for x in text.split()]


def mounts_mentioning(*needles: str) -> list[str]:
    text = _read("/proc/self/mountinfo", "r") or ""
    return [line for line in text.splitlines() if any(n and n in line for n in needles)]


def pid_mentions_data_dir(pid: int, data_dir: Path) -> bool:
    info = _read(f"/proc/{pid}/mountinfo", "r") or ""
    return str(data_dir) in info


def server_cgroups(data_dir: Path) -> set[Path]:
    """The lambent cgroups of a server's live environments: those holding a process whose mounts
    come from its data directory (its code trees and runtime). Other servers or tests running on
    the same host have other data directories, so their cgroups are never counted."""
    data_dir = Path(data_dir).resolve()
    out = set()
    for pid in host_pids():
        if pid_mentions_data_dir(pid, data_dir):
            out.update(c for c in pid_lambent_cgroups(pid) if c.exists())
    return out


def server_leftovers(data_dir: Path, known_cgroups: set) -> list[str]:
    """What a stopped server left behind: processes whose mounts come from its data directory,
    cgroups of its environments (`known_cgroups`, seen while it ran) that still exist, and mounts
    of its code trees or runtime directory in the host's mount namespace."""
    data_dir = Path(data_dir).resolve()
    problems = []
    for pid in host_pids():
        if pid_mentions_data_dir(pid, data_dir):
            cmd = (_read(f"/proc/{pid}/cmdline") or b"").replace(b"\0", b" ")[:200]
            problems.append(f"process {pid} (uid {pid_uid(pid)}) still runs from {data_dir}: {cmd!r}")
    for cg in sorted(c for c in known_cgroups | server_cgroups(data_dir) if c.exists()):
        problems.append(f"cgroup {cg} left behind (procs {cgroup_procs(cg)})")
    for line in mounts_mentioning(str(data_dir / "code"), str(data_dir / "runtime")):
        problems.append(f"mount left in the host namespace: {line}")
    return problems


def wait_until(predicate, timeout: float, interval: float = 0.02):
    """Polls `predicate` until it returns a truthy value or `timeout` passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Servers owned by a test module
# ---------------------------------------------------------------------------------------------


class OwnServer:
    """A `lambent serve` that a module starts and stops itself (to check what stopping leaves)."""

    def __init__(self, args=(), env=None):
        self.tmp = Path(tempfile.mkdtemp(prefix="lambent-e2e-"))
        self.server = Server.start(self.tmp / "data", args=list(args), env=env)
        self.lam = lambda_client(self.server.endpoint)
        self.stopped_rc = "running"
        self.known_cgroups: set[Path] = set()
        self.stop_seconds = None

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    def stop(self):
        """SIGTERM; returns the exit code, or None if it had to be killed after 10 s. The cgroups
        of its environments are noted just before, for `leftovers`."""
        if self.stopped_rc == "running":
            self.known_cgroups |= server_cgroups(self.data_dir)
            started = time.monotonic()
            self.stopped_rc = self.server.stop(10.0)
            self.stop_seconds = time.monotonic() - started
        return self.stopped_rc

    def leftovers(self) -> list[str]:
        return server_leftovers(self.data_dir, self.known_cgroups)

    def cleanup(self):
        """Kills the server if still running and removes what it left on the host (after the
        checks: a test that wants to see leftovers looks before this runs)."""
        if self.server.running():
            self.known_cgroups |= server_cgroups(self.data_dir)
            self.server.kill()
        remove_leftovers(self.data_dir, self.known_cgroups)
        shutil.rmtree(self.tmp, ignore_errors=True)


def remove_leftovers(data_dir: Path, known_cgroups: set) -> None:
    """Kills processes running from `data_dir` and removes the server's cgroups, so that a failed
    test does not pollute the host for later ones. Touches nothing of other servers."""
    import signal as _signal

    data_dir = Path(data_dir).resolve()
    for pid in host_pids():
        if pid_mentions_data_dir(pid, data_dir):
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:
                pass
    # Thaw every frozen environment first: a frozen task cannot die, and it stays listed in its
    # memory, cpu and pids cgroups as well until it does.
    for cg in known_cgroups:
        freezer_state = cg / "freezer.state"
        if freezer_state.exists():
            try:
                freezer_state.write_text("THAWED")
            except OSError:
                pass
    for cg in sorted(known_cgroups, key=lambda p: len(p.parts), reverse=True):
        if not cg.exists():
            continue
        wait_until(lambda: not cgroup_procs(cg), 5)
        try:
            cg.rmdir()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Official runtime clients, packaged as provided.al2023 functions
# ---------------------------------------------------------------------------------------------

AWSLAMBDARIC_PINS = ("awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")


def awslambdaric_zip() -> bytes:
    """tests/functions/awslambdaric-echo with the pinned awslambdaric vendored in, built for the
    sandbox's CPython 3.11 (cached under the folder's .build/, which git ignores)."""
    folder = FUNCTIONS / "awslambdaric-echo"
    build = folder / ".build" / "-".join(p.replace("==", "-") for p in AWSLAMBDARIC_PINS)
    if not (build / "awslambdaric").is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="ric-", dir=folder / ".build" if (folder / ".build").is_dir() else None))
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--target", str(tmp), "--python-version", "3.11", "--only-binary=:all:",
               "--implementation", "cp", *AWSLAMBDARIC_PINS]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"vendoring awslambdaric failed: {proc.stderr[-2000:]}"
        build.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(build, ignore_errors=True)
        tmp.rename(build)
    extra = {}
    for path in sorted(build.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc"):
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            extra[path.relative_to(build).as_posix()] = (path.read_bytes(), mode)
    return zip_dir(folder, extra=extra)


RUST_ECHO = FUNCTIONS / "rust-echo"


def rust_echo_zip() -> tuple[bytes, float]:
    """Builds tests/functions/rust-echo (debug profile, its own target dir) and zips the binary
    as `bootstrap`. Returns the zip and the build time in seconds."""
    started = time.monotonic()
    cmd = ["cargo", "build", "--locked", "--manifest-path", str(RUST_ECHO / "Cargo.toml"),
           "--target-dir", str(RUST_ECHO / "target")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"building rust-echo failed:\n{proc.stderr[-4000:]}"
    binary = RUST_ECHO / "target" / "debug" / "bootstrap"
    return zip_files({"bootstrap": (binary.read_bytes(), 0o755)}), time.monotonic() - started
