"""CloudWatch Logs API (issue 10, item 1) with the real boto3 `logs` client and AWS CLI v1.

A Python function prints a fixture of lines (plain text and JSON); the invoker stores them in
/aws/lambda/NAME, one stream per execution environment, and the Logs API reads them back.

Retention is tested without waiting days, through the public API only: events dated 5 and 1
days ago are written with PutLogEvents (AWS accepts events up to 14 days old), then a 3-day
retention policy is set. Lambent deletes the expired events at once (AWS deletes them some time
within 72 hours), so the 5-day-old event must be gone and storedBytes must shrink. The store's
periodic enforcement with a controllable clock is covered by the Rust unit tests in
crates/telemetry.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from invoke_support import deploy, invoke, zip_files
from lambent_util import ACCOUNT, DUMMY_KEY, DUMMY_SECRET, REGION, aws_cli, client_config, unique

FIXTURE = [
    "INFO service started",
    "ERROR disk full on /var",
    "WARN disk at 91%",
    "ERROR retrying connection to db",
    "DEBUG cache hit ratio 0.93",
    json.dumps({"level": "ERROR", "latency": 250, "msg": "timeout talking to db"}),
    json.dumps({"level": "INFO", "latency": 12, "msg": "ok"}),
    json.dumps({"level": "WARN", "latency": 120, "msg": "slow", "user": {"id": 7}}),
]

HANDLER = """
def handler(event, context):
    for line in event["lines"]:
        print(line, flush=True)
    return {"printed": len(event["lines"])}
