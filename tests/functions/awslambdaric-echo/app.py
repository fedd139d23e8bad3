"""Handler run by the official Python runtime interface client (awslambdaric), vendored into the
zip next to this file by the test; the function's Environment sets PYTHONPATH=/var/task."""

import os


class EchoFailure(Exception):
    pass


def handler(event, context):
    if isinstance(event, dict) and "fail" in event:
        raise EchoFailure(event["fail"])
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_stream_name": context.log_stream_name,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }
