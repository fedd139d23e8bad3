"""Python test function: one handler per behaviour the tests check (select it with Handler)."""

import json
import os
import sys
import time

COUNT = 0  # module state: survives between invocations of one warm environment
STARTED_AT = time.time()
TMP_FILE = "/tmp/lambent-warm-marker"


def echo(event, context):
    return event


def context_info(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "now_ms": int(time.time() * 1000),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "client_context": None if context.client_context is None else {
            "custom": context.client_context.custom,
            "env": context.client_context.env,
            "client": None if context.client_context.client is None else {
                k: getattr(context.client_context.client, k, None)
                for k in ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")
            },
        },
        "event": event,
    }


def counter(event, context):
    global COUNT
    COUNT += 1
    existed = os.path.exists(TMP_FILE)
    with open(TMP_FILE, "a") as f:
        f.write(context.aws_request_id + "\n")
    with open(TMP_FILE) as f:
        lines = f.read().split()
    return {
        "count": COUNT,
        "tmp_existed": existed,
        "tmp_lines": len(lines),
        "pid": os.getpid(),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "mark": os.environ.get("MARK"),
        "version_file": open("version.txt").read().strip() if os.path.exists("version.txt") else None,
    }


class BoomError(Exception):
    pass


def fail(event, context):
    raise BoomError("boom: " + str(event.get("why", "no reason")))


def sleep(event, context):
    start = time.time()
    time.sleep(float(event.get("seconds", 3)))
    return {
        "slept": event.get("seconds", 3),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "start": start,
        "end": time.time(),
    }


def crash(event, context):
    print("about to exit", flush=True)
    os._exit(int(event.get("code", 3)))


def hog(event, context):
    """Allocates (and touches) memory until something gives."""
    chunks = []
    while True:
        chunks.append(bytearray(b"x" * (16 * 1024 * 1024)))


def big_response(event, context):
    return "x" * int(event["size"])


def log_lines(event, context):
    marker = event.get("marker", "marker")
    print("stdout line " + marker, flush=True)
    print("stderr line " + marker, file=sys.stderr, flush=True)
    for i in range(int(event.get("bulk_lines", 0))):
        print(f"bulk line {i:05d} " + "y" * 90, flush=False)
    sys.stdout.flush()
    return {"logged": marker}


def none(event, context):
    return None