"""


def logs_client(endpoint: str):
    session = boto3.session.Session(
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET, region_name=REGION
    )
    return session.client("logs", endpoint_url=endpoint, config=client_config())


@pytest.fixture(scope="module")
def logs(server):
    return logs_client(server.endpoint)


@pytest.fixture(scope="module")
def printed(server, lam, logs):
    """A function that printed FIXTURE in one invocation; returns (group, stream)."""
    name = unique("logs")
    deploy(lam, name, zip_files({"app.py": HANDLER}), "python3.12", "app.handler")
    out = invoke(lam, name, {"lines": FIXTURE})
    assert out.status == 200, out
    group = f"/aws/lambda/{name}"
    # The invoker's writer is asynchronous: wait until the REPORT line is stored.
    deadline = time.monotonic() + 10
    while True:
        events = logs.filter_log_events(logGroupName=group, filterPattern="REPORT").get("events", []) \
            if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] else []
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert events, "REPORT line never reached the log store"
    return group, events[0]["logStreamName"]


def error_of(fn, **kw):
    with pytest.raises(Exception) as info:
        fn(**kw)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def test_describe_groups_and_streams(logs, printed):
    group, stream = printed
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    mine = [g for g in groups if g["logGroupName"] == group]
    assert len(mine) == 1
    g = mine[0]
    assert g["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    assert g["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert g["storedBytes"] > 0 and "retentionInDays" not in g
    assert isinstance(g["creationTime"], int) and g["creationTime"] > 1_600_000_000_000

    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in streams["logStreams"]] == [stream]
    s = streams["logStreams"][0]
    # YYYY/MM/DD/[$LATEST]<32 hex>
    assert len(stream.split("/")) == 4 and "[$LATEST]" in stream, stream
    assert s["firstEventTimestamp"] <= s["lastEventTimestamp"] <= s["lastIngestionTime"] + 1000
    assert logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream[:5])["logStreams"]


def test_describe_groups_paginates(logs):
    names = [f"/lambent/test/page-{i:02d}" for i in range(7)]
    for n in names:
        logs.create_log_group(logGroupName=n)
    seen = []
    for page in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/lambent/test/page-", PaginationConfig={"PageSize": 3}
    ):
        assert len(page["logGroups"]) <= 3
        seen += [g["logGroupName"] for g in page["logGroups"]]
    assert seen == names
    for n in names:
        logs.delete_log_group(logGroupName=n)


def test_get_log_events_tokens(logs, printed):
    group, stream = printed
    everything = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    messages = [e["message"].rstrip("\n") for e in everything["events"]]
    assert messages[0].startswith("START RequestId:") or messages[0].startswith("INIT_START")
    assert any(m.startswith("REPORT RequestId:") for m in messages)
    for line in FIXTURE:
        assert line in messages
    for e in everything["events"]:
        assert isinstance(e["timestamp"], int) and isinstance(e["ingestionTime"], int)
    total = len(everything["events"])

    # Forward from the head, 3 at a time, following nextForwardToken until it repeats.
    first = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=3)
    got = [e["message"] for e in first["events"]]
    token = first["nextForwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token, limit=3)
        got += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    assert got == [e["message"] for e in everything["events"]]

    # Without startFromHead: the newest `limit` events, oldest first; then backwards.
    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)
    assert [e["message"] for e in tail["events"]] == got[-2:]
    back = logs.get_log_events(
        logGroupName=group, logStreamName=stream, nextToken=tail["nextBackwardToken"], limit=2
    )
    assert [e["message"] for e in back["events"]] == got[-4:-2]
    assert total == len(got)

    # Time bounds: startTime inclusive, endTime exclusive.
    ts = [e["timestamp"] for e in everything["events"]]
    mid = ts[len(ts) // 2]
    after = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, startTime=mid)
    assert all(e["timestamp"] >= mid for e in after["events"])
    before = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, endTime=mid)
    assert all(e["timestamp"] < mid for e in before["events"])
    assert len(after["events"]) + len(before["events"]) == total


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("ERROR", [FIXTURE[1], FIXTURE[3], FIXTURE[5]]),
        ('"disk full"', [FIXTURE[1]]),
        ("?WARN ?DEBUG", [FIXTURE[2], FIXTURE[4], FIXTURE[7]]),
        ("ERROR -retrying", [FIXTURE[1], FIXTURE[5]]),
        ('{ $.level = "ERROR" }', [FIXTURE[5]]),
        ("{ $.latency > 100 }", [FIXTURE[5], FIXTURE[7]]),
        ('{ $.latency >= 12 && $.level != "ERROR" }', [FIXTURE[6], FIXTURE[7]]),
        ("{ $.user.id = 7 }", [FIXTURE[7]]),
        ('{ $.msg = "timeout*" }', [FIXTURE[5]]),
    ],
)
def test_filter_patterns(logs, printed, pattern, expected):
    group, stream = printed
    out = logs.filter_log_events(logGroupName=group, filterPattern=pattern)
    got = [e["message"].rstrip("\n") for e in out["events"]]
    # Python's runtime may prefix lines; match on containment of the fixture line.
    assert [line for line in FIXTURE if any(m == line for m in got)] == expected, got
    for e in out["events"]:
        assert e["logStreamName"] == stream
        assert isinstance(e["eventId"], str) and isinstance(e["ingestionTime"], int)


def test_filter_pagination_and_stable_ids(logs, printed):
    group, stream = printed
    whole = logs.filter_log_events(logGroupName=group)["events"]
    paged = []
    kw = dict(logGroupName=group, logStreamNames=[stream], limit=2)
    while True:
        page = logs.filter_log_events(**kw)
        paged += page["events"]
        if "nextToken" not in page:
            break
        kw["nextToken"] = page["nextToken"]
    assert [e["eventId"] for e in paged] == [e["eventId"] for e in whole]
    # What `aws logs tail --follow` does: ask again from the newest timestamp seen.
    newest = whole[-1]["timestamp"]
    again = logs.filter_log_events(logGroupName=group, startTime=newest)["events"]
    assert again and again[-1]["eventId"] == whole[-1]["eventId"]


def test_cli_filter_and_get(server, printed):
    group, stream = printed
    r = aws_cli(server.endpoint, "logs", "filter-log-events", "--log-group-name", group,
                "--filter-pattern", '{ $.level = "ERROR" }')
    assert r.returncode == 0, r.stderr
    assert [e["message"].rstrip("\n") for e in json.loads(r.stdout)["events"]] == [FIXTURE[5]]
    r = aws_cli(server.endpoint, "logs", "get-log-events", "--log-group-name", group,
                "--log-stream-name", stream, "--start-from-head")
    assert r.returncode == 0, r.stderr
    assert any(e["message"].startswith("REPORT") for e in json.loads(r.stdout)["events"])
    r = aws_cli(server.endpoint, "logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["logGroups"][0]["logGroupName"] == group


def test_group_lifecycle_retention_and_tags(logs):
    group = f"/lambent/test/{unique('g')}"
    logs.create_log_group(logGroupName=group, tags={"team": "a"})
    assert error_of(logs.create_log_group, logGroupName=group) == (
        400, "ResourceAlreadyExistsException", "The specified log group already exists")
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}
    logs.tag_resource(resourceArn=arn, tags={"env": "test"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "test"}
    logs.tag_log_group(logGroupName=group, tags={"old": "api"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"env": "test", "old": "api"}

    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    day = 86_400_000
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 5 * day, "message": "five days old"},
        {"timestamp": now - 1 * day, "message": "one day old"},
    ])
    msgs = lambda: [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]  # noqa: E731
    assert msgs() == ["five days old", "one day old"]
    before = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["storedBytes"]

    logs.put_retention_policy(logGroupName=group, retentionInDays=3)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 3
    assert msgs() == ["one day old"]
    assert g["storedBytes"] < before
    # Events older than the retention period are refused from now on.
    out = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 4 * day, "message": "too old"},
        {"timestamp": now, "message": "fresh"},
    ])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    assert msgs() == ["one day old", "fresh"]

    code = error_of(logs.put_retention_policy, logGroupName=group, retentionInDays=2)
    assert code[:2] == (400, "InvalidParameterException")
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]

    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_errors(logs, printed):
    group, _ = printed
    missing = "/aws/lambda/does-not-exist"
    not_found = (400, "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(logs.describe_log_streams, logGroupName=missing) == not_found
    assert error_of(logs.filter_log_events, logGroupName=missing) == not_found
    assert error_of(logs.delete_log_group, logGroupName=missing) == not_found
    assert error_of(logs.put_retention_policy, logGroupName=missing, retentionInDays=1) == not_found
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName="nope") == (
        400, "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                    logStreamNamePrefix="2") == (
        400, "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    status, code, _ = error_of(logs.filter_log_events, logGroupName=group, filterPattern="{ $.level = }")
    assert (status, code) == (400, "InvalidParameterException")
    status, code, _ = error_of(logs.create_log_group, logGroupName="bad name!")
    assert (status, code) == (400, "InvalidParameterException")
