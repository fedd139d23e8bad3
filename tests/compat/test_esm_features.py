"""Event source mapping features with the real boto3 `lambda` and `sqs` clients: tags on the
mapping's ARN (TagResource / UntagResource / ListTags, tags given at creation), FilterCriteria
(validation, and filtering as Lambda does: matching messages delivered, the rest deleted without
an invocation), pollers scaling with the queue's depth up to ScalingConfig.MaximumConcurrency,
and batches split under the 6 MB synchronous payload limit.

The server runs with `--isolation none` so the function can write a summary of each invocation
(wall-clock start and end, payload size, bodies) to a host directory the test reads. Overlapping
[start, end] intervals measured inside the handler are a lower bound of the invocations running
at once, so "more than one overlapped" proves concurrency, and since the handler's interval lies
inside the invocation, "never more than N overlapped" is implied by the bound the server keeps."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from lambent_util import (ACCOUNT, REGION, Server, create_function, expect_error, lambda_client, make_zip, recorded,
                          unique)
from sqs_support import queue_count, sqs_client, wait_for

TAGS = "tags.json"
SIX_MB = 6 * 1024 * 1024

HANDLER = """
import json, os, time
def handler(event, context):
    start = time.time()
    delay = float(os.environ.get("DELAY", "0"))
    if delay:
        time.sleep(delay)
    end = time.time()
    bodies = [r["body"] for r in event["Records"]]
    summary = {
        "start": start, "end": end,
        "size": len(json.dumps(event, separators=(",", ":"))),
        "arn": event["Records"][0]["eventSourceARN"],
        "bodies": [b if len(b) <= 200 else "<%d bytes:%s>" % (len(b), b[:8]) for b in bodies],
    }
    out = os.path.join(os.environ["OUT"], context.aws_request_id)
    with open(out + ".tmp", "w") as f:
        json.dump(summary, f)
    os.rename(out + ".tmp", out + ".json")
