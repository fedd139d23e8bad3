"""Synchronous Invoke end to end, through boto3 and the AWS CLI, for Python (python3.12), Node
(nodejs20.x: CommonJS, ES module, callback handlers) and provided.al2023 (a custom runtime that
speaks the Runtime API itself): payloads, context, environment, errors, limits, logs, warm reuse,
retirement on update, invocation types and concurrency. Expected values are AWS's (recorded
responses in aws-snapshots/invoke.json, lambda-compat.md §1.4, §2, §4.1)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time

import pytest

from invoke_support import (
    FUNCTIONS,
    LOG_STREAM_RE,
    MAX_SYNC_PAYLOAD,
    UUID_RE,
    api_error,
    check_log_frame,
    deploy,
    function_arn,
    function_pids,
    invoke,
    invoke_cli,
    wait_updated,
    zip_dir,
)
from lambent_util import unique

# kind -> runtime, code folder, handler per behaviour
SPECS = {
    "python": ("python3.12", "python", {
        "echo": "app.echo", "context": "app.context_info", "fail": "app.fail", "sleep": "app.sleep",
        "crash": "app.crash", "counter": "app.counter", "log": "app.log_lines", "big": "app.big_response",
        "hog": "app.hog", "none": "app.none",
    }),
    "node": ("nodejs20.x", "node", {
        "echo": "index.echo", "context": "index.contextInfo", "fail": "index.fail", "sleep": "index.sleep",
        "crash": "index.crash", "counter": "index.counter", "log": "index.log", "callback": "index.callback",
        "callback_error": "index.callbackError",
    }),
    "node-esm": ("nodejs20.x", "node", {"echo": "esm.echo", "handler": "esm.handler"}),
    "provided": ("provided.al2023", "provided-python", {"echo": "bootstrap"}),
}
EXECUTION_ENV = {"python": "AWS_Lambda_python3.12", "node": "AWS_Lambda_nodejs20.x", "provided": None}

SAMPLE = {
    "text": "héllo wörld ✓ 日本語 😀",
    "n": [1, 2.5, -3, 0],
    "nested": {"empty": {}, "list": [], "null": None, "t": True, "f": False},
    "quote": 'a"b\\c/d',
    "ctl": "tab\tnewline\n",
}


def python_json(obj) -> bytes:
    """What Lambda's python3.12 runtime sends for `obj` (json.dumps, ensure_ascii=False)."""
    return json.dumps(obj, ensure_ascii=False).encode()


def node_json(obj) -> bytes:
    """What JSON.stringify produces for `obj`."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def fn(lam):
    """fn(kind, behaviour, **overrides) -> name of a function (created once per distinct request)."""
    cache = {}
    zips = {}

    def get(kind, behaviour, fresh=False, **overrides):
        key = (kind, behaviour, json.dumps(overrides, sort_keys=True, default=str))
        if key in cache and not fresh:
            return cache[key]
        runtime, folder, handlers = SPECS[kind]
        if folder not in zips:
            zips[folder] = zip_dir(FUNCTIONS / folder)
        handler = handlers.get(behaviour, behaviour)
        name = unique(f"{kind}-{behaviour}".replace("_", "-").replace(".", "-"))
        code = overrides.pop("code", None) or zips[folder]
        overrides.setdefault("Runtime", runtime)
        deploy(lam, name, code, overrides.pop("Runtime"), handler, **overrides)
        cache[key] = name
        return name

    return get


def ok(inv, version="$LATEST"):
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    assert inv.executed_version == version, f"X-Amz-Executed-Version {inv.executed_version!r}, want {version!r}"
    assert UUID_RE.match(inv.request_id), f"x-amzn-RequestId {inv.request_id!r} is not a UUID"
    return inv


def unhandled(inv):
    assert inv.status == 200, inv.describe()
    assert inv.function_error == "Unhandled", f"want X-Amz-Function-Error: Unhandled; {inv.describe()}"
    assert inv.executed_version == "$LATEST", inv.describe()
    assert inv.headers.get("content-type", "").startswith("application/json"), inv.headers
    return inv.json()


def is_cold(inv) -> bool:
    return any(line.startswith("INIT_START") for line in inv.log_lines())


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------

ECHO_CASES = {
    "python": (python_json(SAMPLE), python_json(SAMPLE)),
    "node": (node_json(SAMPLE), node_json(SAMPLE)),
    "node-esm": (node_json(SAMPLE), node_json(SAMPLE)),
    # a custom runtime gets the request body untouched and may answer any bytes
    "provided": (b'{ "a" :  "\xc3\xa9\xe2\x9c\x93" ,\n"n":[1, 2 ,3],  "s":"\\u00e9"}  ',) * 2,
}


@pytest.mark.parametrize("kind", list(ECHO_CASES))
def test_echo_is_byte_for_byte(lam, fn, kind):
    sent, want = ECHO_CASES[kind]
    inv = ok(invoke(lam, fn(kind, "echo"), sent))
    assert inv.payload == want, f"{kind}: sent {sent!r}, got back {inv.payload!r}"
    assert inv.headers.get("content-type") == "application/json", inv.headers


def test_python311_escapes_non_ascii(lam, fn):
    """Lambda's Python runtimes before 3.12 serialise with ensure_ascii=True."""
    inv = ok(invoke(lam, fn("python", "echo", Runtime="python3.11"), python_json(SAMPLE)))
    assert inv.payload == json.dumps(SAMPLE).encode(), inv.payload


