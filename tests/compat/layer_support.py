"""Helpers shared by test_versions.py, test_aliases.py and test_layers.py: small inline function
packages (a Python probe and a Node probe), layer packages, the recorded AWS texts with their
placeholders filled in, and a few checks on invocations of versions and aliases.

Everything goes through the public interfaces (boto3, the AWS CLI, plain HTTP), like a user."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from invoke_support import deploy, invoke, zip_files
from lambent_util import ACCOUNT, REGION, call_error, recorded, store_snapshot

VA = "versions_aliases.json"
IVA = "invoke_versions_aliases_concurrency.json"
LAYERS = "layers.json"

# Fields AWS sends only while a function is Pending / an update is InProgress; Lambent finishes
# synchronously and answers Active / Successful at once.
PENDING_ONLY = ("StateReason", "StateReasonCode")
IN_PROGRESS_ONLY = ("LastUpdateStatusReason", "LastUpdateStatusReasonCode")
# AWS leaves these out of ListVersionsByFunction / ListFunctions items; tolerated either way.
LIST_ITEM_OPTIONAL = ("State", "LastUpdateStatus", "RuntimeVersionConfig")

PRECONDITION = ("The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."

def stream_re(version: str) -> re.Pattern:
    """A log stream name `YYYY/MM/DD/[VERSION]<32 lowercase hex>` (lambda-compat.md §4.1)."""
    return re.compile(r"^\d{4}/\d{2}/\d{2}/\[" + re.escape(version) + r"\][0-9a-f]{32}$")


def fn_arn(name: str, qualifier: str | None = None, region: str = REGION) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(name: str, version: int | None = None, region: str = REGION) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{name}"
    return f"{arn}:{version}" if version is not None else arn


def aws_text(text: str, subs: dict | None = None) -> str:
    """A recorded AWS message with LocalStack's placeholders replaced by our values.
    `subs` maps placeholder names (without the angle brackets) to values."""
    text = text.replace("arn:<partition>:", "arn:aws:").replace("<region>", REGION).replace("111111111111", ACCOUNT)
    for k, v in (subs or {}).items():
        text = text.replace(f"<{k}>", v)
    left = re.findall(r"<[a-z-]+(?::\d+)?>", text)
    assert not left, f"placeholders {left} left in {text!r}"
    return text


def recorded_error(file: str, test: str, key: str, subs: dict | None = None) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a recorded AWS error, placeholders filled in."""
    rec = recorded(file, test, key)
    return rec["ResponseMetadata"]["HTTPStatusCode"], rec["Error"]["Code"], aws_text(rec["Error"]["Message"], subs)


# ---------------------------------------------------------------------------------------------
# Function packages
# ---------------------------------------------------------------------------------------------

PROBE_PY = r'''
import ctypes
import importlib
import os
import subprocess
import sys

MARK = "__MARK__"


def info(event, context):
    return {
        "mark": MARK,
        "stage": os.environ.get("STAGE"),
        "version": context.function_version,
        "version_env": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "arn": context.invoked_function_arn,
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "ctx_stream": context.log_stream_name,
        "memory": context.memory_limit_in_mb,
        "pid": os.getpid(),
    }


def tiny(event, context):
    return os.environ["AWS_LAMBDA_FUNCTION_VERSION"]


def opt(event, context):
    out = {"mark": MARK, "version": context.function_version, "opt_exists": os.path.exists("/opt")}
    listing = []
    for root, dirs, files in os.walk("/opt"):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            listing.append(os.path.join(root, f))
    out["listing"] = sorted(listing)
    out["read"] = {}
    for p in event.get("read", []):
        try:
            with open(p) as f:
                out["read"][p] = f.read()
        except OSError as e:
            out["read"][p] = None
    out["imports"] = {}
    for name in event.get("imports", []):
        try:
            m = importlib.import_module(name)
            out["imports"][name] = {"file": getattr(m, "__file__", None), "value": getattr(m, "VALUE", None)}
        except Exception as e:
            out["imports"][name] = {"error": f"{type(e).__name__}: {e}"}
    out["run"] = {}
    for cmd in event.get("run", []):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            out["run"][cmd[0]] = {"rc": p.returncode, "out": p.stdout, "err": p.stderr[-500:]}
        except Exception as e:
            out["run"][cmd[0]] = {"error": f"{type(e).__name__}: {e}"}
    out["libs"] = {}
    for lib in event.get("libs", []):
        try:
            ctypes.CDLL(lib)
            out["libs"][lib] = "loaded"
        except OSError as e:
            out["libs"][lib] = f"error: {e}"
    try:
        with open("/opt/written-by-function", "w") as f:
            f.write("x")
        out["write"] = "ok"
    except OSError as e:
        out["write"] = f"{type(e).__name__}: errno {e.errno}"
    if "jmespath" in event:
        import jmespath

        out["jmespath"] = jmespath.search(event["jmespath"]["expr"], event["jmespath"]["data"])
    out["PATH"] = os.environ.get("PATH")
    out["LD_LIBRARY_PATH"] = os.environ.get("LD_LIBRARY_PATH")
    out["sys_path"] = sys.path
    return out
'''

