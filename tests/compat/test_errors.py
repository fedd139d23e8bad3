"""Rejected requests: status code, error code and message for every validation Lambda performs on
CreateFunction, UpdateFunctionConfiguration and UpdateFunctionCode, including bad code packages,
and that nothing in the store changed after each rejection."""

from __future__ import annotations

import io
import json
import os
import zipfile
from functools import lru_cache

import pytest

from lambent_util import (
    ROLE,
    create_function,
    expect_error,
    make_zip,
    recorded,
    store_snapshot,
    strip_meta,
    unique,
)

CRUD = "function_crud.json"
T_CREATE_EXC = "TestLambdaFunction::test_create_lambda_exceptions"
ENUM_PREFIX = "Member must satisfy enum value set: ["
ENV_LIMIT_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment variables you have "
    "provided exceeded the 4KB limit. String measured: "
)
NOT_A_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
UNZIPPED_TOO_BIG = "Unzipped size must be smaller than 262144000 bytes"
ZIPPED_TOO_BIG = "Zipped size must be smaller than 52428800 bytes"


@pytest.fixture(scope="module")
def victim(lam):
    """An existing function that rejected updates must leave exactly as it was."""
    name = unique("victim")
    create_function(lam, name, Description="original", Environment={"Variables": {"KEEP": "1"}}, Tags={"t": "v"})
    return name


def state(lam, victim):
    got = lam.get_function(FunctionName=victim)
    return store_snapshot(lam), strip_meta(got["Configuration"]), got.get("Tags")


def rejected(lam, victim, call, *, status, code, message=None, contains=(), any_of=()):
    """`call` must fail as described and leave the whole store unchanged."""
    before = state(lam, victim)
    err = expect_error(call, status=status, code=code, message=message, contains=contains)
    if any_of:
        low = err.message.lower()
        assert any(a.lower() in low for a in any_of), f"message should mention one of {any_of}: {err}"
    after = state(lam, victim)
    assert after[0] == before[0], "ListFunctions changed after a rejected request"
    assert after[1] == before[1], "the function's configuration (RevisionId included) changed after a rejected request"
    assert after[2] == before[2], "the function's tags changed after a rejected request"
    return err


def create_call(lam, **overrides):
    name = overrides.pop("FunctionName", None) or unique("bad")
    return lambda: create_function(lam, name, **overrides)


# ---------------------------------------------------------------------------------------------
# CreateFunction parameters
# ---------------------------------------------------------------------------------------------


def test_duplicate_name(lam, victim):
    rejected(lam, victim, create_call(lam, FunctionName=victim, Description="overwrite?", Timeout=9), status=409,
             code="ResourceConflictException", message=f"Function already exist: {victim}")


@pytest.mark.parametrize("runtime", ["python2.7", "PYTHON3.9", "non-existent-runtime", "python3.12 "])
@pytest.mark.parametrize("op", ["create", "update"])
def test_bad_runtime(lam, victim, runtime, op):
    call = (create_call(lam, Runtime=runtime) if op == "create"
            else lambda: lam.update_function_configuration(FunctionName=victim, Runtime=runtime))
    err = rejected(lam, victim, call, status=400, code="InvalidParameterValueException")
    head = f"Value {runtime} at 'runtime' failed to satisfy constraint: {ENUM_PREFIX}"
    assert err.message.startswith(head) and err.message.endswith("] or be a valid ARN"), err
    values = err.message[len(head):-len("] or be a valid ARN")].split(", ")
    assert "python3.12" in values and "nodejs22.x" in values and runtime not in values, values
    aws = recorded(CRUD, T_CREATE_EXC, "uppercase_runtime_exc")
    assert aws["Error"]["Code"] == err.code and aws["ResponseMetadata"]["HTTPStatusCode"] == err.status


@pytest.mark.parametrize("op", ["create", "update"])
def test_bad_role(lam, victim, op):
    call = (create_call(lam, Role="r1") if op == "create"
            else lambda: lam.update_function_configuration(FunctionName=victim, Role="r1"))
    aws = recorded(CRUD, T_CREATE_EXC, "invalid_role_arn_exc")
    rejected(lam, victim, call, status=400, code=aws["Error"]["Code"], message=aws["Error"]["Message"])


