"""Lambent's Python runtime: the loop Lambda's managed python3.x runtime runs.

Started inside the sandbox as

    /usr/bin/python3 -I -S -B /var/runtime/python/bootstrap.py

with the working directory /var/task. Standard library only. It talks to the
Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API over one keep-alive
connection, loads the handler named by $_HANDLER and serves invocations until
the sandbox is torn down. Error bodies, error types and log lines follow the
official runtime interface client (awslambdaric) so that tools parsing them
see what they would see on AWS.

`-I` ignores PYTHON* variables and keeps the script's directory and the user
site directory off sys.path, `-S` keeps the host's site-packages out, `-B`
stops futile .pyc writes into the read-only /var/task. This file therefore
builds sys.path itself (see _setup_sys_path), honouring a user-set PYTHONPATH
the way Lambda does.
"""

import builtins
import importlib
import json
import logging
import os
import socket
import sys
import time

RUNTIME_API_VERSION = "2018-06-01"
ERROR_LINE_SEPARATOR = "\r"
ERROR_INDENT = "\u00a0"  # NO-BREAK SPACE: keeps indentation of trace lines visible in CloudWatch
_TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

_current_request_id = None
_current_tenant_id = None


# --------------------------------------------------------------------------
# Errors produced by the runtime itself (as opposed to by the handler).


class RuntimeFault(Exception):
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