PROBE_NODE = r'''
'use strict';
const fs = require('fs');

exports.handler = async (event, context) => {
  const out = { version: context.functionVersion, nodePath: process.env.NODE_PATH, requires: {} };
  for (const name of event.require || []) {
    try {
      const m = require(name);
      out.requires[name] = { value: typeof m === 'function' ? m('node') : m, path: require.resolve(name) };
    } catch (e) {
      out.requires[name] = { error: e.code || String(e) };
    }
  }
  try { out.opt = fs.readdirSync('/opt'); } catch (e) { out.opt = e.code; }
  return out;
};
'''


def probe_zip(mark: str = "A") -> bytes:
    """The Python probe (`probe.info`, `probe.tiny`, `probe.opt`); `mark` changes its bytes."""
    return zip_files({"probe.py": PROBE_PY.replace("__MARK__", mark)})


def node_probe_zip() -> bytes:
    return zip_files({"index.js": PROBE_NODE})


def deploy_probe(lam, name: str, mark: str = "A", handler: str = "probe.info", **overrides) -> dict:
    """A python3.12 probe function (1024 MB, as the suite's other invoke tests)."""
    return deploy(lam, name, probe_zip(mark), "python3.12", handler, **overrides)


def invoke_json(lam, name: str, payload=b"{}", **kw):
    inv = invoke(lam, name, payload, **kw)
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    return inv, inv.json()


def check_version_invocation(inv, body: dict, version: str, invoked_arn: str) -> None:
    """What Lambda reports when `version` ran: X-Amz-Executed-Version, the START line, the
    context, the environment and the log stream name `YYYY/MM/DD/[version]<32 hex>`."""
    assert inv.executed_version == version, f"X-Amz-Executed-Version {inv.executed_version!r}, want {version!r}"
    assert inv.headers.get("x-amz-executed-version") == version, inv.headers
    assert body["version"] == version, f"context.function_version {body['version']!r}, want {version!r}"
    assert body["version_env"] == version, f"AWS_LAMBDA_FUNCTION_VERSION {body['version_env']!r}, want {version!r}"
    assert body["arn"] == invoked_arn, f"context.invoked_function_arn {body['arn']!r}, want {invoked_arn!r}"
    assert stream_re(version).match(body["stream"] or ""), f"log stream {body['stream']!r} for version {version}"
    assert body["ctx_stream"] == body["stream"], body
    start = f"START RequestId: {inv.request_id} Version: {version}"
    assert start in inv.log_lines(), f"want {start!r} in the log tail:\n{inv.log}"


# ---------------------------------------------------------------------------------------------
# Layer packages
# ---------------------------------------------------------------------------------------------

JMESPATH_PIN = "jmespath==1.1.0"