@pytest.mark.parametrize(
    "field,value,mentions",
    [("Timeout", 0, "timeout"), ("Timeout", 901, "timeout"), ("Timeout", -1, "timeout"),
     ("MemorySize", 127, "memorysize"), ("MemorySize", 10241, "memorysize"),
     ("EphemeralStorage", {"Size": 511}, "ephemeralstorage"), ("EphemeralStorage", {"Size": 10241}, "ephemeralstorage")],
)
@pytest.mark.parametrize("op", ["create", "update"])
def test_out_of_range(lam, lam_novalidate, victim, field, value, mentions, op):
    # botocore itself refuses values under the model's minimum: send them without its validation.
    call = (create_call(lam_novalidate, **{field: value}) if op == "create"
            else lambda: lam_novalidate.update_function_configuration(FunctionName=victim, **{field: value}))
    rejected(lam, victim, call, status=400, code={"ValidationException", "InvalidParameterValueException"},
             contains=(mentions,))


@pytest.mark.parametrize("handler", ["app handler", "app.handler\n", "", "a" * 129])
@pytest.mark.parametrize("op", ["create", "update"])
def test_bad_handler(lam_novalidate, lam, victim, handler, op):
    call = (create_call(lam_novalidate, Handler=handler) if op == "create"
            else lambda: lam_novalidate.update_function_configuration(FunctionName=victim, Handler=handler))
    rejected(lam, victim, call, status=400, code={"ValidationException", "InvalidParameterValueException"},
             contains=("handler",))


def test_bad_architectures(lam, victim):
    aws = recorded(CRUD, T_CREATE_EXC, "multiple_architectures")
    rejected(lam, victim, create_call(lam, Architectures=["x86_64", "arm64"]), status=400,
             code=aws["Error"]["Code"], message=aws["Error"]["Message"])
    aws = recorded(CRUD, T_CREATE_EXC, "uppercase_architecture")
    rejected(lam, victim, create_call(lam, Architectures=["X86_64"]), status=400,
             code=aws["Error"]["Code"], message=aws["Error"]["Message"])


@pytest.mark.parametrize("bad", ["my-function!", "a" * 65, "arn:aws:lambda:us-east-1:000000000000:function:x:1:2"])
def test_bad_name_on_create(lam, victim, bad):
    err = rejected(lam, victim, create_call(lam, FunctionName=bad), status=400,
                   code={"ValidationException", "InvalidParameterValueException"})
    assert f"Value '{bad}' at 'functionName' failed to satisfy constraint" in err.message, err


# ---------------------------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------------------------


def env_limit_message(variables: dict) -> str:
    return ENV_LIMIT_PREFIX + json.dumps(variables, separators=(",", ":"))


@pytest.mark.parametrize("op", ["create", "update"])
def test_env_over_4kb(lam, victim, op):
    for variables in ({"LARGE_VAR": "x" * 4081}, {"SMALL_VAR": "ok", "LARGE_VAR": "x" * 4064}):
        assert len(json.dumps(variables, separators=(",", ":"))) == 4097
        env = {"Variables": variables}
        call = (create_call(lam, Environment=env) if op == "create"
                else lambda: lam.update_function_configuration(FunctionName=victim, Environment=env))
        rejected(lam, victim, call, status=400, code="InvalidParameterValueException",
                 message=env_limit_message(variables))


def test_env_at_4kb_is_accepted(lam):
    variables = {"LARGE_VAR": "x" * 4080}
    assert len(json.dumps(variables, separators=(",", ":"))) == 4096
    name = unique("env4k")
    resp = create_function(lam, name, Environment={"Variables": variables})
    assert resp["Environment"]["Variables"] == variables
    lam.delete_function(FunctionName=name)


@pytest.mark.parametrize(
    "key", ["AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "AWS_SECRET_ACCESS_KEY", "LAMBDA_TASK_ROOT",
            "AWS_LAMBDA_RUNTIME_API"]
)
@pytest.mark.parametrize("op", ["create", "update"])
def test_reserved_env_key(lam, victim, key, op):
    env = {"Variables": {"FINE": "1", key: "x"}}
    call = (create_call(lam, Environment=env) if op == "create"
            else lambda: lam.update_function_configuration(FunctionName=victim, Environment=env))
    rejected(lam, victim, call, status=400, code="InvalidParameterValueException", contains=("reserved", key))