def error_body(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def _frames_after_bootstrap(tb):
    """(file, line, function, source) tuples of a traceback, starting at the
    first frame that is not in this file. Plain tuples, so that format_list
    prints no caret lines (as on AWS)."""
    import traceback

    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if "/bootstrap.py" not in frame[0]:
            return frames[i:]
    return frames


def error_from_exception(exc, request_id=None):
    import traceback

    frames = _frames_after_bootstrap(exc.__traceback__)
    return error_body(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


# --------------------------------------------------------------------------
# JSON


def _decimal_default(obj):
    # decimal is imported lazily (5 ms): if user code has not imported it, obj
    # cannot be a Decimal.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return float("nan")
        if obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _runtime_version_from_env():
    """(3, N) from AWS_EXECUTION_ENV=AWS_Lambda_python3.N, or None."""
    env = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python"
    if not env.startswith(prefix):
        return None
    try:
        major, minor = env[len(prefix):].split(".", 1)
        return int(major), int(minor)
    except ValueError:
        return None


# Since python3.12 Lambda returns non-ASCII characters as they are; older
# runtimes escape them as \uXXXX.
_runtime_version = _runtime_version_from_env()
_ensure_ascii = not (_runtime_version is not None and _runtime_version >= (3, 12))
_response_encoder = json.JSONEncoder(ensure_ascii=_ensure_ascii, default=_decimal_default)
_log_encoder = json.JSONEncoder(ensure_ascii=False, default=str)


def to_json(obj):
    return _response_encoder.encode(obj)


# --------------------------------------------------------------------------
# Runtime API client: HTTP/1.1 over one persistent (keep-alive) connection.
#
# Hand-written on a plain socket rather than http.client: http.client imports
# the email package and ssl, about 25-40 ms of every cold start, for features
# the Runtime API does not use.


class RuntimeApiError(Exception):
    pass


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _path_segment(text):
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


class RuntimeApiClient:
    MAX_LINE = 65536

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {address!r}")
        self.address = address
        self.host = host.strip("[]")
        self.port = int(port)
        self.sock = None
        self.rfile = None
        self.base = f"/{RUNTIME_API_VERSION}/runtime"
        self.user_agent = f"aws-lambda-python/{sys.version.split()[0]}-lambent"

    def _connect(self):
        sock = socket.create_connection((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.rfile = sock.makefile("rb")

    def close(self):
        if self.sock is not None:
            try:
                self.rfile.close()
                self.sock.close()
            finally:
                self.sock = None
                self.rfile = None

    def _readline(self):
        line = self.rfile.readline(self.MAX_LINE + 1)
        if len(line) > self.MAX_LINE:
            raise RuntimeApiError("Runtime API sent an over-long line")
        return line

    def _send(self, method, path, body, headers):
        head = [
            f"{method} {path} HTTP/1.1\r\nHost: {self.address}\r\nUser-Agent: {self.user_agent}\r\n"
        ]
        for name, value in headers:
            head.append(f"{name}: {value}\r\n")
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        data = "".join(head).encode("utf-8")
        if body is not None and len(body) <= 65536:
            self.sock.sendall(data + body)
        else:
            self.sock.sendall(data)
            if body is not None:
                self.sock.sendall(body)

    def _receive(self):
        """(status, headers with lower-case names, body); None if the server
        closed the connection before answering."""
        status_line = self._readline()
        if not status_line:
            return None
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise RuntimeApiError(f"Runtime API sent a bad status line: {status_line[:100]!r}")
        status = int(parts[1])
        headers = {}
        while True:
            line = self._readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise RuntimeApiError("Runtime API closed the connection in the headers")
            name, sep, value = line.partition(b":")
            if not sep:
                raise RuntimeApiError(f"Runtime API sent a bad header line: {line[:100]!r}")
            try:
                text = value.strip().decode("utf-8")
            except UnicodeDecodeError:
                text = value.strip().decode("latin-1")
            headers[name.strip().decode("latin-1").lower()] = text

        keep_alive = headers.get("connection", "").lower() != "close" and parts[0] != b"HTTP/1.0"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size_line = self._readline()
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise RuntimeApiError("Runtime API sent a bad chunk size") from None
                if size == 0:
                    while self._readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                    raise RuntimeApiError("Runtime API closed the connection in a chunk")
                chunks.append(chunk)
            body = b"".join(chunks)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body = self.rfile.read(length)
            if len(body) != length:
                raise RuntimeApiError("Runtime API closed the connection in the body")
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = self.rfile.read()
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, headers, body

    def request(self, method, path, body=None, headers=()):
        """Returns (status, headers, body). A request on a reused connection
        that the server has meanwhile closed is retried once on a new one."""
        while True:
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                self._send(method, path, body, headers)
                result = self._receive()
            except (ConnectionError, RuntimeApiError):
                self.close()
                if reused:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if result is None:
                self.close()
                if reused:
                    continue
                raise RuntimeApiError("Runtime API closed the connection without answering")
            return result

    def next_invocation(self):
        status, headers, body = self.request("GET", self.base + "/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"Runtime API /invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def post_response(self, request_id, payload):
        path = f"{self.base}/invocation/{_path_segment(request_id)}/response"
        return self.request("POST", path, payload, (("Content-Type", "application/json"),))

    def post_error(self, request_id, error):
        # Like the official clients, no Lambda-Runtime-Function-Error-Type
        # header here: the platform reads errorType from the body.
        path = f"{self.base}/invocation/{_path_segment(request_id)}/error"
        body = to_json(error).encode("utf-8")
        return self.request("POST", path, body, (("Content-Type", "application/json"),))

    def post_init_error(self, error):
        body = to_json(error).encode("utf-8")
        headers = (
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Function-Error-Type", error["errorType"]),
        )
        return self.request("POST", self.base + "/init/error", body, headers)


# --------------------------------------------------------------------------
# Context object (awslambdaric.lambda_context.LambdaContext field by field).


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        fields = ",".join(f"{k}={getattr(self, k)}" for k in self.__slots__)
        return f"Client([{fields}])"


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


def _object_from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, values.get(name) if isinstance(values, dict) else None)
    return obj


_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class LambdaContext:
    def __init__(self, request_id, client_context, identity, deadline_ms, function_arn, tenant_id):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, exactly as on AWS (the environment variable's value).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        self.tenant_id = tenant_id

        self._w3c = {}
        if isinstance(client_context, dict) and "w3c" in client_context:
            raw = client_context.pop("w3c")
            if isinstance(raw, dict):
                self._w3c = {k: raw[k] for k in _W3C_FIELDS if isinstance(raw.get(k), str)}
        self.client_context = _object_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _object_from_dict(Client, self.client_context.client)

        self.identity = _object_from_dict(CognitoIdentity, {})
        if isinstance(identity, dict):
            self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")

        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self):
        return dict(self._w3c)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


def _parse_json_header(value, name):
    if not value:
        return None
    try:
        return json.loads(value)
    except Exception as e:
        raise RuntimeFault(
            RuntimeFault.CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {e}"
        ) from None


# --------------------------------------------------------------------------
# Logging


def _normalised_level(levelno):
    return min(50, max(0, levelno)) // 10 * 10


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _current_request_id or ""
        record.tenant_id = _current_tenant_id
        return True


class StdoutHandler(logging.Handler):
    def emit(self, record):
        try:
            sys.stdout.write(self.format(record))
        except Exception:
            self.handleError(record)


_JSON_RESERVED = frozenset(
    (
        "name msg args levelname levelno pathname filename module exc_info exc_text "
        "stack_info lineno funcName created msecs relativeCreated thread threadName "
        "processName process taskName aws_request_id tenant_id _frame_type"
    ).split()
)


class JsonLogFormatter(logging.Formatter):
    def format(self, record):
        import traceback

        record.levelno = _normalised_level(record.levelno)
        record.levelname = logging.getLevelName(record.levelno)
        created = time.gmtime(record.created)
        millis = int(record.created * 1000) % 1000
        out = {
            "timestamp": time.strftime(_TEXT_DATE_FORMAT, created) + f".{millis:03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info:
            etype, evalue, etb = record.exc_info
            out["stackTrace"] = traceback.format_tb(etb)
            out["errorType"] = etype.__name__
            out["errorMessage"] = str(evalue)
        out["requestId"] = getattr(record, "aws_request_id", None)
        if record.exc_info:
            out["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        if getattr(record, "tenant_id", None) is not None:
            out["tenantId"] = record.tenant_id
        for key, value in record.__dict__.items():
            if key not in _JSON_RESERVED and key not in out:
                out[key] = value
        return _log_encoder.encode({k: v for k, v in out.items() if v is not None}) + "\n"


def _log_format_is_json():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = StdoutHandler()
    if _log_format_is_json():
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                _TEXT_DATE_FORMAT,
            )
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        level = {"TRACE": "DEBUG"}.get(level.upper(), level.upper())
        if isinstance(logging.getLevelName(level), int):
            root.setLevel(level)
    root.addHandler(handler)


def log_error(error):
    """Writes an uncaught error the way the managed runtime does: one line,
    the trace lines separated by CR, indentation turned into NBSPs."""
    if _log_format_is_json():
        line = _log_encoder.encode(
            {"timestamp": time.strftime(_TEXT_DATE_FORMAT, time.gmtime()), "level": "ERROR", **error}
        )
    else:
        head = "[ERROR]"
        if error.get("errorType"):
            head += " " + error["errorType"]
        if error.get("errorMessage"):
            if error.get("errorType"):
                head += ":"
            head += " " + error["errorMessage"]
        lines = [head, "Traceback (most recent call last):"]
        for element in error.get("stackTrace") or []:
            if element == "":
                lines.append("")
                continue
            for part in element.splitlines():
                stripped = part.lstrip(" ")
                lines.append(ERROR_INDENT * (len(part) - len(stripped)) + stripped)
        line = ERROR_LINE_SEPARATOR.join(lines)
    sys.stdout.write(line + "\n")


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def setup_output():
    """stdout/stderr: UTF-8, flushed at every newline (so the host receives
    whole lines) and explicitly at the end of every invocation (so a partial
    line is not attributed to the next one)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(encoding="utf-8", line_buffering=True)
        except (AttributeError, ValueError):
            pass


# --------------------------------------------------------------------------
# Handler loading


def _setup_sys_path():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    versions = [f"python{sys.version_info[0]}.{sys.version_info[1]}"]
    if _runtime_version is not None:
        declared = f"python{_runtime_version[0]}.{_runtime_version[1]}"
        if declared not in versions:
            versions.append(declared)
    front = [task_root]
    front += [f"/opt/python/lib/{v}/site-packages" for v in versions]
    front.append("/opt/python")
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    new_path = []
    for entry in front + extra:
        if entry not in new_path:
            new_path.append(entry)
    sys.path[:0] = [p for p in new_path if p not in sys.path]


def _restore_site_builtins():
    # -S skips the site module, which is what defines exit()/quit(); user code
    # occasionally calls them.
    try:
        import _sitebuiltins

        eof = "Ctrl-D (i.e. EOF)"
        if not hasattr(builtins, "exit"):
            builtins.exit = _sitebuiltins.Quitter("exit", eof)
        if not hasattr(builtins, "quit"):
            builtins.quit = _sitebuiltins.Quitter("quit", eof)
    except Exception:
        pass


def load_handler(handler):
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise RuntimeFault(RuntimeFault.MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {e}") from None

    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise RuntimeFault(
                RuntimeFault.BUILT_IN_MODULE_CONFLICT,
                f"Cannot use built-in module {module_name} as a handler module",
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise RuntimeFault(
            RuntimeFault.IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {e}"
        ) from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise RuntimeFault(
            RuntimeFault.USER_CODE_SYNTAX_ERROR,
            f"Syntax error in module '{module_name}': {e}",
            trace,
        ) from None

    try:
        return getattr(module, function_name)
    except AttributeError:
        raise RuntimeFault(
            RuntimeFault.HANDLER_NOT_FOUND,
            f"Handler '{function_name}' missing on module '{module_name}'",
        ) from None


# --------------------------------------------------------------------------
# Invocation


def _header(headers, name):
    return headers.get(name.lower()) or None


def _decode_event(body, content_type):
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json":
            return body
    try:
        return json.loads(body)
    except Exception as e:
        raise RuntimeFault(RuntimeFault.UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None


def _encode_result(result):
    try:
        return to_json(result).encode("utf-8")
    except Exception as e:
        raise RuntimeFault(RuntimeFault.MARSHAL_ERROR, f"Unable to marshal response: {e}") from None


def handle_invocation(client, handler, headers, body):
    global _current_request_id, _current_tenant_id
    request_id = _header(headers, "Lambda-Runtime-Aws-Request-Id")
    if not request_id:
        raise RuntimeError("Runtime API /invocation/next answered without Lambda-Runtime-Aws-Request-Id")
    tenant_id = _header(headers, "Lambda-Runtime-Aws-Tenant-Id")
    _current_request_id = request_id
    _current_tenant_id = tenant_id

    trace_id = _header(headers, "Lambda-Runtime-Trace-Id")
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    error = None
    try:
        deadline = _header(headers, "Lambda-Runtime-Deadline-Ms")
        context = LambdaContext(
            request_id,
            _parse_json_header(_header(headers, "Lambda-Runtime-Client-Context"), "Client Context"),
            _parse_json_header(_header(headers, "Lambda-Runtime-Cognito-Identity"), "Cognito Identity"),
            int(deadline) if deadline and deadline.isdigit() else 0,
            _header(headers, "Lambda-Runtime-Invoked-Function-Arn"),
            tenant_id,
        )
        event = _decode_event(body, _header(headers, "Content-Type"))
        payload = _encode_result(handler(event, context))
    except RuntimeFault as e:
        error = error_body(e.message, e.error_type, e.trace, request_id)
    except Exception as e:
        error = error_from_exception(e, request_id)

    if error is not None:
        log_error(error)
        flush_output()
        client.post_error(request_id, error)
    else:
        flush_output()
        client.post_response(request_id, payload)


def init_failed(client, error):
    logging.warning(
        "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code."
    )
    log_error(error)
    flush_output()
    try:
        client.post_init_error(error)
    finally:
        flush_output()
        sys.exit(1)


def _await_function(client):
    """A pre-started runtime (LAMBENT_PRESTART=1) runs this far before any
    function exists: interpreter started, this module and the modules error
    handling needs imported. It then waits for the function's environment,
    which the host sends once the function's code is mounted, and becomes
    exactly the process an ordinary start would have made: same environment,
    same working directory, same derived settings."""
    global _runtime_version, _ensure_ascii, _response_encoder
    import decimal  # noqa: F401  (off the critical path here)
    import traceback  # noqa: F401

    status, _, body = client.request("GET", client.base + "/lambent/environment")
    if status != 200:
        raise RuntimeApiError(f"Runtime API /lambent/environment answered {status}: {body[:200]!r}")
    environment = json.loads(body)
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))
    _runtime_version = _runtime_version_from_env()
    _ensure_ascii = not (_runtime_version is not None and _runtime_version >= (3, 12))
    _response_encoder = json.JSONEncoder(ensure_ascii=_ensure_ascii, default=_decimal_default)


def main():
    setup_output()
    _restore_site_builtins()
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(2)
    client = RuntimeApiClient(address)
    if os.environ.get("LAMBENT_PRESTART") == "1":
        _await_function(client)
    _setup_sys_path()
    handler_name = os.environ.get("_HANDLER") or (sys.argv[1] if len(sys.argv) > 1 else "")

    try:
        setup_logging()
        handler = load_handler(handler_name)
    except RuntimeFault as e:
        init_failed(client, error_body(e.message, e.error_type, e.trace))
    except Exception as e:
        init_failed(client, error_from_exception(e))

    while True:
        headers, body = client.next_invocation()
        handle_invocation(client, handler, headers, body)


if __name__ == "__main__":
    main()