def test_handler_returning_none_gives_null(lam, fn):
    inv = ok(invoke(lam, fn("python", "none"), b"{}"))
    assert inv.payload == b"null"


def test_node_callback_handler(lam, fn):
    inv = ok(invoke(lam, fn("node", "callback"), node_json({"k": "ü"})))
    assert inv.json() == {"style": "callback", "event": {"k": "ü"}, "requestId": inv.request_id}


def test_node_esm_handler_keeps_module_state(lam, fn):
    name = fn("node-esm", "handler")
    first = ok(invoke(lam, name, node_json({"x": 1})))
    second = ok(invoke(lam, name, node_json({"x": 2})))
    assert first.json() == {"module": "esm", "count": 1, "platform": "linux", "event": {"x": 1},
                            "awsRequestId": first.request_id, "functionName": name}
    assert second.json()["count"] == 2 and second.json()["awsRequestId"] == second.request_id


@pytest.mark.parametrize("kind", ["python", "provided"])
def test_five_megabyte_payload_round_trip(lam, fn, kind):
    blob = "abcdé😀\u4e16" * (5_200_000 // 13)  # 13 UTF-8 bytes per repetition
    sent = python_json({"blob": blob, "tail": "end"})
    assert 5_000_000 < len(sent) < MAX_SYNC_PAYLOAD
    inv = ok(invoke(lam, fn(kind, "echo"), sent, tail=False))
    assert len(inv.payload) == len(sent) and inv.payload == sent, f"{kind}: {len(sent)} bytes sent, {len(inv.payload)} back"


def test_request_of_exactly_6mb_is_accepted(lam, fn):
    sent = b'"' + b"x" * (MAX_SYNC_PAYLOAD - 2) + b'"'
    inv = ok(invoke(lam, fn("provided", "echo"), sent, tail=False))
    assert inv.payload == sent


def test_request_over_6mb_is_413(lam, fn):
    sent = b'"' + b"x" * (MAX_SYNC_PAYLOAD - 1) + b'"'
    status, code, message, headers = api_error(lam.invoke, FunctionName=fn("provided", "echo"), Payload=sent)
    assert (status, code) == (413, "RequestTooLargeException"), (status, code, message)
    assert message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation", message
    assert headers.get("x-amzn-errortype", "").startswith("RequestTooLargeException"), headers


def test_response_over_6mb_is_function_error(lam, fn):
    name = fn("python", "big", fresh=True)
    # twice, as in the recording: the environment stays usable after an oversized response
    bodies = [unhandled(invoke(lam, name, {"size": MAX_SYNC_PAYLOAD + 100})) for _ in range(2)]
    assert [b.get("errorType") for b in bodies] == ["Function.ResponseSizeTooLarge"] * 2, bodies
    for body in bodies:
        assert body == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }, body
    after = ok(invoke(lam, name, {"size": 3}))
    assert after.payload == b'"xxx"' and not is_cold(after), after.describe()


