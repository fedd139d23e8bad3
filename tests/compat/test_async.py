"""Asynchronous invocation end to end with the real boto3 `lambda` and `sqs` clients: 202 and
delivery, Lambda's retry counts and timing (the server runs with --async-time-scale 0.01), maximum
event age, destination records member for member (queue and function destinations), the
dead-letter queue's message and attributes, payload limits and qualifiers.

Oracles: aws-snapshots/async_destinations_dlq.json (recorded against AWS), invoke.json
(TestLambdaFeatures::test_invocation_type_event), lambda-compat.md §6."""

from __future__ import annotations

import json
import re
import time

import pytest

from async_support import (
    ISO_MS_Z,
    SCALE,
    alam,  # noqa: F401  (fixtures)
    asqs,  # noqa: F401
    async_server,  # noqa: F401
    function_arn,
    invoke_event,
    make_function,
    make_queue,
    records,
)
from lambent_util import assert_shape, recorded, unique
from invoke_support import api_error

DESTS = "async_destinations_dlq.json"
MAX_ASYNC_PAYLOAD = 1024 * 1024


def recorded_body(test: str, key: str) -> dict:
    content = recorded(DESTS, test, key)
    message = content["Messages"][0] if "Messages" in content else content
    return message["Body"]


def test_success_record_reaches_the_on_success_queue(alam, asqs):
    name = make_function(alam, "echo")
    url, arn = make_queue(asqs)
    cfg = alam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}, "OnFailure": {"Destination": arn}})
    assert cfg["DestinationConfig"] == {"OnSuccess": {"Destination": arn}, "OnFailure": {"Destination": arn}}
    request_id = invoke_event(alam, name, {"a": 1})
    [message] = records(asqs, url, 1)
    record = message["Record"]
    assert_shape(recorded_body("TestLambdaDestinationSqs::test_assess_lambda_destination_invocation[Success-payload0]",
                               "receive_message_result"), record,
                 ignore=("requestPayload", "responsePayload"))  # the payloads are the test's own
    assert list(record) == ["version", "timestamp", "requestContext", "requestPayload", "responseContext",
                            "responsePayload"], record
    assert record["version"] == "1.0"
    assert re.match(ISO_MS_Z, record["timestamp"]), record["timestamp"]
    assert record["requestContext"] == {"requestId": request_id, "functionArn": function_arn(name, "$LATEST"),
                                        "condition": "Success", "approximateInvokeCount": 1}
    assert record["requestPayload"] == {"a": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"]["event"] == {"a": 1}
    # An unqualified event runs $LATEST with the unqualified ARN, as the recorded context shows.
    assert record["responsePayload"]["invoked_function_arn"] == function_arn(name)


def test_the_function_sees_the_events_request_id(alam, asqs):
    name = make_function(alam, "echo")
    url, arn = make_queue(asqs)
    alam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    request_id = invoke_event(alam, name, {})
    [message] = records(asqs, url, 1)
    assert message["Record"]["responsePayload"]["request_id"] == request_id


def test_function_errors_are_retried_twice_a_minute_then_two_minutes_apart(alam, asqs):
    """Recorded: test_lambda_destination_default_retries (RetriesExhausted after 3 invocations)."""
    name = make_function(alam, "maybe")
    url, arn = make_queue(asqs)
    alam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": arn}})
    started = time.monotonic()
    request_id = invoke_event(alam, name, {"raise_error": 1})
    [message] = records(asqs, url, 1)
    elapsed = time.monotonic() - started
    # Two retries: 60 s and 120 s at Lambda's pace, 0.6 s and 1.2 s here.
    assert elapsed >= 180 * SCALE, f"retries came too early ({elapsed:.2f} s)"
    assert elapsed < 180 * SCALE + 20, f"retries came too late ({elapsed:.2f} s)"
    record = message["Record"]
    expected = recorded_body("TestLambdaDestinationSqs::test_lambda_destination_default_retries",
                             "receive_message_result")
    assert_shape(expected, record)
    assert record["requestContext"] == {"requestId": request_id, "functionArn": function_arn(name, "$LATEST"),
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"raise_error": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "intentional failure"
    assert record["responsePayload"]["errorType"] == "Exception"


def test_zero_retry_attempts_fail_after_one_invocation(alam, asqs):
    """Recorded: test_assess_lambda_destination_invocation[payload1]."""
    name = make_function(alam, "maybe")
    url, arn = make_queue(asqs)
    alam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                          DestinationConfig={"OnFailure": {"Destination": arn}})
    started = time.monotonic()
    invoke_event(alam, name, {"raise_error": 1})
    [message] = records(asqs, url, 1)
    assert time.monotonic() - started < 60 * SCALE + 10
    assert message["Record"]["requestContext"]["condition"] == "RetriesExhausted"
    assert message["Record"]["requestContext"]["approximateInvokeCount"] == 1


@pytest.mark.parametrize("max_age,invocations", [(60, 1), (120, 2)])
def test_maximum_event_age_ends_the_retries(alam, asqs, max_age, invocations):
    """Recorded: TestLambdaDestinationSqs::test_maxeventage (EventAgeExceeded after 1 and after 2
    invocations, the last function error as the response)."""
    name = make_function(alam, "fail")
    url, arn = make_queue(asqs)
    alam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=max_age,
                                          DestinationConfig={"OnFailure": {"Destination": arn}})
    invoke_event(alam, name, {"message": "m"})
    [message] = records(asqs, url, 1)
    record = message["Record"]
    key = "no_retry_failure_message" if invocations == 1 else "single_retry_failure_message"
    assert_shape(recorded_body("TestLambdaDestinationSqs::test_maxeventage", key), record)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == invocations
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_throttled_events_retry_until_they_are_too_old(alam, asqs):
    name = make_function(alam, "echo")
    url, arn = make_queue(asqs)
    alam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    alam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60,
                                          DestinationConfig={"OnFailure": {"Destination": arn}})
    invoke_event(alam, name, {"n": 1})
    [message] = records(asqs, url, 1)
    record = message["Record"]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["responseContext"]["statusCode"] == 429
    assert record["requestContext"]["approximateInvokeCount"] >= 2, "throttles are retried with backoff"


