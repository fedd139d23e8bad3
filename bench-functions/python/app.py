"""Benchmark function: echoes its event; with {"sleep_ms": N} it sleeps N ms and returns its
environment id (the log stream name, unique per execution environment)."""

import os
import time


def handler(event, context):
    if isinstance(event, dict) and event.get("sleep_ms"):
        time.sleep(event["sleep_ms"] / 1000)
        return {"env": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")}
    return event