def test_response_just_under_6mb_is_returned(lam, fn):
    inv = ok(invoke(lam, fn("python", "big"), {"size": 6_000_000}, tail=False))
    assert inv.payload == b'"' + b"x" * 6_000_000 + b'"'


# ---------------------------------------------------------------------------------------------
# Context object and environment
# ---------------------------------------------------------------------------------------------

CLIENT_CONTEXT = {"custom": {"foo": "bar"}, "client": {"snap": ["crackle", "pop"]}, "env": {"fizz": "buzz"}}


@pytest.mark.parametrize("how", ["name", "arn-with-qualifier", "qualifier-parameter", "full-arn"])
def test_python_context(lam, fn, how):
    name = fn("python", "context", Timeout=7)
    target, qualifier, want_arn = {
        "name": (name, None, function_arn(name)),
        "full-arn": (function_arn(name), None, function_arn(name)),
        "arn-with-qualifier": (function_arn(name, "$LATEST"), None, function_arn(name, "$LATEST")),
        "qualifier-parameter": (name, "$LATEST", function_arn(name, "$LATEST")),
    }[how]
    cc = base64.b64encode(json.dumps(CLIENT_CONTEXT).encode()).decode()
    inv = ok(invoke(lam, target, {"k": 1}, qualifier=qualifier, client_context=cc))
    c = inv.json()
    assert c["function_name"] == name
    assert c["function_version"] == "$LATEST"
    assert c["memory_limit_in_mb"] == "1024", "awslambdaric gives memory_limit_in_mb as a string"
    assert c["invoked_function_arn"] == want_arn, f"invoked via {how}: {c['invoked_function_arn']}"
    assert c["aws_request_id"] == inv.request_id, "context.aws_request_id must be the x-amzn-RequestId"
    assert c["log_group_name"] == f"/aws/lambda/{name}"
    assert c["log_stream_name"] == c["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 7000 - 3000 <= c["remaining_ms"] <= 7000, f"remaining time {c['remaining_ms']} ms of a 7 s timeout"
    assert c["event"] == {"k": 1}
    assert c["client_context"]["custom"] == {"foo": "bar"} and c["client_context"]["env"] == {"fizz": "buzz"}


def test_node_context(lam, fn):
    name = fn("node", "context", Timeout=7)
    cc = base64.b64encode(json.dumps(CLIENT_CONTEXT).encode()).decode()
    inv = ok(invoke(lam, function_arn(name, "$LATEST"), {"k": 1}, client_context=cc))
    c = inv.json()
    assert c["functionName"] == name and c["functionVersion"] == "$LATEST"
    assert c["memoryLimitInMB"] == "1024"
    assert c["invokedFunctionArn"] == function_arn(name, "$LATEST")
    assert c["awsRequestId"] == inv.request_id
    assert c["logGroupName"] == f"/aws/lambda/{name}"
    assert c["logStreamName"] == c["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 7000 - 3000 <= c["remainingMs"] <= 7000, c["remainingMs"]
    assert c["clientContext"] == CLIENT_CONTEXT, "recorded: clientContext is the decoded X-Amz-Client-Context"
    plain = ok(invoke(lam, name, {}))
    assert plain.json()["invokedFunctionArn"] == function_arn(name)


def test_provided_runtime_api_headers(lam, fn):
    name = fn("provided", "echo", Timeout=9)
    before_ms = time.time() * 1000
    inv = ok(invoke(lam, function_arn(name, "$LATEST"), {"op": "introspect"}))
    h = inv.json()["headers"]
    assert h["lambda-runtime-aws-request-id"] == inv.request_id
    assert h["lambda-runtime-invoked-function-arn"] == function_arn(name, "$LATEST")
    deadline = int(h["lambda-runtime-deadline-ms"])
    assert before_ms + 9000 - 2000 <= deadline <= time.time() * 1000 + 9000 + 50, (
        f"Lambda-Runtime-Deadline-Ms {deadline} should be about now + 9 s in epoch milliseconds")
    assert h.get("lambda-runtime-trace-id", "").startswith("Root=1-"), h
    assert h.get("content-type", "").startswith("application/json"), h


def check_lambda_variables(env: dict, name: str, handler: str, kind: str):
    want = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "_HANDLER": handler,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LANG": "en_US.UTF-8",
        "MY_VAR": "a value = with spaces, ünïcode & $symbols",
        "Hello": "World",
    }
    got = {k: env.get(k) for k in want}
    assert got == want, "\n".join(f"{k}: got {got[k]!r}, want {want[k]!r}" for k in want if got[k] != want[k])
    stream = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    m = LOG_STREAM_RE.match(stream)
    assert m, f"AWS_LAMBDA_LOG_STREAM_NAME {stream!r} is not YYYY/MM/DD/[$LATEST]<32 hex>"
    today = dt.datetime.now(dt.timezone.utc).date()
    assert dt.date(*map(int, m.groups())) in (today, today - dt.timedelta(days=1)), stream
    assert env.get("AWS_EXECUTION_ENV") == EXECUTION_ENV[kind], f"AWS_EXECUTION_ENV {env.get('AWS_EXECUTION_ENV')!r}"
    for never in ("AWS_LAMBDA_MAX_CONCURRENCY", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        assert never not in env, f"{never} must not be set (runtime clients change behaviour)"
    for host_only in ("LAMBENT_LOG", "RUST_BACKTRACE", "NO_COLOR", "PYTEST_CURRENT_TEST"):
        assert host_only not in env, f"the server's own environment leaked into the function: {host_only}"


OWN_VARS = {"MY_VAR": "a value = with spaces, ünïcode & $symbols", "Hello": "World"}


@pytest.mark.parametrize("kind", ["python", "node", "provided"])
def test_environment_variables(lam, fn, kind):
    behaviour = "echo" if kind == "provided" else "context"
    name = fn(kind, behaviour, Environment={"Variables": OWN_VARS})
    handler = SPECS[kind][2][behaviour]
    event = {"op": "introspect"} if kind == "provided" else {}
    first = ok(invoke(lam, name, event)).json()
    second = ok(invoke(lam, name, event)).json()
    check_lambda_variables(first["env"], name, handler, kind)
    assert first["cwd"] == "/var/task", f"the runtime must start in /var/task, not {first['cwd']}"
    assert first["env"]["AWS_LAMBDA_LOG_STREAM_NAME"] == second["env"]["AWS_LAMBDA_LOG_STREAM_NAME"], (
        "one warm environment writes one log stream")


def test_python_honours_the_functions_pythonpath(lam, fn):
    name = fn("python", "with_vendor.handler", Environment={"Variables": {"PYTHONPATH": "/var/task/vendor"}})
    inv = ok(invoke(lam, name, {}))
    assert inv.json() == {"value": "imported through the function's own PYTHONPATH",
                          "file": "/var/task/vendor/vendored_dep.py"}


# ---------------------------------------------------------------------------------------------
# Function errors
# ---------------------------------------------------------------------------------------------


def test_python_handled_error(lam, fn):
    inv = invoke(lam, fn("python", "fail"), {"why": "bad input ü"})
    body = unhandled(inv)
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}, body
    assert body["errorType"] == "BoomError" and body["errorMessage"] == "boom: bad input ü", body
    assert body["requestId"] == inv.request_id
    trace = body["stackTrace"]
    assert isinstance(trace, list) and trace and all(isinstance(t, str) for t in trace), trace
    assert all("/var/task/" in t for t in trace), f"only the function's own frames, as on AWS: {trace}"
    assert trace[-1].startswith('  File "/var/task/app.py", line ') and ", in fail\n    raise BoomError(" in trace[-1], trace
    assert "[ERROR] BoomError: boom: bad input ü" in inv.log, f"the runtime logs the error:\n{inv.log}"


def test_node_handled_error(lam, fn):
    inv = invoke(lam, fn("node", "fail"), {"why": "bad input"})
    body = unhandled(inv)
    assert body["errorType"] == "BoomError" and body["errorMessage"] == "boom: bad input", body
    assert isinstance(body.get("trace"), list) and body["trace"][0] == "BoomError: boom: bad input", body
    assert any("/var/task/index.js" in line for line in body["trace"]), body["trace"]
    assert "BoomError" in inv.log and "\tERROR\t" in inv.log, f"the runtime logs the error:\n{inv.log}"


def test_node_callback_error(lam, fn):
    body = unhandled(invoke(lam, fn("node", "callback_error"), {}))
    assert body["errorType"] == "Error" and body["errorMessage"] == "callback failure", body


def test_custom_runtime_error_body_passes_through(lam, fn):
    body = unhandled(invoke(lam, fn("provided", "echo"), {"op": "fail", "message": "custom ✗"}))
    assert body == {"errorType": "Custom.Failure", "errorMessage": "custom ✗", "stackTrace": []}, body


PY_INIT_ERRORS = {
    "broken_import.handler": ("Runtime.ImportModuleError",
                              "Unable to import module 'broken_import': No module named 'lambent_no_such_module'"),
    "nosuchfile.handler": ("Runtime.ImportModuleError",
                           "Unable to import module 'nosuchfile': No module named 'nosuchfile'"),
    "app.nope": ("Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
    "broken_syntax.handler": ("Runtime.UserCodeSyntaxError",
                              "Syntax error in module 'broken_syntax': expected ':' (broken_syntax.py, line 1)"),
}


@pytest.mark.parametrize("handler", list(PY_INIT_ERRORS))
def test_python_init_errors(lam, fn, handler):
    name = fn("python", handler)
    error_type, message = PY_INIT_ERRORS[handler]
    for attempt in range(2):  # a failed Init is tried again on the next invoke
        inv = invoke(lam, name, {})
        body = unhandled(inv)
        assert body.get("errorType") == error_type and body.get("errorMessage") == message, (attempt, body)
        assert body.get("requestId") == "" and isinstance(body.get("stackTrace"), list), body
        assert f"[ERROR] {error_type}: {message}" in inv.log, f"the runtime logs the init error:\n{inv.log}"
        assert any(line.startswith("INIT_START") for line in inv.log_lines()), inv.log
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"


def test_python_exception_at_import(lam, fn):
    body = unhandled(invoke(lam, fn("python", "init_raise.handler"), {}))
    assert body["errorType"] == "Exception" and body["errorMessage"] == "Runtime startup fails", body
    assert body["requestId"] == ""
    assert body["stackTrace"][-1] == (
        '  File "/var/task/init_raise.py", line 1, in <module>\n    raise Exception("Runtime startup fails")\n'
    ), body["stackTrace"]


NODE_INIT_ERRORS = {
    "import_error.handler": ("Runtime.ImportModuleError", "Error: Cannot find module 'lambent-no-such-module'"),
    "index.nope": ("Runtime.HandlerNotFound", "index.nope is undefined or not exported"),
    "syntax_error.handler": ("Runtime.UserCodeSyntaxError", "SyntaxError: "),
    "missing.handler": ("Runtime.ImportModuleError", "Error: Cannot find module 'missing'"),
}


@pytest.mark.parametrize("handler", list(NODE_INIT_ERRORS))
def test_node_init_errors(lam, fn, handler):
    body = unhandled(invoke(lam, fn("node", handler), {}))
    error_type, prefix = NODE_INIT_ERRORS[handler]
    assert body.get("errorType") == error_type and body.get("errorMessage", "").startswith(prefix), body


# ---------------------------------------------------------------------------------------------
# Timeouts, crashes, out of memory
# ---------------------------------------------------------------------------------------------

TIMEOUT_LINE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z %s Task timed out after 1\.00 seconds$"


@pytest.mark.parametrize("kind", ["python", "node"])
def test_timeout(lam, fn, kind):
    name = fn(kind, "sleep", Timeout=1)
    inv = invoke(lam, name, {"seconds": 3})
    body = unhandled(inv)
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after 1.00 seconds",
    }, body
    assert 0.95 <= inv.seconds < 2.5, f"answered after {inv.seconds:.2f} s for a 1 s timeout"
    lines = inv.log_lines()
    assert any(re.match(TIMEOUT_LINE % re.escape(inv.request_id), line) for line in lines), inv.log
    assert f"END RequestId: {inv.request_id}" in lines and lines[-2].startswith(f"REPORT RequestId: {inv.request_id}\t")
    # the environment was reset: the next invocation starts a new one
    after = ok(invoke(lam, name, {"seconds": 0}))
    assert is_cold(after), f"after a timeout the next invoke must run Init again:\n{after.log}"
    check_log_frame(after, 1024, cold=True)


@pytest.mark.parametrize("kind", ["python", "node", "provided"])
def test_runtime_exit(lam, fn, kind):
    name = fn(kind, "echo" if kind == "provided" else "crash")
    event = {"op": "exit", "code": 3} if kind == "provided" else {"code": 3}
    inv = invoke(lam, name, event)
    body = unhandled(inv)
    message = f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3"
    assert body == {"errorType": "Runtime.ExitError", "errorMessage": message}, body
    lines = inv.log_lines()
    assert message in lines and "Runtime.ExitError" in lines, f"crash lines missing from the log:\n{inv.log}"
    assert lines[-3] == f"END RequestId: {inv.request_id}" and lines[-2].startswith("REPORT RequestId: "), inv.log
    if kind == "provided":
        after = ok(invoke(lam, name, b'{"after":"crash"}'))
        assert after.payload == b'{"after":"crash"}' and is_cold(after), after.describe()


def test_out_of_memory(lam, fn):
    name = fn("python", "hog", MemorySize=128, Timeout=30)
    inv = invoke(lam, name, {})
    body = unhandled(inv)
    assert body.get("errorType") == "Runtime.OutOfMemory", body
    assert body.get("errorMessage", "").startswith(
        f"RequestId: {inv.request_id} Error: Runtime exited with error: signal: killed"), body
    assert inv.seconds < 25, f"out of memory took {inv.seconds:.1f} s to report"
    report = inv.log_lines()[-2]
    m = re.search(r"\tMax Memory Used: (\d+) MB\t", report)
    assert m and 100 <= int(m.group(1)) <= 130, f"Max Memory Used should be about the 128 MB limit: {report!r}"


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------


def test_python_log_tail_cold_then_warm(lam, fn):
    name = fn("python", "log", fresh=True)
    cold = ok(invoke(lam, name, {"marker": "one"}))
    frame = check_log_frame(cold, 1024, cold=True)
    body = frame["lines"][frame["start_index"] + 1:-2]
    # stdout and stderr both go to the log (their relative order is not checked)
    assert sorted(body) == ["stderr line one", "stdout line one"], f"function output between START and END: {body}"
    warm = ok(invoke(lam, name, {"marker": "two"}))
    frame = check_log_frame(warm, 1024, cold=False)
    lines = frame["lines"]
    assert lines[0] == f"START RequestId: {warm.request_id} Version: $LATEST" and len(lines) == 5, warm.log
    assert sorted(lines[1:3]) == ["stderr line two", "stdout line two"], warm.log


def test_log_tail_is_the_last_4kb(lam, fn):
    inv = ok(invoke(lam, fn("python", "log"), {"marker": "bulk", "bulk_lines": 100}))
    assert 4000 <= len(inv.log.encode()) <= 4096, f"tail of a ~10 KB log is {len(inv.log.encode())} bytes"
    assert "bulk line 00099" in inv.log and "stdout line bulk" not in inv.log
    assert inv.log_lines()[-3] == f"END RequestId: {inv.request_id}"


def test_node_log_line_format(lam, fn):
    name = fn("node", "log", fresh=True)
    inv = ok(invoke(lam, name, {"marker": "m1"}))
    frame = check_log_frame(inv, 1024, cold=True)
    body = frame["lines"][frame["start_index"] + 1:-2]
    want = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\tINFO\tconsole line m1$" % re.escape(inv.request_id))
    assert len(body) == 1 and want.match(body[0]), f"console.log line as Lambda writes it: {body}"
    check_log_frame(ok(invoke(lam, name, {"marker": "m2"})), 1024, cold=False)


def test_custom_runtime_log_tail(lam, fn):
    name = fn("provided", "echo", fresh=True)
    inv = ok(invoke(lam, name, b"[1,2]"))
    frame = check_log_frame(inv, 1024, cold=True)
    assert frame["lines"][frame["start_index"] + 1:-2] == ["custom runtime got 5 bytes"], inv.log
    check_log_frame(ok(invoke(lam, name, b"[1,2]")), 1024, cold=False)


def test_no_log_result_without_tail(lam, fn):
    inv = ok(invoke(lam, fn("python", "echo"), {}, tail=False))
    assert inv.log is None and "x-amz-log-result" not in inv.headers


# ---------------------------------------------------------------------------------------------
# Warm reuse and retirement
# ---------------------------------------------------------------------------------------------


def test_warm_reuse_then_update_retires_environment(lam, fn):
    name = fn("python", "counter", fresh=True, Environment={"Variables": {"MARK": "one"}})
    first = ok(invoke(lam, name, {})).json()
    second = ok(invoke(lam, name, {})).json()
    assert (first["count"], second["count"]) == (1, 2), (first, second)
    assert not first["tmp_existed"] and second["tmp_existed"] and second["tmp_lines"] == 2, "/tmp persists when warm"
    assert first["stream"] == second["stream"]

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MARK": "two"}})
    wait_updated(lam, name)
    after_config = ok(invoke(lam, name, {}))
    got = after_config.json()
    assert got["count"] == 1 and got["mark"] == "two", f"a configuration update must retire the old environment: {got}"
    assert not got["tmp_existed"] and got["stream"] != first["stream"], got
    assert is_cold(after_config)

    lam.update_function_code(FunctionName=name, ZipFile=zip_dir(FUNCTIONS / "python", extra={"version.txt": "v2\n"}))
    wait_updated(lam, name)
    got = ok(invoke(lam, name, {})).json()
    assert got["count"] == 1 and got["version_file"] == "v2" and got["mark"] == "two", (
        f"a code update must retire the old environment: {got}")
    assert ok(invoke(lam, name, {})).json()["count"] == 2


def test_node_module_state_is_kept_while_warm(lam, fn):
    """Recorded: TestLambdaBehavior::test_lambda_cache_local[nodejs] (counter 0, then 1)."""
    name = fn("node", "counter", fresh=True)
    counts = [ok(invoke(lam, name, {})).json()["count"] for _ in range(3)]
    assert counts == [1, 2, 3], counts
    lam.update_function_configuration(FunctionName=name, Description="retire")
    wait_updated(lam, name)
    assert ok(invoke(lam, name, {})).json()["count"] == 1


# ---------------------------------------------------------------------------------------------
# Invocation types, missing functions
# ---------------------------------------------------------------------------------------------


def test_dry_run(lam, fn):
    name = fn("python", "echo", fresh=True)
    out = lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert out["StatusCode"] == 204 and out["Payload"].read() == b"", out
    assert "FunctionError" not in out
    assert function_pids(name) == [], "DryRun must not start an execution environment"


def test_event_invocation_is_accepted(lam, fn):
    """Recorded: TestLambdaFeatures::test_invocation_type_event (202, empty payload). Delivery,
    retries and destinations are covered by test_async*.py."""
    out = lam.invoke(FunctionName=fn("python", "echo"), InvocationType="Event", Payload=b"{}")
    assert out["StatusCode"] == 202 and out["Payload"].read() == b"", out
    assert UUID_RE.match(out["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid", "")), out


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "DryRun"])
def test_missing_function(lam, invocation_type):
    name = unique("doesnotexist")
    status, code, message, headers = api_error(lam.invoke, FunctionName=name, InvocationType=invocation_type,
                                               Payload=b"{}")
    assert (status, code) == (404, "ResourceNotFoundException"), (status, code, message)
    if invocation_type == "RequestResponse":  # recorded: TestLambdaFeatures::test_invoke_exceptions
        assert message == f"Function not found: {function_arn(name, '$LATEST')}", message
    else:  # not recorded for DryRun: either form of the ARN
        assert message in (f"Function not found: {function_arn(name, '$LATEST')}",
                           f"Function not found: {function_arn(name)}"), message