"""


@pytest.fixture(scope="module")
def env():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-esmf-"))
    out = tmp / "out"
    out.mkdir()
    out.chmod(0o777)
    srv = Server.start(tmp / "data", args=["--isolation", "none"])
    try:
        yield srv, out
    finally:
        if srv.running():
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def lam(env):
    return lambda_client(env[0].endpoint)


@pytest.fixture(scope="module")
def lam_nv(env):
    return lambda_client(env[0].endpoint, validate=False)


@pytest.fixture(scope="module")
def sqs(env):
    return sqs_client(env[0].endpoint)


@pytest.fixture(scope="module")
def fn(env, lam):
    name = unique("esmf")
    create_function(lam, name, make_zip({"app.py": HANDLER}), Environment={"Variables": {"OUT": str(env[1])}},
                    Timeout=30)
    return name


@pytest.fixture(scope="module")
def slow_fn(env, lam):
    """Holds each batch for 0.8 s, so pollers running at once overlap visibly."""
    name = unique("esmslow")
    create_function(lam, name, make_zip({"app.py": HANDLER}),
                    Environment={"Variables": {"OUT": str(env[1]), "DELAY": "0.8"}}, Timeout=30)
    return name


def make_queue(sqs, prefix="esmfq", **attributes):
    url = sqs.create_queue(QueueName=unique(prefix), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def invocations(out: Path, queue_arn: str) -> list[dict]:
    found = []
    for p in out.glob("*.json"):
        summary = json.loads(p.read_text())  # written atomically by the handler
        if summary["arn"] == queue_arn:
            found.append(summary)
    return found


def drained(sqs, url: str) -> bool:
    return (queue_count(sqs, url) == 0
            and queue_count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0)


def max_overlap(intervals: list[dict]) -> int:
    points = sorted([(i["start"], 1) for i in intervals] + [(i["end"], -1) for i in intervals],
                    key=lambda p: (p[0], p[1]))  # an end before a start at the same instant
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    return peak


def mapping_arn(uuid: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"


# --- tags ------------------------------------------------------------------------------------

def test_tags_given_at_creation_are_listed(lam, sqs, fn):
    _, arn = make_queue(sqs)
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, Enabled=False,
                                              Tags={"team": "core", "env": "test"})
    try:
        assert created["EventSourceMappingArn"] == mapping_arn(created["UUID"])
        listed = lam.list_tags(Resource=created["EventSourceMappingArn"])
        assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert listed["Tags"] == {"team": "core", "env": "test"}
    finally:
        lam.delete_event_source_mapping(UUID=created["UUID"])


def test_tag_lifecycle_on_a_mapping_matches_aws(lam, sqs, fn):
    """The sequence of TestLambdaTag::test_tag_lifecycle[event_source_mapping], response by response."""
    test = "TestLambdaTag::test_tag_lifecycle[event_source_mapping]"
    _, queue_arn = make_queue(sqs)
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=fn, Enabled=False)["UUID"]
    arn = mapping_arn(uuid)
    assert lam.list_tags(Resource=arn)["Tags"] == {}

    def step(call, key):
        resp = call()
        want = recorded(TAGS, test, key)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == want["ResponseMetadata"]["HTTPStatusCode"], key
        assert lam.list_tags(Resource=arn)["Tags"] == recorded(TAGS, test, key + "_listtags")["Tags"], key

    try:
        step(lambda: lam.tag_resource(Resource=arn, Tags={"A": "tag-a"}), "tag_single_response")
        step(lambda: lam.tag_resource(Resource=arn, Tags={"B": "tag-b", "C": "tag-c"}), "tag_multiple_response")
        step(lambda: lam.tag_resource(Resource=arn, Tags={"C": "tag-c-newsuffix", "D": "tag-d"}),
             "tag_overlap_response")
        step(lambda: lam.untag_resource(Resource=arn, TagKeys=["A"]), "untag_single_response")
        step(lambda: lam.untag_resource(Resource=arn, TagKeys=["B", "C"]), "untag_multiple_response")
        step(lambda: lam.untag_resource(Resource=arn, TagKeys=["F"]), "untag_nonexisting_response")
        step(lambda: lam.untag_resource(Resource=arn, TagKeys=["D", "F"]), "untag_existing_and_nonexisting_response")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
    # The tags went with the mapping.
    expect_error(lam.list_tags, Resource=arn, status=404, code="ResourceNotFoundException")


def test_tag_errors_on_mappings(lam, lam_nv, sqs, fn):
    unknown = mapping_arn("00000000-0000-4000-8000-000000000000")
    missing = "The resource you requested does not exist."
    expect_error(lam.list_tags, Resource=unknown, status=404, code="ResourceNotFoundException", message=missing)
    expect_error(lam.tag_resource, Resource=unknown, Tags={"a": "b"}, status=404, code="ResourceNotFoundException",
                 message=missing)
    expect_error(lam.untag_resource, Resource=unknown, TagKeys=["a"], status=404, code="ResourceNotFoundException",
                 message=missing)
    # Another region's mapping ARN is not one of ours.
    other = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:event-source-mapping:00000000-0000-4000-8000-000000000000"
    expect_error(lam.list_tags, Resource=other, status=404, code="ResourceNotFoundException")
    # A malformed mapping ARN fails the API model's pattern.
    expect_error(lam.list_tags, Resource=f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:nope",
                 status=400, code="ValidationException")

    _, queue_arn = make_queue(sqs)
    expect_error(lam.create_event_source_mapping, EventSourceArn=queue_arn, FunctionName=fn,
                 Tags={"aws:reserved": "x"}, status=400, code="InvalidParameterValueException",
                 message="Tag key 'aws:reserved' uses the reserved prefix 'aws:'.")
    assert lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"] == []
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=fn, Enabled=False,
                                           Tags={"keep": "me"})["UUID"]
    arn = mapping_arn(uuid)
    try:
        expect_error(lam.tag_resource, Resource=arn, Tags={}, status=400, code="InvalidParameterValueException",
                     message="An error occurred and the request cannot be processed.")
        expect_error(lam_nv.untag_resource, Resource=arn, TagKeys=[], status=400, code="ValidationException",
                     message="1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
                             "Member must not be null")
        expect_error(lam.tag_resource, Resource=arn, Tags={f"k{i}": "v" for i in range(50)}, status=400,
                     code="InvalidParameterValueException", message="Number of tags exceeds resource tag limit.")
        # A refused change changed nothing.
        assert lam.list_tags(Resource=arn)["Tags"] == {"keep": "me"}
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


# --- filter criteria -------------------------------------------------------------------------

def pattern(p: dict) -> dict:
    return {"Pattern": json.dumps(p)}


@pytest.mark.parametrize("bad", [
    "not json",
    "[]",
    json.dumps({"body": "x"}),
    json.dumps({"body": {"kind": []}}),
    json.dumps({"body": {"kind": [{"wildcard": "a*"}]}}),
    json.dumps({"body": {"n": [{"numeric": ["<", 5, ">", 1]}]}}),
    json.dumps({"body": {"n": [{"exists": "yes"}]}}),
])
def test_invalid_filter_patterns_are_refused(lam, sqs, fn, bad):
    _, arn = make_queue(sqs)
    expect_error(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=fn,
                 FilterCriteria={"Filters": [{"Pattern": bad}]}, status=400,
                 code="InvalidParameterValueException", message="Invalid filter pattern definition.")
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []
    good = {"Filters": [pattern({"body": {"kind": ["a"]}})]}
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, Enabled=False,
                                           FilterCriteria=good)["UUID"]
    try:
        expect_error(lam.update_event_source_mapping, UUID=uuid, FilterCriteria={"Filters": [{"Pattern": bad}]},
                     status=400, code="InvalidParameterValueException", message="Invalid filter pattern definition.")
        assert lam.get_event_source_mapping(UUID=uuid)["FilterCriteria"] == good
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def string_attr(v):
    return {"DataType": "String", "StringValue": v}


FILTER_CASES = [
    pytest.param(
        # OR across filters; within one pattern every key must match.
        [{"body": {"kind": ["order"], "amount": [{"numeric": [">", 10, "<=", 100]}]}},
         {"body": {"sku": [{"prefix": "ab-"}]}}],
        [({"kind": "order", "amount": 50}, True), ({"kind": "order", "amount": 5}, False),
         ({"kind": "order", "amount": 100}, True), ({"kind": "refund", "amount": 50}, False),
         ({"sku": "ab-123"}, True), ({"sku": "xab-1"}, False), ("plain text", False)],
        id="exact-numeric-prefix-or"),
    pytest.param(
        [{"body": {"state": [{"anything-but": ["raining", "snowing"]}], "file": [{"suffix": ".png"}]}}],
        [({"state": "sunny", "file": "a.png"}, True), ({"state": "raining", "file": "a.png"}, False),
         ({"state": "sunny", "file": "a.jpg"}, False), ({"file": "a.png"}, False)],
        id="anything-but-suffix"),
    pytest.param(
        [{"body": {"id": [{"exists": True}], "deleted": [{"exists": False}]}},
         {"body": {"note": [None]}}, {"body": {"note": [""]}}],
        [({"id": 1}, True), ({"id": 1, "deleted": True}, False), ({"other": 1}, False),
         ({"note": None}, True), ({"note": ""}, True), ({"note": "x"}, False)],
        id="exists-null-empty"),
    pytest.param(
        # A plain-string pattern matches a plain body; message attributes are filterable too.
        [{"body": [{"prefix": "urgent:"}]},
         {"messageAttributes": {"color": {"stringValue": ["blue"]}}}],
        [("urgent: fix", True), ("later", False), (("colored", "blue"), True), (("colored", "red"), False),
         ({"urgent": True}, False)],
        id="plain-body-and-attributes"),
]


@pytest.mark.parametrize("patterns,messages", FILTER_CASES)
def test_filtering_delivers_matches_and_deletes_the_rest(env, lam, sqs, fn, patterns, messages):
    _, out = env
    url, arn = make_queue(sqs)
    expected = []
    for i, (body, wanted) in enumerate(messages):
        attrs = {}
        if isinstance(body, tuple):
            body, color = body
            body = f"{body} {i}"
            attrs = {"color": string_attr(color)}
        text = body if isinstance(body, str) else json.dumps(body)
        sqs.send_message(QueueUrl=url, MessageBody=text, MessageAttributes=attrs)
        if wanted:
            expected.append(text)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                           FilterCriteria={"Filters": [pattern(p) for p in patterns]})["UUID"]
    try:
        # Every message leaves the queue: the matching ones after the function succeeded, the
        # others deleted without an invocation.
        wait_for(lambda: drained(sqs, url), what="the queue emptied by the mapping")
        wait_for(lambda: sum(len(i["bodies"]) for i in invocations(out, arn)) >= len(expected), deadline_s=10,
                 what="the matching messages delivered")
        delivered = [b for i in invocations(out, arn) for b in i["bodies"]]
        assert sorted(delivered) == sorted(expected)
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_nothing_matches_means_no_invocation_and_removing_filters_delivers_all(env, lam, sqs, fn):
    _, out = env
    url, arn = make_queue(sqs)
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "skip", "i": i}))
    uuid = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, FilterCriteria={"Filters": [pattern({"body": {"kind": ["keep"]}})]})["UUID"]
    try:
        wait_for(lambda: drained(sqs, url), what="non-matching messages deleted")
        assert invocations(out, arn) == []
        # An empty filter list removes the filters.
        lam.update_event_source_mapping(UUID=uuid, FilterCriteria={"Filters": []})
        wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", what="mapping enabled")
        assert "FilterCriteria" not in lam.get_event_source_mapping(UUID=uuid)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "skip", "i": 99}))
        got = wait_for(lambda: invocations(out, arn), what="the unfiltered message delivered")
        assert [b for i in got for b in i["bodies"]] == [json.dumps({"kind": "skip", "i": 99})]
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


# --- scaling ---------------------------------------------------------------------------------

def run_deep_queue(env, lam, sqs, function, messages: int, **mapping_kw) -> list[dict]:
    _, out = env
    url, arn = make_queue(sqs, VisibilityTimeout="60")
    for start in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"}
                                                      for i in range(start, min(start + 10, messages))])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, BatchSize=1,
                                           **mapping_kw)["UUID"]
    try:
        wait_for(lambda: drained(sqs, url), deadline_s=90, interval_s=0.2, what="the deep queue drained")
        got = wait_for(lambda: (i := invocations(out, arn)) and len(i) >= messages and i, deadline_s=10,
                       what="every invocation recorded")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
    assert sorted(b for i in got for b in i["bodies"]) == sorted(f"m{i}" for i in range(messages))
    return got


def test_pollers_scale_with_depth_up_to_maximum_concurrency(env, lam, sqs, slow_fn):
    got = run_deep_queue(env, lam, sqs, slow_fn, 12, ScalingConfig={"MaximumConcurrency": 2})
    peak = max_overlap(got)
    assert peak == 2, f"expected exactly 2 batches at once (the maximum), saw {peak}"


def test_pollers_without_scaling_config_consume_a_deep_queue_in_parallel(env, lam, sqs, slow_fn):
    # Without ScalingConfig Lambda starts with five pollers for a deep queue.
    got = run_deep_queue(env, lam, sqs, slow_fn, 20)
    peak = max_overlap(got)
    assert peak >= 3, f"a deep queue should be consumed by several pollers at once, saw {peak}"


# --- payload limit ---------------------------------------------------------------------------

def test_batches_are_split_under_the_six_megabyte_payload_limit(env, lam, sqs, fn):
    _, out = env
    url, arn = make_queue(sqs)
    bodies = [f"{i:02d}" + "x" * 900_000 for i in range(8)]  # 7.2 MB together
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=10,
                                           MaximumBatchingWindowInSeconds=2)["UUID"]
    try:
        wait_for(lambda: drained(sqs, url), deadline_s=60, what="the queue drained")
        got = wait_for(lambda: (i := invocations(out, arn)) and sum(len(x["bodies"]) for x in i) >= 8 and i,
                       deadline_s=10, what="all 8 messages delivered")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
    assert len(got) >= 2, "7.2 MB of messages cannot go in one invocation"
    for invocation in got:
        assert invocation["size"] <= SIX_MB, invocation["size"]
    delivered = sorted(b.split(":")[1][:2] for i in got for b in i["bodies"])
    assert delivered == [f"{i:02d}" for i in range(8)]