@lru_cache(maxsize=None)
def jmespath_files() -> dict:
    """The pure-Python package `jmespath`, installed by pip into a scratch directory (from PyPI;
    offline, from the copy the test venv already has): relative path -> (bytes, mode)."""
    tmp = Path(tempfile.mkdtemp(prefix="lambent-layer-pkg-"))
    try:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--no-compile", "--target", str(tmp), JMESPATH_PIN]
        try:
            ok = subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if not ok or not (tmp / "jmespath" / "__init__.py").is_file():
            shutil.rmtree(tmp / "jmespath", ignore_errors=True)
            spec = importlib.util.find_spec("jmespath")
            shutil.copytree(Path(spec.origin).parent, tmp / "jmespath")
        files = {}
        for path in sorted((tmp / "jmespath").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(tmp).as_posix()] = (path.read_bytes(), 0o644)
        assert "jmespath/__init__.py" in files, files.keys()
        return files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def host_shared_library() -> bytes:
    """A small real shared library of the host (libz), to be loaded from /opt/lib by name."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/aarch64-linux-gnu",
              "/lib64", "/usr/lib"):
        p = Path(d) / "libz.so.1"
        if p.exists():
            return p.resolve().read_bytes()
    raise AssertionError("no libz.so.1 on the host to put into a layer")


LAYER_TOOL = "#!/bin/sh\necho \"layer-tool $0 $*\"\n"


def python_layer_zip(site: str = "python3.12") -> bytes:
    """A layer as Lambda documents them for Python: a package under
    python/lib/pythonX.Y/site-packages, a module directly under python/, a program in bin/
    and a shared library in lib/."""
    files = {f"python/lib/{site}/site-packages/{k}": v for k, v in jmespath_files().items()}
    files["python/layer_direct.py"] = "VALUE = 'direct-from-layer'\n"
    files["bin/layer-tool"] = (LAYER_TOOL, 0o755)
    files["lib/liblayertest.so"] = (host_shared_library(), 0o755)
    return zip_files(files)


NODE_MODULE = "module.exports = (who) => `hello ${who} from the layer`;\n"


def node_layer_zip() -> bytes:
    return zip_files({
        "nodejs/node_modules/layer-greeter/index.js": NODE_MODULE,
        "nodejs/node_modules/layer-greeter/package.json": json.dumps({"name": "layer-greeter", "version": "1.0.0",
                                                                      "main": "index.js"}),
    })


def file_layer_zip(files: dict) -> bytes:
    return zip_files(files)


def snapshot_state(lam, name: str | None = None) -> tuple:
    """Everything a rejected request must leave unchanged: the functions, and for `name` its
    versions and aliases."""
    state = [store_snapshot(lam)]
    if name:
        state.append(list_all(lam.list_versions_by_function, "Versions", FunctionName=name))
        state.append(list_all(lam.list_aliases, "Aliases", FunctionName=name))
    return tuple(json.dumps(s, sort_keys=True, default=str) for s in state)


def list_all(op, key: str, max_items: int | None = None, **kw) -> list:
    """Every item of a Marker/MaxItems listing, following NextMarker."""
    out, marker = [], None
    for _ in range(1000):
        args = dict(kw)
        if marker:
            args["Marker"] = marker
        if max_items:
            args["MaxItems"] = max_items
        page = op(**args)
        out.extend(page[key])
        marker = page.get("NextMarker")
        if not marker:
            return out
    raise AssertionError("the listing never stopped paginating")



def error_problems(cases) -> list[str]:
    """Runs every (label, callable, kwargs, (status, code, message)) and returns what differed
    from the expected error, so that one test can report all of its error cases at once."""
    problems = []
    for label, fn, kwargs, (status, code, message) in cases:
        try:
            err = call_error(fn, **kwargs)
        except AssertionError as e:
            problems.append(f"{label}: {e}")
            continue
        got = (err.status, err.code, err.message)
        if got != (status, code, message):
            problems.append(f"{label}: want HTTP {status} {code} {message!r}, got HTTP {got[0]} {got[1]} {got[2]!r}")
    return problems