# ---------------------------------------------------------------------------------------------
# The AWS CLI
# ---------------------------------------------------------------------------------------------

CLI_CASES = {
    "python": ("echo", python_json(SAMPLE)),
    "node": ("echo", node_json(SAMPLE)),
    "provided": ("echo", b'{"x": "\xc3\xa9",   "y" : [ ] }'),
}


@pytest.mark.parametrize("kind", list(CLI_CASES))
def test_cli_invoke(server, fn, tmp_path, kind):
    behaviour, payload = CLI_CASES[kind]
    name = fn(kind, behaviour)
    res = invoke_cli(server, name, payload, workdir=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.output["StatusCode"] == 200 and res.output["ExecutedVersion"] == "$LATEST", res.output
    assert "FunctionError" not in res.output, res.output
    assert res.payload == payload, f"out file: {res.payload!r}"
    lines = res.log.rstrip("\n").split("\n")
    rid = lines[-1].split("\t")[0].removeprefix("REPORT RequestId: ")
    assert UUID_RE.match(rid) and f"START RequestId: {rid} Version: $LATEST" in lines and \
        lines[-2] == f"END RequestId: {rid}", res.log


def test_cli_large_payload_from_file(server, fn, tmp_path):
    payload = python_json({"blob": "ü" * 2_400_000})
    src = tmp_path / "event.json"
    src.write_bytes(payload)
    res = invoke_cli(server, fn("provided", "echo"), payload_file=src, workdir=tmp_path, tail=False)
    assert res.returncode == 0, res.stderr
    assert res.output["StatusCode"] == 200 and "LogResult" not in res.output
    assert res.payload == payload


def test_cli_function_error(server, fn, tmp_path):
    res = invoke_cli(server, fn("python", "fail"), b'{"why": "cli"}', workdir=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.output["StatusCode"] == 200 and res.output["FunctionError"] == "Unhandled", res.output
    body = json.loads(res.payload)
    assert body["errorType"] == "BoomError" and body["errorMessage"] == "boom: cli"
    assert "[ERROR] BoomError: boom: cli" in res.log


def test_cli_missing_function(server, tmp_path):
    res = invoke_cli(server, unique("doesnotexist"), b"{}", workdir=tmp_path)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr, (res.returncode, res.stderr)


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------


def test_concurrent_invocations_run_in_parallel(lam, fn):
    name = fn("python", "sleep", fresh=True)
    threads, per_thread, nap = 4, 3, 0.3
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(per_thread):
            try:
                inv = invoke(lam, name, {"seconds": nap}, tail=False)
                with lock:
                    results.append(inv)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    total = time.monotonic() - started
    assert not errors, errors
    assert len(results) == threads * per_thread
    for inv in results:
        ok(inv)
    assert len({inv.request_id for inv in results}) == len(results), "request ids must be unique"
    serial = threads * per_thread * nap
    assert total < serial * 0.6, f"{len(results)} calls of {nap} s took {total:.2f} s (serial would be {serial:.1f} s)"
    by_env = {}
    for inv in results:
        r = inv.json()
        by_env.setdefault(r["stream"], []).append((r["start"], r["end"]))
    assert len(by_env) >= 2, "concurrent invocations need more than one environment"
    for stream, spans in by_env.items():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert s2 >= e1, f"environment {stream} ran two invocations at once: {spans}"
