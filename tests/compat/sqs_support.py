"""Helpers for the SQS and event-source-mapping tests: an SQS client bound to a server, and
polling with deadlines (never a bare sleep that could hide a race)."""

from __future__ import annotations

import time

import boto3

from lambent_util import DUMMY_KEY, DUMMY_SECRET, REGION, client_config


def sqs_client(endpoint: str, *, validate: bool = True, read_timeout: int = 60, key: str = DUMMY_KEY,
               secret: str = DUMMY_SECRET):
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
    return session.client("sqs", endpoint_url=endpoint,
                          config=client_config(validate=validate, read_timeout=read_timeout))


def wait_for(predicate, *, deadline_s: float = 30.0, interval_s: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns something truthy; fails after `deadline_s`."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}; last value: {last!r}")


def receive_all(sqs, url: str, expected: int, *, deadline_s: float = 30.0, delete: bool = True, **kw) -> list:
    """Receives (long polling) until `expected` distinct messages were seen or the deadline passes."""
    seen: dict = {}
    end = time.monotonic() + deadline_s
    while len(seen) < expected and time.monotonic() < end:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kw)
        for m in resp.get("Messages", []):
            seen.setdefault(m["MessageId"], m)
            if delete:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return list(seen.values())


def queue_count(sqs, url: str, attribute: str = "ApproximateNumberOfMessages") -> int:
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])["Attributes"][attribute])