def test_exec_wrapper_env_is_allowed(lam):
    name = unique("wrapper")
    resp = create_function(lam, name, Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap"}})
    assert resp["Environment"]["Variables"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap"}
    lam.delete_function(FunctionName=name)


# ---------------------------------------------------------------------------------------------
# Code packages
# ---------------------------------------------------------------------------------------------


def _zip(entries) -> bytes:
    """entries: (ZipInfo-or-name, data) pairs written verbatim."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_info("app.py"), "def handler(e, c):\n    return 1\n")
        for info, data in entries:
            zf.writestr(info if isinstance(info, zipfile.ZipInfo) else _info(info), data)
    return buf.getvalue()


def _info(name, mode=0o100644, compress=zipfile.ZIP_DEFLATED):
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zi.create_system = 3
    zi.external_attr = mode << 16
    zi.compress_type = compress
    return zi


@lru_cache(maxsize=None)
def bad_zip(kind: str) -> bytes:
    if kind == "not_a_zip":
        return b"this is certainly not a zip archive\n" * 20
    if kind == "truncated_zip":
        good = make_zip(files={"app.py": "x" * 5000, "b.py": os.urandom(3000)})
        return good[: len(good) // 2]
    if kind == "absolute_path":
        z = _zip([("/etc/evil.py", "print('pwned')\n")])
    elif kind == "dotdot_path":
        z = _zip([("../../evil.py", "print('pwned')\n")])
    elif kind == "dotdot_inside_path":
        z = _zip([("lib/../../../evil.py", "print('pwned')\n")])
    elif kind == "symlink":
        z = _zip([(_info("link", mode=0o120777), "/etc/passwd")])
    elif kind == "too_many_entries":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(_info("app.py", compress=zipfile.ZIP_STORED), "def handler(e, c):\n    return 1\n")
            for i in range(20_001):
                zf.writestr(_info(f"d{i % 100}/{i}", compress=zipfile.ZIP_STORED), b"")
        z = buf.getvalue()
    elif kind == "bomb":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(_info("app.py"), "def handler(e, c):\n    return 1\n")
            chunk = bytes(1 << 20)
            with zf.open(_info("zeros.bin"), "w", force_zip64=True) as w:
                for _ in range(300):
                    w.write(chunk)
        z = buf.getvalue()
        assert len(z) < 2_000_000, len(z)
    elif kind == "bomb_lying_sizes":
        # 300 MB of zeros whose headers claim 1000 bytes: only counting what really inflates
        # (or refusing the size mismatch) stops it.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(_info("app.py"), "def handler(e, c):\n    return 1\n")
            zf.writestr(_info("zeros.bin"), bytes(300 << 20))
        z = bytearray(buf.getvalue())
        name = b"zeros.bin"
        patched = 0
        for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = z.find(sig)
            while pos != -1:
                name_len_at = 26 if sig == b"PK\x03\x04" else 28
                name_len = int.from_bytes(z[pos + name_len_at:pos + name_len_at + 2], "little")
                name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
                if bytes(z[name_at:name_at + name_len]) == name:
                    z[pos + size_at:pos + size_at + 4] = (1000).to_bytes(4, "little")
                    patched += 1
                pos = z.find(sig, pos + 4)
        assert patched == 2, patched
        return bytes(z)
    elif kind == "zipped_over_50mb":
        # Random bytes stored: 52.5 MB zipped (over 50 MiB), base64 in the JSON body just under 70 MB.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(_info("app.py", compress=zipfile.ZIP_STORED), "def handler(e, c):\n    return 1\n")
            zf.writestr(_info("random.bin", compress=zipfile.ZIP_STORED), os.urandom(52_500_000 - 400))
        z = buf.getvalue()
        assert 52_428_800 < len(z) < 52_600_000, len(z)
    else:
        raise KeyError(kind)
    with zipfile.ZipFile(io.BytesIO(z)) as zf:  # the test's own zips are well-formed archives
        assert len(zf.infolist()) >= 2
        if kind not in ("bomb", "zipped_over_50mb", "too_many_entries"):
            assert zf.testzip() is None
    return z


ZIP_CASES = [
    # kind, status, codes, exact message (AWS's where AWS has one), keywords (one must appear)
    ("not_a_zip", 400, {"InvalidParameterValueException"}, NOT_A_ZIP, ()),
    ("truncated_zip", 400, {"InvalidParameterValueException"}, NOT_A_ZIP, ()),
    ("absolute_path", 400, {"InvalidParameterValueException"}, None, ("absolute", "/etc/evil.py")),
    ("dotdot_path", 400, {"InvalidParameterValueException"}, None, ("..", "parent", "outside")),
    ("dotdot_inside_path", 400, {"InvalidParameterValueException"}, None, ("..", "parent", "outside")),
    ("symlink", 400, {"InvalidParameterValueException"}, None, ("symlink", "symbolic link", "link")),
    ("too_many_entries", 400, {"InvalidParameterValueException"}, None, ("20000", "20,000", "entries", "files")),
    ("bomb", 400, {"InvalidParameterValueException"}, None, (UNZIPPED_TOO_BIG,)),
    ("bomb_lying_sizes", 400, {"InvalidParameterValueException"}, None, ()),
    ("zipped_over_50mb", 413, {"RequestEntityTooLargeException"}, None, (ZIPPED_TOO_BIG,)),
]
# For the two size limits AWS's message must be there (more detail after it is fine).
STARTS_WITH = {"bomb": UNZIPPED_TOO_BIG, "zipped_over_50mb": ZIPPED_TOO_BIG}


@pytest.mark.parametrize("kind,status,codes,message,keywords", ZIP_CASES, ids=[c[0] for c in ZIP_CASES])
@pytest.mark.parametrize("op", ["create", "update_code"])
def test_bad_zip(lam, victim, kind, status, codes, message, keywords, op):
    z = bad_zip(kind)
    call = (create_call(lam, Code={"ZipFile": z}) if op == "create"
            else lambda: lam.update_function_code(FunctionName=victim, ZipFile=z))
    err = rejected(lam, victim, call, status=status, code=codes, message=message, any_of=keywords)
    if kind in STARTS_WITH:
        assert err.message.startswith(STARTS_WITH[kind]), err


def test_zip_limits_in_aws_recordings():
    """The expectations above are AWS's own answers."""
    rec = recorded(CRUD, "TestLambdaSizeLimits::test_oversized_unzipped_lambda", "invalid_param_exc")
    assert rec["Error"] == {"Code": "InvalidParameterValueException", "Message": UNZIPPED_TOO_BIG}
    rec = recorded(CRUD, "TestLambdaSizeLimits::test_oversized_zipped_create_lambda", "invalid_param_exc")
    assert rec["Error"] == {"Code": "RequestEntityTooLargeException", "Message": ZIPPED_TOO_BIG}
    assert rec["ResponseMetadata"]["HTTPStatusCode"] == 413
    rec = recorded(CRUD, T_CREATE_EXC, "invalid_zip_exc")
    assert rec["Error"]["Message"] == NOT_A_ZIP


def test_zip_with_directories_and_nested_files_is_fine(lam):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_info("lib/", mode=0o040755), b"")
        zf.writestr(_info("lib/helper.py"), "X = 1\n")
        zf.writestr(_info("bin/tool", mode=0o100755), "#!/bin/sh\necho hi\n")
        zf.writestr(_info("app.py"), "def handler(e, c):\n    return 1\n")
    name = unique("nested")
    resp = create_function(lam, name, buf.getvalue())
    assert resp["CodeSize"] == len(buf.getvalue())
    lam.delete_function(FunctionName=name)


# ---------------------------------------------------------------------------------------------
# Malformed bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"FunctionName": "x",', b"\xff\xfe"])
@pytest.mark.parametrize("op", ["create", "update_config", "update_code"])
def test_malformed_json(server, lam, victim, body, op):
    method, path = {
        "create": ("POST", "/2015-03-31/functions"),
        "update_config": ("PUT", f"/2015-03-31/functions/{victim}/configuration"),
        "update_code": ("PUT", f"/2015-03-31/functions/{victim}/code"),
    }[op]
    before = state(lam, victim)
    r = server.raw(method, path, body=body, headers={"Content-Type": "application/json"})
    assert r.status == 400, (r.status, r.body[:500])
    assert (r.error_type() or "").split(":")[0] == "InvalidRequestContentException", (r.headers, r.body[:500])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    payload = r.json()
    msg = payload.get("message") or payload.get("Message") or ""
    assert msg.startswith("Could not parse request body into json"), payload
    assert state(lam, victim) == before