def test_dead_letter_queue_gets_the_original_event_with_lambdas_attributes(alam, asqs):
    """Recorded: TestLambdaDLQ::test_dead_letter_queue."""
    url, arn = make_queue(asqs)
    name = make_function(alam, "maybe", DeadLetterConfig={"TargetArn": arn})
    alam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    request_id = invoke_event(alam, name, {"raise_error": 1})
    [message] = records(asqs, url, 1, MessageAttributeNames=["All"])
    expected = recorded(DESTS, "TestLambdaDLQ::test_dead_letter_queue", "receive_result")["Messages"][0]
    assert json.loads(message["Body"]) == expected["Body"] == {"raise_error": 1}
    assert message["MessageAttributes"] == {
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "intentional failure"},
        "RequestID": {"DataType": "String", "StringValue": request_id},
    }
    assert set(message["MessageAttributes"]) == set(expected["MessageAttributes"])


def test_function_destination_is_invoked_asynchronously_with_the_record(alam, asqs):
    url, arn = make_queue(asqs)
    sink = make_function(alam, "echo")
    alam.put_function_event_invoke_config(FunctionName=sink, DestinationConfig={"OnSuccess": {"Destination": arn}})
    source = make_function(alam, "fail")
    alam.put_function_event_invoke_config(FunctionName=source, MaximumRetryAttempts=0,
                                          DestinationConfig={"OnFailure": {"Destination": function_arn(sink)}})
    request_id = invoke_event(alam, source, {"k": "v"})
    [message] = records(asqs, url, 1)
    sink_record = message["Record"]
    assert sink_record["requestContext"]["functionArn"] == function_arn(sink, "$LATEST")
    source_record = sink_record["requestPayload"]
    assert source_record["requestContext"]["requestId"] == request_id
    assert source_record["requestContext"]["condition"] == "RetriesExhausted"
    assert source_record["requestPayload"] == {"k": "v"}
    assert sink_record["responsePayload"]["event"] == source_record


def test_alias_is_resolved_when_the_event_is_accepted(alam, asqs):
    name = make_function(alam, "echo")
    url, arn = make_queue(asqs)
    version = alam.publish_version(FunctionName=name)["Version"]
    alam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    alam.put_function_event_invoke_config(FunctionName=name, Qualifier="live",
                                          DestinationConfig={"OnSuccess": {"Destination": arn}})
    invoke_event(alam, name, {"via": "alias"}, Qualifier="live")
    [message] = records(asqs, url, 1)
    record = message["Record"]
    assert record["requestContext"]["functionArn"] == function_arn(name, "live")
    assert record["responseContext"]["executedVersion"] == version
    assert record["responsePayload"]["function_version"] == version


def test_async_payload_limit_is_one_megabyte(alam):
    name = make_function(alam, "echo")
    at_limit = b'"' + b"x" * (MAX_ASYNC_PAYLOAD - 2) + b'"'
    invoke_event(alam, name, at_limit)
    status, code, message, _ = api_error(alam.invoke, FunctionName=name, InvocationType="Event",
                                         Payload=at_limit + b" ")
    assert (status, code) == (413, "RequestTooLargeException"), (status, code, message)
    assert message == f"Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeFunction operation"


def test_event_to_a_missing_function_is_not_found(alam):
    name = unique("missing")
    status, code, message, _ = api_error(alam.invoke, FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert (status, code) == (404, "ResourceNotFoundException"), (status, code, message)
    assert message == f"Function not found: {function_arn(name, '$LATEST')}"


def test_many_events_are_all_delivered(alam, asqs):
    name = make_function(alam, "echo")
    url, arn = make_queue(asqs)
    alam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    ids = {invoke_event(alam, name, {"n": n}) for n in range(40)}
    messages = records(asqs, url, 40, deadline_s=90)
    assert {m["Record"]["requestContext"]["requestId"] for m in messages} == ids
